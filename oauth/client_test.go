package oauth

import (
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseBasic(t *testing.T) {
	id, secret, err := parseBasic(basicAuth("a:b", "p:%&"))
	require.NoError(t, err)
	assert.Equal(t, "a:b", id)
	assert.Equal(t, "p:%&", secret)
	for _, h := range []string{
		"Bearer x",
		"Basic !!!",
		"Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte(":x")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("a%zz:x")),
	} {
		_, _, err := parseBasic(h)
		assert.Error(t, err, h)
	}
}

func FuzzParseBasic(f *testing.F) {
	f.Add(basicAuth("bi", "s3cret&="))
	f.Add("Basic Og==")
	f.Add("basic YTpi")
	f.Add("Basic %%%")
	f.Fuzz(func(t *testing.T, h string) {
		id, _, err := parseBasic(h)
		if err == nil && id == "" {
			t.Fatal("empty client_id accepted")
		}
	})
}

// TestPrivateKeyJWT starts from a valid client assertion and changes one
// thing per case.
func TestPrivateKeyJWT(t *testing.T) {
	f := newTokenFixture(t)
	tests := []struct {
		name string
		mod  func(s *tokenSpec, r *tokenReq)
		ok   bool
	}{
		{"valid", func(*tokenSpec, *tokenReq) {}, true},
		{"valid with client_id", func(_ *tokenSpec, r *tokenReq) { r.form.Set("client_id", "pk") }, true},
		{"client_id of another client", func(_ *tokenSpec, r *tokenReq) { r.form.Set("client_id", "bi") }, false},
		{"aud is the issuer, not the token endpoint", func(s *tokenSpec, _ *tokenReq) { s.claims["aud"] = ghIssuer }, false},
		{"sub differs from iss", func(s *tokenSpec, _ *tokenReq) { s.claims["sub"] = "someone" }, false},
		{"lifetime too long", func(s *tokenSpec, _ *tokenReq) { s.claims["exp"] = testNow.Add(time.Hour).Unix() }, false},
		{"expired", func(s *tokenSpec, _ *tokenReq) { s.claims["exp"] = testNow.Add(-5 * time.Minute).Unix() }, false},
		{"no jti", func(s *tokenSpec, _ *tokenReq) { delete(s.claims, "jti") }, false},
		{"signed by another key", func(s *tokenSpec, _ *tokenReq) {
			s.header["alg"] = "ES256"
			s.alg, s.key = jwa.ES256, f.k.ec
		}, false},
		{"wrong assertion type", func(_ *tokenSpec, r *tokenReq) { r.form.Set("client_assertion_type", "urn:x") }, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &tokenSpec{
				header: map[string]any{"alg": "EdDSA", "kid": "pk1"},
				claims: map[string]any{"iss": "pk", "sub": "pk", "aud": ghTokenURL, "jti": "case-" + string(rune('a'+i)),
					"iat": testNow.Unix(), "exp": testNow.Add(time.Minute).Unix()},
				alg: jwa.EdDSA, key: f.k.ed,
			}
			r := f.validExchange()
			r.header = nil
			r.form.Set("client_assertion_type", ClientAssertionTypeJWT)
			tc.mod(s, r)
			r.form.Set("client_assertion", s.sign(t))
			rec := f.do(r)
			if tc.ok {
				requireIssued(t, f, rec)
				return
			}
			assert.Equal(t, http.StatusUnauthorized, rec.Code, rec.Body.String())
			assert.Equal(t, string(ErrInvalidClient), decode(t, rec)["error"])
		})
	}
}
