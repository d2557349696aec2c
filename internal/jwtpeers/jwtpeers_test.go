package jwtpeers

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

const (
	dataService  = "https://data.example.test/api"
	otherService = "https://other.example.test/api"
	verifyLimit  = 30 * time.Second
)

// fixture is a Gatehouse issuer for one algorithm: its JWKS on an
// httptest server and a Minter whose issuer is that server's URL.
type fixture struct {
	alg    jwa.SignatureAlgorithm
	kid    string
	key    crypto.Signer
	issuer string
	jwks   string
}

func newFixture(t *testing.T, alg jwa.SignatureAlgorithm) *fixture {
	t.Helper()
	key := newKey(t, alg)
	f := &fixture{alg: alg, kid: "gh-" + alg.String() + "-1", key: key}
	mux := http.NewServeMux()
	mux.Handle(oauth.PathJWKS, oauth.JWKSHandler(oauth.StaticKeys{
		{ID: f.kid, Algorithms: []jwa.SignatureAlgorithm{alg}, Public: key.Public()},
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.issuer = srv.URL
	f.jwks = srv.URL + oauth.PathJWKS
	return f
}

func newKey(t *testing.T, alg jwa.SignatureAlgorithm) crypto.Signer {
	t.Helper()
	var (
		key crypto.Signer
		err error
	)
	switch alg {
	case jwa.ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwa.RS256:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case jwa.EdDSA:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no key type for %s", alg)
	}
	require.NoError(t, err)
	return key
}

func (f *fixture) claims() oauth.AccessTokenClaims {
	return oauth.AccessTokenClaims{
		Subject:  "usr_7f3a",
		Audience: []string{dataService},
		ClientID: "cli_reports",
		Scope:    []string{"data:read", "data:write"},
		Email:    "ada@example.test",
		Username: "ada",
		Groups:   []string{"engineering", "on-call"},
		Act: &oauth.Actor{Subject: "svc_pipeline", ClientID: "cli_pipeline",
			Act: &oauth.Actor{Subject: "usr_admin"}},
	}
}

func (f *fixture) mint(t *testing.T, now func() time.Time, c oauth.AccessTokenClaims) string {
	t.Helper()
	m, err := oauth.NewMinter(oauth.MinterConfig{
		Issuer: f.issuer,
		Signer: oauth.StaticSigner{KID: f.kid, Alg: f.alg, Key: f.key},
		Now:    now,
	})
	require.NoError(t, err)
	tok, _, err := m.Mint(context.Background(), c)
	require.NoError(t, err)
	return tok
}

// resign signs the payload of a minted token again with the same protected
// header except for the changes made by edit, with key.
func resign(t *testing.T, token string, alg jwa.SignatureAlgorithm, key crypto.Signer, edit func(jws.Headers)) string {
	t.Helper()
	msg, err := jws.Parse([]byte(token))
	require.NoError(t, err)
	require.Len(t, msg.Signatures(), 1)
	orig := msg.Signatures()[0].ProtectedHeaders()
	hdr := jws.NewHeaders()
	require.NoError(t, hdr.Set(jws.TypeKey, orig.Type()))
	require.NoError(t, hdr.Set(jws.KeyIDKey, orig.KeyID()))
	edit(hdr)
	out, err := jws.Sign(msg.Payload(), jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	require.NoError(t, err)
	return string(out)
}

func payload(t *testing.T, token string) map[string]any {
	t.Helper()
	msg, err := jws.Parse([]byte(token))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(msg.Payload(), &m))
	return m
}

func requireVerifier(t *testing.T, v Verifier) {
	t.Helper()
	ok, hint := Installed(v)
	testpeer.Require(t, "JWT verifier "+string(v), ok, hint)
}

func verify(t *testing.T, v Verifier, f *fixture, token string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), verifyLimit)
	defer cancel()
	res, err := Verify(ctx, v, Request{
		Token: token, JWKSURL: f.jwks, Issuer: f.issuer, Audience: dataService,
		Algorithms: []string{f.alg.String()},
	})
	require.NoError(t, err)
	return res
}

// refusals are, per case and verifier, the reason each peer must give:
// a refusal for another reason (keys not fetched, a crash) fails the test.
var refusals = map[string]map[Verifier]string{
	"other audience": {
		Jose:         `ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "aud" claim value`,
		OAuth4WebAPI: `OAUTH_JWT_CLAIM_COMPARISON_FAILED: unexpected JWT "aud"`,
		PyJWT:        `InvalidAudienceError`,
	},
	"expired": {
		Jose:         `ERR_JWT_EXPIRED: "exp" claim timestamp check failed`,
		OAuth4WebAPI: `OAUTH_JWT_TIMESTAMP_CHECK_FAILED: unexpected JWT "exp"`,
		PyJWT:        `ExpiredSignatureError`,
	},
	"foreign key, same kid": {
		Jose:         `ERR_JWS_SIGNATURE_VERIFICATION_FAILED`,
		OAuth4WebAPI: `OAUTH_INVALID_RESPONSE: JWT signature verification failed`,
		PyJWT:        `InvalidSignatureError`,
	},
	"foreign key, unknown kid": {
		Jose:         `ERR_JWKS_NO_MATCHING_KEY`,
		OAuth4WebAPI: `OAUTH_KEY_SELECTION_FAILED`,
		PyJWT:        `PyJWKClientError: Unable to find a signing key that matches`,
	},
	"typ JWT": {
		Jose:         `ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "typ" JWT header value`,
		OAuth4WebAPI: `OAUTH_INVALID_RESPONSE: unexpected JWT "typ" header parameter value`,
		PyJWT:        `InvalidTokenError: typ is 'JWT', not at\+jwt`,
	},
}

func TestThirdPartyVerifiers(t *testing.T) {
	for _, alg := range []jwa.SignatureAlgorithm{jwa.ES256, jwa.RS256, jwa.EdDSA} {
		t.Run(alg.String(), func(t *testing.T) {
			f := newFixture(t, alg)
			valid := f.mint(t, nil, f.claims())
			twoAud := f.claims()
			twoAud.Audience = []string{otherService, dataService}
			other := f.claims()
			other.Audience = []string{otherService}
			past := func() time.Time { return time.Now().Add(-3 * time.Hour) }
			foreign := newKey(t, alg)
			tokens := map[string]string{
				"other audience":        f.mint(t, nil, other),
				"expired":               f.mint(t, past, f.claims()),
				"foreign key, same kid": resign(t, valid, alg, foreign, func(jws.Headers) {}),
				"foreign key, unknown kid": resign(t, valid, alg, foreign, func(h jws.Headers) {
					require.NoError(t, h.Set(jws.KeyIDKey, f.kid+"-rogue"))
				}),
				"typ JWT": resign(t, valid, alg, f.key, func(h jws.Headers) {
					require.NoError(t, h.Set(jws.TypeKey, "JWT"))
				}),
			}
			// Positive control for the resigning itself: the same payload
			// and header signed again with the published key is accepted.
			resigned := resign(t, valid, alg, f.key, func(jws.Headers) {})

			for _, v := range All() {
				t.Run(string(v), func(t *testing.T) {
					requireVerifier(t, v)
					for name, tok := range map[string]string{
						"valid": valid, "valid, two audiences": f.mint(t, nil, twoAud), "valid, resigned": resigned,
					} {
						t.Run(name, func(t *testing.T) {
							res := verify(t, v, f, tok)
							require.True(t, res.Accepted, "refused: %s", res.Reason())
							assertVerified(t, f, tok, res)
						})
					}
					for name, tok := range tokens {
						t.Run(name, func(t *testing.T) {
							res := verify(t, v, f, tok)
							require.False(t, res.Accepted, "accepted %s with claims %v", name, res.Claims)
							t.Logf("refused: %s", res.Reason())
							assert.Regexp(t, regexp.MustCompile("^"+refusals[name][v]), res.Reason())
						})
					}
				})
			}
		})
	}
}

func TestVerifyUnknownVerifier(t *testing.T) {
	_, err := Verify(context.Background(), Verifier("nope"), Request{Token: "x"})
	require.Error(t, err)
	ok, _ := Installed(Verifier("nope"))
	assert.False(t, ok)
}

// assertVerified checks that the peer verified exactly the claims the token
// carries, and the ones Gatehouse promises by value.
func assertVerified(t *testing.T, f *fixture, token string, res Result) {
	t.Helper()
	assert.Equal(t, payload(t, token), res.Claims)
	c := res.Claims
	assert.Equal(t, f.issuer, c["iss"])
	assert.Equal(t, "usr_7f3a", c["sub"])
	assert.Equal(t, "cli_reports", c["client_id"])
	assert.Equal(t, "data:read data:write", c["scope"])
	assert.Equal(t, []any{"engineering", "on-call"}, c["groups"])
	assert.Equal(t, map[string]any{"sub": "svc_pipeline", "client_id": "cli_pipeline",
		"act": map[string]any{"sub": "usr_admin"}}, c["act"])
	for _, k := range []string{"exp", "iat", "nbf"} {
		assert.IsType(t, float64(0), c[k], k)
	}
	assert.NotEmpty(t, c["jti"])
	assert.Equal(t, "at+jwt", res.Header["typ"])
	assert.Equal(t, f.kid, res.Header["kid"])
	assert.Equal(t, f.alg.String(), res.Header["alg"])
}
