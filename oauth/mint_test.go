package oauth

import (
	"context"
	"crypto"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMintValidateRoundTrip(t *testing.T) {
	k := loadKeys(t)
	for _, tc := range []struct {
		kid string
		alg jwa.SignatureAlgorithm
		key crypto.Signer
	}{
		{"ec1", jwa.ES256, k.ec},
		{"rsa1", jwa.RS256, k.rsa},
		{"ed1", jwa.EdDSA, k.ed},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			m, err := NewMinter(MinterConfig{Issuer: testIssuer, Signer: StaticSigner{KID: tc.kid, Alg: tc.alg, Key: tc.key},
				Now: func() time.Time { return testNow }})
			require.NoError(t, err)
			raw, exp, err := m.Mint(context.Background(), AccessTokenClaims{
				Subject: "user-1", Audience: []string{testAudience}, ClientID: "bi-tool",
				Scope: []string{"warehouse:read", "warehouse:write"}, Email: "ada@example.com", Username: "ada",
				Groups: []string{"engineering"},
				Act:    &Actor{Subject: "svc-1", ClientID: "bi-tool", Act: &Actor{Subject: "svc-0"}},
				Extra:  map[string]any{"tenant": "t1"},
			})
			require.NoError(t, err)
			assert.Equal(t, testNow.Add(time.Hour), exp)

			msg, err := jws.Parse([]byte(raw))
			require.NoError(t, err)
			h := msg.Signatures()[0].ProtectedHeaders()
			assert.Equal(t, "at+jwt", h.Type())
			assert.Equal(t, tc.kid, h.KeyID())
			assert.Equal(t, tc.alg, h.Algorithm())

			v := newTestValidator(t, k, nil)
			tok, err := v.Validate(context.Background(), raw)
			require.NoError(t, err)
			assert.Equal(t, "user-1", tok.Subject())
			assert.Equal(t, []string{testAudience}, tok.Audience())
			assert.Equal(t, exp, tok.Expiration())
			assert.Equal(t, testNow, tok.IssuedAt())
			assert.Len(t, tok.JwtID(), 22) // 128 bits, base64url
			claims := tok.PrivateClaims()
			assert.Equal(t, "bi-tool", claims["client_id"])
			assert.Equal(t, "warehouse:read warehouse:write", claims["scope"])
			assert.Equal(t, "ada@example.com", claims["email"])
			assert.Equal(t, "ada", claims["username"])
			assert.Equal(t, []any{"engineering"}, claims["groups"])
			assert.Equal(t, "t1", claims["tenant"])
			assert.Equal(t, map[string]any{"sub": "svc-1", "client_id": "bi-tool", "act": map[string]any{"sub": "svc-0"}}, claims["act"])

			// Two tokens never share a jti.
			raw2, _, err := m.Mint(context.Background(), AccessTokenClaims{Subject: "user-1", Audience: []string{testAudience}, ClientID: "bi-tool"})
			require.NoError(t, err)
			tok2, err := v.Validate(context.Background(), raw2)
			require.NoError(t, err)
			assert.NotEqual(t, tok.JwtID(), tok2.JwtID())
			assert.Equal(t, []any{}, tok2.PrivateClaims()["groups"])
			assert.NotContains(t, tok2.PrivateClaims(), "email")
			assert.NotContains(t, tok2.PrivateClaims(), "act")
		})
	}
}

