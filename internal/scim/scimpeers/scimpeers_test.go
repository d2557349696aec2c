package scimpeers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/scim"
	"github.com/gatehouse-dev/gatehouse/internal/scim/filter"
	"github.com/gatehouse-dev/gatehouse/internal/scim/scimpeers"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

const peerLimit = 60 * time.Second

func requirePeers(t *testing.T) {
	t.Helper()
	ok, hint := scimpeers.Installed()
	testpeer.Require(t, "scim-patch/scim2-parse-filter", ok, hint)
}

func TestSExpr(t *testing.T) {
	cases := []struct{ filter, want string }{
		{`userName eq "bjensen"`, `(eq "userName" "bjensen")`},
		{`a eq 1.50 or b pr`, `(or (eq "a" 1.5) (pr "b"))`},
		{`a eq true and b eq null and c ne false`, `(and (eq "a" true) (eq "b" null) (ne "c" false))`},
		{`a eq "x" or (b eq "y" or c eq "z")`, `(or (eq "a" "x") (eq "b" "y") (eq "c" "z"))`},
		{`a eq "x" and (b eq "y" or c eq "z")`, `(and (eq "a" "x") (or (eq "b" "y") (eq "c" "z")))`},
		{`not (emails[type eq "work"])`, `(not ([] "emails" (eq "type" "work")))`},
	}
	for _, tc := range cases {
		e, err := filter.Parse(tc.filter)
		require.NoError(t, err)
		assert.Equal(t, tc.want, scimpeers.SExpr(e), tc.filter)
	}
	js := []struct{ ast, want string }{
		{`{"op":"or","filters":[{"op":"eq","attrPath":"a","compValue":1.5},{"op":"pr","attrPath":"b"}]}`, `(or (eq "a" 1.5) (pr "b"))`},
		{`{"op":"or","filters":[{"op":"or","filters":[{"op":"eq","attrPath":"a","compValue":"x"},{"op":"eq","attrPath":"b","compValue":"y"}]},{"op":"eq","attrPath":"c","compValue":"z"}]}`,
			`(or (eq "a" "x") (eq "b" "y") (eq "c" "z"))`},
		{`{"op":"not","filter":{"op":"[]","attrPath":"emails","valFilter":{"op":"eq","attrPath":"type","compValue":"work"}}}`,
			`(not ([] "emails" (eq "type" "work")))`},
		{`{"op":"eq","attrPath":"b","compValue":null}`, `(eq "b" null)`},
	}
	for _, tc := range js {
		got, err := scimpeers.JSSExpr(json.RawMessage(tc.ast))
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, tc.ast)
	}
	_, err := scimpeers.JSSExpr(json.RawMessage(`{"op":"xx"}`))
	require.ErrorContains(t, err, "unknown filter node")
}

// filterCorpus are filters both parsers must read alike: RFC 7644 section
// 3.4.2.2's examples and what Entra and Okta send.
var filterCorpus = []string{
	`userName eq "bjensen"`,
	`name.familyName co "O'Malley"`,
	`userName sw "J"`,
	`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`,
	`title pr`,
	`meta.lastModified gt "2011-05-13T04:42:34Z"`,
	`meta.lastModified ge "2011-05-13T04:42:34Z"`,
	`meta.lastModified lt "2011-05-13T04:42:34Z"`,
	`meta.lastModified le "2011-05-13T04:42:34Z"`,
	`title pr and userType eq "Employee"`,
	`title pr or userType eq "Intern"`,
	`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`,
	`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
	`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
	`userType eq "Employee" and (emails.type eq "work")`,
	`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
	`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
	`userName eq "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081"`,
	`displayName eq "Group2"`,
	`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`,
	`userName eq "test.user@okta.local"`,
	`members[value eq "2819c223-7f76-453a-919d-413861904646"]`,
	`active eq true`,
	`active eq false`,
	`emails[primary eq true]`,
	`userName eq "quote \" inside"`,
	`userName eq "café ☕"`,
	`x eq 1`,
	`x gt 1.5e3`,
	`x lt -2`,
	`x eq null`,
	`a eq "x" or b eq "y" or c eq "z"`,
	`a eq "x" and b eq "y" or c eq "z"`,
	`a eq "x" or b eq "y" and c eq "z"`,
	`(a eq "x" or b eq "y") and c eq "z"`,
	`not (a eq "x") and b pr`,
	`userName EQ "x" AND displayName Co "y"`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales"`,
	`((((a eq "x"))))`,
}

