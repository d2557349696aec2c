package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

const (
	extIssuer   = "https://corp-idp.example.com"
	extAudience = "gatehouse"
	warehouse   = "https://warehouse.example.com"
)

type oauthEnv struct {
	base   string
	extKey jwk.Key // the trusted issuer's private key
	userID string
}

func newSigningJWK(t *testing.T, kid string) jwk.Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	k, err := jwk.FromRaw(priv)
	require.NoError(t, err)
	require.NoError(t, k.Set(jwk.KeyIDKey, kid))
	require.NoError(t, k.Set(jwk.AlgorithmKey, jwa.ES256))
	return k
}

func startOAuthGateway(t *testing.T, signingAlg string, dropAlg bool) (*oauthEnv, error) {
	t.Helper()
	dir := t.TempDir()
	srv, setHandler := lateServer(t)
	writeUpstreamIdP(t, dir, srv.URL)

	env := &oauthEnv{base: srv.URL, extKey: newSigningJWK(t, "corp-1")}
	pub, err := env.extKey.PublicKey()
	require.NoError(t, err)
	if dropAlg {
		require.NoError(t, pub.Remove(jwk.AlgorithmKey))
	}
	writeJWKS(t, dir, "corp-jwks.json", pub)

	cfg := loadGatewayConfig(t, dir, gatewayYAML(srv.URL, fmt.Sprintf(`  signing_alg: %s
  clients:
    - id: agent
      secret: s3cret
      grant_types: [%q]
      audiences: [%q]
      scopes: [warehouse.read]
  trusted_token_issuers:
    - name: corp
      issuer: %q
      jwks_file: corp-jwks.json
      audiences: [%q]
      claim: email
      user_attribute: email
  data_services:
    - audience: %q
      scopes: [warehouse.read, warehouse.write]
`, signingAlg, oauth.GrantTokenExchange, warehouse, extIssuer, extAudience, warehouse)))

	st := memory.New()
	u, err := st.CreateUser(t.Context(), sp.User{UserName: "alice", Email: "alice@example.com", Groups: []string{"eng"}, Active: true})
	require.NoError(t, err)
	env.userID = u.ID
	_, err = st.CreateUser(t.Context(), sp.User{UserName: "mallory", Email: "mallory@example.com", Active: false})
	require.NoError(t, err)

	g, err := gateway.New(t.Context(), cfg, gateway.Options{Store: st})
	if err != nil {
		return nil, err
	}
	setHandler(g.Handler())
	return env, nil
}

// externalToken is a valid token of the trusted issuer naming email.
func (e *oauthEnv) externalToken(t *testing.T, key jwk.Key, email string) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewBuilder().Issuer(extIssuer).Audience([]string{extAudience}).Subject("corp-"+email).
		IssuedAt(now).Expiration(now.Add(10*time.Minute)).Claim("email", email).Build()
	require.NoError(t, err)
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, key))
	require.NoError(t, err)
	return string(signed)
}

