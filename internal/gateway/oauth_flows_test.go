package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// flowEnv is a gateway with every grant configured: "agent" (secret;
// token exchange and JWT bearer), "keyed" (private_key_jwt; token
// exchange), "cli" (public; device code and refresh token).
type flowEnv struct {
	base       string
	dir        string
	store      *memory.Store
	gw         *gateway.Gateway
	extKey     jwk.Key // the trusted issuer's signing key
	clientKey  jwk.Key // keyed's private_key_jwt key
	userID     string
	adminToken string
}

func startFlowGateway(t *testing.T) *flowEnv {
	t.Helper()
	dir := t.TempDir()
	srv, setHandler := lateServer(t)
	writeUpstreamIdP(t, dir, srv.URL)

	env := &flowEnv{base: srv.URL, dir: dir, extKey: newSigningJWK(t, "corp-1"), clientKey: newSigningJWK(t, "keyed-1")}
	writeJWKS(t, dir, "corp-jwks.json", env.extKey)
	writeJWKS(t, dir, "keyed-jwks.json", env.clientKey)

	cfg := loadGatewayConfig(t, dir, gatewayYAML(srv.URL, fmt.Sprintf(`  clients:
    - id: agent
      secret: s3cret
      grant_types: [%q, %q]
      audiences: [%q]
      scopes: [warehouse.read]
    - id: keyed
      jwks_file: keyed-jwks.json
      grant_types: [%q]
      audiences: [%q]
      scopes: [warehouse.read]
    - id: cli
      grant_types: [%q, refresh_token]
      audiences: [%q]
      scopes: [warehouse.read, warehouse.write]
  trusted_token_issuers:
    - name: corp
      issuer: %q
      jwks_file: corp-jwks.json
      audiences: [%q, %q]
      claim: email
      user_attribute: email
  data_services:
    - audience: %q
      scopes: [warehouse.read, warehouse.write]
`, oauth.GrantTokenExchange, oauth.GrantJWTBearer, warehouse,
		oauth.GrantTokenExchange, warehouse,
		oauth.GrantDeviceCode, warehouse,
		extIssuer, extAudience, srv.URL+"/oauth/token", warehouse)))

	env.store = memory.New()
	u, err := env.store.CreateUser(t.Context(), sp.User{UserName: "alice", Email: "alice@example.com", Groups: []string{"eng"}, Active: true})
	require.NoError(t, err)
	env.userID = u.ID
	_, err = env.store.CreateUser(t.Context(), sp.User{UserName: "mallory", Email: "mallory@example.com", Active: false})
	require.NoError(t, err)

	env.gw, err = gateway.New(t.Context(), cfg, gateway.Options{Store: env.store})
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.gw.Close() })
	setHandler(env.gw.Handler())
	b, err := os.ReadFile(cfg.Admin.TokenFile)
	require.NoError(t, err)
	env.adminToken = strings.TrimSpace(string(b))
	return env
}

// externalJWT is a token of the trusted issuer for email with aud and a
// fresh jti.
func (e *flowEnv) externalJWT(t *testing.T, email, aud string) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewBuilder().Issuer(extIssuer).Audience([]string{aud}).Subject("corp-"+email).
		IssuedAt(now).Expiration(now.Add(5*time.Minute)).JwtID(randomID(t)).Claim("email", email).Build()
	require.NoError(t, err)
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, e.extKey))
	require.NoError(t, err)
	return string(signed)
}

func randomID(t *testing.T) string {
	t.Helper()
	return strings.ReplaceAll(t.Name(), "/", "-") + "-" + fmt.Sprint(time.Now().UnixNano())
}

// post sends a form to path with optional basic auth ("id:secret") and
// decodes the JSON answer (nil for an empty body).
func (e *flowEnv) post(t *testing.T, path, basic string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id, secret, ok := strings.Cut(basic, ":"); ok {
		req.SetBasicAuth(id, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), path)
	var body map[string]any
	if resp.ContentLength != 0 {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	}
	return resp.StatusCode, body
}

func (e *flowEnv) exchangeJWT(t *testing.T, email string) string {
	t.Helper()
	status, body := e.post(t, oauth.PathToken, "agent:s3cret", url.Values{
		"grant_type":         {oauth.GrantTokenExchange},
		"subject_token":      {e.externalJWT(t, email, extAudience)},
		"subject_token_type": {oauth.TokenTypeJWT},
		"audience":           {warehouse},
	})
	require.Equal(t, http.StatusOK, status, body)
	return body["access_token"].(string)
}

