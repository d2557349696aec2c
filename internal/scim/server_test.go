package scim_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/scim"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
)

func TestNewValidates(t *testing.T) {
	valid := func() scim.Config {
		return scim.Config{Store: memory.New(), Auditor: &fakeAuditor{}, BaseURL: baseURL}
	}
	_, err := scim.New(valid())
	require.NoError(t, err)
	cases := []struct {
		name   string
		change func(*scim.Config)
		want   string
	}{
		{"no store", func(c *scim.Config) { c.Store = nil }, "a store is required"},
		{"no auditor", func(c *scim.Config) { c.Auditor = nil }, "an auditor is required"},
		{"no base URL", func(c *scim.Config) { c.BaseURL = "" }, "BaseURL is required"},
		{"relative base URL", func(c *scim.Config) { c.BaseURL = "/scim/v2" }, "must be an absolute http or https URL"},
		{"base URL with a query", func(c *scim.Config) { c.BaseURL = baseURL + "?x=1" }, "must be an absolute http or https URL"},
		{"base URL of another scheme", func(c *scim.Config) { c.BaseURL = "ftp://gw.example.com/scim/v2" }, "must be an absolute http or https URL"},
		{"negative MaxBody", func(c *scim.Config) { c.MaxBody = -1 }, "MaxBody must be between 0"},
		{"huge MaxBody", func(c *scim.Config) { c.MaxBody = scim.MaxMaxBody + 1 }, "MaxBody must be between 0"},
		{"negative MaxResults", func(c *scim.Config) { c.MaxResults = -1 }, "MaxResults must be between 0"},
		{"MaxResults over the cap", func(c *scim.Config) { c.MaxResults = scim.MaxMaxResults + 1 }, "MaxResults must be between 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.change(&cfg)
			_, err := scim.New(cfg)
			require.ErrorContains(t, err, tc.want)
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		_, err := scim.New(scim.Config{MaxResults: -1})
		require.ErrorContains(t, err, "a store is required")
		require.ErrorContains(t, err, "an auditor is required")
		require.ErrorContains(t, err, "BaseURL is required")
		require.ErrorContains(t, err, "MaxResults must be between 0")
	})
}

func TestBaseURLTrailingSlash(t *testing.T) {
	e := newEnv(t, func(c *scim.Config) { c.BaseURL = baseURL + "/" })
	id := e.createUser("alice")
	assert.Equal(t, baseURL+"/Users/"+id, get(e.getUser(id), "meta", "location"))
}

func TestRequiresAuthentication(t *testing.T) {
	e := newEnv(t)
	t.Run("behind Require, no token", func(t *testing.T) {
		res := e.do(http.MethodGet, "/scim/v2/Users", nil, "Authorization", "")
		requireError(t, res, http.StatusUnauthorized, "")
	})
	t.Run("mounted without Require", func(t *testing.T) {
		srv, err := scim.New(scim.Config{Store: memory.New(), Auditor: &fakeAuditor{}, BaseURL: baseURL})
		require.NoError(t, err)
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/scim/v2/Users", nil))
		assert.Equal(t, http.StatusUnauthorized, w.Code)
		assert.Equal(t, `Bearer realm="scim"`, w.Header().Get("WWW-Authenticate"))
		assert.Contains(t, w.Body.String(), `"status":"401"`)
	})
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, func(c *scim.Config) { c.MaxBody = 256 })
	body := `{"schemas":["` + scim.UserSchema + `"],"userName":"alice","displayName":"` + strings.Repeat("x", 300) + `"}`
	t.Run("declared length", func(t *testing.T) {
		res := e.do(http.MethodPost, "/scim/v2/Users", body)
		requireError(t, res, http.StatusRequestEntityTooLarge, "")
		assert.Equal(t, "close", res.header.Get("Connection"))
	})
	t.Run("streamed body", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/scim/v2/Users", struct{ *strings.Reader }{strings.NewReader(body)})
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer "+e.token)
		req.Header.Set("Content-Type", "application/scim+json")
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, req)
		assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code, w.Body.String())
	})
	t.Run("a body within the limit", func(t *testing.T) {
		res := e.do(http.MethodPost, "/scim/v2/Users", `{"schemas":["`+scim.UserSchema+`"],"userName":"alice"}`)
		require.Equal(t, http.StatusCreated, res.status, res.raw)
	})
}