// rejectedByBoth are filters both parsers refuse.
var rejectedByBoth = []string{
	`userName eq`,
	`(userName eq "a"`,
	`userName xx "a"`,
	`emails[type eq "work"`,
	`userName eq "a" and`,
	`userName pr "x"`,
	`userName eq "a" b`,
	`"a" eq "b"`,
	`userName eq "unterminated`,
	``,
}

// knownDifferences are filters the parsers read differently, on purpose:
// the test fails when either side changes.
var knownDifferences = []struct {
	filter   string
	goAccept bool
	why      string
}{
	{`not userName eq "a"`, false, "RFC 7644's grammar needs parentheses after not; the Node parser does not"},
	{`active eq True`, true, "RFC 7644 makes true, false and null case-insensitive; the Node parser uses JSON.parse"},
	{`emails[type eq "work"].value eq "x"`, false, "a sub-attribute after a value filter belongs to PATCH paths, not filters"},
}

// valueDifferences are filters both parsers accept with different
// values: scim2-parse-filter 0.2.10 doubles every backslash that does not
// precede a quote before it decodes the string, so JSON escapes other
// than \" keep their backslash. RFC 7644 filter values are JSON strings:
// Gatehouse decodes them.
var valueDifferences = []struct{ filter, goSExpr, jsSExpr string }{
	{`userName eq "back\\slash"`, `(eq "userName" "back\\slash")`, `(eq "userName" "back\\\\slash")`},
	{`userName eq "caf\u00e9"`, `(eq "userName" "café")`, `(eq "userName" "caf\\u00e9")`},
}

func TestFiltersAgreeWithScim2ParseFilter(t *testing.T) {
	requirePeers(t)
	ctx, cancel := context.WithTimeout(t.Context(), peerLimit)
	defer cancel()
	var all []string
	all = append(all, filterCorpus...)
	all = append(all, rejectedByBoth...)
	for _, d := range knownDifferences {
		all = append(all, d.filter)
	}
	for _, d := range valueDifferences {
		all = append(all, d.filter)
	}
	results, err := scimpeers.ParseFilters(ctx, all)
	require.NoError(t, err)
	for i, f := range filterCorpus {
		e, err := filter.Parse(f)
		require.NoError(t, err, f)
		require.True(t, results[i].OK, "%s: scim2-parse-filter: %s", f, results[i].Error)
		js, err := scimpeers.JSSExpr(results[i].AST)
		require.NoError(t, err, f)
		assert.Equal(t, js, scimpeers.SExpr(e), f)
	}
	for j, f := range rejectedByBoth {
		r := results[len(filterCorpus)+j]
		_, err := filter.Parse(f)
		assert.Error(t, err, "Gatehouse accepts %q", f)
		assert.False(t, r.OK, "scim2-parse-filter accepts %q: %s", f, r.AST)
	}
	for k, d := range knownDifferences {
		r := results[len(filterCorpus)+len(rejectedByBoth)+k]
		_, err := filter.Parse(d.filter)
		assert.Equal(t, d.goAccept, err == nil, "%s (%s)", d.filter, d.why)
		assert.Equal(t, !d.goAccept, r.OK, "%s: scim2-parse-filter (%s)", d.filter, d.why)
	}
	for k, d := range valueDifferences {
		r := results[len(filterCorpus)+len(rejectedByBoth)+len(knownDifferences)+k]
		e, err := filter.Parse(d.filter)
		require.NoError(t, err, d.filter)
		assert.Equal(t, d.goSExpr, scimpeers.SExpr(e), d.filter)
		require.True(t, r.OK, "%s: %s", d.filter, r.Error)
		js, err := scimpeers.JSSExpr(r.AST)
		require.NoError(t, err)
		assert.Equal(t, d.jsSExpr, js, d.filter)
	}
}

// server is a SCIM server on a memory store behind scimtoken's middleware.
type server struct {
	t       *testing.T
	handler http.Handler
	token   string
}

type nopAuditor struct{}

func (nopAuditor) Record(context.Context, audit.Event) error { return nil }

func newServer(t *testing.T) *server {
	srv, err := scim.New(scim.Config{Store: memory.New(), Auditor: nopAuditor{}, BaseURL: "https://gw.example.com/scim/v2"})
	require.NoError(t, err)
	tokens, err := scimtoken.New(scimtoken.Config{Store: scimtoken.NewMemoryStore(), Auditor: nopAuditor{}})
	require.NoError(t, err)
	created, err := tokens.Create(t.Context(), scimtoken.CreateRequest{Name: "peers"})
	require.NoError(t, err)
	return &server{t: t, handler: tokens.Require(srv.Handler()), token: created.Token}
}

