package gateway_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/jwtpeers"
	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

const peerExchangeLimit = 60 * time.Second

// peerExchange has openid-client exchange subject for an access token to
// audience, authenticating as the test's client with secret.
func (e *oauthEnv) peerExchange(t *testing.T, secret, subject, audience string) jwtpeers.ExchangeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), peerExchangeLimit)
	defer cancel()
	res, err := jwtpeers.Exchange(ctx, jwtpeers.ExchangeRequest{
		Issuer:           e.base,
		ClientID:         "agent",
		ClientSecret:     secret,
		SubjectToken:     subject,
		SubjectTokenType: oauth.TokenTypeJWT,
		Audience:         audience,
		Scope:            "warehouse.read",
	})
	require.NoError(t, err)
	return res
}

// TestOAuthTokenExchangeOpenIDClient drives the token exchange grant with
// openid-client: discovery, client_secret_basic and genericGrantRequest.
func TestOAuthTokenExchangeOpenIDClient(t *testing.T) {
	ok, hint := jwtpeers.ExchangeInstalled()
	testpeer.Require(t, "peer openid-client", ok, hint)

	env, err := startOAuthGateway(t, config.AlgES256, false)
	require.NoError(t, err)
	v := env.publishedValidator(t)

	t.Run("accepted", func(t *testing.T) {
		res := env.peerExchange(t, "s3cret", env.externalToken(t, env.extKey, "alice@example.com"), warehouse)
		require.True(t, res.Accepted, "%+v", res)
		assert.Equal(t, oauth.TokenTypeAccessToken, res.IssuedTokenType)
		assert.Equal(t, "bearer", res.TokenType) // openid-client lower-cases token_type
		assert.Equal(t, "warehouse.read", res.Scope)
		assert.Positive(t, res.ExpiresIn)
		tok, err := v.Validate(t.Context(), res.AccessToken)
		require.NoError(t, err)
		assert.Equal(t, env.userID, tok.Subject())
		assert.Equal(t, []string{warehouse}, tok.Audience())
	})

	t.Run("refusals", func(t *testing.T) {
		untrusted := newSigningJWK(t, "corp-1") // same kid, another key
		cases := []struct {
			name, secret, token, audience string
			status                        int
			code, challenge               string
		}{
			{"positive control", "s3cret", env.externalToken(t, env.extKey, "alice@example.com"), warehouse, http.StatusOK, "", ""},
			{"wrong client secret", "wrong", env.externalToken(t, env.extKey, "alice@example.com"), warehouse, http.StatusUnauthorized, "invalid_client", "basic"},
			{"untrusted key", "s3cret", env.externalToken(t, untrusted, "alice@example.com"), warehouse, http.StatusBadRequest, "invalid_grant", ""},
			{"audience not allowed", "s3cret", env.externalToken(t, env.extKey, "alice@example.com"), "https://other.example.com", http.StatusBadRequest, "invalid_target", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				res := env.peerExchange(t, c.secret, c.token, c.audience)
				if c.code == "" {
					require.True(t, res.Accepted, "%+v", res)
					_, err := v.Validate(t.Context(), res.AccessToken)
					require.NoError(t, err)
					return
				}
				assert.False(t, res.Accepted)
				assert.Equal(t, c.status, res.Status)
				assert.Equal(t, c.code, res.Error, res.Description)
				assert.Equal(t, c.challenge, res.Challenge)
				assert.Empty(t, res.AccessToken)
			})
		}
	})

	t.Run("no metadata at issuer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), peerExchangeLimit)
		defer cancel()
		_, err := jwtpeers.Exchange(ctx, jwtpeers.ExchangeRequest{
			Issuer: env.base + "/no-such-issuer", ClientID: "agent", ClientSecret: "s3cret",
			SubjectToken: env.externalToken(t, env.extKey, "alice@example.com"), SubjectTokenType: oauth.TokenTypeJWT,
			Audience: warehouse,
		})
		require.ErrorIs(t, err, jwtpeers.ErrExchangeFailed)
	})
}
