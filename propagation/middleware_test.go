package propagation

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMiddleware(t *testing.T) {
	k := newTestKey(t, "k1")
	ks, err := NewStaticKeySet(keySetOf(t, k))
	require.NoError(t, err)
	v := newTestVerifier(t, ks, func(c *VerifierConfig) { c.RequiredScopes = []string{"warehouse:read"} })
	valid := mintToken(t, k, testNow, nil, nil)
	noScope := mintToken(t, k, testNow, nil, func(c map[string]any) { c["scope"] = "openid" })
	otherAud := mintToken(t, k, testNow, nil, func(c map[string]any) { c["aud"] = "https://other.example.com" })

	type seen struct {
		id      *Identity
		headers http.Header
	}
	tests := []struct {
		name      string
		auth      []string
		target    string
		status    int
		challenge string
	}{
		{"valid", []string{"Bearer " + valid}, "/rows", http.StatusOK, ""},
		{"lower-case scheme", []string{"bearer " + valid}, "/rows", http.StatusOK, ""},
		{"no credentials", nil, "/rows", http.StatusUnauthorized, "Bearer"},
		{"token in query only", nil, "/rows?access_token=" + valid, http.StatusUnauthorized, "Bearer"},
		{"basic scheme", []string{"Basic " + valid}, "/rows", http.StatusUnauthorized, "Bearer"},
		{"two authorization headers", []string{"Bearer " + valid, "Bearer " + valid}, "/rows", http.StatusUnauthorized, "Bearer"},
		{"invalid token", []string{"Bearer " + otherAud}, "/rows", http.StatusUnauthorized, `Bearer error="invalid_token"`},
		{"garbage token", []string{"Bearer not-a-jwt"}, "/rows", http.StatusUnauthorized, `Bearer error="invalid_token"`},
		{"insufficient scope", []string{"Bearer " + noScope}, "/rows", http.StatusForbidden, `Bearer error="insufficient_scope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *seen
			h := Middleware(v, WithIdentityHeaders("X-Gatehouse-"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				id, ok := FromContext(r.Context())
				require.True(t, ok)
				got = &seen{id: id, headers: r.Header.Clone()}
				w.WriteHeader(http.StatusOK)
			}))
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			for _, a := range tt.auth {
				req.Header.Add("Authorization", a)
			}
			req.Header.Set("X-Gatehouse-User", "root")
			req.Header.Set("x-gatehouse-groups", "admins")
			req.Header.Set("X-Gatehouse-Forged-Extra", "1")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			assert.Equal(t, tt.status, rec.Code)
			// Inbound identity headers are removed on every path.
			assert.Empty(t, req.Header.Values("X-Gatehouse-Forged-Extra"))
			if tt.status != http.StatusOK {
				assert.Nil(t, got, "handler must not run")
				assert.Equal(t, tt.challenge, rec.Header().Get("WWW-Authenticate"))
				assert.Empty(t, rec.Body.String(), "no detail in the body")
				assert.Empty(t, req.Header.Get("X-Gatehouse-User"))
				assert.Empty(t, req.Header.Get("X-Gatehouse-Groups"))
				return
			}
			require.NotNil(t, got)
			assert.Equal(t, "u-123", got.id.Subject)
			assert.Equal(t, "alice", got.headers.Get("X-Gatehouse-User"))
			assert.Equal(t, "u-123", got.headers.Get("X-Gatehouse-User-Id"))
			assert.Equal(t, "alice@example.com", got.headers.Get("X-Gatehouse-Email"))
			assert.Equal(t, "finance,analysts", got.headers.Get("X-Gatehouse-Groups"))
			assert.Equal(t, "bi-tool", got.headers.Get("X-Gatehouse-Client-Id"))
			assert.Empty(t, got.headers.Get("X-Gatehouse-Forged-Extra"))
			assert.Len(t, got.headers.Values("X-Gatehouse-User"), 1)
		})
	}
}

func TestMiddlewareKeysUnavailable(t *testing.T) {
	k := newTestKey(t, "k1")
	s := newJWKSServer(t, nil)
	s.set(nil, true)
	clk := &testClock{t: testNow}
	v := remoteVerifier(t, s.srv.URL, clk, nil)
	h := Middleware(v)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("handler ran") }))
	req := httptest.NewRequest(http.MethodGet, "/rows", nil)
	req.Header.Set("Authorization", "Bearer "+mintToken(t, k, testNow, nil, nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Empty(t, rec.Body.String())

	// Positive control: once the JWKS is served (after the retry gap) the
	// same token passes.
	s.set(jwksJSON(t, k), false)
	clk.advance(61 * time.Second)
	ok := false
	h = Middleware(v)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ok = true }))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.True(t, ok)
}

func TestContextRoundTrip(t *testing.T) {
	_, ok := FromContext(t.Context())
	assert.False(t, ok)
	id := &Identity{Subject: "u"}
	got, ok := FromContext(NewContext(t.Context(), id))
	require.True(t, ok)
	assert.Same(t, id, got)
	var nilID *Identity
	assert.False(t, nilID.HasScope("x"))
	assert.False(t, nilID.InGroup("x"))
}
