package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	ghIssuer   = "https://gatehouse.example.com"
	ghTokenURL = ghIssuer + "/oauth/token"
)

// memJTIs is an in-memory JTIStore.
type memJTIs struct {
	mu   sync.Mutex
	used map[string]time.Time
}

func (m *memJTIs) MarkJTIUsed(_ context.Context, issuer, jti string, exp, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used == nil {
		m.used = map[string]time.Time{}
	}
	k := issuer + "\x00" + jti
	if e, ok := m.used[k]; ok && e.After(now) {
		return ErrJTIReplayed
	}
	m.used[k] = exp
	return nil
}

type memClients map[string]*Client

func (m memClients) Client(_ context.Context, id string) (*Client, error) {
	c, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("client %q: %w", id, ErrUnknownClient)
	}
	return c, nil
}

type memUsers map[string]Subject

func (m memUsers) UserByID(_ context.Context, id string) (Subject, error) {
	s, ok := m[id]
	if !ok {
		return Subject{}, fmt.Errorf("user %q: %w", id, ErrUnknownUser)
	}
	return s, nil
}

// idpResolver stands in for a trusted token issuer: a strict Validator
// then a user lookup by sub.
type idpResolver struct {
	v     *Validator
	users UserLookup
}

func (r idpResolver) ResolveSubject(ctx context.Context, _ string, token string) (Subject, error) {
	tok, err := r.v.Validate(ctx, token)
	if err != nil {
		return Subject{}, err
	}
	s, err := r.users.UserByID(ctx, tok.Subject())
	if err != nil {
		return Subject{}, err
	}
	s.UserID, s.Issuer, s.JTI, s.ExpiresAt = tok.Subject(), tok.Issuer(), tok.JwtID(), tok.Expiration()
	return s, nil
}

// memAudit is an in-memory AuditSink; fail, when set, decides which
// events fail to record (they are not kept).
type memAudit struct {
	mu     sync.Mutex
	events []AuditEvent
	fail   func(AuditEvent) error
}

func (a *memAudit) Record(_ context.Context, e AuditEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		if err := a.fail(e); err != nil {
			return err
		}
	}
	a.events = append(a.events, e)
	return nil
}

// failOn makes every event with the outcome fail to record.
func (a *memAudit) failOn(outcome string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = func(e AuditEvent) error {
		if e.Outcome == outcome {
			return errors.New("audit store down")
		}
		return nil
	}
}

func (a *memAudit) issued() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, e := range a.events {
		if e.Outcome == AuditIssued {
			n++
		}
	}
	return n
}

func (a *memAudit) last() AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.events[len(a.events)-1]
}

type tokenFixture struct {
	ownV    *Validator // Gatehouse's own access tokens as subject tokens
	k       testKeys
	h       http.Handler
	minter  *Minter
	audit   *memAudit
	verify  *Validator // verifies issued tokens for the warehouse
	userTok string     // Gatehouse access token for user-1
}

func now() time.Time { return testNow }

