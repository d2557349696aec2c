package oauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memRevocations is an in-memory RevocationStore.
type memRevocations struct {
	mu      sync.Mutex
	revoked map[string]time.Time
}

func (m *memRevocations) Revoke(_ context.Context, jti string, exp time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revoked == nil {
		m.revoked = map[string]time.Time{}
	}
	m.revoked[jti] = exp
	return nil
}

func (m *memRevocations) IsRevoked(_ context.Context, jti string, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.revoked[jti]
	return ok && exp.After(now), nil
}

type introFixture struct {
	intro, revoke, token http.Handler
	minter               *Minter
	revs                 *memRevocations
	audit                *memAudit
}

func newIntroFixture(t *testing.T) *introFixture {
	t.Helper()
	k := loadKeys(t)
	ghKeys := StaticKeys{{ID: "gh1", Algorithms: []jwa.SignatureAlgorithm{jwa.ES256}, Public: &k.ec.PublicKey}}
	minter, err := NewMinter(MinterConfig{Issuer: ghIssuer, Signer: StaticSigner{KID: "gh1", Alg: jwa.ES256, Key: k.ec}, Now: now})
	require.NoError(t, err)
	own, err := NewValidator(ValidatorConfig{Issuer: ghIssuer, Audiences: []string{ghIssuer, "warehouse", "lake"}, Keys: ghKeys, Typ: AccessTokenType, RequireJTI: true, Now: now})
	require.NoError(t, err)
	clients := memClients{
		"bi":    {ID: "bi", SecretHash: HashSecret("s3cret&="), GrantTypes: []string{GrantTokenExchange}, Audiences: []string{"warehouse"}, Scopes: []string{"read"}},
		"wh":    {ID: "wh", SecretHash: HashSecret("wh-secret"), Audiences: []string{"warehouse"}},
		"other": {ID: "other", SecretHash: HashSecret("o-secret"), Audiences: []string{"objectstore"}},
		"cli":   {ID: "cli", Audiences: []string{"warehouse"}},
	}
	users := memUsers{"user-1": {UserName: "alice", Groups: []string{"eng"}, Active: true}}
	f := &introFixture{minter: minter, revs: &memRevocations{}, audit: &memAudit{}}
	f.intro, err = NewIntrospectionHandler(IntrospectionConfig{TokenEndpoint: ghTokenURL, Clients: clients, JTIs: &memJTIs{},
		Validator: own, Revocations: f.revs, Now: now, Audit: f.audit})
	require.NoError(t, err)
	f.revoke, err = NewRevocationHandler(RevocationConfig{TokenEndpoint: ghTokenURL, Clients: clients, JTIs: &memJTIs{},
		Validator: own, Revocations: f.revs, Now: now, Audit: f.audit})
	require.NoError(t, err)
	f.token, err = NewTokenHandler(TokenHandlerConfig{
		Issuer: ghIssuer, TokenEndpoint: ghTokenURL, Clients: clients, JTIs: &memJTIs{}, Minter: minter,
		Resolvers: map[string]SubjectResolver{
			TokenTypeAccessToken: OwnAccessTokens{Validator: own, Users: users, Revocations: f.revs},
		},
		DataServices: []DataService{{Audience: "warehouse", Scopes: []string{"read"}}},
		Now:          now,
	})
	require.NoError(t, err)
	return f
}

// mint issues a token for user-1 to client bi for aud.
func (f *introFixture) mint(t *testing.T, aud string) string {
	t.Helper()
	tok, _, err := f.minter.Mint(context.Background(), AccessTokenClaims{Subject: "user-1", Audience: []string{aud}, ClientID: "bi",
		Scope: []string{"read"}, Username: "alice", Groups: []string{"eng", "analysts"}, Act: &Actor{Subject: "svc-bot", ClientID: "bi"}})
	require.NoError(t, err)
	return tok
}

