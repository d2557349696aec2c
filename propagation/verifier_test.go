package propagation

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVerifyValidToken(t *testing.T) {
	k := newTestKey(t, "k1")
	ks, err := NewStaticKeySet(keySetOf(t, k))
	require.NoError(t, err)
	v := newTestVerifier(t, ks, func(c *VerifierConfig) { c.RequiredScopes = []string{"warehouse:read"} })

	id, err := v.Verify(context.Background(), mintToken(t, k, testNow, nil, nil))
	require.NoError(t, err)
	assert.Equal(t, &Identity{
		Subject:    "u-123",
		UserName:   "alice",
		Email:      "alice@example.com",
		Groups:     []string{"finance", "analysts"},
		Attributes: map[string]string{"department": "FIN"},
		Scopes:     []string{"warehouse:read", "openid"},
		ClientID:   "bi-tool",
		Audience:   []string{testAudience, "https://lake.example.com"},
		Actor: &Actor{Subject: "svc-dashboard", ClientID: "dashboard",
			Actor: &Actor{Subject: "svc-gateway"}},
		IssuedAt:  testNow.Add(-time.Minute),
		ExpiresAt: testNow.Add(time.Hour),
		TokenID:   "tok-1",
	}, id)
	assert.True(t, id.HasScope("warehouse:read"))
	assert.False(t, id.HasScope("warehouse:write"))
	assert.True(t, id.InGroup("finance"))
	assert.False(t, id.InGroup("hr"))
}

