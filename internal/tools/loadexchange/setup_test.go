package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

func testIdP(t testing.TB) *samltest.IdP {
	t.Helper()
	idp, err := samltest.NewIdP(idpEntityID)
	require.NoError(t, err)
	return idp
}

// testRunFiles writes the run files for s into a fresh folder.
func testRunFiles(t *testing.T, s site, alg string) (dir, path string) {
	t.Helper()
	_, pub, err := newIssuerKey()
	require.NoError(t, err)
	jwks, err := jwksJSON(pub)
	require.NoError(t, err)
	dir = t.TempDir()
	path, err = writeRunFiles(dir, s, alg, testIdP(t).Metadata(idpSSOURL), jwks)
	require.NoError(t, err)
	return dir, path
}

// secretOnly is a lookupEnv that knows only the client secret.
func secretOnly(secret string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if name == secretEnv {
			return secret, true
		}
		return "", false
	}
}

func TestConfigIsAcceptedByConfigLoad(t *testing.T) {
	s := site{loadkit.Site{Port: 18443}}
	for _, alg := range signingAlgs {
		t.Run(alg, func(t *testing.T) {
			dir, path := testRunFiles(t, s, alg)
			cfg, err := config.Load(path, secretOnly("s3cret"))
			require.NoError(t, err)
			require.NoError(t, cfg.Validate())

			assert.Equal(t, "http://127.0.0.1:18443", cfg.ExternalURL)
			assert.Equal(t, "127.0.0.1:18443", cfg.Listen)
			assert.Equal(t, config.DriverSQLite, cfg.Store.Driver)
			assert.Equal(t, filepath.Join(dir, loadkit.DatabaseFile), cfg.Store.DSN.Value())
			assert.Equal(t, filepath.Join(dir, loadkit.KeysDir), cfg.Keys.Dir)
			require.NotNil(t, cfg.IdentitySource.SAML)
			assert.Equal(t, filepath.Join(dir, loadkit.MetadataFile), cfg.IdentitySource.SAML.MetadataFile)

			o := cfg.OAuth
			assert.Equal(t, alg, o.SigningAlg)
			require.Len(t, o.Clients, 1)
			assert.Equal(t, clientID, o.Clients[0].ID)
			assert.Equal(t, "s3cret", o.Clients[0].Secret.Value(), "the secret comes from the environment")
			assert.Equal(t, []string{oauth.GrantTokenExchange}, o.Clients[0].GrantTypes)
			assert.Equal(t, []string{serviceURL}, o.Clients[0].Audiences)
			assert.Equal(t, []string{serviceScope}, o.Clients[0].Scopes)
			require.Len(t, o.TrustedTokenIssuers, 1)
			ti := o.TrustedTokenIssuers[0]
			assert.Equal(t, config.TrustedTokenIssuerConfig{
				Name: issuerName, Issuer: issuerURL, JWKSFile: filepath.Join(dir, jwksFileName),
				Audiences: []string{tokenAudience}, Claim: "email", UserAttribute: "email",
			}, ti)
			require.Len(t, o.DataServices, 1)
			assert.Equal(t, serviceURL, o.DataServices[0].Audience)
			assert.Contains(t, o.DataServices[0].Scopes, serviceScope)

			for _, f := range []string{path, filepath.Join(dir, jwksFileName), filepath.Join(dir, loadkit.MetadataFile)} {
				info, err := os.Stat(f)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), f)
			}
		})
	}
}

// Positive controls for the test above: config.Load does need the secret
// from the environment, and config.Validate does check the files the tool
// writes.
func TestConfigWithoutSecretIsRejected(t *testing.T) {
	_, path := testRunFiles(t, site{loadkit.Site{Port: 18443}}, "ES256")
	_, err := config.Load(path, secretOnly("s3cret"))
	require.NoError(t, err)
	_, err = config.Load(path, func(string) (string, bool) { return "", false })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "environment variable "+secretEnv+" is not set")
}

func TestConfigWithoutJWKSFileIsRejected(t *testing.T) {
	dir, path := testRunFiles(t, site{loadkit.Site{Port: 18443}}, "ES256")
	require.NoError(t, os.Remove(filepath.Join(dir, jwksFileName)))
	cfg, err := config.Load(path, secretOnly("s3cret"))
	require.NoError(t, err)
	err = cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "oauth.trusted_token_issuers[0].jwks_file")
}

func TestConfigYAMLHasNoSecret(t *testing.T) {
	out, err := configYAML(site{loadkit.Site{Port: 1}}, "ES256")
	require.NoError(t, err)
	assert.Contains(t, string(out), "${"+secretEnv+"}")
	for _, key := range []string{"external_url:", "listen:", "driver: sqlite", "dsn: gatehouse.db", "dir: keys",
		"metadata_file: idp.xml", "signing_alg: ES256", "jwks_file: corp-jwks.json", "user_attribute: email", "data_services:"} {
		assert.Contains(t, string(out), key)
	}
	assert.NotContains(t, strings.ToLower(string(out)), "jwks_url")
}

func TestTokenURL(t *testing.T) {
	s := site{loadkit.Site{Port: 18443}}
	assert.Equal(t, "http://127.0.0.1:18443/oauth/token", s.TokenURL())
	assert.NoError(t, loadkit.CheckLoopback(s.TokenURL(), s.ACSURL()))
}
