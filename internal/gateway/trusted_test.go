package gateway_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// testIssuer is one oauth.trusted_token_issuers entry of a test gateway
// and the private key its tokens are signed with.
type testIssuer struct {
	name, issuer string
	key          jwk.Key
	// jwksURL, when set, replaces the jwks_file written from key.
	jwksURL string
}

// gwOptions configure startGateway.
type gwOptions struct {
	signingAlg        string
	issuers           []testIssuer
	allowIdPInitiated bool
	jit               bool
	// now is the gateway's clock; nil means time.Now.
	now func() time.Time
}

// gwEnv is a running test gateway.
type gwEnv struct {
	base     string
	upstream *samltest.IdP // the identity source IdP
	spEntity string
	users    map[string]string // user_name -> ID
	store    *memory.Store
	logs     *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startGateway builds a gateway with an identity source IdP (metadata in a
// file), the client "agent" (secret s3cret, token exchange, audience
// warehouse), the given trusted issuers (audience extAudience, claim
// email) and the users alice (active) and mallory (disabled).
func startGateway(t *testing.T, o gwOptions) (*gwEnv, error) {
	t.Helper()
	dir := t.TempDir()
	srv, setHandler := lateServer(t)
	upstream := writeUpstreamIdP(t, dir, srv.URL)

	var issuers strings.Builder
	for _, is := range o.issuers {
		src := fmt.Sprintf("jwks_url: %q", is.jwksURL)
		if is.jwksURL == "" {
			file := is.name + "-jwks.json"
			writeJWKS(t, dir, file, is.key)
			src = "jwks_file: " + file
		}
		fmt.Fprintf(&issuers, `
    - name: %s
      issuer: %q
      %s
      audiences: [%q]
      claim: email
      user_attribute: email`, is.name, is.issuer, src, extAudience)
	}
	trusted := ""
	if len(o.issuers) > 0 {
		trusted = "\n  trusted_token_issuers:" + issuers.String()
	}
	signingAlg := o.signingAlg
	if signingAlg == "" {
		signingAlg = config.AlgES256
	}
	cfg := loadGatewayConfig(t, dir, gatewayYAML(srv.URL, fmt.Sprintf(`  signing_alg: %s
  clients:
    - id: agent
      secret: s3cret
      grant_types: [%q]
      audiences: [%q]
      scopes: [warehouse.read]%s
  data_services:
    - audience: %q
      scopes: [warehouse.read, warehouse.write]
`, signingAlg, oauth.GrantTokenExchange, warehouse, trusted, warehouse),
		fmt.Sprintf("allow_idp_initiated: %t", o.allowIdPInitiated), fmt.Sprintf("jit_provisioning: %t", o.jit)))

	st := memory.New()
	env := &gwEnv{base: srv.URL, upstream: upstream, spEntity: cfg.IdentitySource.SAML.EntityID, users: map[string]string{}, store: st, logs: &syncBuffer{}}
	for _, u := range []sp.User{
		{UserName: "alice", Email: "alice@example.com", Groups: []string{"eng"}, Active: true},
		{UserName: "mallory", Email: "mallory@example.com", Active: false},
	} {
		created, err := st.CreateUser(t.Context(), u)
		require.NoError(t, err)
		env.users[u.UserName] = created.ID
	}
	g, err := gateway.New(t.Context(), cfg, gateway.Options{
		Store:  st,
		Now:    o.now,
		Logger: slog.New(slog.NewJSONHandler(env.logs, nil)),
	})
	if err != nil {
		return nil, err
	}
	setHandler(g.Handler())
	return env, nil
}

// exchangeToken posts a token exchange for the warehouse audience as the
// client agent.
func (e *gwEnv) exchangeToken(t *testing.T, token, tokenType string) (int, map[string]any) {
	t.Helper()
	form := url.Values{
		"grant_type":         {oauth.GrantTokenExchange},
		"subject_token":      {token},
		"subject_token_type": {tokenType},
		"audience":           {warehouse},
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.base+"/oauth/token", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("agent", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// validator checks Gatehouse access tokens with the keys published at
// /oauth/jwks, each under the algorithm it is published with.
func (e *gwEnv) validator(t *testing.T) (*oauth.Validator, jwk.Set) {
	t.Helper()
	set, err := jwk.Parse(get(t, e.base+"/oauth/jwks"))
	require.NoError(t, err)
	require.Positive(t, set.Len())
	var ks []oauth.Key
	for i := range set.Len() {
		k, _ := set.Key(i)
		var raw any
		require.NoError(t, k.Raw(&raw))
		ks = append(ks, oauth.Key{ID: k.KeyID(), Algorithms: []jwa.SignatureAlgorithm{jwa.SignatureAlgorithm(k.Algorithm().String())}, Public: raw})
	}
	v, err := oauth.NewValidator(oauth.ValidatorConfig{Issuer: e.base, Audiences: []string{warehouse}, Keys: oauth.StaticKeys(ks), Typ: oauth.AccessTokenType})
	require.NoError(t, err)
	return v, set
}

// claims describe an external token; zero fields are left out.
type claims struct {
	iss, sub, email, typ string
	aud                  []string
	iat, exp             time.Time
}

// validClaims are those of a valid token of issuer naming alice, issued
// at now.
func validClaims(issuer string, now time.Time) claims {
	return claims{iss: issuer, sub: "corp-alice", email: "alice@example.com", aud: []string{extAudience}, iat: now, exp: now.Add(10 * time.Minute)}
}

// signToken signs c with key (ES256); typ goes in the header when set.
func signToken(t *testing.T, key jwk.Key, c claims) string {
	t.Helper()
	b := jwt.NewBuilder().Issuer(c.iss).Audience(c.aud)
	if c.sub != "" {
		b = b.Subject(c.sub)
	}
	if c.email != "" {
		b = b.Claim("email", c.email)
	}
	if !c.iat.IsZero() {
		b = b.IssuedAt(c.iat)
	}
	if !c.exp.IsZero() {
		b = b.Expiration(c.exp)
	}
	tok, err := b.Build()
	require.NoError(t, err)
	hdrs := jws.NewHeaders()
	if c.typ != "" {
		require.NoError(t, hdrs.Set(jws.TypeKey, c.typ))
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, key, jws.WithProtectedHeaders(hdrs)))
	require.NoError(t, err)
	return string(signed)
}

// TestTrustedIDTokenExchange: ID tokens of a trusted issuer are exchanged
// like its JWTs, under the ID token rules; each negative case changes one
// thing in a valid token.
func TestTrustedIDTokenExchange(t *testing.T) {
	corp := testIssuer{name: "corp", issuer: extIssuer, key: newSigningJWK(t, "corp-1")}
	env, err := startGateway(t, gwOptions{issuers: []testIssuer{corp}})
	require.NoError(t, err)
	v, _ := env.validator(t)

	now := time.Now()
	status, body := env.exchangeToken(t, signToken(t, corp.key, validClaims(extIssuer, now)), oauth.TokenTypeIDToken)
	require.Equal(t, http.StatusOK, status, body)
	tok, err := v.Validate(t.Context(), body["access_token"].(string))
	require.NoError(t, err)
	assert.Equal(t, env.users["alice"], tok.Subject())

	cases := []struct {
		name      string
		change    func(c *claims)
		tokenType string
		status    int
		code      string
	}{
		{"positive control: id_token", func(*claims) {}, oauth.TokenTypeIDToken, http.StatusOK, ""},
		{"typ JWT", func(c *claims) { c.typ = "JWT" }, oauth.TokenTypeIDToken, http.StatusOK, ""},
		{"typ at+jwt as id_token", func(c *claims) { c.typ = "at+jwt" }, oauth.TokenTypeIDToken, http.StatusBadRequest, "invalid_grant"},
		{"typ application/at+jwt as id_token", func(c *claims) { c.typ = "application/at+jwt" }, oauth.TokenTypeIDToken, http.StatusBadRequest, "invalid_grant"},
		{"typ at+jwt as jwt", func(c *claims) { c.typ = "at+jwt" }, oauth.TokenTypeJWT, http.StatusOK, ""},
		{"no iat as id_token", func(c *claims) { c.iat = time.Time{} }, oauth.TokenTypeIDToken, http.StatusBadRequest, "invalid_grant"},
		{"no iat as jwt", func(c *claims) { c.iat = time.Time{} }, oauth.TokenTypeJWT, http.StatusOK, ""},
		{"no sub as id_token", func(c *claims) { c.sub = "" }, oauth.TokenTypeIDToken, http.StatusBadRequest, "invalid_grant"},
		{"no sub as jwt", func(c *claims) { c.sub = "" }, oauth.TokenTypeJWT, http.StatusOK, ""},
		{"no exp", func(c *claims) { c.exp = time.Time{} }, oauth.TokenTypeIDToken, http.StatusBadRequest, "invalid_grant"},
		{"expired", func(c *claims) { c.iat, c.exp = now.Add(-20*time.Minute), now.Add(-10*time.Minute) }, oauth.TokenTypeIDToken, http.StatusBadRequest, "invalid_grant"},
		{"aud of another client", func(c *claims) { c.aud = []string{"other-client"} }, oauth.TokenTypeIDToken, http.StatusBadRequest, "invalid_grant"},
		{"aud among others", func(c *claims) { c.aud = []string{"other-client", extAudience} }, oauth.TokenTypeIDToken, http.StatusOK, ""},
		{"untrusted issuer", func(c *claims) { c.iss = "https://evil.example.com" }, oauth.TokenTypeIDToken, http.StatusBadRequest, "invalid_grant"},
		{"unknown user", func(c *claims) { c.email = "nobody@example.com" }, oauth.TokenTypeIDToken, http.StatusBadRequest, "invalid_grant"},
		{"disabled user", func(c *claims) { c.email = "mallory@example.com" }, oauth.TokenTypeIDToken, http.StatusBadRequest, "invalid_grant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validClaims(extIssuer, now)
			tc.change(&c)
			status, body := env.exchangeToken(t, signToken(t, corp.key, c), tc.tokenType)
			assert.Equal(t, tc.status, status, body)
			if tc.code != "" {
				assert.Equal(t, tc.code, body["error"], body)
				assert.NotContains(t, body, "access_token")
			} else {
				assert.NotEmpty(t, body["access_token"])
			}
		})
	}

	t.Run("untrusted key", func(t *testing.T) {
		status, body := env.exchangeToken(t, signToken(t, newSigningJWK(t, "corp-1"), validClaims(extIssuer, now)), oauth.TokenTypeIDToken)
		assert.Equal(t, http.StatusBadRequest, status, body)
		assert.Equal(t, "invalid_grant", body["error"])
	})
	t.Run("SAML token type is not a JWT", func(t *testing.T) {
		status, body := env.exchangeToken(t, signToken(t, corp.key, validClaims(extIssuer, now)), oauth.TokenTypeSAML2)
		assert.Equal(t, http.StatusBadRequest, status, body)
		assert.Equal(t, "invalid_grant", body["error"])
	})
}

// jwksServer serves a JWK Set; fail makes it answer 500.
type jwksServer struct {
	*httptest.Server
	fail  atomic.Bool
	calls atomic.Int32
}

func newJWKSServer(t *testing.T, set []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.calls.Add(1)
		if s.fail.Load() {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(set)
	}))
	t.Cleanup(s.Close)
	return s
}

// testClock is a settable clock for a gateway.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestTrustedJWKSURLFailureIsolation: two issuers with jwks_url; one JWKS
// answers 500 from the start. The gateway starts and logs it; that
// issuer's exchanges fail with temporarily_unavailable, the other's work.
// When the working issuer's JWKS fails later, its last good keys are kept
// until they are too stale, and then its exchanges fail closed too.
func TestTrustedJWKSURLFailureIsolation(t *testing.T) {
	good := testIssuer{name: "good", issuer: "https://good-idp.example.com", key: newSigningJWK(t, "good-1")}
	bad := testIssuer{name: "broken", issuer: "https://broken-idp.example.com", key: newSigningJWK(t, "broken-1")}
	goodJWKS := newJWKSServer(t, jwksOf(t, good.key))
	badJWKS := newJWKSServer(t, jwksOf(t, bad.key))
	badJWKS.fail.Store(true)
	good.jwksURL, bad.jwksURL = goodJWKS.URL+"/jwks", badJWKS.URL+"/jwks"

	clock := newTestClock(time.Now())
	env, err := startGateway(t, gwOptions{issuers: []testIssuer{good, bad}, now: clock.Now})
	require.NoError(t, err, "the gateway starts although a JWKS cannot be fetched")
	assert.Contains(t, env.logs.String(), `"issuer":"broken"`, "the startup failure is logged, naming the issuer")
	assert.NotContains(t, env.logs.String(), `"issuer":"good"`)

	exchange := func(is testIssuer) (int, map[string]any) {
		return env.exchangeToken(t, signToken(t, is.key, validClaims(is.issuer, clock.Now())), oauth.TokenTypeJWT)
	}
	status, body := exchange(good)
	require.Equal(t, http.StatusOK, status, body)
	status, body = exchange(bad)
	assert.Equal(t, http.StatusServiceUnavailable, status, body)
	assert.Equal(t, "temporarily_unavailable", body["error"])
	assert.Contains(t, env.logs.String(), `"level":"ERROR","msg":"trusted token issuer: fetching the JWK Set failed","issuer":"broken"`)

	// The broken issuer recovers: after the minimum gap between fetches,
	// its next exchange fetches the keys and succeeds.
	badJWKS.fail.Store(false)
	clock.Advance(61 * time.Second)
	status, body = exchange(bad)
	assert.Equal(t, http.StatusOK, status, body)

	// The good issuer's JWKS fails: its keys, once due for refresh, are
	// kept while not too stale, then its exchanges fail closed; the other
	// issuer is not affected.
	goodJWKS.fail.Store(true)
	clock.Advance(30 * time.Minute)
	calls := goodJWKS.calls.Load()
	status, body = exchange(good)
	assert.Equal(t, http.StatusOK, status, body, "last good keys kept")
	assert.Greater(t, goodJWKS.calls.Load(), calls, "a refresh was attempted")
	clock.Advance(45 * time.Minute)
	status, body = exchange(good)
	assert.Equal(t, http.StatusServiceUnavailable, status, body, "keys too stale")
	assert.Equal(t, "temporarily_unavailable", body["error"])
	badJWKSCalls := badJWKS.calls.Load()
	status, body = exchange(bad)
	assert.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, badJWKSCalls+1, badJWKS.calls.Load(), "its own refresh, unaffected by the other issuer")
}