func TestVerifyAcceptedVariants(t *testing.T) {
	k := newTestKey(t, "k1")
	ks, err := NewStaticKeySet(keySetOf(t, k))
	require.NoError(t, err)
	v := newTestVerifier(t, ks, nil)
	tests := []struct {
		name string
		hdr  func(jws.Headers)
		cl   func(map[string]any)
	}{
		{"media type typ", func(h jws.Headers) { _ = h.Set(jws.TypeKey, "application/at+jwt") }, nil},
		{"upper-case typ", func(h jws.Headers) { _ = h.Set(jws.TypeKey, "AT+JWT") }, nil},
		{"string aud", nil, func(c map[string]any) { c["aud"] = testAudience }},
		{"no act", nil, func(c map[string]any) { delete(c, "act") }},
		{"expired within skew", nil, func(c map[string]any) { c["exp"] = testNow.Add(-30 * time.Second).Unix() }},
		{"jku ignored", func(h jws.Headers) { _ = h.Set(jws.JWKSetURLKey, "https://attacker.example/jwks") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), mintToken(t, k, testNow, tt.hdr, tt.cl))
			require.NoError(t, err)
			assert.Equal(t, "u-123", id.Subject)
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	k := newTestKey(t, "k1")
	rogue := newTestKey(t, "k1") // same kid, key never published
	stranger := newTestKey(t, "k9")
	ks, err := NewStaticKeySet(keySetOf(t, k))
	require.NoError(t, err)
	v := newTestVerifier(t, ks, func(c *VerifierConfig) { c.RequiredScopes = []string{"warehouse:read"} })
	pubJSON, err := json.Marshal(k.publicJWK(t))
	require.NoError(t, err)

	mint := func(hdr func(jws.Headers), cl func(map[string]any)) func(t *testing.T) string {
		return func(t *testing.T) string { return mintToken(t, k, testNow, hdr, cl) }
	}
	del := func(name string) func(map[string]any) { return func(c map[string]any) { delete(c, name) } }
	set := func(name string, val any) func(map[string]any) { return func(c map[string]any) { c[name] = val } }

	tests := []struct {
		name   string
		token  func(t *testing.T) string
		reason Reason
	}{
		{"another audience", mint(nil, set("aud", "https://other.example.com")), ReasonAudience},
		{"expired", mint(nil, func(c map[string]any) {
			c["exp"] = testNow.Add(-2 * time.Minute).Unix()
			c["iat"] = testNow.Add(-time.Hour).Unix()
		}), ReasonExpired},
		{"signed by a key not in the set", func(t *testing.T) string { return mintToken(t, rogue, testNow, nil, nil) }, ReasonSignature},
		{"unknown kid", func(t *testing.T) string { return mintToken(t, stranger, testNow, nil, nil) }, ReasonUnknownKey},
		{"jku to attacker keys", func(t *testing.T) string {
			return mintToken(t, stranger, testNow, func(h jws.Headers) {
				_ = h.Set(jws.JWKSetURLKey, "https://attacker.example/jwks")
			}, nil)
		}, ReasonUnknownKey},
		{"embedded jwk of attacker", func(t *testing.T) string {
			return mintToken(t, stranger, testNow, func(h jws.Headers) { _ = h.Set(jws.JWKKey, stranger.publicJWK(t)) }, nil)
		}, ReasonUnknownKey},
		{"alg none", func(t *testing.T) string {
			return rawToken(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": "k1"}, validClaims(testNow),
				func([]byte) []byte { return []byte("x") })
		}, ReasonAlgorithm},
		{"HS256 keyed with the public key", func(t *testing.T) string {
			return rawToken(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": "k1"}, validClaims(testNow), hs256(pubJSON))
		}, ReasonAlgorithm},
		{"alg missing", func(t *testing.T) string {
			return rawToken(t, map[string]any{"typ": "at+jwt", "kid": "k1"}, validClaims(testNow), func([]byte) []byte { return []byte("x") })
		}, ReasonAlgorithm},
		{"typ missing", mint(func(h jws.Headers) { _ = h.Remove(jws.TypeKey) }, nil), ReasonType},
		{"typ JWT", mint(func(h jws.Headers) { _ = h.Set(jws.TypeKey, "JWT") }, nil), ReasonType},
		{"crit", mint(func(h jws.Headers) { _ = h.Set(jws.CriticalKey, []string{"exp"}) }, nil), ReasonCrit},
		{"b64 header", mint(func(h jws.Headers) { _ = h.Set("b64", true) }, nil), ReasonCrit},
		{"iss wrong", mint(nil, set("iss", "https://evil.example.com")), ReasonIssuer},
		{"iss missing", mint(nil, del("iss")), ReasonIssuer},
		{"sub missing", mint(nil, del("sub")), ReasonMissingClaim},
		{"client_id missing", mint(nil, del("client_id")), ReasonMissingClaim},
		{"exp missing", mint(nil, del("exp")), ReasonMissingClaim},
		{"iat missing", mint(nil, del("iat")), ReasonMissingClaim},
		{"jti missing", mint(nil, del("jti")), ReasonMissingClaim},
		{"sub not a string", mint(nil, set("sub", 42)), ReasonClaims},
		{"groups not strings", mint(nil, set("groups", []any{1})), ReasonClaims},
		{"act without sub", mint(nil, set("act", map[string]any{"client_id": "x"})), ReasonClaims},
		{"nbf in the future", mint(nil, set("nbf", testNow.Add(5*time.Minute).Unix())), ReasonNotYetValid},
		{"iat in the future", mint(nil, set("iat", testNow.Add(5*time.Minute).Unix())), ReasonIssuedInFuture},
		{"lifetime too long", mint(nil, set("exp", testNow.Add(13*time.Hour).Unix())), ReasonLifetime},
		{"oversized", mint(nil, set("pad", strings.Repeat("a", 17<<10))), ReasonTooLarge},
		{"missing required scope", mint(nil, set("scope", "openid")), ReasonInsufficientScope},
		{"tampered payload", func(t *testing.T) string {
			tok := mintToken(t, k, testNow, nil, nil)
			parts := strings.Split(tok, ".")
			c := validClaims(testNow)
			c["sub"] = "admin"
			b, err := json.Marshal(c)
			require.NoError(t, err)
			parts[1] = base64.RawURLEncoding.EncodeToString(b)
			return strings.Join(parts, ".")
		}, ReasonSignature},
		{"two parts", func(t *testing.T) string {
			tok := mintToken(t, k, testNow, nil, nil)
			return tok[:strings.LastIndex(tok, ".")]
		}, ReasonMalformed},
		{"padded base64", func(t *testing.T) string { return mintToken(t, k, testNow, nil, nil) + "=" }, ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Positive control: the unmodified token passes this verifier.
			_, err := v.Verify(context.Background(), mintToken(t, k, testNow, nil, nil))
			require.NoError(t, err)

			id, err := v.Verify(context.Background(), tt.token(t))
			require.Error(t, err)
			assert.Nil(t, id)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.reason, ve.Reason, "detail: %v", err)
			if tt.reason == ReasonInsufficientScope {
				assert.ErrorIs(t, err, ErrInsufficientScope)
				assert.NotErrorIs(t, err, ErrInvalidToken)
			} else {
				assert.ErrorIs(t, err, ErrInvalidToken)
			}
		})
	}
}