func TestMaxResults(t *testing.T) {
	e := newEnv(t, func(c *scim.Config) { c.MaxResults = 2 })
	for _, n := range []string{"a", "b", "c"} {
		e.createUser(n)
	}
	for _, path := range []string{"/scim/v2/Users", "/scim/v2/Users?count=1000"} {
		res := e.do(http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, res.status, res.raw)
		assert.EqualValues(t, 3, res.body["totalResults"], path)
		assert.EqualValues(t, 2, res.body["itemsPerPage"], path)
	}
	res := e.do(http.MethodGet, "/scim/v2/ServiceProviderConfig", nil)
	assert.EqualValues(t, 2, get(res.body, "filter", "maxResults"))
}

func TestStoreFailure(t *testing.T) {
	store := &failingStore{Store: memory.New()}
	var logs bytes.Buffer
	e := newEnvWithStore(t, store, func(c *scim.Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	store.broken = true
	res := e.do(http.MethodGet, "/scim/v2/Users", nil)
	requireError(t, res, http.StatusServiceUnavailable, "")
	assert.Equal(t, "5", res.header.Get("Retry-After"))
	assert.NotContains(t, res.raw, "fire", "store details stay in the log")
	assert.Contains(t, logs.String(), "database is on fire")

	res = e.do(http.MethodPost, "/scim/v2/Users", map[string]any{"schemas": []any{scim.UserSchema}, "userName": "alice"})
	requireError(t, res, http.StatusServiceUnavailable, "")
	assert.Empty(t, e.audit.recorded(), "nothing changed, nothing recorded")
}

func TestAudit(t *testing.T) {
	e := newEnv(t)
	actor := "scim:" + e.tokenID

	id := e.createUser("alice", map[string]any{"password": "s3cret-placeholder", "emails": []any{map[string]any{"value": "a@example.com"}}})
	res := e.do(http.MethodPatch, "/scim/v2/Users/"+id, patchBody(op("Replace", "active", "False"), op("Replace", "displayName", "Al")))
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = e.do(http.MethodPut, "/scim/v2/Users/"+id, map[string]any{"schemas": []any{scim.UserSchema}, "userName": "alice", "active": true})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	bob := e.createUser("bob")
	gid := e.createGroup("staff", id)
	res = e.do(http.MethodPatch, "/scim/v2/Groups/"+gid, patchBody(op("add", "members", []any{map[string]any{"value": bob}})))
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = e.do(http.MethodPatch, "/scim/v2/Groups/"+gid, patchBody(op("replace", "displayName", "Staff"), op("remove", "members", nil)))
	require.Equal(t, http.StatusOK, res.status, res.raw)
	res = e.do(http.MethodPut, "/scim/v2/Groups/"+gid, map[string]any{"schemas": []any{scim.GroupSchema}, "displayName": "Staff"})
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Equal(t, http.StatusNoContent, e.do(http.MethodDelete, "/scim/v2/Groups/"+gid, nil).status)
	require.Equal(t, http.StatusNoContent, e.do(http.MethodDelete, "/scim/v2/Users/"+id, nil).status)
	// Refused writes are not changes.
	requireError(t, e.do(http.MethodDelete, "/scim/v2/Users/"+id, nil), http.StatusNotFound, "")

	type row struct {
		Type, Subject string
		Details       map[string]string
	}
	var got []row
	for _, ev := range e.audit.recorded() {
		assert.Equal(t, actor, ev.Actor, ev.Type)
		assert.Equal(t, audit.Success, ev.Outcome, ev.Type)
		assert.False(t, ev.Time.IsZero(), ev.Type)
		for _, v := range ev.Details {
			assert.NotContains(t, v, "s3cret")
		}
		delete(ev.Details, "group_id")
		delete(ev.Details, "id")
		got = append(got, row{ev.Type, ev.Subject, ev.Details})
	}
	assert.Equal(t, []row{
		{scim.EventUserCreated, id, map[string]string{"user_name": "alice", "version": "1", "active": "true", "attributes": "active,emails,userName"}},
		{scim.EventUserPatched, id, map[string]string{"user_name": "alice", "version": "2", "active": "false", "attributes": "active,displayName", "deactivated": "true"}},
		{scim.EventUserReplaced, id, map[string]string{"user_name": "alice", "version": "3", "active": "true", "attributes": "active,displayName,emails", "reactivated": "true"}},
		{scim.EventUserCreated, bob, map[string]string{"user_name": "bob", "version": "1", "active": "true", "attributes": "active,userName"}},
		{scim.EventGroupCreated, "", map[string]string{"display_name": "staff", "version": "1", "members": "1", "members_added": "1"}},
		{scim.EventGroupPatched, "", map[string]string{"display_name": "staff", "version": "2", "members": "2", "members_add_requested": "1", "members_remove_requested": "0"}},
		{scim.EventGroupPatched, "", map[string]string{"display_name": "Staff", "version": "3", "members": "0", "members_added": "0", "members_removed": "2", "attributes": "displayName,members"}},
		{scim.EventGroupReplaced, "", map[string]string{"display_name": "Staff", "version": "3", "members": "0", "members_added": "0", "members_removed": "0", "attributes": ""}},
		{scim.EventGroupDeleted, "", map[string]string{}},
		{scim.EventUserDeleted, id, map[string]string{}},
	}, got)
}

func TestAuditFailureAnswers500AndTheChangeStands(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, func(c *scim.Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	e.audit.setFail(errors.New("audit disk full"))
	res := e.do(http.MethodPost, "/scim/v2/Users", map[string]any{"schemas": []any{scim.UserSchema}, "userName": "alice"})
	requireError(t, res, http.StatusInternalServerError, "")
	assert.Empty(t, res.header.Get("Location"))
	assert.Contains(t, logs.String(), "audit disk full")
	assert.Contains(t, logs.String(), `"level":"ERROR"`)

	e.audit.setFail(nil)
	list := e.do(http.MethodGet, "/scim/v2/Users?filter="+q(`userName eq "alice"`), nil)
	assert.EqualValues(t, 1, list.body["totalResults"], "the user was created")
}

func TestRequestContextInAudit(t *testing.T) {
	e := newEnv(t)
	h := server.RequestID(nil, nil)(e.handler)
	req := httptest.NewRequest(http.MethodPost, "/scim/v2/Users", strings.NewReader(`{"schemas":["`+scim.UserSchema+`"],"userName":"alice"}`))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/scim+json")
	req.RemoteAddr = "192.0.2.7:4711"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	evs := e.audit.recorded()
	require.Len(t, evs, 1)
	assert.Equal(t, w.Header().Get(server.RequestIDHeader), evs[0].RequestID)
	assert.Equal(t, "192.0.2.7", evs[0].Source)
}

// retryingStore runs every update function once more on a throwaway copy
// before the real update, as a database that asks for a retry does.
type retryingStore struct {
	*memory.Store
	calls int
}

func (s *retryingStore) UpdateDirectoryUser(ctx context.Context, id string, ifVersion int64, fn func(*directory.User) error, now time.Time) (directory.User, error) {
	if u, err := s.Store.DirectoryUser(ctx, id); err == nil {
		s.calls++
		_ = fn(&u)
	}
	return s.Store.UpdateDirectoryUser(ctx, id, ifVersion, fn, now)
}

func (s *retryingStore) UpdateGroup(ctx context.Context, id string, ifVersion int64, fn func(*directory.Group) error, now time.Time) (directory.Group, error) {
	if g, err := s.Store.Group(ctx, id); err == nil {
		s.calls++
		_ = fn(&g)
	}
	return s.Store.UpdateGroup(ctx, id, ifVersion, fn, now)
}

func TestUpdateFunctionsMayRunTwice(t *testing.T) {
	store := &retryingStore{Store: memory.New()}
	e := newEnvWithStore(t, store)
	id := e.createUser("alice", map[string]any{"emails": []any{map[string]any{"value": "a@example.com", "type": "work", "primary": true}}})
	// The second operation changes the value the first added: a second
	// run must start from the request's value again.
	res := e.do(http.MethodPatch, "/scim/v2/Users/"+id, patchBody(
		op("add", "emails", []any{map[string]any{"value": "b@example.com", "type": "home", "primary": true}}),
		op("replace", `emails[type eq "home"].type`, "other"),
		op("replace", "", map[string]any{"name": map[string]any{"givenName": "Al"}}),
	))
	require.Equal(t, http.StatusOK, res.status, res.raw)
	assert.Equal(t, []any{
		map[string]any{"value": "a@example.com", "type": "work"},
		map[string]any{"value": "b@example.com", "type": "other", "primary": true},
	}, res.body["emails"])
	assert.Equal(t, map[string]any{"givenName": "Al"}, res.body["name"])
	assert.Equal(t, `W/"2"`, res.header.Get("ETag"))

	bob := e.createUser("bob")
	gid := e.createGroup("staff", id)
	res = e.do(http.MethodPatch, "/scim/v2/Groups/"+gid, patchBody(
		op("add", "members", []any{map[string]any{"value": bob}}), op("remove", `members[value eq "`+id+`"]`, nil),
		op("replace", "displayName", "Staff"),
	))
	require.Equal(t, http.StatusOK, res.status, res.raw)
	assert.Equal(t, []string{bob}, members(res.body))
	assert.Equal(t, 2, store.calls, "both updates went through the retrying path")
}

func TestLargeMemberPatchFallsBackToUpdateGroup(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var list []any
	for i := range directory.MaxPatchMembers + 1 {
		u, err := e.store.CreateDirectoryUser(ctx, directory.User{UserName: "user" + strconv.Itoa(i), Active: true}, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
		require.NoError(t, err)
		list = append(list, map[string]any{"value": u.ID})
	}
	gid := e.createGroup("everyone")
	res := e.do(http.MethodPatch, "/scim/v2/Groups/"+gid+"?excludedAttributes=members", patchBody(op("add", "members", list)))
	require.Equal(t, http.StatusOK, res.status, res.raw)
	assert.NotContains(t, res.body, "members")
	g, err := e.store.Group(ctx, gid)
	require.NoError(t, err)
	assert.Len(t, g.Members, directory.MaxPatchMembers+1)
	evs := e.audit.recorded()
	assert.Equal(t, strconv.Itoa(directory.MaxPatchMembers+1), evs[len(evs)-1].Details["members_added"], "the general path counts exactly")
}

// recordingStore records how the server calls the store.
type recordingStore struct {
	*memory.Store
	withoutMembers []bool
	patches        [][2][]string // add, remove of each PatchGroupMembers
	updates        int
}

func (s *recordingStore) ListGroups(ctx context.Context, q directory.Query) (directory.Page[directory.Group], error) {
	s.withoutMembers = append(s.withoutMembers, q.WithoutMembers)
	return s.Store.ListGroups(ctx, q)
}

func (s *recordingStore) PatchGroupMembers(ctx context.Context, id string, add, remove []string, ifVersion int64, now time.Time) (directory.Group, error) {
	s.patches = append(s.patches, [2][]string{add, remove})
	return s.Store.PatchGroupMembers(ctx, id, add, remove, ifVersion, now)
}

func (s *recordingStore) UpdateGroup(ctx context.Context, id string, ifVersion int64, fn func(*directory.Group) error, now time.Time) (directory.Group, error) {
	s.updates++
	return s.Store.UpdateGroup(ctx, id, ifVersion, fn, now)
}

func TestGroupStoreCalls(t *testing.T) {
	store := &recordingStore{Store: memory.New()}
	e := newEnvWithStore(t, store)
	a, b, c := e.createUser("a"), e.createUser("b"), e.createUser("c")
	gid := e.createGroup("staff", a)

	for _, path := range []string{"/scim/v2/Groups?excludedAttributes=members", "/scim/v2/Groups", "/scim/v2/Groups?attributes=displayName,externalId"} {
		require.Equal(t, http.StatusOK, e.do(http.MethodGet, path, nil).status)
	}
	assert.Equal(t, []bool{true, false, true}, store.withoutMembers)

	// Member adds and removes only: one PatchGroupMembers call.
	res := e.do(http.MethodPatch, "/scim/v2/Groups/"+gid, patchBody(
		op("Add", "members", []any{map[string]any{"value": b}, map[string]any{"value": c}}),
		op("Remove", "members", []any{map[string]any{"value": a}}),
	))
	require.Equal(t, http.StatusOK, res.status, res.raw)
	require.Len(t, store.patches, 1)
	assert.ElementsMatch(t, []string{b, c}, store.patches[0][0])
	assert.Equal(t, []string{a}, store.patches[0][1])
	assert.Zero(t, store.updates)

	// Anything else goes through UpdateGroup.
	for _, body := range []map[string]any{
		patchBody(op("replace", "displayName", "Staff")),
		patchBody(op("remove", "members", nil)),
		patchBody(op("add", "members", []any{map[string]any{"value": a}}), op("remove", `members[value eq "`+a+`"]`, nil)),
	} {
		res := e.do(http.MethodPatch, "/scim/v2/Groups/"+gid, body)
		require.Equal(t, http.StatusOK, res.status, res.raw)
	}
	assert.Len(t, store.patches, 1)
	assert.Equal(t, 3, store.updates)
}
