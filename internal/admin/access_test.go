package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
)

// recordingRequester records the provisioning requests it gets.
type recordingRequester struct {
	mu    sync.Mutex
	calls []string
}

func (r *recordingRequester) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recordingRequester) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

func (r *recordingRequester) Enqueue(accountID, ps string) { r.add("enqueue " + accountID + " " + ps) }
func (r *recordingRequester) Assigned(_ context.Context, a access.Assignment) error {
	r.add("assigned " + a.ID)
	return nil
}
func (r *recordingRequester) Unassigned(_ context.Context, a access.Assignment) error {
	r.add("unassigned " + a.ID)
	return nil
}
func (r *recordingRequester) Reprovision(_ context.Context, ps, accountID string) ([]string, error) {
	r.add("reprovision " + ps + " " + accountID)
	if accountID == "" {
		return []string{}, nil
	}
	return []string{accountID}, nil
}
func (r *recordingRequester) AccountChanged(_ context.Context, id string) error {
	r.add("account " + id)
	return nil
}

// memGroups resolves a user's groups from the memory store.
type memGroups struct{ st *memory.Store }

func (m memGroups) GroupIDs(ctx context.Context, userID string) ([]string, error) {
	u, err := m.st.DirectoryUser(ctx, userID)
	if err != nil {
		return nil, nil
	}
	var ids []string
	for _, g := range u.Groups {
		ids = append(ids, g.ID)
	}
	return ids, nil
}

type accessAPI struct {
	mem   *memory.Store
	aud   *recordingAuditor
	req   *recordingRequester
	h     http.Handler
	alice directory.User
	eng   directory.Group
}

func newAccessAPI(t testing.TB) *accessAPI {
	t.Helper()
	a := &accessAPI{mem: memory.New(), aud: &recordingAuditor{}, req: &recordingRequester{}}
	now := func() time.Time { return dirNow }
	svc, err := access.New(access.Config{Store: a.mem, Groups: memGroups{a.mem}, Now: now})
	require.NoError(t, err)
	a.alice, err = a.mem.CreateDirectoryUser(t.Context(), directory.User{UserName: "alice", Active: true}, dirNow)
	require.NoError(t, err)
	a.eng, err = a.mem.CreateGroup(t.Context(), directory.Group{DisplayName: "eng", Members: []string{a.alice.ID}}, dirNow)
	require.NoError(t, err)
	mux := http.NewServeMux()
	AccessRoutes(mux, NewToken(adminSecret), AccessConfig{
		Service: svc, Store: a.mem, Principals: a.mem, Provisioning: a.req, Auditor: a.aud, Now: now,
	})
	a.h = mux
	return a
}

func (a *accessAPI) do(t testing.TB, method, path, body string, header ...string) *httptest.ResponseRecorder {
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

func (a *accessAPI) events() []string {
	a.aud.mu.Lock()
	defer a.aud.mu.Unlock()
	out := make([]string, 0, len(a.aud.events))
	for _, e := range a.aud.events {
		out = append(out, e.Type)
	}
	return out
}

const (
	prodBody = `{"id":"111111111111","name":"prod","email":"aws-prod@example.com","ou":"/workloads/prod",` +
		`"assume_role_arn":"arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"}`
	readOnlyBody = `{"name":"ReadOnly","session_duration":"2h","managed_policies":["arn:aws:iam::aws:policy/ReadOnlyAccess"],` +
		`"inline_policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}}`
)

func (a *accessAPI) seed(t testing.TB) {
	t.Helper()
	w := a.do(t, http.MethodPost, AccountsPath, prodBody)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	w = a.do(t, http.MethodPost, PermissionSetsPath, readOnlyBody)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
}

func TestAccessAccountsCRUD(t *testing.T) {
	a := newAccessAPI(t)
	w := a.do(t, http.MethodPost, AccountsPath, prodBody)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	got := decodeJSON[accountJSON](t, w)
	assert.Equal(t, accountJSON{ID: "111111111111", Name: "prod", Email: "aws-prod@example.com", OU: "/workloads/prod",
		AssumeRoleARN: "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole", CreatedAt: dirNow, UpdatedAt: dirNow}, got)
	assert.Equal(t, []string{"account 111111111111"}, a.req.take())

	w = a.do(t, http.MethodPost, AccountsPath, prodBody)
	assert.Equal(t, http.StatusConflict, w.Code, "a second create of the same ID")

	for ou, n := range map[string]int{"/workloads": 1, "/workloads/prod": 1, "/workloads/dev": 0, "": 1} {
		w = a.do(t, http.MethodGet, AccountsPath+"?ou="+ou, "")
		require.Equal(t, http.StatusOK, w.Code)
		assert.Len(t, decodeJSON[map[string][]accountJSON](t, w)["accounts"], n, "ou %q", ou)
	}
	w = a.do(t, http.MethodGet, AccountsPath+"?ou=workloads", "")
	assert.Equal(t, http.StatusBadRequest, w.Code)
	_, msg := errorOf(t, w)
	assert.Contains(t, msg, "ou")

	moved := strings.Replace(prodBody, "/workloads/prod", "/workloads/dev", 1)
	w = a.do(t, http.MethodPut, AccountsPath+"/111111111111", moved)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "/workloads/dev", decodeJSON[accountJSON](t, w).OU)
	assert.Equal(t, []string{"account 111111111111"}, a.req.take(), "a move enqueues what the account now needs")

	w = a.do(t, http.MethodPut, AccountsPath+"/222222222222", strings.ReplaceAll(prodBody, "111111111111", "222222222222"))
	assert.Equal(t, http.StatusNotFound, w.Code)

	w = a.do(t, http.MethodDelete, AccountsPath+"/111111111111", "")
	assert.Equal(t, http.StatusNoContent, w.Code)
	w = a.do(t, http.MethodGet, AccountsPath+"/111111111111", "")
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.Equal(t, []string{EventAdminAccountCreated, EventAdminAccountUpdated, EventAdminAccountDeleted}, a.events())
}

