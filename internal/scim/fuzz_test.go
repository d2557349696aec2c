package scim

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
)

// requireClientError checks that err is a 4xx *Error of this package or
// a directory validation error (which the handlers answer 400), never
// anything a handler would answer 5xx.
func requireClientError(t *testing.T, err error) {
	t.Helper()
	e, ok := asError(err)
	require.True(t, ok, "not a client error: %v", err)
	require.True(t, e.Status >= 400 && e.Status < 500, "status %d for %v", e.Status, err)
}

// seedBodies returns the request bodies of the replay fixtures.
func seedBodies(f *testing.F, method string) []string {
	var out []string
	for _, file := range []string{"entra.json", "okta.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		require.NoError(f, err)
		var r struct {
			Steps []struct {
				Request struct {
					Method string          `json:"method"`
					Body   json.RawMessage `json:"body"`
				} `json:"request"`
			} `json:"steps"`
		}
		require.NoError(f, json.Unmarshal(data, &r))
		for _, s := range r.Steps {
			if s.Request.Method == method && len(s.Request.Body) > 0 {
				out = append(out, string(s.Request.Body))
			}
		}
	}
	require.NotEmpty(f, out)
	return out
}

// FuzzDecodeJSON: decodeJSON never panics, refuses with a 400
// invalidSyntax, and what it accepts survives a round trip through
// encoding/json unchanged.
func FuzzDecodeJSON(f *testing.F) {
	for _, b := range seedBodies(f, http.MethodPost) {
		f.Add(b)
	}
	for _, s := range []string{`{"a":1,"A":2}`, `[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]`, `{"a":"\ud800"}`, `1 2`, `{"a":1e999}`, "\"\xff\"", ``, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := decodeJSON([]byte(s))
		if err != nil {
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, http.StatusBadRequest, e.Status)
			require.Equal(t, TypeInvalidSyntax, e.Type)
			return
		}
		data, err := json.Marshal(v)
		require.NoError(t, err)
		again, err := decodeJSON(data)
		require.NoError(t, err, "re-encoded %s", data)
		require.Equal(t, v, again)
	})
}

// FuzzResourceBody: a POST or PUT body either becomes a user and a group
// the directory's validation can judge, or is refused with a 4xx; never
// a panic.
func FuzzResourceBody(f *testing.F) {
	for _, b := range seedBodies(f, http.MethodPost) {
		f.Add(b)
	}
	for _, b := range seedBodies(f, http.MethodPut) {
		f.Add(b)
	}
	f.Add(`{"schemas":["` + UserSchema + `"],"userName":"a","emails":[{"value":"x","primary":"True"},{}]}`)
	f.Add(`{"schemas":["` + UserSchema + `","` + EnterpriseUserSchema + `"],"` + EnterpriseUserSchema + `":{"manager":"m"},"urn:x:y":1}`)
	f.Fuzz(func(t *testing.T, s string) {
		body, err := decodeJSON([]byte(s))
		if err != nil {
			return
		}
		if doc, err := canonResource(userType, body); err != nil {
			requireClientError(t, err)
		} else {
			u := userFromDoc(doc, directory.User{ID: "u1", Active: true})
			if _, err := directory.PrepareUser(u); err != nil {
				requireClientError(t, err)
			}
			// What is stored renders back to the same doc.
			if p, err := directory.PrepareUser(u); err == nil {
				again := userFromDoc(userDoc(p), p)
				require.True(t, directory.EqualUserData(p, directory.NormalizeUser(again)), "%+v != %+v", p, again)
			}
		}
		if doc, err := canonResource(groupType, body); err != nil {
			requireClientError(t, err)
		} else if _, err := groupFromDoc(doc, directory.Group{}); err != nil {
			requireClientError(t, err)
		}
	})
}

// fuzzUser is the user PATCH fuzzing starts from.
func fuzzUser() directory.User {
	return directory.NormalizeUser(directory.User{
		ID: "u1", UserName: "alice", DisplayName: "Alice", GivenName: "Alice", FamilyName: "Liddell", Active: true,
		Emails:     []directory.Email{{Value: "alice@example.com", Type: "work", Primary: true}, {Value: "a@home.example", Type: "home"}},
		Attributes: map[string]string{"department": "R&D", "title": "Eng", "clearance": "secret"},
		Version:    3, CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	})
}