func newTokenFixture(t testing.TB) *tokenFixture {
	t.Helper()
	k := loadKeys(t)
	ghKeys := StaticKeys{{ID: "gh1", Algorithms: []jwa.SignatureAlgorithm{jwa.ES256}, Public: &k.ec.PublicKey}}
	idpKeys := StaticKeys{{ID: "idp1", Algorithms: []jwa.SignatureAlgorithm{jwa.ES256}, Public: &k.ecOther.PublicKey}}
	minter, err := NewMinter(MinterConfig{Issuer: ghIssuer, Signer: StaticSigner{KID: "gh1", Alg: jwa.ES256, Key: k.ec}, Now: now})
	require.NoError(t, err)
	users := memUsers{
		"user-1":  {UserName: "alice", Email: "alice@example.com", Groups: []string{"eng", "analysts"}, Active: true},
		"user-2":  {UserName: "bob", Active: false},
		"svc-bot": {UserName: "svc-bot", Active: true},
	}
	own, err := NewValidator(ValidatorConfig{Issuer: ghIssuer, Audiences: []string{ghIssuer}, Keys: ghKeys, Typ: AccessTokenType, RequireJTI: true, Now: now})
	require.NoError(t, err)
	idpV, err := NewValidator(ValidatorConfig{Issuer: testIssuer, Audiences: []string{testAudience}, Keys: idpKeys, RequireJTI: true, Now: now})
	require.NoError(t, err)
	assertV, err := NewValidator(ValidatorConfig{Issuer: testIssuer, Audiences: []string{ghTokenURL}, Keys: idpKeys, RequireJTI: true, MaxLifetime: 10 * time.Minute, Now: now})
	require.NoError(t, err)
	verify, err := NewValidator(ValidatorConfig{Issuer: ghIssuer, Audiences: []string{"warehouse"}, Keys: ghKeys, Typ: AccessTokenType, RequireJTI: true, Now: now})
	require.NoError(t, err)
	audit := &memAudit{}
	h, err := NewTokenHandler(TokenHandlerConfig{
		Issuer:        ghIssuer,
		TokenEndpoint: ghTokenURL,
		Clients: memClients{
			"bi":  {ID: "bi", SecretHash: HashSecret("s3cret&="), GrantTypes: []string{GrantTokenExchange, GrantJWTBearer}, Audiences: []string{"warehouse", "lake"}, Scopes: []string{"read", "write", "admin"}},
			"cli": {ID: "cli", GrantTypes: []string{GrantTokenExchange}, Audiences: []string{"warehouse"}, Scopes: []string{"read"}},
			"pk": {ID: "pk", GrantTypes: []string{GrantTokenExchange}, Audiences: []string{"warehouse"}, Scopes: []string{"read"},
				JWKS: []Key{{ID: "pk1", Algorithms: []jwa.SignatureAlgorithm{jwa.EdDSA}, Public: k.ed.Public()}}},
			"bearer-only": {ID: "bearer-only", SecretHash: HashSecret("x"), GrantTypes: []string{GrantJWTBearer}, Audiences: []string{"warehouse"}, Scopes: []string{"read"}},
		},
		JTIs:   &memJTIs{},
		Minter: minter,
		Resolvers: map[string]SubjectResolver{
			TokenTypeAccessToken: OwnAccessTokens{Validator: own, Users: users},
			TokenTypeJWT:         idpResolver{v: idpV, users: users},
		},
		Assertions: idpResolver{v: assertV, users: users},
		DataServices: []DataService{
			{Audience: "warehouse", Scopes: []string{"read", "write"}},
			{Audience: "lake", Scopes: []string{"read"}},
			{Audience: "objectstore", Scopes: []string{"read"}},
		},
		Now:   now,
		Audit: audit,
	})
	require.NoError(t, err)
	f := &tokenFixture{k: k, h: h, minter: minter, audit: audit, verify: verify, ownV: own}
	f.userTok = f.own(t, "user-1", nil)
	return f
}

// own mints a Gatehouse access token for Gatehouse itself (aud = issuer).
func (f *tokenFixture) own(t testing.TB, sub string, act *Actor) string {
	t.Helper()
	tok, _, err := f.minter.Mint(context.Background(), AccessTokenClaims{Subject: sub, Audience: []string{ghIssuer}, ClientID: "cli", Act: act})
	require.NoError(t, err)
	return tok
}

// idp signs an external IdP token (or assertion) for sub.
func (f *tokenFixture) idp(t testing.TB, sub, aud, jti string) string {
	t.Helper()
	s := &tokenSpec{
		header: map[string]any{"alg": "ES256", "kid": "idp1", "typ": "JWT"},
		claims: map[string]any{"iss": testIssuer, "sub": sub, "aud": aud, "jti": jti,
			"iat": testNow.Unix(), "exp": testNow.Add(5 * time.Minute).Unix()},
		alg: jwa.ES256, key: f.k.ecOther,
	}
	return s.sign(t)
}

