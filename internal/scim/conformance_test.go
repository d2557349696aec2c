package scim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/scim"
)

// vars are the IDs a case's setup made, substituted for {name} in the
// path and body.
type vars map[string]string

func (v vars) expand(s string) string {
	for k, x := range v {
		s = strings.ReplaceAll(s, "{"+k+"}", x)
		s = strings.ReplaceAll(s, url.QueryEscape("{"+k+"}"), x)
	}
	return s
}

// conformanceCase is one request against a fresh server: setup, the
// request, the expected status and scimType, and further checks.
type conformanceCase struct {
	name     string
	setup    func(e *env) vars
	method   string
	path     string
	body     any // string or value; {name} placeholders are expanded
	header   []string
	status   int
	scimType string
	detail   string // a part of the error detail, when set
	check    func(t *testing.T, e *env, v vars, res response)
}

const (
	coreUser   = scim.UserSchema
	coreGroup  = scim.GroupSchema
	enterprise = scim.EnterpriseUserSchema
)

func q(s string) string { return url.QueryEscape(s) }

// oneUser makes the user alice with a work e-mail, a name and a
// department, and returns {user}.
func oneUser(e *env) vars {
	return vars{"user": e.createUser("alice", map[string]any{
		"schemas":     []any{coreUser, enterprise},
		"displayName": "Alice Liddell",
		"name":        map[string]any{"givenName": "Alice", "familyName": "Liddell"},
		"emails":      []any{map[string]any{"value": "alice@example.com", "type": "work", "primary": true}},
		enterprise:    map[string]any{"department": "Research"},
	})}
}

// userAndGroup makes alice, bob and the group staff with alice.
func userAndGroup(e *env) vars {
	v := oneUser(e)
	v["bob"] = e.createUser("bob")
	v["carol"] = e.createUser("carol")
	v["group"] = e.createGroup("staff", v["user"])
	return v
}

func threeUsers(e *env) vars {
	return vars{"a": e.createUser("ann"), "b": e.createUser("ben"), "c": e.createUser("cid")}
}

// getUser reads a user over SCIM.
func (e *env) getUser(id string) map[string]any {
	e.t.Helper()
	res := e.do(http.MethodGet, "/scim/v2/Users/"+id, nil)
	require.Equal(e.t, http.StatusOK, res.status, res.raw)
	return res.body
}

func (e *env) getGroup(id string) map[string]any {
	e.t.Helper()
	res := e.do(http.MethodGet, "/scim/v2/Groups/"+id, nil)
	require.Equal(e.t, http.StatusOK, res.status, res.raw)
	return res.body
}

func members(g map[string]any) []string {
	var out []string
	list, _ := g["members"].([]any)
	for _, m := range list {
		out = append(out, m.(map[string]any)["value"].(string))
	}
	return out
}

// unchanged asserts that a refused write left the user at version 1.
func unchangedUser(t *testing.T, e *env, v vars, _ response) {
	u := e.getUser(v["user"])
	assert.Equal(t, `W/"1"`, get(u, "meta", "version"))
	assert.Equal(t, "Alice Liddell", u["displayName"])
	assert.Equal(t, "alice@example.com", get(u, "emails", 0, "value"))
}

