package loadkit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSite(t *testing.T) {
	s := Site{Port: 18443}
	assert.Equal(t, "127.0.0.1:18443", s.HostPort())
	assert.Equal(t, "http://127.0.0.1:18443", s.BaseURL())
	assert.Equal(t, "http://127.0.0.1:18443/readyz", s.ReadyURL())
}

func TestRenderBaseConfig(t *testing.T) {
	c := BaseConfig(Site{Port: 18443}, Endpoint{Region: "us-east-1", URL: "http://127.0.0.1:18443/saml/acs"})
	out, err := RenderConfig(c)
	require.NoError(t, err)
	assert.Equal(t, `external_url: http://127.0.0.1:18443
listen: 127.0.0.1:18443
store:
    driver: sqlite
    dsn: gatehouse.db
keys:
    dir: keys
identity_source:
    saml:
        metadata_file: idp.xml
        acs_endpoints:
            - region: us-east-1
              url: http://127.0.0.1:18443/saml/acs
`, string(out), "SAML keys left at their zero value are left out")

	c.IdentitySource.SAML.JITProvisioning = true
	out, err = RenderConfig(struct {
		Config `yaml:",inline"`
		More   string `yaml:"more"`
	}{c, "x"})
	require.NoError(t, err)
	assert.Contains(t, string(out), "        jit_provisioning: true\n")
	assert.True(t, strings.HasSuffix(string(out), "\nmore: x\n"), "an embedding config adds its keys after loadkit's")

	_, err = RenderConfig(badYAML{})
	assert.EqualError(t, err, "config: no YAML")
}

// badYAML cannot be marshalled.
type badYAML struct{}

func (badYAML) MarshalYAML() (any, error) { return nil, errors.New("no YAML") }

func TestWriteRunFiles(t *testing.T) {
	dir := t.TempDir()
	path, err := WriteRunFiles(dir, []byte("cfg"), RunFile{Name: MetadataFile, What: "IdP metadata", Data: []byte("md")},
		RunFile{Name: "jwks.json", What: "JWK Set", Data: []byte("{}")})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, ConfigFile), path)
	for name, want := range map[string]string{ConfigFile: "cfg", MetadataFile: "md", "jwks.json": "{}"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, want, string(got))
		info, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), name)
	}

	_, err = WriteRunFiles(filepath.Join(dir, "missing"), []byte("cfg"), RunFile{Name: "a", What: "JWK Set"})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "write JWK Set: "), err.Error())
	_, err = WriteRunFiles(filepath.Join(dir, "missing"), []byte("cfg"))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "write config: "), err.Error())
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080/saml/acs", "http://127.0.0.1:8080/oauth/token", "http://[::1]:80/readyz", "http://127.0.0.2:1/"} {
		assert.NoError(t, CheckLoopback(ok), ok)
	}
	for _, bad := range []string{"https://127.0.0.1:8080/", "http://localhost:8080/", "http://10.0.0.1:80/",
		"http://example.com/", "http://0.0.0.0:80/", "://"} {
		assert.Error(t, CheckLoopback(bad), bad)
		assert.Error(t, CheckLoopback("http://127.0.0.1:1/", bad), "every URL is checked: %s", bad)
	}
	assert.NoError(t, CheckLoopback(), "nothing to check")
}

func TestFreeLoopbackPort(t *testing.T) {
	p, err := FreeLoopbackPort()
	require.NoError(t, err)
	assert.Positive(t, p)
	assert.NoError(t, CheckLoopback(Site{Port: p}.ReadyURL()))
}