func TestAccessAccountBadInput(t *testing.T) {
	tests := []struct {
		name, from, to, field string
	}{
		{"short id", `"id":"111111111111"`, `"id":"1111"`, "id"},
		{"bad email", `"email":"aws-prod@example.com"`, `"email":"nobody"`, "email"},
		{"bad ou", `"ou":"/workloads/prod"`, `"ou":"workloads"`, "ou"},
		{"role of another account", `role/Org`, `role/x`, ""},
		{"unknown field", `"name":"prod"`, `"name":"prod","owner":"x"`, "owner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAccessAPI(t)
			body := strings.Replace(prodBody, tt.from, tt.to, 1)
			if tt.name == "role of another account" {
				body = strings.Replace(prodBody, "iam::111111111111:role", "iam::999999999999:role", 1)
				tt.field = "assume_role_arn"
			}
			require.NotEqual(t, prodBody, body)
			w := a.do(t, http.MethodPost, AccountsPath, body)
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			code, msg := errorOf(t, w)
			assert.Equal(t, "invalid_request", code)
			assert.True(t, strings.HasPrefix(msg, tt.field+":") || strings.Contains(msg, "; "+tt.field+":"), msg)
			all, err := a.mem.ListAccounts(t.Context(), "")
			require.NoError(t, err)
			assert.Empty(t, all, "nothing stored")
			assert.Empty(t, a.events())
		})
	}
}

