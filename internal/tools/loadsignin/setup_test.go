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
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

func testIdP(t testing.TB) *samltest.IdP {
	t.Helper()
	idp, err := samltest.NewIdP("https://idp.loadsignin.test/metadata")
	require.NoError(t, err)
	return idp
}

func TestConfigIsAcceptedByConfigLoad(t *testing.T) {
	dir := t.TempDir()
	s := site{loadkit.Site{Port: 18443}}
	path, err := writeRunFiles(dir, s, testIdP(t).Metadata("https://idp.loadsignin.test/sso"))
	require.NoError(t, err)

	cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())

	assert.Equal(t, "http://127.0.0.1:18443", cfg.ExternalURL)
	assert.Equal(t, "127.0.0.1:18443", cfg.Listen)
	assert.Equal(t, config.DriverSQLite, cfg.Store.Driver)
	assert.Equal(t, filepath.Join(dir, loadkit.DatabaseFile), cfg.Store.DSN.Value())
	assert.Equal(t, filepath.Join(dir, loadkit.KeysDir), cfg.Keys.Dir)
	require.NotNil(t, cfg.IdentitySource.SAML)
	sc := cfg.IdentitySource.SAML
	assert.Equal(t, s.EntityID(), sc.EntityID, "the gateway's default SP entity ID is the Audience the tool signs for")
	assert.Equal(t, "http://127.0.0.1:18443/saml/sp/metadata", sc.EntityID)
	assert.Equal(t, filepath.Join(dir, loadkit.MetadataFile), sc.MetadataFile)
	assert.True(t, sc.AllowIDPInitiated)
	assert.True(t, sc.JITProvisioning)
	assert.Equal(t, "1m30s", sc.ClockSkew.String())
	assert.Equal(t, []config.ACSEndpoint{
		{Region: "us-east-1", URL: "http://127.0.0.1:18443/saml/acs"},
		{Region: "eu-west-1", URL: "http://127.0.0.1:18443/eu-west-1/saml/acs"},
	}, sc.ACSEndpoints)

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

// Positive control for the test above: config.Validate does check the file
// the tool writes (here the IdP metadata is missing), so an accepted config
// is a real result.
func TestConfigWithoutMetadataFileIsRejected(t *testing.T) {
	dir := t.TempDir()
	path, err := writeRunFiles(dir, site{loadkit.Site{Port: 18443}}, testIdP(t).Metadata("https://idp.loadsignin.test/sso"))
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(dir, loadkit.MetadataFile)))

	cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	err = cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "identity_source.saml.metadata_file")
}

func TestConfigYAMLHasOnlyContractKeys(t *testing.T) {
	out, err := configYAML(site{loadkit.Site{Port: 1}})
	require.NoError(t, err)
	for _, key := range []string{"external_url:", "listen:", "store:", "driver: sqlite", "dsn: gatehouse.db",
		"keys:", "dir: keys", "identity_source:", "saml:", "metadata_file: idp.xml",
		"allow_idp_initiated: true", "jit_provisioning: true", "clock_skew: 90s", "acs_endpoints:"} {
		assert.Contains(t, string(out), key)
	}
	assert.NotContains(t, strings.ToLower(string(out)), "entity_id", "the SP entity ID is left to its default")
}
