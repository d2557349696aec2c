package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/require"
)

const (
	testIssuer   = "https://idp.example.com"
	testAudience = "gatehouse"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type testKeys struct {
	ec, ecOther *ecdsa.PrivateKey
	rsa         *rsa.PrivateKey
	ed          ed25519.PrivateKey
}

var (
	fixtureOnce sync.Once
	fixture     testKeys
)

// keys are generated once per test binary: RSA generation is slow.
func loadKeys(t testing.TB) testKeys {
	t.Helper()
	fixtureOnce.Do(func() {
		var err error
		must := func(e error) {
			if e != nil && err == nil {
				err = e
			}
		}
		fixture.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		k2, e := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(e)
		fixture.ecOther = k2
		r, e := rsa.GenerateKey(rand.Reader, 2048)
		must(e)
		fixture.rsa = r
		_, ed, e := ed25519.GenerateKey(rand.Reader)
		must(e)
		fixture.ed = ed
		if err != nil {
			panic(err)
		}
	})
	return fixture
}

func (k testKeys) set() StaticKeys {
	return StaticKeys{
		{ID: "ec1", Algorithms: []jwa.SignatureAlgorithm{jwa.ES256}, Public: &k.ec.PublicKey},
		{ID: "rsa1", Algorithms: []jwa.SignatureAlgorithm{jwa.RS256}, Public: &k.rsa.PublicKey},
		{ID: "ed1", Algorithms: []jwa.SignatureAlgorithm{jwa.EdDSA}, Public: k.ed.Public()},
	}
}

// tokenSpec is a token before signing; tests change one thing.
type tokenSpec struct {
	header map[string]any
	claims map[string]any
	alg    jwa.SignatureAlgorithm // the algorithm actually used to sign
	key    any                    // the signing key ([]byte for HMAC)
	noSig  bool
}

func validSpec(k testKeys) *tokenSpec {
	return &tokenSpec{
		header: map[string]any{"alg": "ES256", "kid": "ec1", "typ": "at+jwt"},
		claims: map[string]any{
			"iss": testIssuer,
			"sub": "user-1",
			"aud": testAudience,
			"exp": testNow.Add(30 * time.Minute).Unix(),
			"iat": testNow.Unix(),
			"nbf": testNow.Unix(),
			"jti": "jti-1",
		},
		alg: jwa.ES256,
		key: k.ec,
	}
}

func b64json(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *tokenSpec) sign(t testing.TB) string {
	t.Helper()
	input := b64json(t, s.header) + "." + b64json(t, s.claims)
	if s.noSig {
		return input + "."
	}
	signer, err := jws.NewSigner(s.alg)
	require.NoError(t, err)
	sig, err := signer.Sign([]byte(input), s.key)
	require.NoError(t, err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func newTestValidator(t testing.TB, k testKeys, mod func(*ValidatorConfig)) *Validator {
	t.Helper()
	cfg := ValidatorConfig{
		Issuer:      testIssuer,
		Audiences:   []string{"other", testAudience},
		Keys:        k.set(),
		Typ:         "at+jwt",
		MaxLifetime: time.Hour,
		RequireJTI:  true,
		Now:         func() time.Time { return testNow },
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewValidator(cfg)
	require.NoError(t, err)
	return v
}

type failingKeys struct{}

func (failingKeys) Keys(context.Context) ([]Key, error) { return nil, errors.New("jwks fetch failed") }

func newSigner(alg jwa.SignatureAlgorithm) (jws.Signer, error) { return jws.NewSigner(alg) }