func TestAccessPermissionSetBadInput(t *testing.T) {
	tests := []struct {
		name, from, to, field string
	}{
		{"name of 33 characters", `"name":"ReadOnly"`, `"name":"` + strings.Repeat("a", 33) + `"`, "name"},
		{"inline policy not JSON", `"inline_policy":{"Version"`, `"inline_policy":"{\"Version\" nope","x":{"Version"`, "inline_policy"},
		{"inline policy without statement", `"Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]`, `"Statements":[]`, "inline_policy.Statement"},
		{"customer ARN as managed policy", `arn:aws:iam::aws:policy/ReadOnlyAccess`, `arn:aws:iam::111111111111:policy/Mine`, "managed_policies[0]"},
		{"session too long", `"session_duration":"2h"`, `"session_duration":"13h"`, "session_duration"},
		{"session not a duration", `"session_duration":"2h"`, `"session_duration":"two hours"`, "session_duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAccessAPI(t)
			body := strings.Replace(readOnlyBody, tt.from, tt.to, 1)
			if tt.name == "inline policy not JSON" {
				body = `{"name":"ReadOnly","inline_policy":"{\"Version\" nope"}`
			}
			require.NotEqual(t, readOnlyBody, body)
			w := a.do(t, http.MethodPost, PermissionSetsPath, body)
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			_, msg := errorOf(t, w)
			assert.True(t, strings.HasPrefix(msg, tt.field), "%q should name %s", msg, tt.field)
			all, err := a.mem.ListPermissionSets(t.Context())
			require.NoError(t, err)
			assert.Empty(t, all, "nothing stored")
		})
	}
	a := newAccessAPI(t) // the unchanged body is accepted
	w := a.do(t, http.MethodPost, PermissionSetsPath, readOnlyBody)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	ps := decodeJSON[permissionSetJSON](t, w)
	assert.Equal(t, "2h0m0s", ps.SessionDuration)
	assert.JSONEq(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}`, ps.InlinePolicy)
	assert.Equal(t, int64(1), ps.Version)
}

func TestAccessPermissionSetUpdateAndProvisioning(t *testing.T) {
	a := newAccessAPI(t)
	a.seed(t)
	a.req.take()
	require.NoError(t, a.mem.PutProvisioning(t.Context(), access.Provisioning{
		AccountID: "111111111111", PermissionSet: "ReadOnly", Version: 1, RoleName: "AWSReservedSSO_ReadOnly_0123456789abcdef",
		Status: access.StatusSucceeded, UpdatedAt: dirNow,
	}))
	prov := func() provisioningJSON {
		w := a.do(t, http.MethodGet, PermissionSetsPath+"/ReadOnly/provisioning", "")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var v struct {
			Provisioning []provisioningJSON `json:"provisioning"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v))
		require.Len(t, v.Provisioning, 1)
		return v.Provisioning[0]
	}
	assert.False(t, prov().OutOfDate)

	changed := strings.Replace(readOnlyBody, `"2h"`, `"4h"`, 1)
	w := a.do(t, http.MethodPut, PermissionSetsPath+"/ReadOnly", changed, "If-Match", `W/"7"`)
	assert.Equal(t, http.StatusPreconditionFailed, w.Code, w.Body.String())
	w = a.do(t, http.MethodPut, PermissionSetsPath+"/ReadOnly", strings.Replace(changed, `{"name"`, `{"version":7,"name"`, 1))
	assert.Equal(t, http.StatusPreconditionFailed, w.Code, "a stale body version")
	assert.Empty(t, a.req.take(), "nothing enqueued for a refused change")

	w = a.do(t, http.MethodPut, PermissionSetsPath+"/ReadOnly", changed, "If-Match", `W/"1"`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, int64(2), decodeJSON[permissionSetJSON](t, w).Version)
	assert.Equal(t, []string{"reprovision ReadOnly "}, a.req.take())
	p := prov()
	assert.True(t, p.OutOfDate)
	assert.Equal(t, int64(1), p.Version)
	assert.Equal(t, int64(2), p.CurrentVersion)

	w = a.do(t, http.MethodPost, PermissionSetsPath+"/ReadOnly/provision", `{"account_id":"111111111111"}`)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	assert.Equal(t, []string{"reprovision ReadOnly 111111111111"}, a.req.take())
	w = a.do(t, http.MethodPost, PermissionSetsPath+"/ReadOnly/provision", `{"account_id":"333333333333"}`)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	_, msg := errorOf(t, w)
	assert.True(t, strings.HasPrefix(msg, "account_id:"), msg)
	w = a.do(t, http.MethodPost, PermissionSetsPath+"/ReadOnly/provision", "")
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	assert.Equal(t, []string{"reprovision ReadOnly "}, a.req.take())
	w = a.do(t, http.MethodPost, PermissionSetsPath+"/Nope/provision", "")
	assert.Equal(t, http.StatusNotFound, w.Code)

	assert.Equal(t, []string{EventAdminAccountCreated, EventAdminPermissionSetCreated, EventAdminPermissionSetUpdated,
		EventAdminPermissionSetProvision, EventAdminPermissionSetProvision}, a.events())
}