// FuzzPatchUser: PATCH parsing and application never panic; a refusal is
// a 4xx and changes nothing; an accepted patch gives the same result when
// applied again (as a store's retry does), keeps the custom attributes
// SCIM does not manage, and never changes the ID.
func FuzzPatchUser(f *testing.F) {
	for _, b := range seedBodies(f, http.MethodPatch) {
		if strings.Contains(b, "/Groups") {
			continue
		}
		f.Add(b)
	}
	f.Add(`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"add","path":"emails","value":[{"value":"n@x","primary":true}]},{"op":"remove","path":"emails[type eq \"home\"]"}]}`)
	f.Add(`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"replace","path":"emails.type","value":"other"},{"op":"remove","path":"name"}]}`)
	f.Add(`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"replace","value":{"id":"u1","emails[primary eq true].value":"p@x"}}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		body, err := decodeJSON([]byte(s))
		if err != nil {
			return
		}
		ops, err := parsePatch(userType, body)
		if err != nil {
			requireClientError(t, err)
			return
		}
		start := fuzzUser()
		first, _, err1 := directory.ApplyUserUpdate(start, func(u *directory.User) error { return patchUser(u, ops) })
		second, _, err2 := directory.ApplyUserUpdate(start, func(u *directory.User) error { return patchUser(u, ops) })
		require.Equal(t, err1 == nil, err2 == nil)
		require.Equal(t, start, fuzzUser(), "the start user was changed")
		if err1 != nil {
			requireClientError(t, err1)
			return
		}
		require.Equal(t, first, second, "a second application differs")
		require.Equal(t, "u1", first.ID)
		require.Equal(t, "secret", first.Attributes["clearance"])
	})
}

// FuzzPatchGroup: as FuzzPatchUser for groups, and the member fast path
// agrees with the general one whenever it applies.
func FuzzPatchGroup(f *testing.F) {
	for _, b := range seedBodies(f, http.MethodPatch) {
		f.Add(b)
	}
	f.Add(`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"add","path":"members","value":[{"value":"u3"}]},{"op":"remove","path":"members[value eq \"u1\"]"}]}`)
	f.Add(`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"Remove","path":"members","value":[{"value":"u2"},{"value":"u9"}]}]}`)
	f.Add(`{"schemas":["` + PatchOpSchema + `"],"Operations":[{"op":"add","value":{"members":[{"value":"u4","type":"User"}]}}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		body, err := decodeJSON([]byte(s))
		if err != nil {
			return
		}
		ops, err := parsePatch(groupType, body)
		if err != nil {
			requireClientError(t, err)
			return
		}
		start := directory.NormalizeGroup(directory.Group{ID: "g1", DisplayName: "staff", Members: []string{"u1", "u2"}, Version: 2})
		apply := func() (directory.Group, error) {
			g, _, err := directory.ApplyGroupUpdate(start, func(g *directory.Group) error { return patchGroup(g, ops) })
			return g, err
		}
		first, err1 := apply()
		second, err2 := apply()
		require.Equal(t, err1 == nil, err2 == nil)
		add, remove, fast, errFast := memberDelta(ops)
		if err1 != nil {
			requireClientError(t, err1)
			if errFast != nil {
				requireClientError(t, errFast)
			}
			return
		}
		require.Equal(t, first, second)
		require.Equal(t, "g1", first.ID)
		if fast && errFast == nil {
			want := map[string]bool{}
			for _, m := range start.Members {
				want[m] = true
			}
			for _, m := range remove {
				delete(want, m)
			}
			for _, m := range add {
				want[m] = true
			}
			got := map[string]bool{}
			for _, m := range first.Members {
				got[m] = true
			}
			require.Equal(t, want, got, "fast path add %v remove %v", add, remove)
		}
	})
}

// FuzzProjection: attributes and excludedAttributes never panic, never
// drop id or schemas, and refuse only with 400 invalidValue.
func FuzzProjection(f *testing.F) {
	f.Add("userName,name.givenName", "emails")
	f.Add(EnterpriseUserSchema+":department", "meta,id")
	f.Add(`emails[type eq "work"]`, "")
	f.Fuzz(func(t *testing.T, include, exclude string) {
		p, err := parseProjection(userType, strings.Split(include, ","), strings.Split(exclude, ","))
		if err != nil {
			var e *Error
			require.True(t, errors.As(err, &e))
			require.Equal(t, TypeInvalidValue, e.Type)
			return
		}
		s := &Server{baseURL: "https://gw.example.com/scim/v2"}
		u := fuzzUser()
		u.Groups = []directory.GroupRef{{ID: "g1", DisplayName: "staff"}}
		out := p.apply(s.renderUser(u))
		require.Equal(t, "u1", out["id"])
		require.NotNil(t, out["schemas"])
		_, err = marshal(out)
		require.NoError(t, err)
	})
}
