package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/oauth"
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

// TestSCIMDeprovisioningEndsAccess: a user provisioned over SCIM signs
// in, gets a refresh token through the device flow and a token by
// exchanging an external JWT; the IdP then deactivates the user with an
// Okta-style PUT. At once the session is refused (session API and
// portal), the refresh token gives invalid_grant and no new token is
// issued for the user. Before the PUT each of them works: the positive
// control.
func TestSCIMDeprovisioningEndsAccess(t *testing.T) {
	env := startFlowGateway(t)
	status, body := env.adminDo(t, http.MethodPost, "/api/v1/admin/scim-tokens", `{"name":"okta"}`)
	require.Equal(t, http.StatusCreated, status, string(body))
	var tok map[string]any
	require.NoError(t, json.Unmarshal(body, &tok))
	bearer := tok["token"].(string)

	const userJSON = `{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
		"userName": "fox@example.com", "active": %s,
		"name": {"givenName": "Fox", "familyName": "Mulder"},
		"emails": [{"value": "fox@example.com", "type": "work", "primary": true}]}`
	status, user := env.scimDo(t, bearer, http.MethodPost, "/Users", fmt.Sprintf(userJSON, "true"))
	require.Equal(t, http.StatusCreated, status, user)
	id := user["id"].(string)

	session := env.signIn(t, id)
	sessionStatus := func() int {
		req, err := http.NewRequest(http.MethodGet, env.base+"/api/v1/session", nil)
		require.NoError(t, err)
		req.AddCookie(&http.Cookie{Name: sp.SessionCookie, Value: session})
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, sessionStatus())

	// A refresh token through the device flow, approved by the user.
	conf := env.oauth2Config()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	da, err := conf.DeviceAuth(ctx, oauth2.SetAuthURLParam("audience", warehouse))
	require.NoError(t, err)
	env.decideOnPage(t, session, da.VerificationURIComplete, "approve")
	devTok, err := conf.DeviceAccessToken(ctx, da)
	require.NoError(t, err)
	refresh := func(rt string) (int, map[string]any) {
		return env.post(t, oauth.PathToken, "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"cli"}})
	}
	status, rbody := refresh(devTok.RefreshToken)
	require.Equal(t, http.StatusOK, status, rbody)
	rt := rbody["refresh_token"].(string)

	exchange := func() (int, map[string]any) {
		return env.post(t, oauth.PathToken, "agent:s3cret", url.Values{
			"grant_type":         {oauth.GrantTokenExchange},
			"subject_token":      {env.externalJWT(t, "fox@example.com", extAudience)},
			"subject_token_type": {oauth.TokenTypeJWT},
			"audience":           {warehouse},
		})
	}
	status, xbody := exchange()
	require.Equal(t, http.StatusOK, status, xbody)

	// Okta deactivates with a PUT of the whole user, active false.
	status, put := env.scimDo(t, bearer, http.MethodPut, "/Users/"+id, fmt.Sprintf(userJSON, "false"))
	require.Equal(t, http.StatusOK, status, put)
	assert.Equal(t, false, put["active"])

	assert.Equal(t, http.StatusUnauthorized, sessionStatus(), "the session ends at once")
	status, rbody = refresh(rt)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", rbody["error"], "the refresh token is revoked")
	status, xbody = exchange()
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", xbody["error"], "no token for a deactivated user")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest(http.MethodGet, env.base+"/portal", nil)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: sp.SessionCookie, Value: session})
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode, "the portal sends the browser to sign in again")
}

// TestSCIMTokenRotationWithoutInterruption: while an IdP provisions users
// without pause, a second token is created, the IdP switches to it and the
// first is revoked. No request fails, and the revoked token gets 401.
func TestSCIMTokenRotationWithoutInterruption(t *testing.T) {
	env := startFlowGateway(t)
	create := func(name string) (id, token string) {
		status, body := env.adminDo(t, http.MethodPost, "/api/v1/admin/scim-tokens", `{"name":"`+name+`"}`)
		require.Equal(t, http.StatusCreated, status, string(body))
		var tok map[string]any
		require.NoError(t, json.Unmarshal(body, &tok))
		return tok["id"].(string), tok["token"].(string)
	}
	oldID, oldToken := create("entra-2025")
	var current atomic.Pointer[string]
	current.Store(&oldToken)

	var sent, failed atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			status, body := env.scimDo(t, *current.Load(), http.MethodPost, "/Users", fmt.Sprintf(`{
				"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "rot-%d@example.com", "active": true}`, i))
			sent.Add(1)
			if status != http.StatusCreated {
				failed.Add(1)
				t.Errorf("provisioning request %d: %d %v", i, status, body)
			}
		}
	}()
	waitSent := func(n int64) {
		deadline := time.Now().Add(30 * time.Second)
		for sent.Load() < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitSent(5)
	_, newToken := create("entra-2026")
	waitSent(sent.Load() + 5)
	current.Store(&newToken)
	waitSent(sent.Load() + 5)
	status, _ := env.adminDo(t, http.MethodDelete, "/api/v1/admin/scim-tokens/"+oldID, "")
	require.Equal(t, http.StatusNoContent, status)
	waitSent(sent.Load() + 5)
	close(stop)
	<-done

	assert.Zero(t, failed.Load(), "no provisioning request failed during the rotation (%d sent)", sent.Load())
	assert.GreaterOrEqual(t, sent.Load(), int64(20))
	status, _ = env.scimDo(t, oldToken, http.MethodGet, "/Users?count=1", "")
	assert.Equal(t, http.StatusUnauthorized, status, "the revoked token is refused")
	status, _ = env.scimDo(t, newToken, http.MethodGet, "/Users?count=1", "")
	assert.Equal(t, http.StatusOK, status)
}