func post(h http.Handler, form url.Values, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, ghIssuer+"/oauth/x", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func (f *introFixture) introspect(t *testing.T, tok, auth string) map[string]any {
	t.Helper()
	rec := post(f.intro, url.Values{"token": {tok}, "token_type_hint": {"refresh_token"}}, auth)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	return decode(t, rec)
}

var (
	biAuth    = basicAuth("bi", "s3cret&=")
	whAuth    = basicAuth("wh", "wh-secret")
	otherAuth = basicAuth("other", "o-secret")
)

func TestIntrospectActive(t *testing.T) {
	f := newIntroFixture(t)
	tok := f.mint(t, "warehouse")
	for _, auth := range []string{biAuth, whAuth} { // client_id rule, audience rule
		m := f.introspect(t, tok, auth)
		assert.Equal(t, true, m["active"])
		assert.Equal(t, "read", m["scope"])
		assert.Equal(t, "bi", m["client_id"])
		assert.Equal(t, "alice", m["username"])
		assert.Equal(t, "Bearer", m["token_type"])
		assert.Equal(t, "user-1", m["sub"])
		assert.Equal(t, "warehouse", m["aud"])
		assert.Equal(t, ghIssuer, m["iss"])
		assert.NotEmpty(t, m["jti"])
		assert.EqualValues(t, testNow.Add(time.Hour).Unix(), m["exp"])
		assert.EqualValues(t, testNow.Unix(), m["iat"])
		assert.EqualValues(t, testNow.Unix(), m["nbf"])
		assert.Equal(t, []any{"eng", "analysts"}, m["groups"])
		assert.Equal(t, map[string]any{"sub": "svc-bot", "client_id": "bi"}, m["act"])
	}
	ev := f.audit.last()
	assert.Equal(t, AuditIntrospected, ev.Outcome)
	assert.Equal(t, "active", ev.Reason)
	assert.Equal(t, "wh", ev.ClientID)
	assert.Equal(t, "user-1", ev.Subject)
}

func TestIntrospectInactive(t *testing.T) {
	f := newIntroFixture(t)
	k := loadKeys(t)
	valid := f.mint(t, "warehouse")
	require.Equal(t, true, f.introspect(t, valid, biAuth)["active"]) // positive control

	early, err := NewMinter(MinterConfig{Issuer: ghIssuer, Signer: StaticSigner{KID: "gh1", Alg: jwa.ES256, Key: k.ec},
		Now: func() time.Time { return testNow.Add(-2 * time.Hour) }})
	require.NoError(t, err)
	expired, _, err := early.Mint(context.Background(), AccessTokenClaims{Subject: "user-1", Audience: []string{"warehouse"}, ClientID: "bi"})
	require.NoError(t, err)
	forger, err := NewMinter(MinterConfig{Issuer: ghIssuer, Signer: StaticSigner{KID: "gh1", Alg: jwa.ES256, Key: k.ecOther}, Now: now})
	require.NoError(t, err)
	forged, _, err := forger.Mint(context.Background(), AccessTokenClaims{Subject: "user-1", Audience: []string{"warehouse"}, ClientID: "bi"})
	require.NoError(t, err)
	revoked := f.mint(t, "warehouse")
	require.Equal(t, true, f.introspect(t, revoked, biAuth)["active"])
	require.Equal(t, http.StatusOK, post(f.revoke, url.Values{"token": {revoked}}, biAuth).Code)

	cases := []struct {
		name, tok, auth string
	}{
		{"expired", expired, biAuth},
		{"wrong signature", forged, biAuth},
		{"not a JWT", "not-a-jwt", biAuth},
		{"revoked", revoked, biAuth},
		{"other client's audience", valid, otherAuth},
		{"unknown audience", f.mint(t, "objectstore"), biAuth},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := post(f.intro, url.Values{"token": {tc.tok}}, tc.auth)
			require.Equal(t, http.StatusOK, rec.Code)
			assert.JSONEq(t, `{"active":false}`, rec.Body.String())
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
		})
	}
}