// TestTrustedJWKSURLKeyRotation: a token signed with a kid the cached set
// does not hold makes the gateway fetch the set again, at most once per
// minimum gap, before the refresh interval is up.
func TestTrustedJWKSURLKeyRotation(t *testing.T) {
	k1, k2 := newSigningJWK(t, "corp-1"), newSigningJWK(t, "corp-2")
	var current atomic.Pointer[[]byte]
	set1 := jwksOf(t, k1)
	current.Store(&set1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(*current.Load()) }))
	t.Cleanup(srv.Close)
	corp := testIssuer{name: "corp", issuer: extIssuer, key: k1, jwksURL: srv.URL}
	clock := newTestClock(time.Now())
	env, err := startGateway(t, gwOptions{issuers: []testIssuer{corp}, now: clock.Now})
	require.NoError(t, err)

	status, body := env.exchangeToken(t, signToken(t, k1, validClaims(extIssuer, clock.Now())), oauth.TokenTypeJWT)
	require.Equal(t, http.StatusOK, status, body)

	// The issuer publishes k2 and signs with it. Within the minimum gap
	// after the last fetch, the unknown kid does not trigger a fetch.
	set2 := jwksOf(t, k2)
	current.Store(&set2)
	status, body = env.exchangeToken(t, signToken(t, k2, validClaims(extIssuer, clock.Now())), oauth.TokenTypeJWT)
	require.Equal(t, http.StatusBadRequest, status, body)
	assert.Equal(t, "invalid_grant", body["error"])

	// After the gap it does, well before the refresh interval.
	clock.Advance(61 * time.Second)
	status, body = env.exchangeToken(t, signToken(t, k2, validClaims(extIssuer, clock.Now())), oauth.TokenTypeJWT)
	assert.Equal(t, http.StatusOK, status, body)
	status, body = env.exchangeToken(t, signToken(t, k1, validClaims(extIssuer, clock.Now())), oauth.TokenTypeJWT)
	assert.Equal(t, http.StatusBadRequest, status, body, "k1 is no longer published")
}