func (s *server) do(method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	var data []byte
	if body != nil {
		var err error
		data, err = json.Marshal(body)
		require.NoError(s.t, err)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/scim+json")
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, req)
	var out map[string]any
	if w.Body.Len() > 0 {
		require.NoError(s.t, json.Unmarshal(w.Body.Bytes(), &out), w.Body.String())
	}
	return w.Code, out
}

// patchCase is a PATCH both implementations apply to the same resource.
type patchCase struct {
	name string
	ops  []map[string]any
	// differs, when set, says why the results differ on purpose; check
	// asserts what each side does.
	differs string
	check   func(t *testing.T, ours, theirs map[string]any)
}

const enterprise = scim.EnterpriseUserSchema

func startUser() map[string]any {
	return map[string]any{
		"userName":    "alice",
		"displayName": "Alice Liddell",
		"active":      true,
		"name":        map[string]any{"givenName": "Alice", "familyName": "Liddell"},
		"emails": []any{
			map[string]any{"value": "alice@example.com", "type": "work", "primary": true},
			map[string]any{"value": "alice@home.example", "type": "home"},
		},
		"title":    "Engineer",
		enterprise: map[string]any{"department": "Research", "employeeNumber": "42"},
	}
}

func o(name, path string, value any) map[string]any {
	m := map[string]any{"op": name}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

var userPatchCases = []patchCase{
	{name: "replace userName", ops: []map[string]any{o("replace", "userName", "alice2")}},
	{name: "Replace a sub-attribute (Entra)", ops: []map[string]any{o("Replace", "name.familyName", "Pleasance")}},
	{name: "replace with a value filter", ops: []map[string]any{o("replace", `emails[type eq "work"].value`, "alice@new.example")}},
	{name: "add an address", ops: []map[string]any{o("add", "emails", []any{map[string]any{"value": "a3@example.com", "type": "other"}})}},
	{name: "remove by a value filter", ops: []map[string]any{o("remove", `emails[type eq "home"]`, nil)}},
	{name: "remove by value equality", ops: []map[string]any{o("remove", `emails[value eq "alice@home.example"]`, nil)}},
	{name: "remove a sub-attribute", ops: []map[string]any{o("remove", "name.givenName", nil)}},
	{name: "remove every address", ops: []map[string]any{o("remove", "emails", nil)}},
	{name: "replace every address", ops: []map[string]any{o("replace", "emails", []any{map[string]any{"value": "only@example.com", "primary": true}})}},
	{name: "add a new attribute", ops: []map[string]any{o("add", "externalId", "ext-1"), o("add", "nickName", "Al")}},
	{name: "replace without path", ops: []map[string]any{o("replace", "", map[string]any{"displayName": "Al", "active": false})}},
	{name: "add without path", ops: []map[string]any{o("add", "", map[string]any{"title": "Boss", "locale": "en-GB"})}},
	{name: "replace a complex attribute merges", ops: []map[string]any{o("replace", "name", map[string]any{"givenName": "Alicia"})}},
	{name: "an enterprise attribute by its full path", ops: []map[string]any{o("replace", enterprise+":department", "Sales")}},
	{name: "remove an enterprise attribute", ops: []map[string]any{o("remove", enterprise+":employeeNumber", nil)}},
	{name: "add to a filter that matches nothing creates the value", ops: []map[string]any{o("add", `emails[type eq "other"].value`, "o@example.com")}},
	{name: "replace with a filter that matches nothing creates it too", ops: []map[string]any{o("replace", `emails[type eq "other"].value`, "o@example.com")}},
	{name: "several operations in order", ops: []map[string]any{
		o("Replace", "displayName", "A. Liddell"), o("Add", "title", "Lead"), o("Remove", `emails[type eq "home"]`, nil),
		o("replace", `emails[type eq "work"].type`, "other"),
	}},
	{name: "active as Entra's string", ops: []map[string]any{o("Replace", "active", "False")}},
	{
		name: "a replace whose non-equality filter matches nothing", ops: []map[string]any{o("replace", `emails[value co "nobody"].value`, "x")},
		differs: "both refuse (noTarget)",
		check: func(t *testing.T, ours, theirs map[string]any) {
			assert.Equal(t, "noTarget", ours["scimType"])
			assert.Contains(t, theirs["error"], "no record match was made")
		},
	},
	{
		name: "remove without path", ops: []map[string]any{o("remove", "", nil)}, differs: "both refuse",
		check: func(t *testing.T, ours, theirs map[string]any) {
			assert.Equal(t, "noTarget", ours["scimType"])
			assert.Contains(t, theirs["error"], "Missing path")
		},
	},
	{
		name: "a complex value without path", ops: []map[string]any{o("replace", "", map[string]any{"name": map[string]any{"givenName": "X"}})},
		differs: "Gatehouse applies each attribute of a path-less value as a path, so a complex one merges as with path \"name\" " +
			"(RFC 7644 section 3.5.2.3); scim-patch replaces the whole attribute",
		check: func(t *testing.T, ours, theirs map[string]any) {
			assert.Equal(t, map[string]any{"givenName": "X", "familyName": "Liddell"}, ours["name"])
			assert.Equal(t, map[string]any{"givenName": "X"}, theirs["name"])
		},
	},
	{
		name: "a second primary address", ops: []map[string]any{o("add", "emails", []any{map[string]any{"value": "p@example.com", "primary": true}})},
		differs: "RFC 7644 section 3.5.2: a new primary value makes the old one not primary; scim-patch keeps two primaries",
		check: func(t *testing.T, ours, theirs map[string]any) {
			assert.Equal(t, []string{"p@example.com"}, primaries(ours))
			assert.Equal(t, []string{"alice@example.com", "p@example.com"}, primaries(theirs))
		},
	},
	{
		name: "remove by a value list", ops: []map[string]any{o("remove", "emails", []any{map[string]any{"value": "alice@home.example"}})},
		differs: "Gatehouse removes the values whose value sub-attribute matches (as Entra removes members); scim-patch only whole equal values",
		check: func(t *testing.T, ours, theirs map[string]any) {
			assert.Len(t, ours["emails"], 1)
			assert.Len(t, theirs["emails"], 2)
		},
	},
}

func primaries(r map[string]any) []string {
	var out []string
	list, _ := r["emails"].([]any)
	for _, e := range list {
		if m := e.(map[string]any); m["primary"] == true {
			out = append(out, m["value"].(string))
		}
	}
	slices.Sort(out)
	return out
}

func TestPatchAgreesWithScimPatch(t *testing.T) {
	requirePeers(t)
	ctx, cancel := context.WithTimeout(t.Context(), peerLimit)
	defer cancel()
	s := newServer(t)
	var cases []scimpeers.PatchCase
	for _, pc := range userPatchCases {
		cases = append(cases, scimpeers.PatchCase{Resource: startUser(), Operations: pc.ops})
	}
	theirs, err := scimpeers.ApplyPatches(ctx, cases)
	require.NoError(t, err)
	for i, pc := range userPatchCases {
		t.Run(pc.name, func(t *testing.T) {
			body := startUser()
			body["userName"] = "alice-" + strings.ReplaceAll(pc.name, " ", "-")
			body["schemas"] = []any{scim.UserSchema, enterprise}
			status, created := s.do(http.MethodPost, "/scim/v2/Users", body)
			require.Equal(t, http.StatusCreated, status, created)
			id := created["id"].(string)
			ops := make([]any, len(pc.ops))
			for j, op := range pc.ops {
				ops[j] = op
			}
			status, ours := s.do(http.MethodPatch, "/scim/v2/Users/"+id, map[string]any{"schemas": []any{scim.PatchOpSchema}, "Operations": ops})
			their := theirs[i]
			if pc.differs != "" {
				theirMap := their.Resource
				if !their.OK {
					theirMap = map[string]any{"error": their.Error}
				}
				pc.check(t, normalizeUser(ours), normalizeUser(theirMap))
				return
			}
			require.Equal(t, http.StatusOK, status, ours)
			require.True(t, their.OK, "scim-patch refused: %s", their.Error)
			// Our userName carries the case name; align it unless the
			// patch changed it.
			if ours["userName"] == body["userName"] {
				ours["userName"] = "alice"
			}
			assert.Equal(t, normalizeUser(their.Resource), normalizeUser(ours))
		})
	}
}

// normalizeUser keeps what both sides model: no schemas, id, meta,
// groups or $ref; e-mail addresses sorted by value; "primary" only when
// true; Entra's boolean strings as booleans; empty objects and arrays
// dropped.
func normalizeUser(r map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range r {
		switch k {
		case "schemas", "id", "meta", "groups":
			continue
		}
		out[k] = normalizeValue(k, v)
	}
	if emails, ok := out["emails"].([]any); ok {
		slices.SortFunc(emails, func(a, b any) int {
			return strings.Compare(a.(map[string]any)["value"].(string), b.(map[string]any)["value"].(string))
		})
	}
	for k, v := range out {
		if isEmpty(v) {
			delete(out, k)
		}
	}
	return out
}

func normalizeValue(k string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for kk, vv := range x {
			if kk == "$ref" {
				continue
			}
			n := normalizeValue(kk, vv)
			if kk == "primary" && n == false {
				continue
			}
			if !isEmpty(n) {
				m[kk] = n
			}
		}
		return m
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			out = append(out, normalizeValue(k, e))
		}
		return out
	case string:
		if k == "active" || k == "primary" {
			switch strings.ToLower(x) {
			case "true":
				return true
			case "false":
				return false
			}
		}
	}
	return v
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func TestGroupPatchAgreesWithScimPatch(t *testing.T) {
	requirePeers(t)
	ctx, cancel := context.WithTimeout(t.Context(), peerLimit)
	defer cancel()
	s := newServer(t)
	var ids []string
	for _, n := range []string{"u1", "u2", "u3"} {
		status, u := s.do(http.MethodPost, "/scim/v2/Users", map[string]any{"schemas": []any{scim.UserSchema}, "userName": n})
		require.Equal(t, http.StatusCreated, status, u)
		ids = append(ids, u["id"].(string))
	}
	member := func(id string) map[string]any { return map[string]any{"value": id} }
	cases := []struct {
		name string
		ops  []map[string]any
	}{
		{"add members", []map[string]any{o("add", "members", []any{member(ids[1]), member(ids[2])})}},
		{"Add a member already there", []map[string]any{o("Add", "members", []any{member(ids[0])})}},
		{"remove a member by filter", []map[string]any{o("remove", `members[value eq "`+ids[0]+`"]`, nil)}},
		{"Remove members by value (Entra)", []map[string]any{o("Remove", "members", []any{member(ids[0])})}},
		{"remove every member", []map[string]any{o("remove", "members", nil)}},
		{"replace members", []map[string]any{o("replace", "members", []any{member(ids[2])})}},
		{"replace the displayName", []map[string]any{o("Replace", "displayName", "Renamed")}},
		{"replace without path", []map[string]any{o("replace", "", map[string]any{"displayName": "Renamed 2", "externalId": "e1"})}},
		{"add then remove", []map[string]any{o("add", "members", []any{member(ids[1])}), o("remove", `members[value eq "`+ids[1]+`"]`, nil)}},
	}
	start := func(name string) map[string]any {
		return map[string]any{"displayName": name, "members": []any{member(ids[0])}}
	}
	var peerCases []scimpeers.PatchCase
	for _, c := range cases {
		peerCases = append(peerCases, scimpeers.PatchCase{Resource: start("staff"), Operations: c.ops})
	}
	theirs, err := scimpeers.ApplyPatches(ctx, peerCases)
	require.NoError(t, err)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := "staff " + c.name
			body := start(name)
			body["schemas"] = []any{scim.GroupSchema}
			status, created := s.do(http.MethodPost, "/scim/v2/Groups", body)
			require.Equal(t, http.StatusCreated, status, created)
			ops := make([]any, len(c.ops))
			for j, op := range c.ops {
				ops[j] = op
			}
			status, ours := s.do(http.MethodPatch, "/scim/v2/Groups/"+created["id"].(string), map[string]any{"schemas": []any{scim.PatchOpSchema}, "Operations": ops})
			require.Equal(t, http.StatusOK, status, ours)
			require.True(t, theirs[i].OK, "scim-patch refused: %s", theirs[i].Error)
			if ours["displayName"] == name {
				ours["displayName"] = "staff"
			}
			assert.Equal(t, normalizeGroup(theirs[i].Resource), normalizeGroup(ours))
		})
	}
}

// normalizeGroup keeps displayName, externalId and the sorted member IDs.
func normalizeGroup(r map[string]any) map[string]any {
	out := map[string]any{"displayName": r["displayName"]}
	if v, ok := r["externalId"]; ok {
		out["externalId"] = v
	}
	var ids []string
	list, _ := r["members"].([]any)
	for _, m := range list {
		ids = append(ids, m.(map[string]any)["value"].(string))
	}
	slices.Sort(ids)
	out["members"] = ids
	return out
}
