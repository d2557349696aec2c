package propagation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/require"
)

const (
	testIssuer   = "https://gatehouse.example.com"
	testAudience = "https://warehouse.example.com"
)

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

type testKey struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func newTestKey(t testing.TB, kid string) testKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return testKey{kid: kid, priv: priv}
}

// publicJWK returns the public JWK with kid and alg ES256.
func (k testKey) publicJWK(t testing.TB) jwk.Key {
	t.Helper()
	pk, err := jwk.FromRaw(&k.priv.PublicKey)
	require.NoError(t, err)
	require.NoError(t, pk.Set(jwk.KeyIDKey, k.kid))
	require.NoError(t, pk.Set(jwk.AlgorithmKey, jwa.ES256))
	require.NoError(t, pk.Set(jwk.KeyUsageKey, "sig"))
	return pk
}

func keySetOf(t testing.TB, keys ...testKey) jwk.Set {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		require.NoError(t, set.AddKey(k.publicJWK(t)))
	}
	return set
}

func jwksJSON(t testing.TB, keys ...testKey) []byte {
	t.Helper()
	b, err := json.Marshal(keySetOf(t, keys...))
	require.NoError(t, err)
	return b
}

// validClaims are RFC 9068 / CONTRACT.md claims valid at now, with a
// two-level act chain.
func validClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss":        testIssuer,
		"sub":        "u-123",
		"aud":        []string{testAudience, "https://lake.example.com"},
		"exp":        now.Add(time.Hour).Unix(),
		"iat":        now.Add(-time.Minute).Unix(),
		"jti":        "tok-1",
		"client_id":  "bi-tool",
		"scope":      "warehouse:read openid",
		"email":      "alice@example.com",
		"username":   "alice",
		"groups":     []string{"finance", "analysts"},
		"attributes": map[string]string{"department": "FIN"},
		"act": map[string]any{
			"sub": "svc-dashboard", "client_id": "dashboard",
			"act": map[string]any{"sub": "svc-gateway"},
		},
	}
}

// mintToken builds an RFC 9068 access token with jwx: header typ at+jwt,
// kid, alg ES256. hdr and claims mutators change one thing.
func mintToken(t testing.TB, k testKey, now time.Time, hdr func(jws.Headers), cl func(map[string]any)) string {
	t.Helper()
	c := validClaims(now)
	if cl != nil {
		cl(c)
	}
	payload, err := json.Marshal(c)
	require.NoError(t, err)
	h := jws.NewHeaders()
	require.NoError(t, h.Set(jws.TypeKey, "at+jwt"))
	require.NoError(t, h.Set(jws.KeyIDKey, k.kid))
	if hdr != nil {
		hdr(h)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.ES256, k.priv, jws.WithProtectedHeaders(h)))
	require.NoError(t, err)
	return string(tok)
}

// rawToken assembles a token from a header map and claims, with signature
// sig(signingInput); used for algorithms jwx refuses to sign with.
func rawToken(t testing.TB, header map[string]any, claims map[string]any, sig func([]byte) []byte) string {
	t.Helper()
	hb, err := json.Marshal(header)
	require.NoError(t, err)
	pb, err := json.Marshal(claims)
	require.NoError(t, err)
	enc := base64.RawURLEncoding
	in := enc.EncodeToString(hb) + "." + enc.EncodeToString(pb)
	return in + "." + enc.EncodeToString(sig([]byte(in)))
}

func hs256(key []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		return m.Sum(nil)
	}
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func newTestVerifier(t testing.TB, ks KeySet, mut func(*VerifierConfig)) *Verifier {
	t.Helper()
	cfg := VerifierConfig{Issuer: testIssuer, Audience: testAudience, KeySet: ks, Now: fixedClock(testNow)}
	if mut != nil {
		mut(&cfg)
	}
	v, err := NewVerifier(cfg)
	require.NoError(t, err)
	return v
}
