package oauth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidatorSecurityClass6(t *testing.T) {
	k := loadKeys(t)
	pubDER, err := x509.MarshalPKIXPublicKey(&k.ec.PublicKey)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	tests := []struct {
		name   string
		mutate func(s *tokenSpec)
		raw    func(tok string) string // applied after signing
		cfg    func(*ValidatorConfig)
		reason string // "" = must be accepted (positive control)
	}{
		{name: "valid ES256", mutate: func(*tokenSpec) {}},
		{name: "valid RS256", mutate: func(s *tokenSpec) {
			s.header["alg"], s.header["kid"], s.alg, s.key = "RS256", "rsa1", jwa.RS256, k.rsa
		}},
		{name: "valid EdDSA", mutate: func(s *tokenSpec) {
			s.header["alg"], s.header["kid"], s.alg, s.key = "EdDSA", "ed1", jwa.EdDSA, k.ed
		}},
		{name: "valid without kid, several keys tried", mutate: func(s *tokenSpec) { delete(s.header, "kid") }},
		{name: "valid typ upper case", mutate: func(s *tokenSpec) { s.header["typ"] = "AT+JWT" }},
		{name: "valid typ with application/ prefix", mutate: func(s *tokenSpec) { s.header["typ"] = "application/at+jwt" }},
		{name: "valid aud array with one match", mutate: func(s *tokenSpec) { s.claims["aud"] = []string{"x", testAudience} }},
		{name: "valid expired within skew", mutate: func(s *tokenSpec) {
			s.claims["iat"] = testNow.Add(-20 * time.Minute).Unix()
			s.claims["exp"] = testNow.Add(-30 * time.Second).Unix()
		}},
		{name: "valid nbf within skew", mutate: func(s *tokenSpec) { s.claims["nbf"] = testNow.Add(30 * time.Second).Unix() }},
		{name: "valid lifetime exactly max", mutate: func(s *tokenSpec) { s.claims["exp"] = testNow.Add(time.Hour).Unix() }},
		{name: "valid no jti when not required", mutate: func(s *tokenSpec) { delete(s.claims, "jti") },
			cfg: func(c *ValidatorConfig) { c.RequireJTI = false }},
		{name: "valid no typ when profile has none", mutate: func(s *tokenSpec) { delete(s.header, "typ") },
			cfg: func(c *ValidatorConfig) { c.Typ = "" }},

		{name: "alg none", reason: ReasonAlgNone, mutate: func(s *tokenSpec) { s.header["alg"] = "none"; s.noSig = true }},
		{name: "alg None mixed case", reason: ReasonAlgNone, mutate: func(s *tokenSpec) { s.header["alg"] = "None"; s.noSig = true }},
		{name: "HS256 keyed with the public key PEM", reason: ReasonAlgHMAC, mutate: func(s *tokenSpec) {
			s.header["alg"], s.alg, s.key = "HS256", jwa.HS256, pubPEM
		}},
		{name: "HS256 keyed with the public key DER even if listed", reason: ReasonAlgHMAC, mutate: func(s *tokenSpec) {
			s.header["alg"], s.alg, s.key = "HS256", jwa.HS256, pubDER
		}, cfg: func(c *ValidatorConfig) {
			keys := k.set()
			keys[0].Algorithms = append(keys[0].Algorithms, jwa.HS256)
			c.Keys = keys
		}},
		{name: "RS256 key presented as PS256", reason: ReasonAlgNotAllowed, mutate: func(s *tokenSpec) {
			s.header["alg"], s.header["kid"], s.alg, s.key = "PS256", "rsa1", jwa.PS256, k.rsa
		}},
		{name: "ES256 key presented as ES384", reason: ReasonAlgNotAllowed, mutate: func(s *tokenSpec) {
			s.header["alg"] = "ES384"
		}},
		{name: "RSA key id with ES256", reason: ReasonAlgNotAllowed, mutate: func(s *tokenSpec) { s.header["kid"] = "rsa1" }},
		{name: "jku header", reason: ReasonHeaderJKU, mutate: func(s *tokenSpec) { s.header["jku"] = "https://evil.example/jwks" }},
		{name: "jwk header", reason: ReasonHeaderJWK, mutate: func(s *tokenSpec) {
			s.header["jwk"] = map[string]any{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}
		}},
		{name: "x5u header", reason: ReasonHeaderX5U, mutate: func(s *tokenSpec) { s.header["x5u"] = "https://evil.example/cert" }},
		{name: "x5c header", reason: ReasonHeaderX5C, mutate: func(s *tokenSpec) {
			s.header["x5c"] = []string{base64.StdEncoding.EncodeToString(pubDER)}
		}},
		{name: "crit header", reason: ReasonCrit, mutate: func(s *tokenSpec) { s.header["crit"] = []string{"exp"}; s.header["exp"] = 1 }},
		{name: "b64 header", reason: ReasonHeaderB64, mutate: func(s *tokenSpec) { s.header["b64"] = false }},
		{name: "cty JWT (nested)", reason: ReasonHeaderCty, mutate: func(s *tokenSpec) { s.header["cty"] = "JWT" }},
		{name: "wrong typ", reason: ReasonTyp, mutate: func(s *tokenSpec) { s.header["typ"] = "JWT" }},
		{name: "missing typ", reason: ReasonTyp, mutate: func(s *tokenSpec) { delete(s.header, "typ") }},
		{name: "missing exp", reason: ReasonExpMissing, mutate: func(s *tokenSpec) { delete(s.claims, "exp") }},
		{name: "expired beyond skew", reason: ReasonExpired, mutate: func(s *tokenSpec) {
			s.claims["iat"] = testNow.Add(-20 * time.Minute).Unix()
			s.claims["exp"] = testNow.Add(-2 * time.Minute).Unix()
		}},
		{name: "nbf in the future", reason: ReasonNotYetValid, mutate: func(s *tokenSpec) { s.claims["nbf"] = testNow.Add(5 * time.Minute).Unix() }},
		{name: "iat in the future", reason: ReasonIATFuture, mutate: func(s *tokenSpec) { s.claims["iat"] = testNow.Add(5 * time.Minute).Unix() }},
		{name: "lifetime too long", reason: ReasonLifetime, mutate: func(s *tokenSpec) { s.claims["exp"] = testNow.Add(time.Hour + time.Second).Unix() }},
		{name: "lifetime too long without iat", reason: ReasonLifetime, mutate: func(s *tokenSpec) {
			delete(s.claims, "iat")
			s.claims["exp"] = testNow.Add(3 * time.Hour).Unix()
		}},
		{name: "oversized token", reason: ReasonOversized, mutate: func(s *tokenSpec) { s.claims["pad"] = strings.Repeat("a", DefaultMaxTokenSize) }},
		{name: "oversized header", reason: ReasonHeader, mutate: func(s *tokenSpec) { s.header["pad"] = strings.Repeat("a", 4<<10) }},
		{name: "wrong iss", reason: ReasonIssuer, mutate: func(s *tokenSpec) { s.claims["iss"] = "https://idp.example.com/" }},
		{name: "missing iss", reason: ReasonIssuer, mutate: func(s *tokenSpec) { delete(s.claims, "iss") }},
		{name: "wrong aud", reason: ReasonAudience, mutate: func(s *tokenSpec) { s.claims["aud"] = "https://warehouse.example.com" }},
		{name: "missing aud", reason: ReasonAudience, mutate: func(s *tokenSpec) { delete(s.claims, "aud") }},
		{name: "missing jti when required", reason: ReasonJTI, mutate: func(s *tokenSpec) { delete(s.claims, "jti") }},
		{name: "tampered payload", reason: ReasonSignature, mutate: func(*tokenSpec) {}, raw: func(tok string) string {
			parts := strings.Split(tok, ".")
			parts[1] = b64json(t, map[string]any{"iss": testIssuer, "sub": "admin", "aud": testAudience,
				"exp": testNow.Add(30 * time.Minute).Unix(), "iat": testNow.Unix(), "jti": "j"})
			return strings.Join(parts, ".")
		}},
		{name: "tampered header", reason: ReasonSignature, mutate: func(*tokenSpec) {}, raw: func(tok string) string {
			parts := strings.Split(tok, ".")
			parts[0] = b64json(t, map[string]any{"alg": "ES256", "kid": "ec1", "typ": "at+jwt", "x": 1})
			return strings.Join(parts, ".")
		}},
		{name: "signature from an unpublished key", reason: ReasonSignature, mutate: func(s *tokenSpec) { s.key = k.ecOther }},
		{name: "unpublished key without kid", reason: ReasonSignature, mutate: func(s *tokenSpec) {
			delete(s.header, "kid")
			s.key = k.ecOther
		}},
		{name: "kid unknown", reason: ReasonUnknownKID, mutate: func(s *tokenSpec) { s.header["kid"] = "ec-next" }},
		{name: "two parts", reason: ReasonMalformed, mutate: func(*tokenSpec) {}, raw: func(tok string) string {
			return tok[:strings.LastIndex(tok, ".")]
		}},
		{name: "four parts", reason: ReasonMalformed, mutate: func(*tokenSpec) {}, raw: func(tok string) string { return tok + ".AA" }},
		{name: "whitespace", reason: ReasonMalformed, mutate: func(*tokenSpec) {}, raw: func(tok string) string { return tok + " " }},
		{name: "padded base64", reason: ReasonMalformed, mutate: func(*tokenSpec) {}, raw: func(tok string) string { return tok + "=" }},
		{name: "JWS JSON serialization", reason: ReasonMalformed, mutate: func(*tokenSpec) {}, raw: func(tok string) string {
			p := strings.Split(tok, ".")
			return `{"protected":"` + p[0] + `","payload":"` + p[1] + `","signature":"` + p[2] + `"}`
		}},
		{name: "empty signature", reason: ReasonMalformed, mutate: func(s *tokenSpec) { s.noSig = true }},
		{name: "payload is not an object", reason: ReasonClaims, mutate: func(s *tokenSpec) {}, raw: func(string) string {
			// a correctly signed token whose payload is a JSON string
			s := validSpec(k)
			in := b64json(t, s.header) + "." + base64.RawURLEncoding.EncodeToString([]byte(`"x"`))
			return signInput(t, in, s)
		}},
		{name: "nested JWS as payload", reason: ReasonClaims, mutate: func(s *tokenSpec) {}, raw: func(string) string {
			inner := validSpec(k).sign(t)
			s := validSpec(k)
			in := b64json(t, s.header) + "." + base64.RawURLEncoding.EncodeToString([]byte(inner))
			return signInput(t, in, s)
		}},
		{name: "duplicate alg member", reason: ReasonHeader, mutate: func(*tokenSpec) {}, raw: func(tok string) string {
			p := strings.Split(tok, ".")
			p[0] = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"ec1","typ":"at+jwt","alg":"none"}`))
			return strings.Join(p, ".")
		}},
		{name: "alg not a string", reason: ReasonHeader, mutate: func(s *tokenSpec) { s.header["alg"] = 1 }},
		{name: "alg missing", reason: ReasonHeader, mutate: func(s *tokenSpec) { delete(s.header, "alg") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec(k)
			tc.mutate(s)
			tok := s.sign(t)
			if tc.raw != nil {
				tok = tc.raw(tok)
			}
			v := newTestValidator(t, k, tc.cfg)
			got, err := v.Validate(context.Background(), tok)
			if tc.reason == "" {
				require.NoError(t, err)
				assert.Equal(t, "user-1", got.Subject())
				return
			}
			require.Error(t, err)
			assert.Nil(t, got)
			assert.ErrorIs(t, err, ErrInvalidToken)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.reason, ve.Reason(), "error: %v", err)
			oe := AsError(err)
			assert.Equal(t, ErrInvalidGrant, oe.Code)
			assert.Equal(t, 400, oe.Status)
		})
	}
}

func signInput(t testing.TB, input string, s *tokenSpec) string {
	t.Helper()
	c := *s
	c.noSig = false
	// reuse sign by signing the raw input directly
	parts := strings.SplitN(input, ".", 2)
	full := (&c).signRaw(t, parts[0]+"."+parts[1])
	return full
}

func (s *tokenSpec) signRaw(t testing.TB, input string) string {
	t.Helper()
	signer, err := newSigner(s.alg)
	require.NoError(t, err)
	sig, err := signer.Sign([]byte(input), s.key)
	require.NoError(t, err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestValidatorKeysUnavailable(t *testing.T) {
	k := loadKeys(t)
	tok := validSpec(k).sign(t)
	ok := newTestValidator(t, k, nil)
	_, err := ok.Validate(context.Background(), tok)
	require.NoError(t, err) // control

	v := newTestValidator(t, k, func(c *ValidatorConfig) { c.Keys = failingKeys{} })
	_, err = v.Validate(context.Background(), tok)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, ReasonKeysUnavailable, ve.Reason())
	assert.Equal(t, ErrTemporarilyUnavailable, AsError(err).Code)
}

func TestValidatorMaxSizeChecksBeforeParsing(t *testing.T) {
	k := loadKeys(t)
	tok := validSpec(k).sign(t)
	v := newTestValidator(t, k, func(c *ValidatorConfig) { c.MaxSize = len(tok) })
	_, err := v.Validate(context.Background(), tok)
	require.NoError(t, err) // control: exactly at the limit
	// one byte over, and not even a JWT: the size check comes first.
	_, err = v.Validate(context.Background(), strings.Repeat("!", len(tok)+1))
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, ReasonOversized, ve.Reason())
}

func TestValidatorUnusableKeysIgnored(t *testing.T) {
	k := loadKeys(t)
	tok := validSpec(k).sign(t)
	// The same kid, but the "public key" is raw bytes (an HMAC secret in
	// disguise) or a private key: never used.
	for name, pub := range map[string]any{"bytes": []byte("secret"), "private": k.ec} {
		t.Run(name, func(t *testing.T) {
			v := newTestValidator(t, k, func(c *ValidatorConfig) {
				c.Keys = StaticKeys{{ID: "ec1", Algorithms: []jwa.SignatureAlgorithm{jwa.ES256}, Public: pub}}
			})
			_, err := v.Validate(context.Background(), tok)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, ReasonAlgNotAllowed, ve.Reason())
		})
	}
}

func TestNewValidatorConfig(t *testing.T) {
	k := loadKeys(t)
	base := ValidatorConfig{Issuer: testIssuer, Audiences: []string{testAudience}, Keys: k.set()}
	_, err := NewValidator(base)
	require.NoError(t, err)
	for name, mod := range map[string]func(*ValidatorConfig){
		"no issuer":      func(c *ValidatorConfig) { c.Issuer = "" },
		"no audience":    func(c *ValidatorConfig) { c.Audiences = nil },
		"empty audience": func(c *ValidatorConfig) { c.Audiences = []string{""} },
		"no keys":        func(c *ValidatorConfig) { c.Keys = nil },
		"negative size":  func(c *ValidatorConfig) { c.MaxSize = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			c := base
			mod(&c)
			_, err := NewValidator(c)
			assert.Error(t, err)
		})
	}
}

func FuzzValidate(f *testing.F) {
	k := loadKeys(f)
	valid := validSpec(k).sign(f)
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("..")
	f.Add(strings.Replace(valid, ".", "..", 1))
	v := newTestValidator(f, k, nil)
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := v.Validate(context.Background(), raw)
		if err != nil {
			if tok != nil {
				t.Fatal("token returned with an error")
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Reason() == "" {
				t.Fatalf("untyped rejection: %v", err)
			}
			return
		}
		if tok.Issuer() != testIssuer {
			t.Fatalf("accepted token with iss %q", tok.Issuer())
		}
		var _ jwt.Token = tok
	})
}