func (e *oauthEnv) exchange(t *testing.T, secret, token, tokenType string) (int, map[string]any) {
	t.Helper()
	form := url.Values{
		"grant_type":         {oauth.GrantTokenExchange},
		"subject_token":      {token},
		"subject_token_type": {tokenType},
		"audience":           {warehouse},
	}
	req, err := http.NewRequest(http.MethodPost, e.base+"/oauth/token", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("agent", secret)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, u)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

// publishedValidator validates Gatehouse access tokens with the keys
// published at /oauth/jwks.
func (e *oauthEnv) publishedValidator(t *testing.T) *oauth.Validator {
	t.Helper()
	set, err := jwk.Parse(get(t, e.base+"/oauth/jwks"))
	require.NoError(t, err)
	require.Positive(t, set.Len())
	var ks []oauth.Key
	for i := range set.Len() {
		k, _ := set.Key(i)
		_, isPrivate := k.(jwk.ECDSAPrivateKey)
		require.False(t, isPrivate)
		var raw any
		require.NoError(t, k.Raw(&raw))
		ks = append(ks, oauth.Key{ID: k.KeyID(), Algorithms: []jwa.SignatureAlgorithm{jwa.SignatureAlgorithm(k.Algorithm().String())}, Public: raw})
	}
	v, err := oauth.NewValidator(oauth.ValidatorConfig{Issuer: e.base, Audiences: []string{warehouse}, Keys: oauth.StaticKeys(ks), Typ: oauth.AccessTokenType})
	require.NoError(t, err)
	return v
}

func TestOAuthTokenExchange(t *testing.T) {
	env, err := startOAuthGateway(t, config.AlgES256, false)
	require.NoError(t, err)

	var md map[string]any
	for _, p := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		require.NoError(t, json.Unmarshal(get(t, env.base+p), &md), p)
		assert.Equal(t, env.base, md["issuer"], p)
		assert.Equal(t, env.base+"/oauth/token", md["token_endpoint"], p)
		assert.Equal(t, env.base+"/oauth/jwks", md["jwks_uri"], p)
	}
	v := env.publishedValidator(t)

	status, body := env.exchange(t, "s3cret", env.externalToken(t, env.extKey, "alice@example.com"), oauth.TokenTypeJWT)
	require.Equal(t, http.StatusOK, status, body)
	at, _ := body["access_token"].(string)
	require.NotEmpty(t, at)
	tok, err := v.Validate(context.Background(), at)
	require.NoError(t, err)
	assert.Equal(t, env.userID, tok.Subject())
	assert.Equal(t, []string{warehouse}, tok.Audience())
	assert.Equal(t, "warehouse.read", body["scope"])

	// Gatehouse's own access token is exchanged again.
	status, body = env.exchange(t, "s3cret", at, oauth.TokenTypeAccessToken)
	require.Equal(t, http.StatusOK, status, body)
	at2, _ := body["access_token"].(string)
	tok2, err := v.Validate(context.Background(), at2)
	require.NoError(t, err)
	assert.Equal(t, env.userID, tok2.Subject())

	t.Run("refusals", func(t *testing.T) {
		untrusted := newSigningJWK(t, "corp-1") // same kid, another key
		cases := []struct {
			name, secret, token, tokenType string
			status                         int
			code                           string
		}{
			{"positive control", "s3cret", env.externalToken(t, env.extKey, "alice@example.com"), oauth.TokenTypeJWT, http.StatusOK, ""},
			{"wrong client secret", "wrong", env.externalToken(t, env.extKey, "alice@example.com"), oauth.TokenTypeJWT, http.StatusUnauthorized, "invalid_client"},
			{"unknown user email", "s3cret", env.externalToken(t, env.extKey, "nobody@example.com"), oauth.TokenTypeJWT, http.StatusBadRequest, "invalid_grant"},
			{"deactivated user", "s3cret", env.externalToken(t, env.extKey, "mallory@example.com"), oauth.TokenTypeJWT, http.StatusBadRequest, "invalid_grant"},
			{"untrusted key", "s3cret", env.externalToken(t, untrusted, "alice@example.com"), oauth.TokenTypeJWT, http.StatusBadRequest, "invalid_grant"},
			{"own token as external jwt", "s3cret", at, oauth.TokenTypeJWT, http.StatusBadRequest, "invalid_grant"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				status, body := env.exchange(t, c.secret, c.token, c.tokenType)
				assert.Equal(t, c.status, status, body)
				if c.code != "" {
					assert.Equal(t, c.code, body["error"])
					assert.NotContains(t, body, "access_token")
				} else {
					assert.NotEmpty(t, body["access_token"])
				}
			})
		}
	})
}

func TestOAuthJWKSFileKeyWithoutAlgRejectedAtStartup(t *testing.T) {
	_, err := startOAuthGateway(t, config.AlgES256, true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "corp-jwks.json")
	assert.Contains(t, err.Error(), "no alg")
}