func TestMintRejects(t *testing.T) {
	k := loadKeys(t)
	valid := func() AccessTokenClaims {
		return AccessTokenClaims{Subject: "u", Audience: []string{"a"}, ClientID: "c", Scope: []string{"s"}}
	}
	ok := StaticSigner{KID: "ec1", Alg: jwa.ES256, Key: k.ec}
	tests := []struct {
		name   string
		signer Signer
		mod    func(*AccessTokenClaims)
		fail   bool
	}{
		{name: "valid", signer: ok, mod: func(*AccessTokenClaims) {}},
		{name: "ES256 alg with RSA key", signer: StaticSigner{KID: "x", Alg: jwa.ES256, Key: k.rsa}, mod: func(*AccessTokenClaims) {}, fail: true},
		{name: "ES384 alg with P-256 key", signer: StaticSigner{KID: "x", Alg: jwa.ES384, Key: k.ec}, mod: func(*AccessTokenClaims) {}, fail: true},
		{name: "HS256", signer: StaticSigner{KID: "x", Alg: jwa.HS256, Key: k.ec}, mod: func(*AccessTokenClaims) {}, fail: true},
		{name: "nil key", signer: StaticSigner{KID: "x", Alg: jwa.ES256}, mod: func(*AccessTokenClaims) {}, fail: true},
		{name: "no subject", signer: ok, mod: func(c *AccessTokenClaims) { c.Subject = "" }, fail: true},
		{name: "no audience", signer: ok, mod: func(c *AccessTokenClaims) { c.Audience = nil }, fail: true},
		{name: "no client", signer: ok, mod: func(c *AccessTokenClaims) { c.ClientID = "" }, fail: true},
		{name: "scope with space", signer: ok, mod: func(c *AccessTokenClaims) { c.Scope = []string{"a b"} }, fail: true},
		{name: "reserved extra claim", signer: ok, mod: func(c *AccessTokenClaims) { c.Extra = map[string]any{"sub": "admin"} }, fail: true},
		{name: "act without sub", signer: ok, mod: func(c *AccessTokenClaims) { c.Act = &Actor{ClientID: "x"} }, fail: true},
		{name: "act too deep", signer: ok, mod: func(c *AccessTokenClaims) {
			var a *Actor
			for range maxActDepth + 1 {
				a = &Actor{Subject: "s", Act: a}
			}
			c.Act = a
		}, fail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMinter(MinterConfig{Issuer: testIssuer, Signer: tc.signer})
			require.NoError(t, err)
			c := valid()
			tc.mod(&c)
			raw, _, err := m.Mint(context.Background(), c)
			if tc.fail {
				assert.Error(t, err)
				assert.Empty(t, raw)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 2, strings.Count(raw, "."))
		})
	}
}

func TestNewMinterConfig(t *testing.T) {
	k := loadKeys(t)
	s := StaticSigner{KID: "ec1", Alg: jwa.ES256, Key: k.ec}
	m, err := NewMinter(MinterConfig{Issuer: testIssuer, Signer: s})
	require.NoError(t, err)
	assert.Equal(t, DefaultAccessTokenLifetime, m.Lifetime())
	for name, cfg := range map[string]MinterConfig{
		"relative issuer":   {Issuer: "gatehouse", Signer: s},
		"no signer":         {Issuer: testIssuer},
		"negative lifetime": {Issuer: testIssuer, Signer: s, Lifetime: -time.Second},
	} {
		_, err := NewMinter(cfg)
		assert.Error(t, err, name)
	}
}

// BenchmarkES256 compares the floor (raw jwx ES256 sign plus verify) with
// Minter.Mint plus Validator.Validate in one run.
func BenchmarkES256(b *testing.B) {
	k := loadKeys(b)
	ctx := context.Background()
	b.Run("jwx-sign-verify", func(b *testing.B) {
		payload := []byte(`{"iss":"https://idp.example.com","sub":"user-1","aud":"gatehouse","exp":1900000000}`)
		b.ReportAllocs()
		for b.Loop() {
			signed, err := jws.Sign(payload, jws.WithKey(jwa.ES256, k.ec))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := jws.Verify(signed, jws.WithKey(jwa.ES256, &k.ec.PublicKey)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mint-validate", func(b *testing.B) {
		m, err := NewMinter(MinterConfig{Issuer: testIssuer, Signer: StaticSigner{KID: "ec1", Alg: jwa.ES256, Key: k.ec},
			Now: func() time.Time { return testNow }})
		if err != nil {
			b.Fatal(err)
		}
		v := newTestValidator(b, k, nil)
		claims := AccessTokenClaims{Subject: "user-1", Audience: []string{testAudience}, ClientID: "bi-tool",
			Scope: []string{"warehouse:read"}, Email: "ada@example.com", Username: "ada", Groups: []string{"engineering"}}
		b.ReportAllocs()
		for b.Loop() {
			raw, _, err := m.Mint(ctx, claims)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.Validate(ctx, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