// auditEvents queries the admin audit API.
func (e *flowEnv) auditEvents(t *testing.T, query string) []map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+"/api/v1/admin/audit?"+query, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.adminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var page struct {
		Events []map[string]any `json:"events"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	return page.Events
}

func TestOAuthIntrospectRevokeAndAudit(t *testing.T) {
	env := startFlowGateway(t)
	at := env.exchangeJWT(t, "alice@example.com")

	status, body := env.post(t, oauth.PathIntrospect, "agent:s3cret", url.Values{"token": {at}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, body["active"])
	assert.Equal(t, env.userID, body["sub"])
	assert.Equal(t, "agent", body["client_id"])

	// The access token works as a subject token until it is revoked.
	exchangeOwn := func() (int, map[string]any) {
		return env.post(t, oauth.PathToken, "agent:s3cret", url.Values{
			"grant_type":         {oauth.GrantTokenExchange},
			"subject_token":      {at},
			"subject_token_type": {oauth.TokenTypeAccessToken},
			"audience":           {warehouse},
		})
	}
	status, body = exchangeOwn()
	require.Equal(t, http.StatusOK, status, body)

	status, _ = env.post(t, oauth.PathRevoke, "agent:s3cret", url.Values{"token": {at}})
	require.Equal(t, http.StatusOK, status)

	status, body = env.post(t, oauth.PathIntrospect, "agent:s3cret", url.Values{"token": {at}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"active": false}, body)

	status, body = exchangeOwn()
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])
	assert.NotContains(t, body, "access_token")

	// Everything above is in the audit log, newest first, with no token.
	evs := env.auditEvents(t, "type=oauth.&client_id=agent")
	var types []string
	for _, ev := range evs {
		types = append(types, fmt.Sprint(ev["type"], "/", ev["outcome"]))
		raw, err := json.Marshal(ev)
		require.NoError(t, err)
		assert.NotContains(t, string(raw), at, "no token value in the audit log")
	}
	assert.Equal(t, []string{
		"oauth.token/failure", "oauth.introspect/success", "oauth.revoke/success",
		"oauth.token/success", "oauth.introspect/success", "oauth.token/success",
	}, types)
	issued := evs[len(evs)-1]
	assert.Equal(t, env.userID, issued["subject"])
	assert.Equal(t, []any{warehouse}, issued["audience"])
	assert.Equal(t, "127.0.0.1", issued["source"])
	assert.NotEmpty(t, issued["request_id"])
}

func TestOAuthJWTBearerGrant(t *testing.T) {
	env := startFlowGateway(t)
	assertion := env.externalJWT(t, "alice@example.com", env.base+"/oauth/token")
	grant := func(a string) (int, map[string]any) {
		return env.post(t, oauth.PathToken, "agent:s3cret", url.Values{
			"grant_type": {oauth.GrantJWTBearer},
			"assertion":  {a},
			"scope":      {"warehouse.read"},
		})
	}
	status, body := grant(assertion)
	require.Equal(t, http.StatusOK, status, body)
	claims, err := jwt.ParseInsecure([]byte(body["access_token"].(string)))
	require.NoError(t, err)
	assert.Equal(t, env.userID, claims.Subject())

	status, body = grant(assertion)
	assert.Equal(t, http.StatusBadRequest, status, "replayed assertion")
	assert.Equal(t, "invalid_grant", body["error"])
	assert.NotContains(t, body, "access_token")

	status, body = grant(env.externalJWT(t, "mallory@example.com", env.base+"/oauth/token"))
	assert.Equal(t, http.StatusBadRequest, status, "disabled user")
	assert.Equal(t, "invalid_grant", body["error"])

	// keyed may not use the JWT bearer grant.
	status, body = env.keyedPost(t, url.Values{"grant_type": {oauth.GrantJWTBearer}, "assertion": {env.externalJWT(t, "alice@example.com", env.base+"/oauth/token")}}, nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "unauthorized_client", body["error"])
}

// keyedPost posts to the token endpoint as "keyed" with a private_key_jwt
// client assertion; change, when set, edits the assertion's claims.
func (e *flowEnv) keyedPost(t *testing.T, form url.Values, change func(b *jwt.Builder) *jwt.Builder) (int, map[string]any) {
	t.Helper()
	now := time.Now()
	b := jwt.NewBuilder().Issuer("keyed").Subject("keyed").Audience([]string{e.base + "/oauth/token"}).
		IssuedAt(now).Expiration(now.Add(time.Minute)).JwtID(randomID(t))
	if change != nil {
		b = change(b)
	}
	tok, err := b.Build()
	require.NoError(t, err)
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, e.clientKey))
	require.NoError(t, err)
	form.Set("client_assertion_type", oauth.ClientAssertionTypeJWT)
	form.Set("client_assertion", string(signed))
	form.Set("client_id", "keyed")
	return e.post(t, oauth.PathToken, "", form)
}

func TestOAuthPrivateKeyJWTClient(t *testing.T) {
	env := startFlowGateway(t)
	exchange := func() url.Values {
		return url.Values{
			"grant_type":         {oauth.GrantTokenExchange},
			"subject_token":      {env.externalJWT(t, "alice@example.com", extAudience)},
			"subject_token_type": {oauth.TokenTypeJWT},
			"audience":           {warehouse},
		}
	}
	status, body := env.keyedPost(t, exchange(), nil)
	require.Equal(t, http.StatusOK, status, body)
	assert.NotEmpty(t, body["access_token"])

	for name, change := range map[string]func(b *jwt.Builder) *jwt.Builder{
		"wrong audience": func(b *jwt.Builder) *jwt.Builder { return b.Audience([]string{"https://elsewhere.example.com/token"}) },
		"expired":        func(b *jwt.Builder) *jwt.Builder { return b.Expiration(time.Now().Add(-time.Minute)) },
		"other subject":  func(b *jwt.Builder) *jwt.Builder { return b.Subject("agent") },
	} {
		t.Run(name, func(t *testing.T) {
			status, body := env.keyedPost(t, exchange(), change)
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.Equal(t, "invalid_client", body["error"])
			assert.NotContains(t, body, "access_token")
		})
	}
}

func TestOAuthMetadataAdvertisesEveryEndpoint(t *testing.T) {
	env := startFlowGateway(t)
	var md map[string]any
	require.NoError(t, json.Unmarshal(get(t, env.base+oauth.PathMetadata), &md))
	assert.Equal(t, env.base+"/oauth/device_authorization", md["device_authorization_endpoint"])
	assert.Equal(t, env.base+"/oauth/introspect", md["introspection_endpoint"])
	assert.Equal(t, env.base+"/oauth/revoke", md["revocation_endpoint"])
	assert.ElementsMatch(t, []any{oauth.GrantTokenExchange, oauth.GrantDeviceCode, oauth.GrantRefreshToken, oauth.GrantJWTBearer}, md["grant_types_supported"])
	assert.Contains(t, md["token_endpoint_auth_methods_supported"], oauth.AuthMethodPrivateKeyJWT)
}