func (f *tokenFixture) clientAssertion(t testing.TB, jti string) string {
	t.Helper()
	s := &tokenSpec{
		header: map[string]any{"alg": "EdDSA", "kid": "pk1"},
		claims: map[string]any{"iss": "pk", "sub": "pk", "aud": ghTokenURL, "jti": jti,
			"iat": testNow.Unix(), "exp": testNow.Add(time.Minute).Unix()},
		alg: jwa.EdDSA, key: f.k.ed,
	}
	return s.sign(t)
}

type tokenReq struct {
	method string
	ctype  string
	form   url.Values
	header http.Header
	raw    string // body override
}

func (f *tokenFixture) validExchange() *tokenReq {
	return &tokenReq{
		method: http.MethodPost,
		ctype:  "application/x-www-form-urlencoded",
		form: url.Values{
			"grant_type":         {GrantTokenExchange},
			"subject_token":      {f.userTok},
			"subject_token_type": {TokenTypeAccessToken},
			"audience":           {"warehouse"},
			"scope":              {"read"},
		},
		header: http.Header{"Authorization": {basicAuth("bi", "s3cret&=")}},
	}
}

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func (f *tokenFixture) do(r *tokenReq) *httptest.ResponseRecorder {
	body := r.raw
	if body == "" {
		body = r.form.Encode()
	}
	req := httptest.NewRequest(r.method, ghTokenURL, strings.NewReader(body))
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m), rec.Body.String())
	return m
}

// requireIssued asserts a token exchange response.
func requireIssued(t *testing.T, f *tokenFixture, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	m := requireToken(t, rec)
	assert.Equal(t, TokenTypeAccessToken, m["issued_token_type"])
	assert.NotContains(t, m, "refresh_token")
	return m
}

// requireToken asserts a successful token response of any grant.
func requireToken(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	m := decode(t, rec)
	assert.Equal(t, "Bearer", m["token_type"])
	assert.EqualValues(t, 3600, m["expires_in"])
	assert.NotEmpty(t, m["access_token"])
	return m
}

// requireBearerGrant asserts a response of a grant other than token
// exchange: no issued_token_type.
func requireBearerGrant(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	m := requireToken(t, rec)
	assert.NotContains(t, m, "issued_token_type")
	return m
}