func TestIntrospectRequestErrors(t *testing.T) {
	f := newIntroFixture(t)
	tok := f.mint(t, "warehouse")
	ok := func() (url.Values, string) { return url.Values{"token": {tok}}, biAuth }
	form, auth := ok()
	require.Equal(t, http.StatusOK, post(f.intro, form, auth).Code) // positive control
	cases := []struct {
		name   string
		mod    func(url.Values, *string)
		code   ErrorCode
		status int
	}{
		{"no client auth", func(_ url.Values, a *string) { *a = "" }, ErrInvalidClient, 401},
		{"wrong secret", func(_ url.Values, a *string) { *a = basicAuth("bi", "nope") }, ErrInvalidClient, 401},
		{"unknown client", func(_ url.Values, a *string) { *a = basicAuth("ghost", "x") }, ErrInvalidClient, 401},
		{"public client", func(v url.Values, a *string) { *a = ""; v.Set("client_id", "cli") }, ErrInvalidClient, 401},
		{"repeated token", func(v url.Values, _ *string) { v.Add("token", tok) }, ErrInvalidRequest, 400},
		{"missing token", func(v url.Values, _ *string) { v.Del("token") }, ErrInvalidRequest, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form, auth := ok()
			tc.mod(form, &auth)
			rec := post(f.intro, form, auth)
			assert.Equal(t, tc.status, rec.Code)
			assert.Equal(t, string(tc.code), decode(t, rec)["error"])
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
		})
	}
	t.Run("client_secret_post", func(t *testing.T) {
		rec := post(f.intro, url.Values{"token": {tok}, "client_id": {"bi"}, "client_secret": {"s3cret&="}}, "")
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, true, decode(t, rec)["active"])
	})
	t.Run("GET", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, ghIssuer+"/oauth/introspect?token="+tok, nil)
		req.Header.Set("Authorization", biAuth)
		rec := httptest.NewRecorder()
		f.intro.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
		assert.Equal(t, http.MethodPost, rec.Header().Get("Allow"))
		assert.Equal(t, string(ErrInvalidRequest), decode(t, rec)["error"])
	})
	assert.Equal(t, AuditRefused, f.audit.last().Outcome)
}

func TestNewIntrospectionHandlerValidates(t *testing.T) {
	k := loadKeys(t)
	keys := StaticKeys{{ID: "gh1", Algorithms: []jwa.SignatureAlgorithm{jwa.ES256}, Public: &k.ec.PublicKey}}
	noTyp, err := NewValidator(ValidatorConfig{Issuer: ghIssuer, Audiences: []string{"warehouse"}, Keys: keys})
	require.NoError(t, err)
	atTyp, err := NewValidator(ValidatorConfig{Issuer: ghIssuer, Audiences: []string{"warehouse"}, Keys: keys, Typ: AccessTokenType})
	require.NoError(t, err)
	good := IntrospectionConfig{TokenEndpoint: ghTokenURL, Clients: memClients{}, JTIs: &memJTIs{}, Validator: atTyp, Revocations: &memRevocations{}}
	_, err = NewIntrospectionHandler(good)
	require.NoError(t, err)
	for name, mod := range map[string]func(*IntrospectionConfig){
		"no validator":     func(c *IntrospectionConfig) { c.Validator = nil },
		"validator no typ": func(c *IntrospectionConfig) { c.Validator = noTyp },
		"no revocations":   func(c *IntrospectionConfig) { c.Revocations = nil },
		"no clients":       func(c *IntrospectionConfig) { c.Clients = nil },
		"negative body":    func(c *IntrospectionConfig) { c.MaxBody = -1 },
	} {
		cfg := good
		mod(&cfg)
		_, err := NewIntrospectionHandler(cfg)
		assert.Error(t, err, name)
	}
}
