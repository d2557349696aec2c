package admin

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// downStore is a directory store that fails every call while down is set.
type downStore struct {
	directory.Store
	downSwitch
}

var errDirectoryDown = errors.New("users table is gone")

func (s *downStore) CreateDirectoryUser(ctx context.Context, u directory.User, now time.Time) (directory.User, error) {
	if err := s.err(); err != nil {
		return directory.User{}, err
	}
	return s.Store.CreateDirectoryUser(ctx, u, now)
}

func (s *downStore) DirectoryUser(ctx context.Context, id string) (directory.User, error) {
	if err := s.err(); err != nil {
		return directory.User{}, err
	}
	return s.Store.DirectoryUser(ctx, id)
}

func (s *downStore) ListDirectoryUsers(ctx context.Context, q directory.Query) (directory.Page[directory.User], error) {
	if err := s.err(); err != nil {
		return directory.Page[directory.User]{}, err
	}
	return s.Store.ListDirectoryUsers(ctx, q)
}

func (s *downStore) PatchGroupMembers(ctx context.Context, id string, add, remove []string, ifVersion int64, now time.Time) (directory.Group, error) {
	if err := s.err(); err != nil {
		return directory.Group{}, err
	}
	return s.Store.PatchGroupMembers(ctx, id, add, remove, ifVersion, now)
}

type dirAPI struct {
	mem   *memory.Store
	store *downStore
	aud   *recordingAuditor
	logs  *bytes.Buffer
	h     http.Handler
	now   time.Time
}

var dirNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func newDirAPI(t testing.TB) *dirAPI {
	t.Helper()
	a := &dirAPI{mem: memory.New(), aud: &recordingAuditor{}, logs: &bytes.Buffer{}, now: dirNow}
	a.store = &downStore{Store: a.mem, downSwitch: downSwitch{cause: errDirectoryDown}}
	mux := http.NewServeMux()
	DirectoryRoutes(mux, NewToken(adminSecret), a.store, a.aud, func() time.Time { return a.now },
		slog.New(slog.NewTextHandler(a.logs, nil)))
	a.h = mux
	return a
}

// do sends a request with the admin token; header pairs follow.
func (a *dirAPI) do(t testing.TB, method, path, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+adminSecret)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

func (a *dirAPI) createUser(t testing.TB, body string) userView {
	t.Helper()
	w := a.do(t, http.MethodPost, UsersPath, body)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	return decodeJSON[userView](t, w)
}

func (a *dirAPI) createGroup(t testing.TB, body string) groupView {
	t.Helper()
	w := a.do(t, http.MethodPost, GroupsPath, body)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	return decodeJSON[groupView](t, w)
}

func (a *dirAPI) events() []string {
	a.aud.mu.Lock()
	defer a.aud.mu.Unlock()
	out := make([]string, 0, len(a.aud.events))
	for _, e := range a.aud.events {
		out = append(out, e.Type)
	}
	return out
}

const aliceBody = `{"user_name":"alice","given_name":"Alice","family_name":"Liddell","display_name":"Alice L",` +
	`"external_id":"ext-1","emails":[{"value":"alice@example.com","type":"work","primary":true}],` +
	`"attributes":{"department":"sales"}}`

func errorOf(t testing.TB, w *httptest.ResponseRecorder) (string, string) {
	t.Helper()
	v := decodeJSON[map[string]string](t, w)
	return v["error"], v["message"]
}