func TestTokenExchangeHappyPath(t *testing.T) {
	f := newTokenFixture(t)
	t.Run("own access token", func(t *testing.T) {
		m := requireIssued(t, f, f.do(f.validExchange()))
		assert.Equal(t, "read", m["scope"])
		tok, err := f.verify.Validate(context.Background(), m["access_token"].(string))
		require.NoError(t, err)
		assert.Equal(t, ghIssuer, tok.Issuer())
		assert.Equal(t, "user-1", tok.Subject())
		assert.Equal(t, []string{"warehouse"}, tok.Audience())
		assert.Equal(t, testNow.Add(time.Hour).Unix(), tok.Expiration().Unix())
		assert.Equal(t, testNow.Unix(), tok.IssuedAt().Unix())
		assert.NotEmpty(t, tok.JwtID())
		c := tok.PrivateClaims()
		assert.Equal(t, "bi", c["client_id"])
		assert.Equal(t, "read", c["scope"])
		assert.Equal(t, "alice", c["username"])
		assert.Equal(t, "alice@example.com", c["email"])
		assert.Equal(t, []any{"eng", "analysts"}, c["groups"])
		assert.NotContains(t, c, "act")
	})
	t.Run("jwt from trusted issuer, default scope, resource", func(t *testing.T) {
		r := f.validExchange()
		r.form.Set("subject_token", f.idp(t, "user-1", testAudience, "idp-jti-1"))
		r.form.Set("subject_token_type", TokenTypeJWT)
		r.form.Del("scope")
		r.form.Del("audience")
		r.form.Set("resource", "warehouse")
		r.form.Set("requested_token_type", TokenTypeJWT)
		m := requireIssued(t, f, f.do(r))
		assert.Equal(t, "read write", m["scope"]) // client ∩ service
		tok, err := f.verify.Validate(context.Background(), m["access_token"].(string))
		require.NoError(t, err)
		assert.Equal(t, "user-1", tok.Subject())
	})
	t.Run("actor token nests the subject's act", func(t *testing.T) {
		r := f.validExchange()
		r.form.Set("subject_token", f.own(t, "user-1", &Actor{Subject: "earlier", ClientID: "x"}))
		r.form.Set("actor_token", f.own(t, "svc-bot", nil))
		r.form.Set("actor_token_type", TokenTypeAccessToken)
		m := requireIssued(t, f, f.do(r))
		tok, err := f.verify.Validate(context.Background(), m["access_token"].(string))
		require.NoError(t, err)
		act, ok := tok.Get("act")
		require.True(t, ok)
		assert.Equal(t, map[string]any{"sub": "svc-bot", "client_id": "bi",
			"act": map[string]any{"sub": "earlier", "client_id": "x"}}, act)
	})
	t.Run("client_secret_post", func(t *testing.T) {
		r := f.validExchange()
		r.header = nil
		r.form.Set("client_id", "bi")
		r.form.Set("client_secret", "s3cret&=")
		requireIssued(t, f, f.do(r))
	})
	t.Run("private_key_jwt", func(t *testing.T) {
		r := f.validExchange()
		r.header = nil
		r.form.Set("client_assertion_type", ClientAssertionTypeJWT)
		r.form.Set("client_assertion", f.clientAssertion(t, "ca-1"))
		requireIssued(t, f, f.do(r))
		// the same client assertion a second time is refused
		rec := f.do(r)
		assert.Equal(t, http.StatusUnauthorized, rec.Code)
		assert.Equal(t, string(ErrInvalidClient), decode(t, rec)["error"])
	})
	t.Run("public client", func(t *testing.T) {
		r := f.validExchange()
		r.header = nil
		r.form.Set("client_id", "cli")
		requireIssued(t, f, f.do(r))
	})
}

