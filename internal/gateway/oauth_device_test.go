package gateway_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/jwtpeers"
	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// signIn creates a portal session for the user and returns its cookie
// value.
func (e *flowEnv) signIn(t *testing.T, userID string) string {
	t.Helper()
	id := rand.Text()
	now := time.Now()
	require.NoError(t, e.store.CreateSession(t.Context(), sp.Session{
		ID: id, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(time.Hour), AuthnInstant: now, Method: "saml",
	}))
	return id
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// decideOnPage plays the signed-in user on /device: opens the
// verification_uri_complete, reads the consent form and submits decision.
// It returns the result page's body.
func (e *flowEnv) decideOnPage(t *testing.T, session, complete, decision string) string {
	t.Helper()
	u, err := url.Parse(complete)
	require.NoError(t, err)
	require.Equal(t, e.base+"/device", u.Scheme+"://"+u.Host+u.Path, "verification URI")
	req, err := http.NewRequest(http.MethodGet, complete, nil)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: sp.SessionCookie, Value: session})
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(page))
	require.Contains(t, string(page), warehouse, "the consent screen names the data service")
	m := csrfField.FindSubmatch(page)
	require.NotNil(t, m, "consent form with a CSRF token")

	form := url.Values{"user_code": {u.Query().Get("user_code")}, "decision": {decision}, "csrf_token": {string(m[1])}}
	req, err = http.NewRequest(http.MethodPost, e.base+"/device", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.AddCookie(&http.Cookie{Name: sp.SessionCookie, Value: session})
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	return string(body)
}

func (e *flowEnv) oauth2Config() *oauth2.Config {
	return &oauth2.Config{
		ClientID: "cli",
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: e.base + oauth.PathDeviceAuthorization,
			TokenURL:      e.base + oauth.PathToken,
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		Scopes: []string{"warehouse.read"},
	}
}

// TestOAuthDeviceFlowGolangOAuth2 drives the device flow with
// golang.org/x/oauth2 as the CLI, the user approving on /device, then
// rotates the refresh token and shows that reusing the old one revokes
// the family.
func TestOAuthDeviceFlowGolangOAuth2(t *testing.T) {
	env := startFlowGateway(t)
	conf := env.oauth2Config()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	da, err := conf.DeviceAuth(ctx, oauth2.SetAuthURLParam("audience", warehouse))
	require.NoError(t, err)
	assert.Regexp(t, `^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`, da.UserCode)
	assert.Equal(t, env.base+"/device", da.VerificationURI)

	session := env.signIn(t, env.userID)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Let the CLI poll at least once while the request is pending.
		time.Sleep(time.Second)
		body := env.decideOnPage(t, session, da.VerificationURIComplete, "approve")
		assert.Contains(t, body, "Device approved")
	}()
	tok, err := conf.DeviceAccessToken(ctx, da)
	<-done
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	claims, err := jwt.ParseInsecure([]byte(tok.AccessToken))
	require.NoError(t, err)
	assert.Equal(t, env.userID, claims.Subject())
	assert.Equal(t, []string{warehouse}, claims.Audience())
	scope, _ := claims.Get("scope")
	assert.Equal(t, "warehouse.read", scope)
	cid, _ := claims.Get("client_id")
	assert.Equal(t, "cli", cid)

	// The approved code is spent.
	_, err = conf.DeviceAccessToken(ctx, da)
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "invalid_grant", re.ErrorCode)

	// Refresh rotates; the first refresh token is then spent, and
	// presenting it again revokes the family, the new one included.
	refresh := func(rt string) (int, map[string]any) {
		return env.post(t, oauth.PathToken, "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"cli"}})
	}
	status, body := refresh(tok.RefreshToken)
	require.Equal(t, http.StatusOK, status, body)
	second := body["refresh_token"].(string)
	require.NotEqual(t, tok.RefreshToken, second)
	assert.NotEmpty(t, body["access_token"])

	status, body = refresh(tok.RefreshToken)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])
	assert.NotContains(t, body, "access_token")
	status, body = refresh(second)
	assert.Equal(t, http.StatusBadRequest, status, "the family is revoked")
	assert.Equal(t, "invalid_grant", body["error"])

	var types []string
	for _, ev := range env.auditEvents(t, "client_id=cli") {
		types = append(types, ev["type"].(string)+"/"+ev["outcome"].(string))
	}
	assert.Subset(t, types, []string{"oauth.device_authorization/success", "oauth.device_decision/success", "oauth.token/success", "oauth.token/failure"})
}

func TestOAuthDeviceFlowDenied(t *testing.T) {
	env := startFlowGateway(t)
	conf := env.oauth2Config()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	da, err := conf.DeviceAuth(ctx, oauth2.SetAuthURLParam("audience", warehouse))
	require.NoError(t, err)
	body := env.decideOnPage(t, env.signIn(t, env.userID), da.VerificationURIComplete, "deny")
	assert.Contains(t, body, "Request denied")
	_, err = conf.DeviceAccessToken(ctx, da)
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "access_denied", re.ErrorCode)
}

func TestOAuthDeviceFlowPendingAndSlowDown(t *testing.T) {
	env := startFlowGateway(t)
	status, body := env.post(t, oauth.PathDeviceAuthorization, "", url.Values{"client_id": {"cli"}, "audience": {warehouse}})
	require.Equal(t, http.StatusOK, status, body)
	poll := func() (int, map[string]any) {
		return env.post(t, oauth.PathToken, "", url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {body["device_code"].(string)}, "client_id": {"cli"}})
	}
	status, first := poll()
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "authorization_pending", first["error"])
	status, second := poll()
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "slow_down", second["error"], "polled again at once")

	// Another client cannot redeem the code, nor can an unknown one.
	status, other := env.post(t, oauth.PathToken, "agent:s3cret", url.Values{"grant_type": {oauth.GrantDeviceCode}, "device_code": {body["device_code"].(string)}})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, []any{"unauthorized_client", "invalid_grant"}, other["error"])
	assert.NotContains(t, other, "access_token")
}

// TestOAuthDeviceFlowOpenIDClient drives the device flow with
// openid-client as a public client; the user approves on /device while it
// polls.
func TestOAuthDeviceFlowOpenIDClient(t *testing.T) {
	ok, hint := jwtpeers.ExchangeInstalled()
	testpeer.Require(t, "peer openid-client", ok, hint)
	env := startFlowGateway(t)
	session := env.signIn(t, env.userID)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	res, err := jwtpeers.DeviceFlow(ctx, jwtpeers.DeviceRequest{Issuer: env.base, ClientID: "cli", Audience: warehouse, Scope: "warehouse.read"},
		func(da jwtpeers.DeviceAuthorization) error {
			if da.VerificationURIComplete == "" {
				return errors.New("no verification_uri_complete")
			}
			body := env.decideOnPage(t, session, da.VerificationURIComplete, "approve")
			if !strings.Contains(body, "Device approved") {
				return errors.New("not approved: " + body)
			}
			return nil
		})
	require.NoError(t, err)
	require.True(t, res.Accepted, "%+v", res)
	assert.NotEmpty(t, res.RefreshToken)
	assert.Equal(t, "warehouse.read", res.Scope)
	claims, err := jwt.ParseInsecure([]byte(res.AccessToken))
	require.NoError(t, err)
	assert.Equal(t, env.userID, claims.Subject())
}