func TestAccessAssignments(t *testing.T) {
	a := newAccessAPI(t)
	a.seed(t)
	a.req.take()
	body := `{"principal_type":"GROUP","principal_id":"` + a.eng.ID + `","permission_set":"ReadOnly","target_type":"AWS_ACCOUNT","target_id":"111111111111"}`

	bad := []struct{ name, from, to, field string }{
		{"unknown group", a.eng.ID, "no-such-group", "principal_id"},
		{"unknown user", `"GROUP","principal_id":"` + a.eng.ID, `"USER","principal_id":"no-such-user`, "principal_id"},
		{"unknown permission set", `"ReadOnly"`, `"Admin"`, "permission_set"},
		{"unknown account", `"target_id":"111111111111"`, `"target_id":"222222222222"`, "target_id"},
		{"bad principal type", `"GROUP"`, `"ROBOT"`, "principal_type"},
		{"bad OU", `"AWS_ACCOUNT","target_id":"111111111111"`, `"OU","target_id":"workloads"`, "target_id"},
	}
	for _, tt := range bad {
		b := strings.Replace(body, tt.from, tt.to, 1)
		require.NotEqual(t, body, b, tt.name)
		w := a.do(t, http.MethodPost, AssignmentsPath, b)
		require.Equal(t, http.StatusBadRequest, w.Code, "%s: %s", tt.name, w.Body.String())
		_, msg := errorOf(t, w)
		assert.True(t, strings.HasPrefix(msg, tt.field+":"), "%s: %q", tt.name, msg)
	}
	none, err := a.mem.AssignmentsForPermissionSet(t.Context(), "ReadOnly")
	require.NoError(t, err)
	assert.Empty(t, none, "nothing stored")
	assert.Empty(t, a.req.take())

	w := a.do(t, http.MethodPost, AssignmentsPath, body)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	created := decodeJSON[assignmentJSON](t, w)
	assert.Equal(t, "IN_PROGRESS", created.Status)
	assert.Equal(t, []string{"assigned " + created.ID}, a.req.take())

	w = a.do(t, http.MethodPost, AssignmentsPath, body)
	require.Equal(t, http.StatusOK, w.Code, "the same natural key")
	assert.Equal(t, created.ID, decodeJSON[assignmentJSON](t, w).ID)
	assert.Empty(t, a.req.take())

	for _, q := range []string{"?account_id=111111111111", "?principal_type=GROUP&principal_id=" + a.eng.ID, "?permission_set=ReadOnly"} {
		w = a.do(t, http.MethodGet, AssignmentsPath+q, "")
		require.Equal(t, http.StatusOK, w.Code, q)
		list := decodeJSON[map[string][]assignmentJSON](t, w)["assignments"]
		require.Len(t, list, 1, q)
		assert.Equal(t, created.ID, list[0].ID)
	}
	w = a.do(t, http.MethodGet, AssignmentsPath+"?principal_type=USER&principal_id="+a.eng.ID, "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Empty(t, decodeJSON[map[string][]assignmentJSON](t, w)["assignments"], "a group ID is not a user")
	w = a.do(t, http.MethodGet, AssignmentsPath, "")
	assert.Equal(t, http.StatusBadRequest, w.Code, "a selector is required")

	w = a.do(t, http.MethodGet, UsersPath+"/"+a.alice.ID+"/entitlements", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var ents struct {
		Entitlements []entitlementJSON `json:"entitlements"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &ents))
	assert.Equal(t, []entitlementJSON{{AccountID: "111111111111", PermissionSet: "ReadOnly", Via: []string{created.ID}}}, ents.Entitlements)
	w = a.do(t, http.MethodGet, UsersPath+"/nobody/entitlements", "")
	assert.Equal(t, http.StatusNotFound, w.Code)

	w = a.do(t, http.MethodDelete, PermissionSetsPath+"/ReadOnly", "")
	assert.Equal(t, http.StatusConflict, w.Code, "still assigned")

	w = a.do(t, http.MethodDelete, AssignmentsPath+"/"+created.ID, "")
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
	assert.Equal(t, []string{"unassigned " + created.ID}, a.req.take())
	w = a.do(t, http.MethodGet, AssignmentsPath+"/"+created.ID, "")
	assert.Equal(t, http.StatusNotFound, w.Code)
	w = a.do(t, http.MethodDelete, AssignmentsPath+"/"+created.ID, "")
	assert.Equal(t, http.StatusNotFound, w.Code)
	w = a.do(t, http.MethodGet, UsersPath+"/"+a.alice.ID+"/entitlements", "")
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &ents))
	assert.Empty(t, ents.Entitlements)

	w = a.do(t, http.MethodDelete, PermissionSetsPath+"/ReadOnly", "")
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, []string{EventAdminAccountCreated, EventAdminPermissionSetCreated, EventAdminAssignmentCreated,
		EventAdminAssignmentDeleteRequest, EventAdminPermissionSetDeleted}, a.events())
}

func TestAccessNotConfigured(t *testing.T) {
	mux := http.NewServeMux()
	AccessRoutes(mux, NewToken(adminSecret), AccessConfig{})
	for _, p := range []string{AccountsPath, PermissionSetsPath, AssignmentsPath + "?ou=/", UsersPath + "/x/entitlements"} {
		r := httptest.NewRequest(http.MethodGet, p, nil)
		r.Header.Set("Authorization", "Bearer "+adminSecret)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		assert.Equal(t, http.StatusNotFound, w.Code, p)
		code, msg := errorOf(t, w)
		assert.Equal(t, "not_configured", code)
		assert.Contains(t, msg, "aws.region")
	}
	r := httptest.NewRequest(http.MethodGet, AccountsPath, nil) // still behind the token
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
}