func TestDirectoryUsersCRUD(t *testing.T) {
	a := newDirAPI(t)
	alice := a.createUser(t, aliceBody)
	assert.NotEmpty(t, alice.ID)
	assert.Equal(t, userView{
		ID: alice.ID, UserName: "alice", ExternalID: "ext-1", GivenName: "Alice", FamilyName: "Liddell",
		DisplayName: "Alice L", Email: "alice@example.com",
		Emails:     []emailJSON{{Value: "alice@example.com", Type: "work", Primary: true}},
		Active:     true,
		Attributes: map[string]string{"department": "sales"}, Groups: []groupRefJSON{},
		Version: 1, CreatedAt: dirNow, UpdatedAt: dirNow,
	}, alice)

	a.now = dirNow.Add(time.Second) // lists are ordered by creation time
	w := a.do(t, http.MethodPost, UsersPath, `{"id":"bob-1","user_name":"bob","email":"bob@example.com","active":false}`)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	assert.Equal(t, UsersPath+"/bob-1", w.Header().Get("Location"))
	bob := decodeJSON[userView](t, w)
	assert.Equal(t, []emailJSON{{Value: "bob@example.com", Primary: true}}, bob.Emails)
	assert.False(t, bob.Active)
	assert.Equal(t, map[string]string{}, bob.Attributes)

	w = a.do(t, http.MethodGet, UsersPath+"/"+alice.ID, "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, alice, decodeJSON[userView](t, w))

	type list struct {
		Users []userView `json:"users"`
		Total int        `json:"total"`
	}
	for _, tc := range []struct {
		query string
		names []string
		total int
	}{
		{"", []string{"alice", "bob"}, 2},
		{"?filter=" + urlQuery(`userName eq "ALICE"`), []string{"alice"}, 1},
		{"?filter=" + urlQuery(`active eq false`), []string{"bob"}, 1},
		{"?start_index=2&count=1", []string{"bob"}, 2},
		{"?count=0", nil, 2},
	} {
		w := a.do(t, http.MethodGet, UsersPath+tc.query, "")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		got := decodeJSON[list](t, w)
		var names []string
		for _, u := range got.Users {
			names = append(names, u.UserName)
		}
		assert.Equal(t, tc.names, names, tc.query)
		assert.Equal(t, tc.total, got.Total, tc.query)
		assert.NotNil(t, got.Users, tc.query)
	}

	a.now = dirNow.Add(time.Minute)
	w = a.do(t, http.MethodPut, UsersPath+"/"+alice.ID,
		`{"user_name":"alice2","email":"a2@example.com","attributes":{"department":"sales","level":"3"}}`,
		"If-Match", `W/"1"`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	put := decodeJSON[userView](t, w)
	assert.Equal(t, "alice2", put.UserName)
	assert.Empty(t, put.GivenName, "PUT replaces")
	assert.True(t, put.Active, "an omitted active keeps its value")
	assert.Equal(t, int64(2), put.Version)
	assert.Equal(t, dirNow.Add(time.Minute), put.UpdatedAt)

	w = a.do(t, http.MethodDelete, UsersPath+"/bob-1", "")
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	w = a.do(t, http.MethodGet, UsersPath+"/bob-1", "")
	assert.Equal(t, http.StatusNotFound, w.Code)

	assert.Equal(t, []string{EventAdminUserCreated, EventAdminUserCreated, EventAdminUserReplaced, EventAdminUserDeleted}, a.events())
	evs := a.aud.events
	assert.Equal(t, "admin", evs[0].Actor)
	assert.Equal(t, alice.ID, evs[0].Subject)
	assert.Equal(t, map[string]string{
		"attributes": "active,attributes.department,display_name,emails,external_id,family_name,given_name,user_name",
		"version":    "1",
	}, evs[0].Details)
	assert.Equal(t, dirNow, evs[0].Time)
	assert.Equal(t, map[string]string{
		"attributes": "attributes.level,display_name,emails,external_id,family_name,given_name,user_name",
		"version":    "2",
	}, evs[2].Details)
	assert.Equal(t, "bob-1", evs[3].Subject)
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22").Replace(s)
}

func TestDirectoryDeactivateEndsSessions(t *testing.T) {
	a := newDirAPI(t)
	u := a.createUser(t, `{"user_name":"carol"}`)
	ctx := t.Context()
	require.NoError(t, a.mem.CreateSession(ctx, sp.Session{
		ID: "session-secret-1", UserID: u.ID, CreatedAt: dirNow, ExpiresAt: dirNow.Add(time.Hour),
	}))
	_, err := a.mem.GetSession(ctx, "session-secret-1", dirNow)
	require.NoError(t, err)

	w := a.do(t, http.MethodPost, UsersPath+"/"+u.ID+"/deactivate", "", "If-Match", `W/"1"`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	got := decodeJSON[userView](t, w)
	assert.False(t, got.Active)
	assert.Equal(t, int64(2), got.Version)
	_, err = a.mem.GetSession(ctx, "session-secret-1", dirNow)
	require.ErrorIs(t, err, sp.ErrNotFound)

	// Deactivating again changes nothing but is recorded.
	w = a.do(t, http.MethodPost, UsersPath+"/"+u.ID+"/deactivate", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, int64(2), decodeJSON[userView](t, w).Version)

	w = a.do(t, http.MethodPost, UsersPath+"/"+u.ID+"/activate", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	got = decodeJSON[userView](t, w)
	assert.True(t, got.Active)
	assert.Equal(t, int64(3), got.Version)

	assert.Equal(t, []string{EventAdminUserCreated, EventAdminUserDeactivated, EventAdminUserDeactivated, EventAdminUserActivated}, a.events())
	assert.Equal(t, map[string]string{"changed": "true", "version": "2"}, a.aud.events[1].Details)
	assert.Equal(t, map[string]string{"changed": "false", "version": "2"}, a.aud.events[2].Details)
	assert.Equal(t, u.ID, a.aud.events[3].Subject)
}

func TestDirectoryGroupsCRUD(t *testing.T) {
	a := newDirAPI(t)
	alice := a.createUser(t, `{"id":"alice","user_name":"alice"}`)
	a.createUser(t, `{"id":"bob","user_name":"bob"}`)
	a.createUser(t, `{"id":"carol","user_name":"carol"}`)

	w := a.do(t, http.MethodPost, GroupsPath, `{"id":"sales","display_name":"Sales","external_id":"g-1","members":["bob","alice"]}`)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	assert.Equal(t, GroupsPath+"/sales", w.Header().Get("Location"))
	sales := decodeJSON[groupView](t, w)
	assert.Equal(t, groupView{
		ID: "sales", DisplayName: "Sales", ExternalID: "g-1", Members: []string{"alice", "bob"},
		Version: 1, CreatedAt: dirNow, UpdatedAt: dirNow,
	}, sales)
	eng := a.createGroup(t, `{"display_name":"Engineering"}`)
	assert.Equal(t, []string{}, eng.Members)

	w = a.do(t, http.MethodGet, UsersPath+"/"+alice.ID, "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, []groupRefJSON{{ID: "sales", DisplayName: "Sales"}}, decodeJSON[userView](t, w).Groups)

	w = a.do(t, http.MethodGet, GroupsPath+"/sales", "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, sales, decodeJSON[groupView](t, w))

	type list struct {
		Groups []groupView `json:"groups"`
		Total  int         `json:"total"`
	}
	w = a.do(t, http.MethodGet, GroupsPath+"?filter="+urlQuery(`displayName sw "eng"`), "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, list{Groups: []groupView{eng}, Total: 1}, decodeJSON[list](t, w))

	w = a.do(t, http.MethodPut, GroupsPath+"/sales", `{"display_name":"Sales EU","members":["alice","carol"]}`, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	put := decodeJSON[groupView](t, w)
	assert.Equal(t, []string{"alice", "carol"}, put.Members)
	assert.Empty(t, put.ExternalID)
	assert.Equal(t, int64(2), put.Version)

	w = a.do(t, http.MethodPost, GroupsPath+"/sales/members", `{"add":["bob"],"remove":["alice"]}`, "If-Match", `W/"2"`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, []string{"bob", "carol"}, decodeJSON[groupView](t, w).Members)

	w = a.do(t, http.MethodDelete, GroupsPath+"/sales", "")
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	w = a.do(t, http.MethodGet, GroupsPath+"/sales", "")
	assert.Equal(t, http.StatusNotFound, w.Code)

	assert.Equal(t, []string{
		EventAdminUserCreated, EventAdminUserCreated, EventAdminUserCreated,
		EventAdminGroupCreated, EventAdminGroupCreated, EventAdminGroupReplaced,
		EventAdminGroupMembersChange, EventAdminGroupDeleted,
	}, a.events())
	evs := a.aud.events
	assert.Equal(t, map[string]string{"group_id": "sales", "members": "2", "version": "1"}, evs[3].Details)
	assert.Equal(t, map[string]string{
		"group_id": "sales", "attributes": "display_name,external_id,members",
		"members_added": "1", "members_removed": "1", "members": "2", "version": "2",
	}, evs[5].Details)
	assert.Equal(t, map[string]string{"group_id": "sales", "add": "1", "remove": "1", "members": "2", "version": "3"}, evs[6].Details)
	assert.Equal(t, map[string]string{"group_id": "sales"}, evs[7].Details)
	for _, e := range evs[3:] {
		assert.Equal(t, "admin", e.Actor)
	}
}

func TestDirectoryErrors(t *testing.T) {
	const tooLong = 70 << 10
	for _, tc := range []struct {
		name, method, path, body string
		header                   []string
		contentType              string // overrides application/json
		down                     bool
		status                   int
		code, message            string
	}{
		{name: "user without user_name", method: http.MethodPost, path: UsersPath, body: `{"given_name":"x"}`,
			status: 400, code: "invalid_request", message: "user_name: is required"},
		{name: "user with a bad custom attribute", method: http.MethodPost, path: UsersPath, body: `{"user_name":"x","attributes":{"a b":"1"}}`,
			status: 400, code: "invalid_request", message: `attributes: name "a b" is not 1 to 128 bytes of letters, digits and ._:/-`},
		{name: "group without display_name", method: http.MethodPut, path: GroupsPath + "/staff", body: `{"members":["alice"]}`,
			status: 400, code: "invalid_request", message: "display_name: is required"},
		{name: "stale If-Match on a group", method: http.MethodPut, path: GroupsPath + "/staff", body: `{"display_name":"Staff"}`,
			header: []string{"If-Match", `W/"9"`},
			status: 412, code: "precondition_failed", message: "If-Match: the group has another version; read it again"},
		{name: "unknown field in members", method: http.MethodPost, path: GroupsPath + "/staff/members", body: `{"add":[],"replace":[]}`,
			status: 400, code: "invalid_request", message: "replace: unknown field"},
		{name: "unknown field", method: http.MethodPost, path: UsersPath, body: `{"user_name":"x","nickname":"y"}`,
			status: 400, code: "invalid_request", message: "nickname: unknown field"},
		{name: "read-only field", method: http.MethodPost, path: UsersPath, body: `{"user_name":"x","version":3}`,
			status: 400, code: "invalid_request", message: "version: unknown field"},
		{name: "wrong type", method: http.MethodPost, path: UsersPath, body: `{"user_name":"x","active":"yes"}`,
			status: 400, code: "invalid_request", message: "active: must be true or false, not string"},
		{name: "array body", method: http.MethodPost, path: UsersPath, body: `[]`,
			status: 400, code: "invalid_request", message: "body: must be a JSON object, not array"},
		{name: "trailing data", method: http.MethodPost, path: UsersPath, body: `{"user_name":"x"}{}`,
			status: 400, code: "invalid_request", message: "body: holds data after the JSON object"},
		{name: "wrong content type", method: http.MethodPost, path: UsersPath, body: `{"user_name":"x"}`, contentType: "text/plain",
			status: 415, code: "unsupported_media_type", message: "body: Content-Type must be application/json"},
		{name: "too large", method: http.MethodPost, path: UsersPath, body: `{"user_name":"` + strings.Repeat("x", tooLong) + `"}`,
			status: 413, code: "request_too_large", message: "body: larger than 65536 bytes"},
		{name: "members patch too large", method: http.MethodPost, path: GroupsPath + "/staff/members",
			body:   `{"add":["` + strings.Repeat("x", 1<<20) + `"]}`,
			status: 413, code: "request_too_large", message: "body: larger than 1048576 bytes"},
		{name: "duplicate user_name", method: http.MethodPost, path: UsersPath, body: `{"user_name":"ALICE"}`,
			status: 409, code: "conflict", message: "user_name: another user has this name (ignoring case), or the ID is taken"},
		{name: "duplicate group", method: http.MethodPost, path: GroupsPath, body: `{"display_name":"staff"}`,
			status: 409, code: "conflict", message: "display_name: another group has this name (ignoring case), or the ID is taken"},
		{name: "unknown user", method: http.MethodGet, path: UsersPath + "/nobody",
			status: 404, code: "not_found", message: "no user has this ID"},
		{name: "unknown group", method: http.MethodDelete, path: GroupsPath + "/nobody",
			status: 404, code: "not_found", message: "no group has this ID"},
		{name: "deactivate unknown user", method: http.MethodPost, path: UsersPath + "/nobody/deactivate",
			status: 404, code: "not_found", message: "no user has this ID"},
		{name: "stale If-Match", method: http.MethodPut, path: UsersPath + "/alice", body: `{"user_name":"alice"}`,
			header: []string{"If-Match", `W/"7"`},
			status: 412, code: "precondition_failed", message: "If-Match: the user has another version; read it again"},
		{name: "stale If-Match on members", method: http.MethodPost, path: GroupsPath + "/staff/members", body: `{"remove":["alice"]}`,
			header: []string{"If-Match", `W/"2"`},
			status: 412, code: "precondition_failed", message: "If-Match: the group has another version; read it again"},
		{name: "malformed If-Match", method: http.MethodPut, path: UsersPath + "/alice", body: `{"user_name":"alice"}`,
			header: []string{"If-Match", `W/"x"`},
			status: 400, code: "invalid_request", message: `If-Match: must be one W/"<version>" or *`},
		{name: "id mismatch", method: http.MethodPut, path: UsersPath + "/alice", body: `{"id":"bob","user_name":"alice"}`,
			status: 400, code: "invalid_request", message: "id: does not match the user ID in the URL"},
		{name: "member not a user", method: http.MethodPost, path: GroupsPath + "/staff/members", body: `{"add":["ghost"]}`,
			status: 400, code: "invalid_request", message: `members: "ghost" is not a user`},
		{name: "filter syntax", method: http.MethodGet, path: UsersPath + "?filter=" + urlQuery(`userName eq`),
			status: 400, code: "invalid_request", message: "filter: at offset 11: expected a value (string, number, true, false or null), found end of input"},
		{name: "filter attribute unsupported", method: http.MethodGet, path: UsersPath + "?filter=" + urlQuery(`nickName eq "x"`),
			status: 400, code: "invalid_request", message: `filter: unsupported attribute "nickName"`},
		{name: "unknown list parameter", method: http.MethodGet, path: GroupsPath + "?sort=name",
			status: 400, code: "invalid_request", message: "sort: unknown parameter"},
		{name: "count too large", method: http.MethodGet, path: UsersPath + "?count=1001",
			status: 400, code: "invalid_request", message: "count: must be between 0 and 1000"},
		{name: "store down on list", method: http.MethodGet, path: UsersPath, down: true,
			status: 503, code: "unavailable", message: "the identity store is unavailable"},
		{name: "store down on create", method: http.MethodPost, path: UsersPath, body: `{"user_name":"dave"}`, down: true,
			status: 503, code: "unavailable", message: "the identity store is unavailable; nothing was changed"},
		{name: "store down on members", method: http.MethodPost, path: GroupsPath + "/staff/members", body: `{"add":["alice"]}`, down: true,
			status: 503, code: "unavailable", message: "the identity store is unavailable; nothing was changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newDirAPI(t)
			a.createUser(t, `{"id":"alice","user_name":"alice"}`)
			a.createGroup(t, `{"id":"staff","display_name":"Staff","members":["alice"]}`)
			before := len(a.events())
			a.store.setDown(tc.down)
			header := tc.header
			if tc.contentType != "" {
				header = append(header, "Content-Type", tc.contentType)
			}
			w := a.do(t, tc.method, tc.path, tc.body, header...)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			code, msg := errorOf(t, w)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, tc.message, msg)
			assert.Len(t, a.events(), before, "a refused request is not audited")
			if tc.down {
				assert.Contains(t, a.logs.String(), errDirectoryDown.Error())
				assert.NotContains(t, w.Body.String(), errDirectoryDown.Error())
			}
			a.store.setDown(false)
			u, err := a.mem.DirectoryUser(t.Context(), "alice")
			require.NoError(t, err)
			assert.Equal(t, int64(2), u.Version, "alice is unchanged") // 2: she joined staff
			g, err := a.mem.Group(t.Context(), "staff")
			require.NoError(t, err)
			assert.Equal(t, int64(1), g.Version, "staff is unchanged")
		})
	}
}

func TestDirectoryRequiresToken(t *testing.T) {
	a := newDirAPI(t)
	a.createUser(t, `{"id":"alice","user_name":"alice"}`)
	for _, route := range []struct{ method, path string }{
		{http.MethodGet, UsersPath}, {http.MethodPost, UsersPath},
		{http.MethodGet, UsersPath + "/alice"}, {http.MethodPut, UsersPath + "/alice"},
		{http.MethodDelete, UsersPath + "/alice"}, {http.MethodPost, UsersPath + "/alice/deactivate"},
		{http.MethodPost, UsersPath + "/alice/activate"},
		{http.MethodGet, GroupsPath}, {http.MethodPost, GroupsPath},
		{http.MethodGet, GroupsPath + "/g"}, {http.MethodPut, GroupsPath + "/g"},
		{http.MethodDelete, GroupsPath + "/g"}, {http.MethodPost, GroupsPath + "/g/members"},
	} {
		for _, auth := range []string{"", "Bearer wrong-token-wrong-token-wrong-token", adminSecret} {
			r := httptest.NewRequest(route.method, route.path, strings.NewReader(`{"user_name":"x"}`))
			r.Header.Set("Content-Type", "application/json")
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			w := httptest.NewRecorder()
			a.h.ServeHTTP(w, r)
			assert.Equal(t, http.StatusUnauthorized, w.Code, "%s %s %q", route.method, route.path, auth)
		}
	}
	assert.Len(t, a.events(), 1)
	u, err := a.mem.DirectoryUser(t.Context(), "alice")
	require.NoError(t, err)
	assert.Equal(t, int64(1), u.Version)
}

func TestDirectoryAuditFailure(t *testing.T) {
	a := newDirAPI(t)
	a.createUser(t, `{"id":"alice","user_name":"alice"}`)
	a.aud.fail = errors.New("audit disk full")
	w := a.do(t, http.MethodPost, UsersPath+"/alice/deactivate", "")
	require.Equal(t, http.StatusInternalServerError, w.Code, w.Body.String())
	code, msg := errorOf(t, w)
	assert.Equal(t, "audit_failed", code)
	assert.Equal(t, "the change was made, but the audit log could not record it", msg)
	assert.Contains(t, a.logs.String(), "level=ERROR")
	assert.Contains(t, a.logs.String(), "audit disk full")
	u, err := a.mem.DirectoryUser(t.Context(), "alice")
	require.NoError(t, err)
	assert.False(t, u.Active, "the change was made")
}

func TestParseDirectoryQuery(t *testing.T) {
	q, err := parseDirectoryQuery("filter=" + urlQuery(`userName eq "a"`) + "&start_index=3&count=7")
	require.NoError(t, err)
	assert.NotNil(t, q.Filter)
	assert.Equal(t, 3, q.StartIndex)
	assert.Equal(t, 7, q.Count)
	q, err = parseDirectoryQuery("")
	require.NoError(t, err)
	assert.Equal(t, directory.Query{StartIndex: 1, Count: DefaultListCount}, q)

	for _, tc := range []struct{ raw, err string }{
		{"count=1&count=2", "count: given more than once"},
		{"start_index=0", "start_index: must be a whole number of at least 1"},
		{"count=-1", "count: must be between 0 and 1000"},
		{"count=x", "count: must be between 0 and 1000"},
		{"filter=%zz", "query: malformed"},
		{"filter=" + urlQuery(`userName eq "a`), `filter: at offset 12: expected closing '"' of the string starting here, found end of input`},
		{"limit=3", "limit: unknown parameter"},
	} {
		_, err := parseDirectoryQuery(tc.raw)
		require.Error(t, err, tc.raw)
		assert.Equal(t, tc.err, err.Error(), tc.raw)
	}
}

func FuzzParseDirectoryQuery(f *testing.F) {
	for _, s := range []string{
		"", "filter=userName%20eq%20%22a%22&start_index=2&count=10", "count=1001", "filter=(",
		"start_index=9999999999999999999999", "filter=emails%5Btype%20eq%20%22work%22%5D", "%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseDirectoryQuery(raw)
		if err != nil {
			assert.NotEmpty(t, err.Error())
			return
		}
		assert.GreaterOrEqual(t, q.StartIndex, 1)
		assert.GreaterOrEqual(t, q.Count, 0)
		assert.LessOrEqual(t, q.Count, directory.MaxListCount)
	})
}