func TestTokenExchangeRefusals(t *testing.T) {
	f := newTokenFixture(t)
	// Positive control: the unmodified request is issued.
	requireIssued(t, f, f.do(f.validExchange()))
	big := strings.Repeat("a", DefaultMaxTokenSize+1)
	tests := []struct {
		name   string
		mod    func(r *tokenReq)
		code   ErrorCode
		status int
	}{
		{"wrong secret", func(r *tokenReq) { r.header.Set("Authorization", basicAuth("bi", "wrong")) }, ErrInvalidClient, 401},
		{"unknown client", func(r *tokenReq) { r.header.Set("Authorization", basicAuth("nobody", "s3cret&=")) }, ErrInvalidClient, 401},
		{"missing client auth", func(r *tokenReq) { r.header = nil }, ErrInvalidClient, 401},
		{"confidential client without credentials", func(r *tokenReq) { r.header = nil; r.form.Set("client_id", "bi") }, ErrInvalidClient, 401},
		{"two auth methods", func(r *tokenReq) { r.form.Set("client_id", "bi"); r.form.Set("client_secret", "s3cret&=") }, ErrInvalidRequest, 400},
		{"grant not allowed for client", func(r *tokenReq) { r.header.Set("Authorization", basicAuth("bearer-only", "x")) }, ErrUnauthorizedClient, 400},
		{"unknown grant type", func(r *tokenReq) { r.form.Set("grant_type", "password") }, ErrUnsupportedGrantType, 400},
		{"audience not allowed for client", func(r *tokenReq) { r.form.Set("audience", "objectstore") }, ErrInvalidTarget, 400},
		{"unknown audience", func(r *tokenReq) { r.form.Set("audience", "nowhere") }, ErrInvalidTarget, 400},
		{"audience and resource differ", func(r *tokenReq) { r.form.Set("resource", "lake") }, ErrInvalidTarget, 400},
		{"scope escalation (client allows, service does not)", func(r *tokenReq) { r.form.Set("scope", "read admin") }, ErrInvalidScope, 400},
		{"scope escalation on narrower service", func(r *tokenReq) { r.form.Set("audience", "lake"); r.form.Set("scope", "write") }, ErrInvalidScope, 400},
		{"unknown user", func(r *tokenReq) { r.form.Set("subject_token", f.own(t, "ghost", nil)) }, ErrInvalidGrant, 400},
		{"disabled user", func(r *tokenReq) { r.form.Set("subject_token", f.own(t, "user-2", nil)) }, ErrInvalidGrant, 400},
		{"access token declared as jwt", func(r *tokenReq) { r.form.Set("subject_token_type", TokenTypeJWT) }, ErrInvalidGrant, 400},
		{"unsupported subject token type", func(r *tokenReq) { r.form.Set("subject_token_type", TokenTypeSAML2) }, ErrInvalidRequest, 400},
		{"tampered subject token", func(r *tokenReq) { r.form.Set("subject_token", f.userTok[:len(f.userTok)-4]+"AAAA") }, ErrInvalidGrant, 400},
		{"invalid actor token", func(r *tokenReq) {
			r.form.Set("actor_token", f.idp(t, "svc-bot", testAudience, "a1"))
			r.form.Set("actor_token_type", TokenTypeAccessToken)
		}, ErrInvalidGrant, 400},
		{"actor token without type", func(r *tokenReq) { r.form.Set("actor_token", f.own(t, "svc-bot", nil)) }, ErrInvalidRequest, 400},
		{"oversized subject token", func(r *tokenReq) { r.form.Set("subject_token", big) }, ErrInvalidRequest, 400},
		{"missing subject token", func(r *tokenReq) { r.form.Del("subject_token") }, ErrInvalidRequest, 400},
		{"bad requested_token_type", func(r *tokenReq) { r.form.Set("requested_token_type", TokenTypeIDToken) }, ErrInvalidRequest, 400},
		{"repeated parameter", func(r *tokenReq) { r.form.Add("audience", "warehouse") }, ErrInvalidRequest, 400},
		{"wrong content type", func(r *tokenReq) { r.ctype = "application/json" }, ErrInvalidRequest, 400},
		{"GET", func(r *tokenReq) { r.method = http.MethodGet }, ErrInvalidRequest, 405},
		{"body over cap", func(r *tokenReq) { r.raw = r.form.Encode() + "&pad=" + strings.Repeat("x", DefaultMaxTokenBody) }, ErrInvalidRequest, 400},
		{"malformed body", func(r *tokenReq) { r.raw = "grant_type=%zz" }, ErrInvalidRequest, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.validExchange()
			if r.header == nil {
				r.header = http.Header{}
			}
			tc.mod(r)
			before := f.audit.issued()
			rec := f.do(r)
			assert.Equal(t, tc.status, rec.Code, rec.Body.String())
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			m := decode(t, rec)
			assert.Equal(t, string(tc.code), m["error"])
			assert.NotContains(t, m, "access_token")
			assert.Equal(t, before, f.audit.issued(), "no token may be minted")
			last := f.audit.last()
			assert.Equal(t, AuditRefused, last.Outcome)
			assert.True(t, strings.HasPrefix(last.Reason, string(tc.code)), last.Reason)
		})
	}
}

