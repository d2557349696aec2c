package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// adminDo sends an admin API request with the admin token.
func (e *flowEnv) adminDo(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.adminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// TestSCIMTokenLifecycle: tokens are created through the admin API (the
// value shown once), listed without values, limited to two active,
// revoked, audited and exported as a metric.
func TestSCIMTokenLifecycle(t *testing.T) {
	env := startFlowGateway(t)
	var created []map[string]any
	for range 2 {
		status, body := env.adminDo(t, http.MethodPost, "/api/v1/admin/scim-tokens", "")
		require.Equal(t, http.StatusCreated, status, string(body))
		var c map[string]any
		require.NoError(t, json.Unmarshal(body, &c))
		require.NotEmpty(t, c["token"])
		require.NotEmpty(t, c["expires_at"])
		created = append(created, c)
	}
	status, body := env.adminDo(t, http.MethodPost, "/api/v1/admin/scim-tokens", "")
	assert.Equal(t, http.StatusConflict, status, "at most two active: %s", body)

	status, body = env.adminDo(t, http.MethodGet, "/api/v1/admin/scim-tokens", "")
	require.Equal(t, http.StatusOK, status)
	for _, c := range created {
		assert.Contains(t, string(body), c["id"].(string))
		assert.NotContains(t, string(body), c["token"].(string), "values are never listed")
	}

	metrics := string(get(t, env.base+"/metrics"))
	assert.Contains(t, metrics, `gatehouse_scim_token_expiry_days{id="`+created[0]["id"].(string)+`"}`)

	status, _ = env.adminDo(t, http.MethodDelete, "/api/v1/admin/scim-tokens/"+created[0]["id"].(string), "")
	assert.Equal(t, http.StatusNoContent, status)
	status, _ = env.adminDo(t, http.MethodDelete, "/api/v1/admin/scim-tokens/"+created[0]["id"].(string), "")
	assert.Equal(t, http.StatusNotFound, status)

	var types []string
	for _, ev := range env.auditEvents(t, "type=scim_token.") {
		types = append(types, ev["type"].(string))
	}
	assert.Equal(t, []string{"scim_token.revoked", "scim_token.created", "scim_token.created"}, types)
}

// scimDo sends a SCIM request with the bearer token.
func (e *flowEnv) scimDo(t *testing.T, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, e.base+"/scim/v2"+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	if resp.StatusCode != http.StatusNoContent {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	}
	return resp.StatusCode, out
}

// TestSCIMProvisioningThroughGateway: an IdP provisions a user and a
// group with a SCIM token, deactivates the user (ending their sessions),
// and a revoked token is refused at once.
func TestSCIMProvisioningThroughGateway(t *testing.T) {
	env := startFlowGateway(t)
	status, body := env.adminDo(t, http.MethodPost, "/api/v1/admin/scim-tokens", `{"name":"entra"}`)
	require.Equal(t, http.StatusCreated, status, string(body))
	var tok map[string]any
	require.NoError(t, json.Unmarshal(body, &tok))
	bearer := tok["token"].(string)

	status, _ = env.scimDo(t, "wrong-token", http.MethodGet, "/Users", "")
	assert.Equal(t, http.StatusUnauthorized, status)

	status, user := env.scimDo(t, bearer, http.MethodPost, "/Users", `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
		"userName": "dana@example.com", "externalId": "e-1", "active": true,
		"name": {"givenName": "Dana", "familyName": "Scully"},
		"emails": [{"value": "dana@example.com", "type": "work", "primary": true}]}`)
	require.Equal(t, http.StatusCreated, status, user)
	id := user["id"].(string)

	status, list := env.scimDo(t, bearer, http.MethodGet, "/Users?filter="+url.QueryEscape(`userName eq "DANA@example.com"`), "")
	require.Equal(t, http.StatusOK, status)
	assert.EqualValues(t, 1, list["totalResults"])

	status, group := env.scimDo(t, bearer, http.MethodPost, "/Groups", `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
		"displayName": "analysts", "members": [{"value": "`+id+`"}]}`)
	require.Equal(t, http.StatusCreated, status, group)

	// The provisioned user signs in (a session) and holds a token; the
	// IdP then deactivates them, Entra style.
	session := env.signIn(t, id)
	status, _ = env.scimDo(t, bearer, http.MethodPatch, "/Users/"+id, `{
		"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations": [{"op": "Replace", "path": "active", "value": "False"}]}`)
	require.Equal(t, http.StatusOK, status)
	_, err := env.store.GetSession(t.Context(), session, time.Now())
	assert.ErrorIs(t, err, sp.ErrNotFound, "deactivation ends the user's sessions")

	var types []string
	for _, ev := range env.auditEvents(t, "type=scim.") {
		types = append(types, ev["type"].(string))
		assert.Equal(t, "scim:"+tok["id"].(string), ev["actor"])
	}
	assert.Equal(t, []string{"scim.user.patched", "scim.group.created", "scim.user.created"}, types)

	status, _ = env.adminDo(t, http.MethodDelete, "/api/v1/admin/scim-tokens/"+tok["id"].(string), "")
	require.Equal(t, http.StatusNoContent, status)
	status, _ = env.scimDo(t, bearer, http.MethodGet, "/Users/"+id, "")
	assert.Equal(t, http.StatusUnauthorized, status, "a revoked token is refused at once")
}

// TestAdminDirectoryThroughGateway: administrators manage users and
// groups through /api/v1/admin; changes are audited with actor admin.
func TestAdminDirectoryThroughGateway(t *testing.T) {
	env := startFlowGateway(t)
	status, body := env.adminDo(t, http.MethodPost, "/api/v1/admin/users", `{"user_name":"erin","email":"erin@example.com","given_name":"Erin"}`)
	require.Equal(t, http.StatusCreated, status, string(body))
	var user map[string]any
	require.NoError(t, json.Unmarshal(body, &user))
	id := user["id"].(string)

	status, body = env.adminDo(t, http.MethodPost, "/api/v1/admin/groups", `{"display_name":"auditors","members":["`+id+`"]}`)
	require.Equal(t, http.StatusCreated, status, string(body))

	status, body = env.adminDo(t, http.MethodGet, "/api/v1/admin/users?filter="+url.QueryEscape(`userName eq "ERIN"`), "")
	require.Equal(t, http.StatusOK, status)
	var list map[string]any
	require.NoError(t, json.Unmarshal(body, &list))
	assert.EqualValues(t, 1, list["total"])

	session := env.signIn(t, id)
	status, _ = env.adminDo(t, http.MethodPost, "/api/v1/admin/users/"+id+"/deactivate", "")
	require.Equal(t, http.StatusOK, status)
	_, err := env.store.GetSession(t.Context(), session, time.Now())
	assert.ErrorIs(t, err, sp.ErrNotFound, "deactivation ends the user's sessions")

	var types []string
	for _, ev := range env.auditEvents(t, "type=admin.") {
		types = append(types, ev["type"].(string))
		assert.Equal(t, "admin", ev["actor"])
	}
	assert.Equal(t, []string{"admin.user.deactivated", "admin.group.created", "admin.user.created"}, types)
}