func TestVerifyKeyAlgorithmBinding(t *testing.T) {
	k := newTestKey(t, "k1")
	tok := mintToken(t, k, testNow, nil, nil)

	// Positive control: the key with alg ES256 verifies.
	ks, err := NewStaticKeySet(keySetOf(t, k))
	require.NoError(t, err)
	_, err = newTestVerifier(t, ks, nil).Verify(context.Background(), tok)
	require.NoError(t, err)

	// The same key published as ES384: never used with ES256.
	pk := k.publicJWK(t)
	require.NoError(t, pk.Set(jwk.AlgorithmKey, jwa.ES384))
	set := jwk.NewSet()
	require.NoError(t, set.AddKey(pk))
	_, err = NewStaticKeySet(set)
	require.Error(t, err, "P-256 key with alg ES384 is unusable")

	// The same key without alg is skipped: no usable key.
	pk = k.publicJWK(t)
	require.NoError(t, pk.Remove(jwk.AlgorithmKey))
	set = jwk.NewSet()
	require.NoError(t, set.AddKey(pk))
	_, err = NewStaticKeySet(set)
	require.Error(t, err)

	// A symmetric key with alg HS256 is skipped.
	sym, err := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	require.NoError(t, sym.Set(jwk.AlgorithmKey, jwa.HS256))
	set = jwk.NewSet()
	require.NoError(t, set.AddKey(sym))
	_, err = NewStaticKeySet(set)
	require.Error(t, err)
}

func TestNewVerifierConfig(t *testing.T) {
	ks, err := NewStaticKeySet(keySetOf(t, newTestKey(t, "k1")))
	require.NoError(t, err)
	valid := VerifierConfig{Issuer: testIssuer, Audience: testAudience, KeySet: ks}
	_, err = NewVerifier(valid)
	require.NoError(t, err)
	for name, mut := range map[string]func(*VerifierConfig){
		"no issuer":      func(c *VerifierConfig) { c.Issuer = "" },
		"no audience":    func(c *VerifierConfig) { c.Audience = "" },
		"no key set":     func(c *VerifierConfig) { c.KeySet = nil },
		"negative skew":  func(c *VerifierConfig) { c.ClockSkew = -time.Second },
		"bad scope name": func(c *VerifierConfig) { c.RequiredScopes = []string{"a b"} },
	} {
		t.Run(name, func(t *testing.T) {
			c := valid
			mut(&c)
			_, err := NewVerifier(c)
			require.Error(t, err)
		})
	}
}

func TestValidationErrorUnwrap(t *testing.T) {
	err := error(&ValidationError{Reason: ReasonKeysUnavailable, Err: ErrKeySetUnavailable})
	assert.True(t, errors.Is(err, ErrInvalidToken))
	assert.True(t, errors.Is(err, ErrKeySetUnavailable))
	assert.False(t, errors.Is(err, ErrInsufficientScope))
}

func FuzzVerify(f *testing.F) {
	k := newTestKey(f, "k1")
	ks, err := NewStaticKeySet(keySetOf(f, k))
	require.NoError(f, err)
	v := newTestVerifier(f, ks, nil)
	valid := mintToken(f, k, testNow, nil, nil)
	f.Add(valid)
	f.Add(mintToken(f, k, testNow, func(h jws.Headers) { _ = h.Set(jws.CriticalKey, []string{"x"}) }, nil))
	f.Add(mintToken(f, k, testNow, nil, func(c map[string]any) { c["aud"] = 5 }))
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add("e30.e30.e30")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		id, err := v.Verify(context.Background(), raw)
		if err != nil {
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.Nil(t, id)
			return
		}
		require.NotEmpty(t, id.Subject)
		require.Contains(t, id.Audience, testAudience)
	})
}