func TestJWTBearerGrant(t *testing.T) {
	f := newTokenFixture(t)
	req := func(assertion string) *tokenReq {
		return &tokenReq{
			method: http.MethodPost,
			ctype:  "application/x-www-form-urlencoded",
			form:   url.Values{"grant_type": {GrantJWTBearer}, "assertion": {assertion}, "audience": {"lake"}},
			header: http.Header{"Authorization": {basicAuth("bi", "s3cret&=")}},
		}
	}
	a := f.idp(t, "user-1", ghTokenURL, "bearer-1")
	m := requireBearerGrant(t, f.do(req(a)))
	assert.Equal(t, "read", m["scope"])
	assert.NotContains(t, m, "refresh_token")

	rec := f.do(req(a))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, string(ErrInvalidGrant), decode(t, rec)["error"])
	assert.NotContains(t, decode(t, rec), "access_token")

	// wrong audience for an assertion (one change from a fresh valid one)
	rec = f.do(req(f.idp(t, "user-1", testAudience, "bearer-2")))
	assert.Equal(t, string(ErrInvalidGrant), decode(t, rec)["error"])
	// a fresh jti is issued again: positive control for the replay check
	requireBearerGrant(t, f.do(req(f.idp(t, "user-1", ghTokenURL, "bearer-3"))))
	// a client with one audience needs no audience parameter
	r := req(f.idp(t, "user-1", ghTokenURL, "bearer-4"))
	r.form.Del("audience")
	rec = f.do(r)
	assert.Equal(t, string(ErrInvalidTarget), decode(t, rec)["error"], "bi has two audiences")
}

func TestNewTokenHandlerValidates(t *testing.T) {
	f := newTokenFixture(t)
	_, err := NewTokenHandler(TokenHandlerConfig{Issuer: ghIssuer, TokenEndpoint: "/relative", Clients: memClients{}, JTIs: &memJTIs{}, Minter: f.minter})
	assert.Error(t, err)
	_, err = NewTokenHandler(TokenHandlerConfig{Issuer: ghIssuer, TokenEndpoint: ghTokenURL, JTIs: &memJTIs{}, Minter: f.minter})
	assert.Error(t, err)
	_, err = NewTokenHandler(TokenHandlerConfig{Issuer: ghIssuer, TokenEndpoint: ghTokenURL, Clients: memClients{}, JTIs: &memJTIs{}, Minter: f.minter})
	assert.NoError(t, err)
	assert.True(t, errors.Is(fmt.Errorf("x: %w", ErrJTIReplayed), ErrJTIReplayed))
}

func BenchmarkTokenExchange(b *testing.B) {
	f := newTokenFixture(b)
	b.Run("raw-jwx-ES256-sign-verify", func(b *testing.B) {
		key := f.k.ec
		payload := []byte(`{"sub":"user-1","aud":"warehouse"}`)
		b.ReportAllocs()
		for b.Loop() {
			s, err := jws.Sign(payload, jws.WithKey(jwa.ES256, key))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := jws.Verify(s, jws.WithKey(jwa.ES256, &key.PublicKey)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("exchange", func(b *testing.B) {
		body := f.validExchange().form.Encode()
		auth := basicAuth("bi", "s3cret&=")
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, ghTokenURL, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", auth)
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatal(rec.Body.String())
			}
		}
	})
}

// downUsers fails every lookup, as an unreachable store does.
type downUsers struct{}

func (downUsers) UserByID(context.Context, string) (Subject, error) {
	return Subject{}, errors.New("database is down")
}

// TestOwnAccessTokensUserLookupFailure: a store failure is
// temporarily_unavailable (503, retried), not invalid_grant ("unknown
// user"): the token may be fine.
func TestOwnAccessTokensUserLookupFailure(t *testing.T) {
	f := newTokenFixture(t)
	for name, tc := range map[string]struct {
		users UserLookup
		code  ErrorCode
	}{
		"store down":   {downUsers{}, ErrTemporarilyUnavailable},
		"unknown user": {memUsers{}, ErrInvalidGrant},
	} {
		t.Run(name, func(t *testing.T) {
			own := OwnAccessTokens{Validator: f.ownV, Users: tc.users}
			_, err := own.ResolveSubject(t.Context(), TokenTypeAccessToken, f.userTok)
			require.Error(t, err)
			assert.Equal(t, tc.code, AsError(err).Code)
		})
	}
	own := OwnAccessTokens{Validator: f.ownV, Users: memUsers{"user-1": {UserName: "u", Active: true}}}
	s, err := own.ResolveSubject(t.Context(), TokenTypeAccessToken, f.userTok)
	require.NoError(t, err, "positive control")
	assert.Equal(t, "user-1", s.UserID)
}