func TestConformanceUsers(t *testing.T) {
	cases := []conformanceCase{
		{
			name: "3.3 create: 201 with Location, ETag and meta", method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"schemas": []any{coreUser}, "userName": "alice"},
			status: http.StatusCreated,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				id := res.body["id"].(string)
				assert.Equal(t, baseURL+"/Users/"+id, res.header.Get("Location"))
				assert.Equal(t, `W/"1"`, res.header.Get("ETag"))
				assert.Equal(t, []any{coreUser}, res.body["schemas"])
				assert.Equal(t, "alice", res.body["userName"])
				assert.Equal(t, true, res.body["active"], "active defaults to true")
				assert.Equal(t, map[string]any{
					"resourceType": "User", "created": "2026-03-01T12:00:01Z", "lastModified": "2026-03-01T12:00:01Z",
					"location": baseURL + "/Users/" + id, "version": `W/"1"`,
				}, res.body["meta"])
			},
		},
		{
			name: "3.3 create with every kept attribute", method: http.MethodPost, path: "/scim/v2/Users",
			body: map[string]any{
				"schemas": []any{coreUser, enterprise}, "userName": "alice", "externalId": "ext-1", "displayName": "Alice",
				"name":  map[string]any{"givenName": "Alice", "familyName": "Liddell", "formatted": "Alice Liddell", "middleName": "P"},
				"title": "Engineer", "userType": "Employee", "locale": "en-GB", "preferredLanguage": "en", "timezone": "Europe/London",
				"nickName": "Al", "profileUrl": "https://example.com/alice",
				"emails": []any{
					map[string]any{"value": "alice@example.com", "type": "work", "primary": true},
					map[string]any{"value": "alice@home.example", "type": "home"},
				},
				enterprise: map[string]any{"employeeNumber": "42", "costCenter": "CC1", "organization": "Org", "division": "Div",
					"department": "R&D", "manager": map[string]any{"value": "boss-id", "displayName": "The Boss"}},
			},
			status: http.StatusCreated,
			check: func(t *testing.T, e *env, _ vars, res response) {
				u, err := e.store.DirectoryUser(t.Context(), res.body["id"].(string))
				require.NoError(t, err)
				assert.Equal(t, "Liddell", u.FamilyName)
				assert.Equal(t, "alice@example.com", u.Email)
				assert.Equal(t, map[string]string{
					"name.formatted": "Alice Liddell", "name.middleName": "P", "title": "Engineer", "userType": "Employee",
					"locale": "en-GB", "preferredLanguage": "en", "timezone": "Europe/London", "nickName": "Al",
					"profileUrl": "https://example.com/alice", "employeeNumber": "42", "costCenter": "CC1",
					"organization": "Org", "division": "Div", "department": "R&D", "manager": "boss-id",
				}, u.Attributes)
				got := e.getUser(u.ID)
				assert.Equal(t, []any{coreUser, enterprise}, got["schemas"])
				assert.Equal(t, "R&D", get(got, enterprise, "department"))
				assert.Equal(t, map[string]any{"value": "boss-id", "$ref": baseURL + "/Users/boss-id"}, get(got, enterprise, "manager"))
				assert.Equal(t, "Alice Liddell", get(got, "name", "formatted"))
				assert.Equal(t, "https://example.com/alice", got["profileUrl"])
				assert.Len(t, got["emails"], 2)
			},
		},
		{
			name: "3.3 create: attribute names are case-insensitive", method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"SCHEMAS": []any{coreUser}, "UserName": "alice", "NAME": map[string]any{"GIVENNAME": "Al"}, "Active": false},
			status: http.StatusCreated,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.Equal(t, "alice", res.body["userName"])
				assert.Equal(t, "Al", get(res.body, "name", "givenName"))
				assert.Equal(t, false, res.body["active"])
			},
		},
		{
			name: "3.3 create: read-only id, meta and groups are ignored", method: http.MethodPost, path: "/scim/v2/Users",
			body: map[string]any{"schemas": []any{coreUser}, "userName": "alice", "id": "chosen-by-client",
				"meta": map[string]any{"resourceType": "User"}, "groups": []any{map[string]any{"value": "g"}}},
			status: http.StatusCreated,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.NotEqual(t, "chosen-by-client", res.body["id"])
				assert.NotContains(t, res.body, "groups")
			},
		},
		{
			name: "3.3 create: a password (Okta's placeholder) is dropped, never stored or echoed", method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"schemas": []any{coreUser}, "userName": "alice", "password": "1mz050nq"},
			status: http.StatusCreated,
			check: func(t *testing.T, e *env, _ vars, res response) {
				assert.NotContains(t, res.raw, "1mz050nq")
				assert.NotContains(t, res.raw, "password")
				for _, ev := range e.audit.recorded() {
					for _, d := range ev.Details {
						assert.NotContains(t, d, "1mz050nq")
					}
				}
			},
		},
		{
			name: "3.3 create: attributes Gatehouse does not keep and unknown names are dropped", method: http.MethodPost, path: "/scim/v2/Users",
			body: map[string]any{"schemas": []any{coreUser}, "userName": "alice", "favoriteColor": "blue",
				"roles": []any{}, "phoneNumbers": []any{map[string]any{"value": "+1 555", "type": "work"}},
				"emails": []any{map[string]any{"value": "a@example.com", "display": "Alice", "primary": "True"}}},
			status: http.StatusCreated,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.NotContains(t, res.body, "favoriteColor")
				assert.NotContains(t, res.body, "phoneNumbers")
				assert.Equal(t, []any{map[string]any{"value": "a@example.com", "primary": true}}, res.body["emails"])
			},
		},
		{
			name: "3.3 create: an unknown extension listed in schemas is accepted and dropped", method: http.MethodPost, path: "/scim/v2/Users",
			body: map[string]any{"schemas": []any{coreUser, "urn:ietf:params:scim:schemas:extension:acme:2.0:User"}, "userName": "alice",
				"urn:ietf:params:scim:schemas:extension:acme:2.0:User": map[string]any{"badge": 7}},
			status: http.StatusCreated,
		},
		{
			name: "3.3 create: an extension not listed in schemas", method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"schemas": []any{coreUser}, "userName": "alice", enterprise: map[string]any{"department": "R&D"}},
			status: http.StatusBadRequest, scimType: "invalidSyntax", detail: "without listing it in schemas",
		},
		{
			name: "3.3 create: an attribute of an unlisted unknown schema", method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"schemas": []any{coreUser}, "userName": "alice", "urn:example:other:2.0:User:badge": "7"},
			status: http.StatusBadRequest, scimType: "invalidSyntax",
		},
		{
			name: "3.3 create: a qualified attribute name", method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"schemas": []any{coreUser, enterprise}, "urn:ietf:params:scim:schemas:core:2.0:User:userName": "alice", enterprise + ":department": "R&D"},
			status: http.StatusCreated,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.Equal(t, "alice", res.body["userName"])
				assert.Equal(t, "R&D", get(res.body, enterprise, "department"))
			},
		},
		{
			name: "3.3 create: Entra's boolean strings", method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"schemas": []any{coreUser}, "userName": "alice", "active": "False"},
			status: http.StatusCreated,
			check:  func(t *testing.T, _ *env, _ vars, res response) { assert.Equal(t, false, res.body["active"]) },
		},
		{
			name: "3.3 create: a boolean that is not one", method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"schemas": []any{coreUser}, "userName": "alice", "active": "maybe"},
			status: http.StatusBadRequest, scimType: "invalidValue", detail: "active must be true or false, not a string",
		},
		{
			name: "3.3 create: a string that is a number", method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"schemas": []any{coreUser}, "userName": 12},
			status: http.StatusBadRequest, scimType: "invalidValue",
		},
		{
			name: "3.3 create: emails not an array", method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"schemas": []any{coreUser}, "userName": "alice", "emails": map[string]any{"value": "a@example.com"}},
			status: http.StatusBadRequest, scimType: "invalidValue",
		},
		{
			name: "3.3 create: two primary e-mail addresses", method: http.MethodPost, path: "/scim/v2/Users",
			body: map[string]any{"schemas": []any{coreUser}, "userName": "alice", "emails": []any{
				map[string]any{"value": "a@example.com", "primary": true}, map[string]any{"value": "b@example.com", "primary": true}}},
			status: http.StatusBadRequest, scimType: "invalidValue",
		},
		{
			name: "3.3 create: userName is required", method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"schemas": []any{coreUser}, "displayName": "Alice"},
			status: http.StatusBadRequest, scimType: "invalidValue", detail: "userName: is required",
		},
		{
			name: "3.3 create: schemas is required", method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"userName": "alice"},
			status: http.StatusBadRequest, scimType: "invalidSyntax",
		},
		{
			name: "3.3 create: schemas of another resource type", method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"schemas": []any{coreUser, coreGroup}, "userName": "alice"},
			status: http.StatusBadRequest, scimType: "invalidSyntax",
		},
		{
			name: "3.3 create: duplicate userName ignoring case", setup: oneUser, method: http.MethodPost, path: "/scim/v2/Users",
			body:   map[string]any{"schemas": []any{coreUser}, "userName": "ALICE"},
			status: http.StatusConflict, scimType: "uniqueness",
		},
		{
			name: "3.12 malformed JSON", method: http.MethodPost, path: "/scim/v2/Users",
			body: `{"schemas":["` + coreUser + `"],"userName":"alice"`, status: http.StatusBadRequest, scimType: "invalidSyntax",
		},
		{
			name: "3.12 data after the JSON object", method: http.MethodPost, path: "/scim/v2/Users",
			body: `{"schemas":["` + coreUser + `"],"userName":"alice"} {}`, status: http.StatusBadRequest, scimType: "invalidSyntax",
		},
		{
			name: "3.12 an attribute named twice (names are case-insensitive)", method: http.MethodPost, path: "/scim/v2/Users",
			body: `{"schemas":["` + coreUser + `"],"userName":"alice","username":"mallory"}`, status: http.StatusBadRequest, scimType: "invalidSyntax",
			detail: `names attribute "username" twice`,
		},
		{
			name: "3.12 a body nested too deep", method: http.MethodPost, path: "/scim/v2/Users",
			body:   `{"schemas":["` + coreUser + `"],"userName":"alice","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
			status: http.StatusBadRequest, scimType: "invalidSyntax",
		},
		{
			name: "3.12 a body that is not UTF-8", method: http.MethodPost, path: "/scim/v2/Users",
			body: []byte("{\"schemas\":[\"" + coreUser + "\"],\"userName\":\"al\xffice\"}"), status: http.StatusBadRequest, scimType: "invalidSyntax",
		},
		{
			name: "3.12 a body that is not an object", method: http.MethodPost, path: "/scim/v2/Users",
			body: `["userName"]`, status: http.StatusBadRequest, scimType: "invalidSyntax",
		},
		{
			name: "3.1 application/json is accepted", method: http.MethodPost, path: "/scim/v2/Users",
			body: map[string]any{"schemas": []any{coreUser}, "userName": "alice"}, header: []string{"Content-Type", "application/json; charset=utf-8"},
			status: http.StatusCreated,
		},
		{
			name: "3.1 other media types are not", method: http.MethodPost, path: "/scim/v2/Users",
			body: map[string]any{"schemas": []any{coreUser}, "userName": "alice"}, header: []string{"Content-Type", "text/plain"},
			status: http.StatusUnsupportedMediaType,
		},
		{
			name: "3.4.1 get by id with ETag equal to meta.version", setup: oneUser, method: http.MethodGet, path: "/scim/v2/Users/{user}",
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.Equal(t, v["user"], res.body["id"])
				assert.Equal(t, get(res.body, "meta", "version"), res.header.Get("ETag"))
				assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
			},
		},
		{
			name: "3.4.1 unknown id", method: http.MethodGet, path: "/scim/v2/Users/0123456789abcdef", status: http.StatusNotFound,
		},
		{
			name: "3.4.1 an id that no resource can have", method: http.MethodGet, path: "/scim/v2/Users/a%20b", status: http.StatusNotFound,
		},
		{
			name: "3.14 If-None-Match with the current version", setup: oneUser, method: http.MethodGet, path: "/scim/v2/Users/{user}",
			header: []string{"If-None-Match", `W/"1"`}, status: http.StatusNotModified,
			check: func(t *testing.T, _ *env, _ vars, res response) { assert.Empty(t, res.raw) },
		},
		{
			name: "3.4.2.5 attributes=userName", setup: oneUser, method: http.MethodGet, path: "/scim/v2/Users/{user}?attributes=userName",
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.Equal(t, map[string]any{"schemas": []any{coreUser, enterprise}, "id": v["user"], "userName": "alice"}, res.body)
			},
		},
		{
			name: "3.4.2.5 attributes with sub-attributes and an extension attribute", setup: oneUser, method: http.MethodGet,
			path:   "/scim/v2/Users/{user}?attributes=" + q("name.givenName,emails.value,"+enterprise+":department"),
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.Equal(t, map[string]any{"schemas": []any{coreUser, enterprise}, "id": v["user"],
					"name": map[string]any{"givenName": "Alice"}, "emails": []any{map[string]any{"value": "alice@example.com"}},
					enterprise: map[string]any{"department": "Research"}}, res.body)
			},
		},
		{
			name: "3.4.2.5 excludedAttributes", setup: oneUser, method: http.MethodGet,
			path: "/scim/v2/Users/{user}?excludedAttributes=emails,name.givenName,meta,id," + q(enterprise), status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.Equal(t, map[string]any{"schemas": []any{coreUser, enterprise}, "id": v["user"], "userName": "alice",
					"displayName": "Alice Liddell", "active": true, "name": map[string]any{"familyName": "Liddell"}}, res.body)
			},
		},
		{
			name: "3.4.2.5 an empty attributes parameter asks for nothing in particular", setup: oneUser, method: http.MethodGet,
			path: "/scim/v2/Users/{user}?attributes=", status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) { assert.Equal(t, "alice", res.body["userName"]) },
		},
		{
			name: "3.4.2.5 attributes of another schema only", setup: oneUser, method: http.MethodGet,
			path: "/scim/v2/Users/{user}?attributes=" + q("urn:example:other:2.0:User:badge"), status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.Equal(t, map[string]any{"schemas": []any{coreUser, enterprise}, "id": v["user"]}, res.body)
			},
		},
		{
			name: "3.4.2.5 an attribute name that is not one", setup: oneUser, method: http.MethodGet,
			path: "/scim/v2/Users/{user}?attributes=" + q(`emails[type eq "work"]`), status: http.StatusBadRequest, scimType: "invalidValue",
		},
		{
			name: "3.5.1 replace: absent attributes are unassigned, active false deactivates (Okta)", setup: oneUser, method: http.MethodPut,
			path: "/scim/v2/Users/{user}", body: map[string]any{"schemas": []any{coreUser}, "userName": "alice", "active": false,
				"emails": []any{map[string]any{"value": "new@example.com", "type": "work", "primary": true}}},
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.Equal(t, false, res.body["active"])
				assert.NotContains(t, res.body, "displayName")
				assert.NotContains(t, res.body, "name")
				assert.NotContains(t, res.body, enterprise)
				assert.Equal(t, `W/"2"`, res.header.Get("ETag"))
				assert.Equal(t, `W/"2"`, get(res.body, "meta", "version"))
			},
		},
		{
			name: "3.5.1 replace: custom attributes that are not SCIM's survive", setup: func(e *env) vars {
				v := oneUser(e)
				_, err := e.store.UpdateDirectoryUser(e.t.Context(), v["user"], 0, func(u *directory.User) error {
					u.Attributes["clearance"] = "secret"
					return nil
				}, time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC))
				require.NoError(e.t, err)
				return v
			},
			method: http.MethodPut, path: "/scim/v2/Users/{user}", body: map[string]any{"schemas": []any{coreUser}, "userName": "alice"},
			status: http.StatusOK,
			check: func(t *testing.T, e *env, v vars, _ response) {
				u, err := e.store.DirectoryUser(t.Context(), v["user"])
				require.NoError(t, err)
				assert.Equal(t, map[string]string{"clearance": "secret"}, u.Attributes)
				assert.True(t, u.Active, "a PUT without active keeps it")
			},
		},
		{
			name: "3.5.1 replace: a matching If-Match", setup: oneUser, method: http.MethodPut, path: "/scim/v2/Users/{user}",
			body: map[string]any{"schemas": []any{coreUser}, "userName": "alice"}, header: []string{"If-Match", `W/"1"`}, status: http.StatusOK,
		},
		{
			name: "3.5.1 replace: If-Match *", setup: oneUser, method: http.MethodPut, path: "/scim/v2/Users/{user}",
			body: map[string]any{"schemas": []any{coreUser}, "userName": "alice"}, header: []string{"If-Match", `*`}, status: http.StatusOK,
		},
		{
			name: "3.5.1 replace: a list of tags holding the current one", setup: oneUser, method: http.MethodPut, path: "/scim/v2/Users/{user}",
			body: map[string]any{"schemas": []any{coreUser}, "userName": "alice"}, header: []string{"If-Match", `W/"7", W/"1"`}, status: http.StatusOK,
		},
		{
			name: "3.14 replace: a stale If-Match", setup: oneUser, method: http.MethodPut, path: "/scim/v2/Users/{user}",
			body: map[string]any{"schemas": []any{coreUser}, "userName": "mallory"}, header: []string{"If-Match", `W/"2"`},
			status: http.StatusPreconditionFailed, check: unchangedUser,
		},
		{
			name: "3.14 replace: an If-Match that is no tag of ours", setup: oneUser, method: http.MethodPut, path: "/scim/v2/Users/{user}",
			body: map[string]any{"schemas": []any{coreUser}, "userName": "mallory"}, header: []string{"If-Match", `"abc"`},
			status: http.StatusPreconditionFailed, check: unchangedUser,
		},
		{
			name: "3.5.1 replace: unknown id", method: http.MethodPut, path: "/scim/v2/Users/0123456789abcdef",
			body: map[string]any{"schemas": []any{coreUser}, "userName": "alice"}, status: http.StatusNotFound,
		},
		{
			name: "3.5.1 replace: a userName taken by another user", setup: userAndGroup, method: http.MethodPut, path: "/scim/v2/Users/{bob}",
			body: map[string]any{"schemas": []any{coreUser}, "userName": "Alice"}, status: http.StatusConflict, scimType: "uniqueness",
		},
		{
			name: "3.6 delete, then the user is gone", setup: userAndGroup, method: http.MethodDelete, path: "/scim/v2/Users/{user}",
			status: http.StatusNoContent,
			check: func(t *testing.T, e *env, v vars, res response) {
				assert.Empty(t, res.raw)
				requireError(t, e.do(http.MethodGet, "/scim/v2/Users/"+v["user"], nil), http.StatusNotFound, "")
				requireError(t, e.do(http.MethodDelete, "/scim/v2/Users/"+v["user"], nil), http.StatusNotFound, "")
				assert.Empty(t, members(e.getGroup(v["group"])), "memberships go with the user")
			},
		},
		{
			name: "3.14 delete with a stale If-Match", setup: oneUser, method: http.MethodDelete, path: "/scim/v2/Users/{user}",
			header: []string{"If-Match", `W/"9"`}, status: http.StatusPreconditionFailed, check: unchangedUser,
		},
		{
			name: "3.14 delete with a matching If-Match", setup: oneUser, method: http.MethodDelete, path: "/scim/v2/Users/{user}",
			header: []string{"If-Match", `W/"1"`}, status: http.StatusNoContent,
		},
		{
			name: "4 a user shows its groups", setup: userAndGroup, method: http.MethodGet, path: "/scim/v2/Users/{user}", status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.Equal(t, []any{map[string]any{"value": v["group"], "display": "staff", "type": "direct",
					"$ref": baseURL + "/Groups/" + v["group"]}}, res.body["groups"])
			},
		},
	}
	runConformance(t, cases)
}

func TestConformanceUserPatch(t *testing.T) {
	path := "/scim/v2/Users/{user}"
	cases := []conformanceCase{
		{
			name: "3.5.2.3 replace with a value filter and operation names in any case (Entra)", setup: oneUser, method: http.MethodPatch, path: path,
			body:   patchBody(op("Replace", `emails[type eq "work"].value`, "alice@new.example"), op("REPLACE", "name.familyName", "Pleasance")),
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.Equal(t, []any{map[string]any{"value": "alice@new.example", "type": "work", "primary": true}}, res.body["emails"])
				assert.Equal(t, map[string]any{"givenName": "Alice", "familyName": "Pleasance"}, res.body["name"])
				assert.Equal(t, `W/"2"`, res.header.Get("ETag"))
			},
		},
		{
			name: "3.5.2.3 active \"False\" deactivates (Entra)", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("Replace", "active", "False")), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) { assert.Equal(t, false, res.body["active"]) },
		},
		{
			name: "3.5.2 a replace without path (Okta deactivation)", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", "", map[string]any{"active": false})), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) { assert.Equal(t, false, res.body["active"]) },
		},
		{
			name: "3.5.2 an add without path whose names are paths (Entra before SCIM compliance)", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("Add", "", map[string]any{"name.givenName": "Alicia", `emails[type eq "work"].value`: "alicia@example.com",
				enterprise + ":employeeNumber": "7", "displayName": "Alicia L", "favoriteColor": "blue", "phoneNumbers": []any{}})),
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.Equal(t, "Alicia", get(res.body, "name", "givenName"))
				assert.Equal(t, "alicia@example.com", get(res.body, "emails", 0, "value"))
				assert.Equal(t, map[string]any{"department": "Research", "employeeNumber": "7"}, res.body[enterprise])
				assert.Equal(t, "Alicia L", res.body["displayName"])
			},
		},
		{
			name: "3.5.2.1 add a value to a filter that matches nothing creates it", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("add", `emails[type eq "home"].value`, "alice@home.example")), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.Equal(t, []any{
					map[string]any{"value": "alice@example.com", "type": "work", "primary": true},
					map[string]any{"value": "alice@home.example", "type": "home"},
				}, res.body["emails"])
			},
		},
		{
			name: "3.5.2.1 add to a multi-valued attribute appends, and a new primary takes over", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("add", "emails", []any{map[string]any{"value": "alice@two.example", "primary": true}})), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.Equal(t, []any{
					map[string]any{"value": "alice@example.com", "type": "work"},
					map[string]any{"value": "alice@two.example", "primary": true},
				}, res.body["emails"])
			},
		},
		{
			name: "3.5.2.3 replace with a filter other than equalities that matches nothing", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", `emails[value co "nobody"].value`, "x@example.com")), status: http.StatusBadRequest, scimType: "noTarget",
		},
		{
			name: "3.5.2.2 remove with a value filter", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("remove", `emails[type eq "work"]`, nil)), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) { assert.NotContains(t, res.body, "emails") },
		},
		{
			name: "3.5.2.2 remove of a single-valued attribute", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("remove", "displayName", nil), op("remove", enterprise+":department", nil)), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.NotContains(t, res.body, "displayName")
				assert.NotContains(t, res.body, enterprise)
			},
		},
		{
			name: "3.5.2.2 remove without a path", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("remove", "", nil)), status: http.StatusBadRequest, scimType: "noTarget", detail: "remove needs a path",
			check: unchangedUser,
		},
		{
			name: "3.5.2 the enterprise manager as a bare id (Entra), then removed", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("Add", enterprise+":manager", "boss-id"), op("Replace", enterprise+":department", "Sales")), status: http.StatusOK,
			check: func(t *testing.T, e *env, v vars, res response) {
				assert.Equal(t, "boss-id", get(res.body, enterprise, "manager", "value"))
				assert.Equal(t, "Sales", get(res.body, enterprise, "department"))
				res = e.do(http.MethodPatch, "/scim/v2/Users/"+v["user"], patchBody(op("Remove", enterprise+":manager", nil)))
				require.Equal(t, http.StatusOK, res.status, res.raw)
				assert.Equal(t, map[string]any{"department": "Sales"}, res.body[enterprise])
			},
		},
		{
			name: "3.5.2 the whole extension as the path", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", enterprise, map[string]any{"costCenter": "CC9"})), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.Equal(t, map[string]any{"department": "Research", "costCenter": "CC9"}, res.body[enterprise])
			},
		},
		{
			name: "3.5.2 a path to an attribute Gatehouse does not keep changes nothing", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("Replace", `phoneNumbers[type eq "work"].value`, "+1 555 0100"), op("Add", "roles", []any{})), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) { assert.Equal(t, `W/"1"`, res.header.Get("ETag")) },
		},
		{
			name: "3.5.2 a password change is dropped", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", "password", "hunter2")), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.Equal(t, `W/"1"`, res.header.Get("ETag"))
				assert.NotContains(t, res.raw, "hunter2")
			},
		},
		{
			name: "3.5.2 atomic: a failing operation fails the whole PATCH", setup: oneUser, method: http.MethodPatch, path: path,
			body:   patchBody(op("replace", "displayName", "Mallory"), op("replace", `emails[value co "nobody"].value`, "x@example.com")),
			status: http.StatusBadRequest, scimType: "noTarget", detail: "no value matches the filter", check: unchangedUser,
		},
		{
			name: "3.5.2 atomic: a result the directory refuses changes nothing", setup: oneUser, method: http.MethodPatch, path: path,
			body:   patchBody(op("replace", "displayName", "Mallory"), op("remove", "userName", nil)),
			status: http.StatusBadRequest, scimType: "invalidValue", check: unchangedUser,
		},
		{
			name: "3.5.2 a stale If-Match", setup: oneUser, method: http.MethodPatch, path: path, header: []string{"If-Match", `W/"5"`},
			body: patchBody(op("replace", "displayName", "Mallory")), status: http.StatusPreconditionFailed, check: unchangedUser,
		},
		{
			name: "3.5.2 a path that does not parse", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", `emails[type eq "work"`, "x")), status: http.StatusBadRequest, scimType: "invalidPath",
		},
		{
			name: "3.5.2 a path to no attribute", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", "favoriteColor", "blue")), status: http.StatusBadRequest, scimType: "invalidPath",
			detail: `a User has no attribute "favoriteColor"`, check: unchangedUser,
		},
		{
			name: "3.5.2 a path of another schema", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", "urn:example:other:2.0:User:badge", "7")), status: http.StatusBadRequest, scimType: "invalidPath",
		},
		{
			name: "3.5.2 a value filter on an attribute filters do not support", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("remove", `emails[display eq "x"]`, nil)), status: http.StatusBadRequest, scimType: "invalidFilter",
		},
		{
			name: "3.5.2 id is read-only", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", "id", "other")), status: http.StatusBadRequest, scimType: "mutability", detail: "id is read-only",
		},
		{
			name: "3.5.2 groups are read-only", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("add", "groups", []any{map[string]any{"value": "g"}})), status: http.StatusBadRequest, scimType: "mutability",
		},
		{
			name: "3.5.2 a no-path id equal to the resource's is accepted", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", "", map[string]any{"id": "{user}", "displayName": "Al"})), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) { assert.Equal(t, "Al", res.body["displayName"]) },
		},
		{
			name: "3.5.2 a no-path id of another resource", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", "", map[string]any{"id": "other", "displayName": "Al"})), status: http.StatusBadRequest,
			scimType: "mutability", check: unchangedUser,
		},
		{
			name: "3.5.2 active cannot be removed", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("remove", "active", nil)), status: http.StatusBadRequest, scimType: "invalidValue",
		},
		{
			name: "3.5.2 an unknown operation", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("copy", "displayName", "x")), status: http.StatusBadRequest, scimType: "invalidSyntax",
		},
		{
			name: "3.5.2 add without a value", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("add", "displayName", nil)), status: http.StatusBadRequest, scimType: "invalidValue",
		},
		{
			name: "3.5.2 a value of the wrong type", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", "displayName", []any{"x"})), status: http.StatusBadRequest, scimType: "invalidValue",
		},
		{
			name: "3.5.2 the PatchOp schema is required", setup: oneUser, method: http.MethodPatch, path: path,
			body: map[string]any{"Operations": []any{op("replace", "displayName", "x")}}, status: http.StatusBadRequest, scimType: "invalidSyntax",
		},
		{
			name: "3.5.2 no operations", setup: oneUser, method: http.MethodPatch, path: path,
			body: patchBody(), status: http.StatusBadRequest, scimType: "invalidValue",
		},
		{
			name: "3.5.2 too many operations", setup: oneUser, method: http.MethodPatch, path: path,
			body: func() any {
				ops := make([]map[string]any, scim.MaxPatchOperations+1)
				for i := range ops {
					ops[i] = op("replace", "displayName", "x")
				}
				return patchBody(ops...)
			}(),
			status: http.StatusBadRequest, scimType: "tooMany", detail: "more than 1000 operations",
		},
		{
			name: "3.5.2 unknown id", method: http.MethodPatch, path: "/scim/v2/Users/0123456789abcdef",
			body: patchBody(op("replace", "displayName", "x")), status: http.StatusNotFound,
		},
	}
	runConformance(t, cases)
}

func TestConformanceList(t *testing.T) {
	cases := []conformanceCase{
		{
			name: "3.4.2.2 filter userName eq", setup: threeUsers, method: http.MethodGet, path: "/scim/v2/Users?filter=" + q(`userName eq "BEN"`),
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.Equal(t, []any{scim.ListResponseSchema}, res.body["schemas"])
				assert.EqualValues(t, 1, res.body["totalResults"])
				assert.EqualValues(t, 1, res.body["itemsPerPage"])
				assert.EqualValues(t, 1, res.body["startIndex"])
				assert.Equal(t, v["b"], get(res.body, "Resources", 0, "id"))
			},
		},
		{
			name: "3.4.2.2 a filter that selects nothing", setup: threeUsers, method: http.MethodGet, path: "/scim/v2/Users?filter=" + q(`userName eq "nobody"`),
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.EqualValues(t, 0, res.body["totalResults"])
				assert.Equal(t, []any{}, res.body["Resources"])
			},
		},
		{
			name: "3.4.2.2 a filter that does not parse", method: http.MethodGet, path: "/scim/v2/Users?filter=" + q(`userName eq`),
			status: http.StatusBadRequest, scimType: "invalidFilter",
		},
		{
			name: "3.4.2.2 a filter on an attribute that cannot be filtered", method: http.MethodGet, path: "/scim/v2/Users?filter=" + q(`title eq "x"`),
			status: http.StatusBadRequest, scimType: "invalidFilter",
		},
		{
			name: "3.4.2.2 a filter longer than the parser's limit", method: http.MethodGet,
			path:   "/scim/v2/Users?filter=" + q(`userName eq "`+strings.Repeat("a", 5000)+`"`),
			status: http.StatusBadRequest, scimType: "invalidFilter",
		},
		{
			name: "3.4.2.4 startIndex and count", setup: threeUsers, method: http.MethodGet, path: "/scim/v2/Users?startIndex=2&count=1",
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.EqualValues(t, 3, res.body["totalResults"])
				assert.EqualValues(t, 1, res.body["itemsPerPage"])
				assert.EqualValues(t, 2, res.body["startIndex"])
				assert.Equal(t, v["b"], get(res.body, "Resources", 0, "id"))
			},
		},
		{
			name: "3.4.2.4 startIndex below 1 means 1", setup: threeUsers, method: http.MethodGet, path: "/scim/v2/Users?startIndex=-4&count=1",
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.EqualValues(t, 1, res.body["startIndex"])
				assert.Equal(t, v["a"], get(res.body, "Resources", 0, "id"))
			},
		},
		{
			name: "3.4.2.4 a negative count means 0: only the total", setup: threeUsers, method: http.MethodGet, path: "/scim/v2/Users?count=-1",
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.EqualValues(t, 3, res.body["totalResults"])
				assert.EqualValues(t, 0, res.body["itemsPerPage"])
				assert.Equal(t, []any{}, res.body["Resources"])
			},
		},
		{
			name: "3.4.2.4 startIndex beyond the end", setup: threeUsers, method: http.MethodGet, path: "/scim/v2/Users?startIndex=99999999999999999999",
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.EqualValues(t, 3, res.body["totalResults"])
				assert.EqualValues(t, 0, res.body["itemsPerPage"])
			},
		},
		{
			name: "3.4.2.4 startIndex that is not a number", method: http.MethodGet, path: "/scim/v2/Users?startIndex=one",
			status: http.StatusBadRequest, scimType: "invalidValue",
		},
		{
			name: "3.4.2.5 attributes in a list", setup: threeUsers, method: http.MethodGet, path: "/scim/v2/Users?count=1&attributes=userName",
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.Equal(t, []any{map[string]any{"schemas": []any{coreUser}, "id": v["a"], "userName": "ann"}}, res.body["Resources"])
			},
		},
		{
			name: "3.4.3 POST .search", setup: threeUsers, method: http.MethodPost, path: "/scim/v2/Users/.search",
			body: map[string]any{"schemas": []any{scim.SearchRequestSchema}, "filter": `userName sw "c"`, "attributes": []any{"userName"},
				"startIndex": 1, "count": 10},
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.EqualValues(t, 1, res.body["totalResults"])
				assert.Equal(t, []any{map[string]any{"schemas": []any{coreUser}, "id": v["c"], "userName": "cid"}}, res.body["Resources"])
			},
		},
		{
			name: "3.4.3 POST .search without the SearchRequest schema", method: http.MethodPost, path: "/scim/v2/Users/.search",
			body: map[string]any{"filter": `userName sw "c"`}, status: http.StatusBadRequest, scimType: "invalidSyntax",
		},
		{
			name: "3.4.3 POST .search with a bad filter", method: http.MethodPost, path: "/scim/v2/Groups/.search",
			body: map[string]any{"schemas": []any{scim.SearchRequestSchema}, "filter": `displayName eq`}, status: http.StatusBadRequest, scimType: "invalidFilter",
		},
		{
			name: "3.4.2.2 groups by displayName without members (Entra, Okta)", setup: userAndGroup, method: http.MethodGet,
			path: "/scim/v2/Groups?excludedAttributes=members&filter=" + q(`displayName eq "Staff"`), status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.EqualValues(t, 1, res.body["totalResults"])
				g := get(res.body, "Resources", 0).(map[string]any)
				assert.Equal(t, v["group"], g["id"])
				assert.NotContains(t, g, "members")
			},
		},
		{
			name: "3.4.2.5 groups listed with attributes=displayName leave members out", setup: userAndGroup, method: http.MethodGet,
			path: "/scim/v2/Groups?attributes=displayName", status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.Equal(t, []any{map[string]any{"schemas": []any{coreGroup}, "id": v["group"], "displayName": "staff"}}, res.body["Resources"])
			},
		},
		{
			name: "3.4.2.2 groups by member", setup: userAndGroup, method: http.MethodGet,
			path: "/scim/v2/Groups?filter=" + q(`members[value eq "{user}"]`), status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.EqualValues(t, 1, res.body["totalResults"])
				assert.Equal(t, []any{map[string]any{"value": v["user"], "type": "User", "$ref": baseURL + "/Users/" + v["user"]}},
					get(res.body, "Resources", 0, "members"))
			},
		},
	}
	runConformance(t, cases)
}

func TestConformanceGroups(t *testing.T) {
	path := "/scim/v2/Groups/{group}"
	cases := []conformanceCase{
		{
			name: "3.3 create a group with members", setup: userAndGroup, method: http.MethodPost, path: "/scim/v2/Groups",
			body: map[string]any{"schemas": []any{coreGroup}, "displayName": "admins", "externalId": "ext-g",
				"members": []any{map[string]any{"value": "{user}", "display": "alice", "type": "User"}, map[string]any{"value": "{bob}"}}},
			status: http.StatusCreated,
			check: func(t *testing.T, _ *env, v vars, res response) {
				id := res.body["id"].(string)
				assert.Equal(t, baseURL+"/Groups/"+id, res.header.Get("Location"))
				assert.Equal(t, `W/"1"`, res.header.Get("ETag"))
				assert.Equal(t, "ext-g", res.body["externalId"])
				assert.ElementsMatch(t, []string{v["user"], v["bob"]}, members(res.body))
				assert.Equal(t, "Group", get(res.body, "meta", "resourceType"))
			},
		},
		{
			name: "3.3 create: Entra's group schemas, one of them no URN", method: http.MethodPost, path: "/scim/v2/Groups",
			body: map[string]any{"schemas": []any{coreGroup, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"},
				"displayName": "g", "meta": map[string]any{"resourceType": "Group"}},
			status: http.StatusCreated,
		},
		{
			name: "3.3 create: a member that is not a user", method: http.MethodPost, path: "/scim/v2/Groups",
			body:   map[string]any{"schemas": []any{coreGroup}, "displayName": "g", "members": []any{map[string]any{"value": "nobody"}}},
			status: http.StatusBadRequest, scimType: "invalidValue", detail: `members: "nobody" is not a user`,
		},
		{
			name: "3.3 create: a nested group", setup: userAndGroup, method: http.MethodPost, path: "/scim/v2/Groups",
			body:   map[string]any{"schemas": []any{coreGroup}, "displayName": "g", "members": []any{map[string]any{"value": "{group}", "type": "Group"}}},
			status: http.StatusBadRequest, scimType: "invalidValue", detail: "members are users",
		},
		{
			name: "3.3 create: a member without a value", method: http.MethodPost, path: "/scim/v2/Groups",
			body:   map[string]any{"schemas": []any{coreGroup}, "displayName": "g", "members": []any{map[string]any{"display": "x"}}},
			status: http.StatusBadRequest, scimType: "invalidValue",
		},
		{
			name: "3.3 create: a displayName taken ignoring case", setup: userAndGroup, method: http.MethodPost, path: "/scim/v2/Groups",
			body: map[string]any{"schemas": []any{coreGroup}, "displayName": "STAFF"}, status: http.StatusConflict, scimType: "uniqueness",
		},
		{
			name: "3.3 create: a User body", method: http.MethodPost, path: "/scim/v2/Groups",
			body: map[string]any{"schemas": []any{coreUser}, "displayName": "g"}, status: http.StatusBadRequest, scimType: "invalidSyntax",
		},
		{
			name: "3.4.2.5 get a group without members", setup: userAndGroup, method: http.MethodGet, path: path + "?excludedAttributes=members",
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.NotContains(t, res.body, "members")
				assert.Equal(t, "staff", res.body["displayName"])
			},
		},
		{
			name: "3.5.2.1 add members (Okta, Entra)", setup: userAndGroup, method: http.MethodPatch, path: path,
			body:   patchBody(op("Add", "members", []any{map[string]any{"value": "{bob}", "display": "bob"}, map[string]any{"$ref": nil, "value": "{carol}"}})),
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.ElementsMatch(t, []string{v["user"], v["bob"], v["carol"]}, members(res.body))
				assert.Equal(t, `W/"2"`, res.header.Get("ETag"))
			},
		},
		{
			name: "3.5.2.2 remove a member by filter (Okta)", setup: userAndGroup, method: http.MethodPatch, path: path,
			body: patchBody(op("remove", `members[value eq "{user}"]`, nil)), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) { assert.NotContains(t, res.body, "members") },
		},
		{
			name: "3.5.2.2 remove members by value (Entra)", setup: userAndGroup, method: http.MethodPatch, path: path,
			body: patchBody(op("Remove", "members", []any{map[string]any{"$ref": nil, "value": "{user}"}})), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) { assert.NotContains(t, res.body, "members") },
		},
		{
			name: "3.5.2.2 remove every member", setup: userAndGroup, method: http.MethodPatch, path: path,
			body: patchBody(op("add", "members", []any{map[string]any{"value": "{bob}"}}), op("remove", "members", nil)), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) { assert.NotContains(t, res.body, "members") },
		},
		{
			name: "3.5.2.2 removing a non-member changes nothing", setup: userAndGroup, method: http.MethodPatch, path: path,
			body: patchBody(op("remove", `members[value eq "{bob}"]`, nil)), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) { assert.Equal(t, `W/"1"`, res.header.Get("ETag")) },
		},
		{
			name: "3.5.2.3 replace members", setup: userAndGroup, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", "members", []any{map[string]any{"value": "{bob}"}, map[string]any{"value": "{carol}"}})), status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.ElementsMatch(t, []string{v["bob"], v["carol"]}, members(res.body))
			},
		},
		{
			name: "3.5.2 operations apply in order: add then remove of one member", setup: userAndGroup, method: http.MethodPatch, path: path,
			body:   patchBody(op("add", "members", []any{map[string]any{"value": "{bob}"}}), op("remove", `members[value eq "{bob}"]`, nil)),
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.Equal(t, []string{v["user"]}, members(res.body))
			},
		},
		{
			name: "3.5.2.3 replace displayName and members without path (Okta)", setup: userAndGroup, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", "", map[string]any{"id": "{group}", "displayName": "Staff 2"})), status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) { assert.Equal(t, "Staff 2", res.body["displayName"]) },
		},
		{
			name: "3.5.2 adding a user that does not exist changes nothing", setup: userAndGroup, method: http.MethodPatch, path: path,
			body:   patchBody(op("add", "members", []any{map[string]any{"value": "{bob}"}, map[string]any{"value": "ghost"}})),
			status: http.StatusBadRequest, scimType: "invalidValue",
			check: func(t *testing.T, e *env, v vars, _ response) {
				assert.Equal(t, []string{v["user"]}, members(e.getGroup(v["group"])))
			},
		},
		{
			name: "3.5.2 a member's value is immutable", setup: userAndGroup, method: http.MethodPatch, path: path,
			body: patchBody(op("replace", `members[value eq "{user}"].value`, "{bob}")), status: http.StatusBadRequest, scimType: "mutability",
		},
		{
			name: "3.5.2 a displayName taken by another group", setup: func(e *env) vars {
				v := userAndGroup(e)
				e.createGroup("other")
				return v
			},
			method: http.MethodPatch, path: path, body: patchBody(op("replace", "displayName", "OTHER")), status: http.StatusConflict, scimType: "uniqueness",
		},
		{
			name: "3.5.2 a stale If-Match on a member change", setup: userAndGroup, method: http.MethodPatch, path: path, header: []string{"If-Match", `W/"3"`},
			body: patchBody(op("add", "members", []any{map[string]any{"value": "{bob}"}})), status: http.StatusPreconditionFailed,
		},
		{
			name: "3.5.1 replace a group (Okta)", setup: userAndGroup, method: http.MethodPut, path: path,
			body:   map[string]any{"schemas": []any{coreGroup}, "id": "{group}", "displayName": "staff", "members": []any{map[string]any{"value": "{bob}"}}},
			status: http.StatusOK,
			check: func(t *testing.T, _ *env, v vars, res response) {
				assert.Equal(t, []string{v["bob"]}, members(res.body))
			},
		},
		{
			name: "3.6 delete a group", setup: userAndGroup, method: http.MethodDelete, path: path, status: http.StatusNoContent,
			check: func(t *testing.T, e *env, v vars, _ response) {
				requireError(t, e.do(http.MethodGet, "/scim/v2/Groups/"+v["group"], nil), http.StatusNotFound, "")
				assert.NotContains(t, e.getUser(v["user"]), "groups")
			},
		},
	}
	runConformance(t, cases)
}

func TestConformanceProtocol(t *testing.T) {
	cases := []conformanceCase{
		{
			name: "4 ServiceProviderConfig", method: http.MethodGet, path: "/scim/v2/ServiceProviderConfig", status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.Equal(t, []any{scim.ServiceProviderConfigSchema}, res.body["schemas"])
				assert.Equal(t, true, get(res.body, "patch", "supported"))
				assert.Equal(t, false, get(res.body, "bulk", "supported"))
				assert.Equal(t, true, get(res.body, "filter", "supported"))
				assert.EqualValues(t, scim.DefaultMaxResults, get(res.body, "filter", "maxResults"))
				assert.Equal(t, false, get(res.body, "changePassword", "supported"))
				assert.Equal(t, false, get(res.body, "sort", "supported"))
				assert.Equal(t, true, get(res.body, "etag", "supported"))
				assert.Equal(t, "oauthbearertoken", get(res.body, "authenticationSchemes", 0, "type"))
			},
		},
		{
			name: "4 Schemas", method: http.MethodGet, path: "/scim/v2/Schemas", status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				var ids []any
				for _, s := range res.body["Resources"].([]any) {
					ids = append(ids, s.(map[string]any)["id"])
				}
				assert.Equal(t, []any{coreUser, enterprise, coreGroup}, ids)
				user := get(res.body, "Resources", 0).(map[string]any)
				attrs := map[string]map[string]any{}
				for _, a := range user["attributes"].([]any) {
					attrs[a.(map[string]any)["name"].(string)] = a.(map[string]any)
				}
				assert.Equal(t, "server", attrs["userName"]["uniqueness"])
				assert.Equal(t, false, attrs["userName"]["caseExact"])
				assert.Equal(t, true, attrs["userName"]["required"])
				assert.Equal(t, "readOnly", attrs["groups"]["mutability"])
				assert.Equal(t, "boolean", attrs["active"]["type"])
				assert.NotContains(t, attrs, "password")
				assert.NotContains(t, attrs, "phoneNumbers")
				var emailSubs []any
				for _, s := range attrs["emails"]["subAttributes"].([]any) {
					emailSubs = append(emailSubs, s.(map[string]any)["name"])
				}
				assert.Equal(t, []any{"value", "type", "primary"}, emailSubs)
			},
		},
		{
			name: "4 one schema", method: http.MethodGet, path: "/scim/v2/Schemas/" + enterprise, status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.Equal(t, enterprise, res.body["id"])
				assert.Equal(t, baseURL+"/Schemas/"+enterprise, get(res.body, "meta", "location"))
			},
		},
		{
			name: "4 an unknown schema", method: http.MethodGet, path: "/scim/v2/Schemas/urn:example:nothing", status: http.StatusNotFound,
		},
		{
			name: "4 ResourceTypes", method: http.MethodGet, path: "/scim/v2/ResourceTypes", status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.EqualValues(t, 2, res.body["totalResults"])
				assert.Equal(t, "/Users", get(res.body, "Resources", 0, "endpoint"))
				assert.Equal(t, []any{map[string]any{"schema": enterprise, "required": false}}, get(res.body, "Resources", 0, "schemaExtensions"))
				assert.Equal(t, coreGroup, get(res.body, "Resources", 1, "schema"))
			},
		},
		{
			name: "4 one resource type", method: http.MethodGet, path: "/scim/v2/ResourceTypes/Group", status: http.StatusOK,
			check: func(t *testing.T, _ *env, _ vars, res response) { assert.Equal(t, "/Groups", res.body["endpoint"]) },
		},
		{
			name: "4 a filter on a discovery endpoint", method: http.MethodGet, path: "/scim/v2/Schemas?filter=" + q(`id eq "x"`), status: http.StatusForbidden,
		},
		{
			name: "3.12 a method an endpoint does not allow", method: http.MethodDelete, path: "/scim/v2/Users", status: http.StatusMethodNotAllowed,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.Equal(t, "GET, POST", res.header.Get("Allow"))
			},
		},
		{
			name: "3.12 POST to a resource", setup: oneUser, method: http.MethodPost, path: "/scim/v2/Users/{user}", status: http.StatusMethodNotAllowed,
			check: func(t *testing.T, _ *env, _ vars, res response) {
				assert.Equal(t, "GET, PUT, PATCH, DELETE", res.header.Get("Allow"))
			},
		},
		{
			name: "3.12 an unknown endpoint", method: http.MethodGet, path: "/scim/v2/Devices", status: http.StatusNotFound,
		},
		{
			name: "3.12 the root", method: http.MethodGet, path: "/scim/v2", status: http.StatusNotFound,
		},
		{
			name: "3.7 bulk is not implemented", method: http.MethodPost, path: "/scim/v2/Bulk", body: `{}`, status: http.StatusNotImplemented,
		},
		{
			name: "3.11 /Me is not implemented", method: http.MethodGet, path: "/scim/v2/Me", status: http.StatusNotImplemented,
		},
	}
	runConformance(t, cases)
}

func runConformance(t *testing.T, cases []conformanceCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			v := vars{}
			if tc.setup != nil {
				v = tc.setup(e)
			}
			var body any
			switch b := tc.body.(type) {
			case nil:
			case string:
				body = v.expand(b)
			case []byte:
				body = b
			default:
				data, err := json.Marshal(b)
				require.NoError(t, err)
				body = v.expand(string(data))
			}
			res := e.do(tc.method, v.expand(tc.path), body, tc.header...)
			if tc.status >= 400 {
				requireError(t, res, tc.status, tc.scimType)
				assert.Contains(t, res.body["detail"], tc.detail)
			} else {
				require.Equal(t, tc.status, res.status, res.raw)
			}
			if tc.check != nil {
				tc.check(t, e, v, res)
			}
		})
	}
}