// TestTrustedJWKSURLUnreachableAtStartup: the gateway starts with an
// unreachable jwks_url, logs it, and that issuer's exchanges fail with
// temporarily_unavailable.
func TestTrustedJWKSURLUnreachableAtStartup(t *testing.T) {
	corp := testIssuer{name: "corp", issuer: extIssuer, key: newSigningJWK(t, "corp-1"), jwksURL: "https://127.0.0.1:1/jwks"}
	env, err := startGateway(t, gwOptions{issuers: []testIssuer{corp}})
	require.NoError(t, err)
	assert.Contains(t, env.logs.String(), `"msg":"trusted token issuer: fetching the JWK Set failed","issuer":"corp"`)
	status, body := env.exchangeToken(t, signToken(t, corp.key, validClaims(extIssuer, time.Now())), oauth.TokenTypeJWT)
	assert.Equal(t, http.StatusServiceUnavailable, status, body)
	assert.Equal(t, "temporarily_unavailable", body["error"])
}

// TestOAuthEdDSASigning: with signing_alg EdDSA the gateway signs access
// tokens with an Ed25519 ring key and publishes it as an OKP key.
func TestOAuthEdDSASigning(t *testing.T) {
	corp := testIssuer{name: "corp", issuer: extIssuer, key: newSigningJWK(t, "corp-1")}
	env, err := startGateway(t, gwOptions{signingAlg: config.AlgEdDSA, issuers: []testIssuer{corp}})
	require.NoError(t, err)
	v, set := env.validator(t)
	require.Equal(t, 1, set.Len())
	k, _ := set.Key(0)
	assert.Equal(t, jwa.OKP, k.KeyType())
	assert.Equal(t, jwa.EdDSA.String(), k.Algorithm().String())
	var raw any
	require.NoError(t, k.Raw(&raw))
	_, isEd := raw.(ed25519.PublicKey)
	assert.True(t, isEd, "%T", raw)

	status, body := env.exchangeToken(t, signToken(t, corp.key, validClaims(extIssuer, time.Now())), oauth.TokenTypeJWT)
	require.Equal(t, http.StatusOK, status, body)
	at := body["access_token"].(string)
	msg, err := jws.Parse([]byte(at))
	require.NoError(t, err)
	assert.Equal(t, jwa.EdDSA, msg.Signatures()[0].ProtectedHeaders().Algorithm())
	tok, err := v.Validate(t.Context(), at)
	require.NoError(t, err)
	assert.Equal(t, env.users["alice"], tok.Subject())
}
