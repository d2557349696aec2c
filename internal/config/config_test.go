package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testSecret = "bi-tool-s3cret-value"

// env is a lookupEnv backed by a map.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func testdataDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("testdata")
	require.NoError(t, err)
	return dir
}

func fullYAML(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "full.yaml"))
	require.NoError(t, err)
	return string(b)
}

// loadFull loads testdata/full.yaml, which must be valid.
func loadFull(t testing.TB) *Config {
	t.Helper()
	c, err := Load(filepath.Join("testdata", "full.yaml"), env("BI_TOOL_SECRET", testSecret))
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	return c
}

// parseEdited parses full.yaml with old replaced by new (exactly once).
func parseEdited(t *testing.T, old, new string, lookup func(string) (string, bool)) (*Config, error) {
	t.Helper()
	text := fullYAML(t)
	require.Equal(t, 1, strings.Count(text, old), "edit %q must match once", old)
	if lookup == nil {
		lookup = env("BI_TOOL_SECRET", testSecret)
	}
	return Parse([]byte(strings.Replace(text, old, new, 1)), testdataDir(t), lookup)
}

func lineOfText(t *testing.T, text, substr string) int {
	t.Helper()
	i := strings.Index(text, substr)
	require.GreaterOrEqual(t, i, 0, substr)
	return strings.Count(text[:i], "\n") + 1
}

func problems(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	return ve.Problems
}

func paths(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Path
	}
	return out
}

func TestLoadFullContractConfig(t *testing.T) {
	c := loadFull(t)
	dir := testdataDir(t)

	assert.Equal(t, "https://gw.example.com", c.ExternalURL)
	assert.Equal(t, "127.0.0.1:8080", c.Listen)
	assert.Equal(t, "127.0.0.1:9090", c.TelemetryListen)
	assert.Equal(t, []string{"10.0.0.0/8"}, c.TrustedProxies)
	assert.Equal(t, DriverSQLite, c.Store.Driver)
	assert.Equal(t, filepath.Join(dir, "gatehouse.db"), c.Store.DSN.Value())
	assert.Equal(t, filepath.Join(dir, "keys"), c.Keys.Dir)
	assert.Equal(t, 8*time.Hour, c.Session.Lifetime.Std())
	assert.Equal(t, filepath.Join(dir, "admin.token"), c.Admin.TokenFile)

	require.NotNil(t, c.IdentitySource.SAML)
	assert.Nil(t, c.IdentitySource.Directory)
	s := c.IdentitySource.SAML
	assert.Equal(t, "https://gw.example.com/saml/sp/metadata", s.EntityID, "default entity ID")
	assert.Equal(t, filepath.Join(dir, "idp-metadata.xml"), s.MetadataFile)
	assert.Empty(t, s.MetadataURL)
	assert.Equal(t, time.Hour, s.MetadataRefresh.Std())
	assert.False(t, s.AllowIDPInitiated)
	assert.False(t, s.JITProvisioning)
	assert.Equal(t, SAMLAttributes{Email: "email", DisplayName: "displayName", Groups: "groups"}, s.Attributes)
	assert.Equal(t, 90*time.Second, s.ClockSkew.Std())
	assert.Equal(t, []ACSEndpoint{
		{Region: "us-east-1", URL: "https://us-east-1.gw.example.com/saml/acs"},
		{Region: "eu-west-1", URL: "https://eu-west-1.gw.example.com/saml/acs"},
	}, s.ACSEndpoints)

	require.Len(t, c.Applications, 1)
	a := c.Applications[0]
	assert.Equal(t, "wiki", a.ID)
	assert.Equal(t, "Team wiki", a.Name)
	assert.Equal(t, filepath.Join(dir, "wiki-sp.xml"), a.MetadataFile)
	assert.Equal(t, NameIDEmailAddress, a.NameIDFormat)
	assert.Equal(t, map[string]string{"email": "email", "groups": "groups"}, a.Attributes)
	assert.Equal(t, []string{"engineering"}, a.Assignments.Groups)
	assert.Empty(t, a.Assignments.Users)

	assert.Equal(t, []AccountConfig{{
		ID: "111111111111", Name: "Development", OU: "/workloads/dev",
		AssumeRoleARN: "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole",
	}}, c.Accounts)
	assert.Equal(t, AWSConfig{Region: "us-east-1"}, c.AWS)
	assert.Equal(t, []PermissionSetConfig{{
		Name: "ReadOnly", SessionDuration: Duration(time.Hour),
		ManagedPolicies: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
	}}, c.PermissionSets)
	assert.Equal(t, []AccountAssignmentConfig{{
		PermissionSet: "ReadOnly", Groups: []string{"engineering"}, Accounts: []string{"111111111111"},
	}}, c.AccountAssignments)

	o := c.OAuth
	assert.Equal(t, time.Hour, o.AccessTokenLifetime.Std())
	assert.Equal(t, AlgES256, o.SigningAlg)
	assert.Equal(t, []OAuthClientConfig{{
		ID: "bi-tool", Secret: Secret(testSecret),
		GrantTypes: []string{GrantTokenExchange, GrantJWTBearer},
		Audiences:  []string{"https://warehouse.example.com"},
		Scopes:     []string{"warehouse:read"},
	}}, o.Clients)
	assert.Equal(t, []TrustedTokenIssuerConfig{{
		Name: "corp-idp", Issuer: "https://idp.example.com", JWKSFile: filepath.Join(dir, "corp-jwks.json"),
		Audiences: []string{"gatehouse"}, Claim: "email", UserAttribute: "email",
	}}, o.TrustedTokenIssuers)
	assert.Equal(t, []DataServiceConfig{{
		Audience: "https://warehouse.example.com", Scopes: []string{"warehouse:read", "warehouse:write"},
	}}, o.DataServices)
}

const minimalYAML = `
external_url: https://gw.example.com/
listen: 127.0.0.1:8080
identity_source:
  directory: {}
`

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimalYAML), "/srv/gh", env())
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	assert.Equal(t, "https://gw.example.com", c.ExternalURL, "trailing slash removed")
	assert.Equal(t, DriverSQLite, c.Store.Driver)
	assert.Equal(t, filepath.FromSlash("/srv/gh/gatehouse.db"), c.Store.DSN.Value())
	assert.Equal(t, filepath.FromSlash("/srv/gh/keys"), c.Keys.Dir)
	assert.Equal(t, RingsDir, c.Keys.Rings, "rings in keys.dir with SQLite")
	assert.Equal(t, DefaultKeyReloadInterval, c.Keys.ReloadInterval.Std())
	assert.Equal(t, DefaultSessionLifetime, c.Session.Lifetime.Std())
	assert.Equal(t, filepath.FromSlash("/srv/gh/admin.token"), c.Admin.TokenFile)
	assert.NotNil(t, c.IdentitySource.Directory)
	assert.Nil(t, c.IdentitySource.SAML)
	assert.Equal(t, AlgES256, c.OAuth.SigningAlg)
	assert.Equal(t, time.Hour, c.OAuth.AccessTokenLifetime.Std())

	// SAML defaults, with an application and a permission set that leave
	// their defaults out.
	c, err = Parse([]byte(`
external_url: https://gw.example.com
listen: 127.0.0.1:8080
identity_source:
  saml:
    metadata_url: https://idp.example.com/metadata
    acs_endpoints: [{region: r1, url: "https://gw.example.com/saml/acs"}]
applications:
  - id: app
    metadata_xml: "<md:EntityDescriptor/>"
permission_sets:
  - name: ps
aws: {region: eu-west-1}
`), "", env())
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	s := c.IdentitySource.SAML
	assert.Equal(t, "https://gw.example.com/saml/sp/metadata", s.EntityID)
	assert.Equal(t, DefaultMetadataRefresh, s.MetadataRefresh.Std())
	assert.Equal(t, DefaultClockSkew, s.ClockSkew.Std())
	assert.Equal(t, SAMLAttributes{Email: "email", DisplayName: "displayName", Groups: "groups"}, s.Attributes)
	assert.Equal(t, "app", c.Applications[0].Name)
	assert.Equal(t, NameIDUnspecified, c.Applications[0].NameIDFormat)
	assert.Equal(t, time.Hour, c.PermissionSets[0].SessionDuration.Std())
	assert.Equal(t, "gatehouse.db", c.Store.DSN.Value(), "no base dir: left relative")

	// ApplyDefaults is idempotent.
	before := *c.IdentitySource.SAML
	c.ApplyDefaults()
	assert.Equal(t, before, *c.IdentitySource.SAML)
}

func TestDefaultRingsFollowTheStore(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"sqlite", "", RingsDir},
		{"postgres", "store: {driver: postgres, dsn: \"postgres://db/gh\"}\n", RingsStore},
		{"postgres_explicit_dir", "store: {driver: postgres, dsn: \"postgres://db/gh\"}\nkeys: {rings: dir}\n", RingsDir},
		{"sqlite_explicit_store", "keys: {rings: store}\n", RingsStore},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(minimalYAML+tc.yaml), "/srv/gh", env())
			require.NoError(t, err)
			require.NoError(t, c.Validate())
			assert.Equal(t, tc.want, c.Keys.Rings)
		})
	}
}

func TestDefaultsKeepExplicitZeroDurations(t *testing.T) {
	// An explicit clock_skew of 0s means no skew, not the default.
	c, err := parseEdited(t, `clock_skew: "90s"`, `clock_skew: "0s"`, nil)
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	assert.Equal(t, time.Duration(0), c.IdentitySource.SAML.ClockSkew.Std())

	// An explicit lifetime of 0s is reported, with its line.
	c, err = parseEdited(t, `lifetime: "8h"`, `lifetime: "0s"`, nil)
	require.NoError(t, err)
	ps := problems(t, c.Validate())
	require.Len(t, ps, 1)
	assert.Equal(t, "session.lifetime", ps[0].Path)
	assert.Equal(t, 12, ps[0].Line)

	// In code, a zero duration means the default.
	c = &Config{}
	c.ApplyDefaults()
	assert.Equal(t, DefaultSessionLifetime, c.Session.Lifetime.Std())
}

func TestDirectoryWithoutValueSelectsDirectory(t *testing.T) {
	c, err := Parse([]byte("external_url: https://gw.example.com\nlisten: :8080\nidentity_source:\n  directory:\n"), "", env())
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	assert.NotNil(t, c.IdentitySource.Directory)
}

// TestValidateEachProblem starts from the valid contract config, changes one
// thing, and expects exactly the named problem. Cases with an empty path are
// positive controls: the change is valid.
func TestValidateEachProblem(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		path    string // "" means valid
		message string
	}{
		{"external_url missing", func(c *Config) { c.ExternalURL = "" }, "external_url", "is required"},
		{"external_url http", func(c *Config) { c.ExternalURL = "http://gw.example.com" }, "external_url", "must use https"},
		{"external_url http loopback ok", func(c *Config) { c.ExternalURL = "http://127.0.0.1:8080" }, "", ""},
		{"external_url http localhost ok", func(c *Config) { c.ExternalURL = "http://localhost:8080" }, "", ""},
		{"external_url http ::1 ok", func(c *Config) { c.ExternalURL = "http://[::1]:8080" }, "", ""},
		{"external_url relative", func(c *Config) { c.ExternalURL = "gw.example.com" }, "external_url", "not an absolute URL"},
		{"external_url ftp", func(c *Config) { c.ExternalURL = "ftp://gw.example.com" }, "external_url", "not https"},
		{"external_url query", func(c *Config) { c.ExternalURL = "https://gw.example.com/?a=b" }, "external_url", "query"},
		{"external_url user info", func(c *Config) { c.ExternalURL = "https://u:p@gw.example.com" }, "external_url", "user information"},
		{"external_url with path ok", func(c *Config) { c.ExternalURL = "https://example.com/gatehouse" }, "", ""},
		{"listen missing", func(c *Config) { c.Listen = "" }, "listen", "is required"},
		{"listen no port", func(c *Config) { c.Listen = "8080" }, "listen", "host:port"},
		{"listen port range", func(c *Config) { c.Listen = "127.0.0.1:99999" }, "listen", "0 to 65535"},
		{"listen all interfaces ok", func(c *Config) { c.Listen = ":8443" }, "", ""},
		{"telemetry_listen bad", func(c *Config) { c.TelemetryListen = "nonsense" }, "telemetry_listen", "host:port"},
		{"telemetry_listen same as listen", func(c *Config) { c.TelemetryListen = c.Listen }, "telemetry_listen", "differ"},
		{"telemetry_listen and listen on random ports ok", func(c *Config) { c.Listen, c.TelemetryListen = "127.0.0.1:0", "127.0.0.1:0" }, "", ""},
		{"telemetry_listen optional", func(c *Config) { c.TelemetryListen = "" }, "", ""},
		{"trusted proxy not CIDR", func(c *Config) { c.TrustedProxies = []string{"10.0.0.1"} }, "trusted_proxies[0]", "not a CIDR"},
		{"trusted proxy bad length", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/33"} }, "trusted_proxies[1]", "not a CIDR"},
		{"trusted proxy host bits", func(c *Config) { c.TrustedProxies = []string{"10.1.0.0/8"} }, "trusted_proxies[0]", "did you mean 10.0.0.0/8"},
		{"trusted proxy IPv6 ok", func(c *Config) { c.TrustedProxies = []string{"fd00::/8", "192.0.2.7/32"} }, "", ""},
		{"store driver unknown", func(c *Config) { c.Store.Driver = "mysql" }, "store.driver", "not one of sqlite, postgres"},
		{"store sqlite dsn empty", func(c *Config) { c.Store.DSN = "" }, "store.dsn", "is required"},
		{"store postgres needs URL", func(c *Config) { c.Store.Driver = DriverPostgres }, "store.dsn", "PostgreSQL URL"},
		{"store postgres ok", func(c *Config) {
			c.Store = StoreConfig{Driver: DriverPostgres, DSN: "postgres://gh:pw@db:5432/gh?sslmode=verify-full"}
		}, "", ""},
		{"keys dir empty", func(c *Config) { c.Keys.Dir = "" }, "keys.dir", "is required"},
		{"keys reload too often", func(c *Config) { c.Keys.ReloadInterval = Duration(time.Millisecond) }, "keys.reload_interval", "at least 1s"},
		{"keys rings unknown", func(c *Config) { c.Keys.Rings = "vault" }, "keys.rings", `"vault" is not one of dir, store`},
		{"session lifetime zero", func(c *Config) { c.Session.Lifetime = 0 }, "session.lifetime", "more than 0"},
		{"session lifetime too long", func(c *Config) { c.Session.Lifetime = Duration(8 * 24 * time.Hour) }, "session.lifetime", "at most"},
		{"session lifetime max ok", func(c *Config) { c.Session.Lifetime = Duration(MaxSessionLifetime) }, "", ""},
		{"cookie domain covering every region", func(c *Config) { c.Session.CookieDomain = "gw.example.com" }, "", ""},
		{"cookie domain not covering a region", func(c *Config) { c.Session.CookieDomain = "us-east-1.gw.example.com" }, "session.cookie_domain", "does not cover acs_endpoints[1]"},
		{"cookie domain not a domain", func(c *Config) { c.Session.CookieDomain = ".gw.example.com" }, "session.cookie_domain", "not a domain name"},
		{"identity source none", func(c *Config) { c.IdentitySource.SAML = nil }, "identity_source", "choose one"},
		{"identity source both", func(c *Config) { c.IdentitySource.Directory = &DirectoryConfig{} }, "identity_source", "only one"},
		{"identity source directory ok", func(c *Config) {
			c.IdentitySource = IdentitySourceConfig{Directory: &DirectoryConfig{}}
		}, "", ""},
		{"saml metadata both", func(c *Config) { c.IdentitySource.SAML.MetadataURL = "https://idp.example.com/md" }, "identity_source.saml", "only one of metadata_file, metadata_url"},
		{"saml metadata none", func(c *Config) { c.IdentitySource.SAML.MetadataFile = "" }, "identity_source.saml", "set one of metadata_file, metadata_url"},
		{"saml metadata file missing", func(c *Config) {
			c.IdentitySource.SAML.MetadataFile = filepath.Join(os.TempDir(), "no-such-gatehouse-md.xml")
		}, "identity_source.saml.metadata_file", "does not exist"},
		{"saml metadata file is a folder", func(c *Config) { c.IdentitySource.SAML.MetadataFile = os.TempDir() }, "identity_source.saml.metadata_file", "not a regular file"},
		{"saml metadata url http", func(c *Config) {
			c.IdentitySource.SAML.MetadataFile, c.IdentitySource.SAML.MetadataURL = "", "http://idp.example.com/md"
		}, "identity_source.saml.metadata_url", "must use https"},
		{"saml metadata url http loopback ok", func(c *Config) {
			c.IdentitySource.SAML.MetadataFile, c.IdentitySource.SAML.MetadataURL = "", "http://127.0.0.1:9000/md"
		}, "", ""},
		{"saml metadata refresh too short", func(c *Config) { c.IdentitySource.SAML.MetadataRefresh = Duration(30 * time.Second) }, "identity_source.saml.metadata_refresh", "at least 1m0s"},
		{"saml metadata refresh 1m ok", func(c *Config) { c.IdentitySource.SAML.MetadataRefresh = Duration(time.Minute) }, "", ""},
		{"saml clock skew too large", func(c *Config) { c.IdentitySource.SAML.ClockSkew = Duration(11 * time.Minute) }, "identity_source.saml.clock_skew", "at most 10m0s"},
		{"saml clock skew negative", func(c *Config) { c.IdentitySource.SAML.ClockSkew = Duration(-time.Second) }, "identity_source.saml.clock_skew", "0s or more"},
		{"saml clock skew zero ok", func(c *Config) { c.IdentitySource.SAML.ClockSkew = 0 }, "", ""},
		{"saml entity id too long", func(c *Config) { c.IdentitySource.SAML.EntityID = "urn:" + strings.Repeat("x", 1100) }, "identity_source.saml.entity_id", "longer than 1024"},
		{"saml entity id URN ok", func(c *Config) { c.IdentitySource.SAML.EntityID = "urn:example:gatehouse" }, "", ""},
		{"acs none", func(c *Config) { c.IdentitySource.SAML.ACSEndpoints = nil }, "identity_source.saml.acs_endpoints", "at least one"},
		{"acs region empty", func(c *Config) { c.IdentitySource.SAML.ACSEndpoints[1].Region = "" }, "identity_source.saml.acs_endpoints[1].region", "is required"},
		{"acs region bad", func(c *Config) { c.IdentitySource.SAML.ACSEndpoints[1].Region = "eu west" }, "identity_source.saml.acs_endpoints[1].region", "only letters"},
		{"acs region duplicate", func(c *Config) { c.IdentitySource.SAML.ACSEndpoints[1].Region = "us-east-1" }, "identity_source.saml.acs_endpoints[1].region", "already used by acs_endpoints[0]"},
		{"acs url empty", func(c *Config) { c.IdentitySource.SAML.ACSEndpoints[1].URL = "" }, "identity_source.saml.acs_endpoints[1].url", "is required"},
		{"acs url http", func(c *Config) {
			c.IdentitySource.SAML.ACSEndpoints[1].URL = "http://eu-west-1.gw.example.com/saml/acs"
		}, "identity_source.saml.acs_endpoints[1].url", "must use https"},
		{"acs url http loopback ok", func(c *Config) { c.IdentitySource.SAML.ACSEndpoints[1].URL = "http://127.0.0.1:8080/saml/acs" }, "", ""},
		{"acs url relative", func(c *Config) { c.IdentitySource.SAML.ACSEndpoints[1].URL = "/saml/acs" }, "identity_source.saml.acs_endpoints[1].url", "not an absolute URL"},
		{"acs url duplicate", func(c *Config) {
			c.IdentitySource.SAML.ACSEndpoints[1].URL = c.IdentitySource.SAML.ACSEndpoints[0].URL
		}, "identity_source.saml.acs_endpoints[1].url", "already used by acs_endpoints[0]"},
		{"acs url same host other path ok", func(c *Config) {
			c.IdentitySource.SAML.ACSEndpoints[1].URL = "https://us-east-1.gw.example.com/saml/acs/eu"
		}, "", ""},
		{"acs url no path", func(c *Config) { c.IdentitySource.SAML.ACSEndpoints[1].URL = "https://eu-west-1.gw.example.com" }, "identity_source.saml.acs_endpoints[1].url", "must have a path"},
		{"acs url root path", func(c *Config) { c.IdentitySource.SAML.ACSEndpoints[1].URL = "https://eu-west-1.gw.example.com/" }, "identity_source.saml.acs_endpoints[1].url", "must have a path"},
		{"acs url query", func(c *Config) {
			c.IdentitySource.SAML.ACSEndpoints[1].URL = "https://eu-west-1.gw.example.com/saml/acs?r=eu"
		}, "identity_source.saml.acs_endpoints[1].url", "query"},
		{"acs url fragment", func(c *Config) {
			c.IdentitySource.SAML.ACSEndpoints[1].URL = "https://eu-west-1.gw.example.com/saml/acs#x"
		}, "identity_source.saml.acs_endpoints[1].url", "fragment"},
		{"app id empty", func(c *Config) { c.Applications[0].ID = "" }, "applications[0].id", "is required"},
		{"app id unsafe", func(c *Config) { c.Applications[0].ID = "wiki/../x" }, "applications[0].id", "only letters"},
		{"app id duplicate", func(c *Config) { c.Applications = append(c.Applications, c.Applications[0]) }, "applications[1].id", "already used by applications[0]"},
		{"app name id format", func(c *Config) { c.Applications[0].NameIDFormat = "email" }, "applications[0].name_id_format", "not one of emailAddress, persistent, transient, unspecified"},
		{"app name id persistent ok", func(c *Config) { c.Applications[0].NameIDFormat = NameIDPersistent }, "", ""},
		{"app metadata none", func(c *Config) { c.Applications[0].MetadataFile = "" }, "applications[0]", "set one of metadata_file, metadata_url, metadata_xml"},
		{"app metadata two", func(c *Config) { c.Applications[0].MetadataXML = "<x/>" }, "applications[0]", "only one of metadata_file, metadata_url, metadata_xml"},
		{"app metadata xml ok", func(c *Config) { c.Applications[0].MetadataFile, c.Applications[0].MetadataXML = "", "<x/>" }, "", ""},
		{"app metadata file missing", func(c *Config) {
			c.Applications[0].MetadataFile = filepath.Join(os.TempDir(), "no-such-gatehouse-sp.xml")
		}, "applications[0].metadata_file", "does not exist"},
		{"app metadata url http", func(c *Config) {
			c.Applications[0].MetadataFile, c.Applications[0].MetadataURL = "", "http://wiki.example.com/md"
		}, "applications[0].metadata_url", "must use https"},
		{"app attribute unknown field", func(c *Config) { c.Applications[0].Attributes["pw"] = "password" }, "applications[0].attributes.pw", "not a user field"},
		{"app attribute empty attributes key", func(c *Config) { c.Applications[0].Attributes["x"] = "attributes." }, "applications[0].attributes.x", "not a user field"},
		{"app attribute custom ok", func(c *Config) { c.Applications[0].Attributes["dept"] = "attributes.department" }, "", ""},
		{"app attribute every field ok", func(c *Config) {
			for _, f := range []string{"id", "user_name", "email", "display_name", "given_name", "family_name", "external_id", "groups"} {
				c.Applications[0].Attributes["a_"+f] = f
			}
		}, "", ""},
		{"app attribute empty name", func(c *Config) { c.Applications[0].Attributes[" "] = "email" }, "applications[0].attributes", "name is empty"},
		{"app assignment empty group", func(c *Config) { c.Applications[0].Assignments.Groups = []string{""} }, "applications[0].assignments.groups[0]", "is empty"},
		{"account id short", func(c *Config) { c.Accounts[0].ID, c.AccountAssignments[0].Accounts[0] = "1234", "1234" }, "accounts[0].id", "12-digit"},
		{"account id duplicate", func(c *Config) { c.Accounts = append(c.Accounts, c.Accounts[0]) }, "accounts[1].id", "already used by accounts[0]"},
		{"account ou bad", func(c *Config) { c.Accounts[0].OU = "workloads/dev" }, "accounts[0].ou", "not an OU path"},
		{"account ou trailing slash", func(c *Config) { c.Accounts[0].OU = "/workloads/" }, "accounts[0].ou", "not an OU path"},
		{"account ou root ok", func(c *Config) { c.Accounts[0].OU = "/" }, "", ""},
		{"account role arn bad", func(c *Config) { c.Accounts[0].AssumeRoleARN = "OrganizationAccountAccessRole" }, "accounts[0].assume_role_arn", "not an IAM role ARN"},
		{"account role arn other account", func(c *Config) {
			c.Accounts[0].AssumeRoleARN = "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
		}, "accounts[0].assume_role_arn", "names account 222222222222"},
		{"account role arn govcloud ok", func(c *Config) {
			c.Accounts[0].AssumeRoleARN = "arn:aws-us-gov:iam::111111111111:role/path/Admin"
		}, "", ""},
		{"aws region missing", func(c *Config) { c.AWS.Region = "" }, "aws.region", "is required"},
		{"aws region bad", func(c *Config) { c.AWS.Region = "US East" }, "aws.region", "not an AWS region"},
		{"aws endpoint http", func(c *Config) { c.AWS.EndpointURL = "http://moto.internal:5000" }, "aws.endpoint_url", "must use https"},
		{"aws endpoint loopback ok", func(c *Config) { c.AWS.EndpointURL = "http://127.0.0.1:5000" }, "", ""},
		{"aws session tags ok", func(c *Config) { c.AWS.SessionTags = []string{"department", "cost-center"} }, "", ""},
		{"aws session tag bad char", func(c *Config) { c.AWS.SessionTags = []string{"department", "cost*center"} }, "aws.session_tags[1]", "not a session tag key"},
		{"aws session tag empty", func(c *Config) { c.AWS.SessionTags = []string{""} }, "aws.session_tags[0]", "not a session tag key"},
		{"aws session tag reserved", func(c *Config) { c.AWS.SessionTags = []string{"AWS:team"} }, "aws.session_tags[0]", "reserved prefix"},
		{"aws session tag duplicate", func(c *Config) { c.AWS.SessionTags = []string{"team", "team"} }, "aws.session_tags[1]", "already listed"},
		{"permission set name empty", func(c *Config) {
			c.PermissionSets = append(c.PermissionSets, PermissionSetConfig{SessionDuration: Duration(time.Hour)})
		}, "permission_sets[1].name", "1 to 32"},
		{"permission set name too long", func(c *Config) {
			c.PermissionSets[0].Name = strings.Repeat("a", 33)
			c.AccountAssignments[0].PermissionSet = c.PermissionSets[0].Name
		}, "permission_sets[0].name", "1 to 32"},
		{"permission set name 32 ok", func(c *Config) {
			c.PermissionSets[0].Name = strings.Repeat("a", 32)
			c.AccountAssignments[0].PermissionSet = c.PermissionSets[0].Name
		}, "", ""},
		{"permission set duplicate", func(c *Config) { c.PermissionSets = append(c.PermissionSets, c.PermissionSets[0]) }, "permission_sets[1].name", "already used by permission_sets[0]"},
		{"permission set duration short", func(c *Config) { c.PermissionSets[0].SessionDuration = Duration(30 * time.Minute) }, "permission_sets[0].session_duration", "at least 1h0m0s"},
		{"permission set duration long", func(c *Config) { c.PermissionSets[0].SessionDuration = Duration(13 * time.Hour) }, "permission_sets[0].session_duration", "at most 12h0m0s"},
		{"permission set duration 12h ok", func(c *Config) { c.PermissionSets[0].SessionDuration = Duration(12 * time.Hour) }, "", ""},
		{"permission set policy arn", func(c *Config) { c.PermissionSets[0].ManagedPolicies = []string{"ReadOnlyAccess"} }, "permission_sets[0].managed_policies[0]", "not an IAM policy ARN"},
		{"permission set inline file missing", func(c *Config) {
			c.PermissionSets[0].InlinePolicyFile = filepath.Join(os.TempDir(), "no-such-gatehouse-policy.json")
		}, "permission_sets[0].inline_policy_file", "does not exist"},
		{"assignment unknown permission set", func(c *Config) { c.AccountAssignments[0].PermissionSet = "Admin" }, "account_assignments[0].permission_set", "not a configured permission set"},
		{"assignment no permission set", func(c *Config) { c.AccountAssignments[0].PermissionSet = "" }, "account_assignments[0].permission_set", "is required"},
		{"assignment no principals", func(c *Config) { c.AccountAssignments[0].Groups = nil }, "account_assignments[0]", "groups or users"},
		{"assignment users only ok", func(c *Config) {
			c.AccountAssignments[0].Groups, c.AccountAssignments[0].Users = nil, []string{"alice"}
		}, "", ""},
		{"assignment no targets", func(c *Config) { c.AccountAssignments[0].Accounts = nil }, "account_assignments[0]", "accounts or ous"},
		{"assignment ous only ok", func(c *Config) {
			c.AccountAssignments[0].Accounts, c.AccountAssignments[0].OUs = nil, []string{"/workloads"}
		}, "", ""},
		{"assignment unknown account", func(c *Config) { c.AccountAssignments[0].Accounts = []string{"999999999999"} }, "account_assignments[0].accounts[0]", "not a configured account"},
		{"assignment bad ou", func(c *Config) { c.AccountAssignments[0].OUs = []string{"workloads"} }, "account_assignments[0].ous[0]", "not an OU path"},
		{"oauth signing alg", func(c *Config) { c.OAuth.SigningAlg = "HS256" }, "oauth.signing_alg", "not one of ES256, RS256, EdDSA"},
		{"oauth signing alg EdDSA ok", func(c *Config) { c.OAuth.SigningAlg = AlgEdDSA }, "", ""},
		{"oauth token lifetime zero", func(c *Config) { c.OAuth.AccessTokenLifetime = 0 }, "oauth.access_token_lifetime", "more than 0"},
		{"oauth token lifetime long", func(c *Config) { c.OAuth.AccessTokenLifetime = Duration(25 * time.Hour) }, "oauth.access_token_lifetime", "at most"},
		{"scim token lifetime short", func(c *Config) {
			c.SCIM.TokenLifetime, c.SCIM.TokenExpiryWarning = Duration(time.Minute), Duration(time.Second)
		}, "scim.token_lifetime", "at least 1h"},
		{"scim token lifetime long", func(c *Config) { c.SCIM.TokenLifetime = Duration(366 * 24 * time.Hour) }, "scim.token_lifetime", "at most"},
		{"scim warning not shorter", func(c *Config) { c.SCIM.TokenExpiryWarning = c.SCIM.TokenLifetime }, "scim.token_expiry_warning", "shorter than scim.token_lifetime"},
		{"oauth refresh lifetime short", func(c *Config) { c.OAuth.RefreshTokenLifetime = Duration(time.Second) }, "oauth.refresh_token_lifetime", "1m"},
		{"oauth refresh lifetime over family", func(c *Config) {
			c.OAuth.RefreshTokenLifetime, c.OAuth.RefreshFamilyLifetime = Duration(48*time.Hour), Duration(24*time.Hour)
		}, "oauth.refresh_token_lifetime", "longer than oauth.refresh_family_lifetime"},
		{"oauth refresh family long", func(c *Config) { c.OAuth.RefreshFamilyLifetime = Duration(91 * 24 * time.Hour) }, "oauth.refresh_family_lifetime", "at most"},
		{"oauth device code long", func(c *Config) { c.OAuth.DeviceCodeLifetime = Duration(time.Hour) }, "oauth.device_code_lifetime", "at most"},
		{"oauth client secret and jwks", func(c *Config) { c.OAuth.Clients[0].JWKSFile = c.OAuth.TrustedTokenIssuers[0].JWKSFile }, "oauth.clients[0].jwks_file", "not both"},
		{"oauth client jwks missing", func(c *Config) {
			keyed := c.OAuth.Clients[0]
			keyed.ID, keyed.Secret, keyed.JWKSFile = "keyed", "", "/nonexistent/client-jwks.json"
			c.OAuth.Clients = append(c.OAuth.Clients, keyed)
		}, "oauth.clients[1].jwks_file", "does not exist"},
		{"oauth client id empty", func(c *Config) { c.OAuth.Clients[0].ID = "" }, "oauth.clients[0].id", "is required"},
		{"oauth client duplicate", func(c *Config) { c.OAuth.Clients = append(c.OAuth.Clients, c.OAuth.Clients[0]) }, "oauth.clients[1].id", "already used by oauth.clients[0]"},
		{"oauth grant types none", func(c *Config) { c.OAuth.Clients[0].GrantTypes = nil }, "oauth.clients[0].grant_types", "at least one"},
		{"oauth grant type unknown", func(c *Config) { c.OAuth.Clients[0].GrantTypes[1] = "password" }, "oauth.clients[0].grant_types[1]", "not one of"},
		{"oauth grant type twice", func(c *Config) { c.OAuth.Clients[0].GrantTypes[1] = GrantTokenExchange }, "oauth.clients[0].grant_types[1]", "listed twice"},
		{"oauth grant types all ok", func(c *Config) {
			c.OAuth.Clients[0].GrantTypes = []string{GrantTokenExchange, GrantJWTBearer, GrantDeviceCode, GrantRefreshToken}
		}, "", ""},
		{"oauth client scope space", func(c *Config) { c.OAuth.Clients[0].Scopes = []string{"warehouse read"} }, "oauth.clients[0].scopes[0]", "not a scope token"},
		{"oauth client audience empty", func(c *Config) { c.OAuth.Clients[0].Audiences = []string{" "} }, "oauth.clients[0].audiences[0]", "is empty"},
		{"issuer name empty", func(c *Config) { c.OAuth.TrustedTokenIssuers[0].Name = "" }, "oauth.trusted_token_issuers[0].name", "is required"},
		{"issuer duplicate name", func(c *Config) {
			dup := c.OAuth.TrustedTokenIssuers[0]
			dup.Issuer = "https://other.example.com"
			c.OAuth.TrustedTokenIssuers = append(c.OAuth.TrustedTokenIssuers, dup)
		}, "oauth.trusted_token_issuers[1].name", "already used"},
		{"issuer duplicate issuer", func(c *Config) {
			dup := c.OAuth.TrustedTokenIssuers[0]
			dup.Name = "other"
			c.OAuth.TrustedTokenIssuers = append(c.OAuth.TrustedTokenIssuers, dup)
		}, "oauth.trusted_token_issuers[1].issuer", "already used"},
		{"issuer issuer empty", func(c *Config) { c.OAuth.TrustedTokenIssuers[0].Issuer = "" }, "oauth.trusted_token_issuers[0].issuer", "is required"},
		{"issuer jwks both", func(c *Config) { c.OAuth.TrustedTokenIssuers[0].JWKSURL = "https://idp.example.com/jwks" }, "oauth.trusted_token_issuers[0]", "only one of jwks_file, jwks_url"},
		{"issuer jwks none", func(c *Config) { c.OAuth.TrustedTokenIssuers[0].JWKSFile = "" }, "oauth.trusted_token_issuers[0]", "set one of jwks_file, jwks_url"},
		{"issuer jwks url ok", func(c *Config) {
			c.OAuth.TrustedTokenIssuers[0].JWKSFile, c.OAuth.TrustedTokenIssuers[0].JWKSURL = "", "https://idp.example.com/jwks"
		}, "", ""},
		{"issuer jwks url http", func(c *Config) {
			c.OAuth.TrustedTokenIssuers[0].JWKSFile, c.OAuth.TrustedTokenIssuers[0].JWKSURL = "", "http://idp.example.com/jwks"
		}, "oauth.trusted_token_issuers[0].jwks_url", "must use https"},
		{"issuer jwks file missing", func(c *Config) {
			c.OAuth.TrustedTokenIssuers[0].JWKSFile = filepath.Join(os.TempDir(), "no-such-gatehouse-jwks.json")
		}, "oauth.trusted_token_issuers[0].jwks_file", "does not exist"},
		{"issuer audiences none", func(c *Config) { c.OAuth.TrustedTokenIssuers[0].Audiences = nil }, "oauth.trusted_token_issuers[0].audiences", "at least one"},
		{"issuer claim empty", func(c *Config) { c.OAuth.TrustedTokenIssuers[0].Claim = "" }, "oauth.trusted_token_issuers[0].claim", "is required"},
		{"issuer user attribute groups", func(c *Config) { c.OAuth.TrustedTokenIssuers[0].UserAttribute = "groups" }, "oauth.trusted_token_issuers[0].user_attribute", "not one of"},
		{"issuer user attribute custom ok", func(c *Config) { c.OAuth.TrustedTokenIssuers[0].UserAttribute = "attributes.employee_id" }, "", ""},
		{"data service audience empty", func(c *Config) { c.OAuth.DataServices[0].Audience = "" }, "oauth.data_services[0].audience", "is required"},
		{"data service duplicate", func(c *Config) { c.OAuth.DataServices = append(c.OAuth.DataServices, c.OAuth.DataServices[0]) }, "oauth.data_services[1].audience", "already used"},
		{"data service scopes none", func(c *Config) { c.OAuth.DataServices[0].Scopes = nil }, "oauth.data_services[0].scopes", "at least one"},
		{"directory mfa", func(c *Config) { directoryOnly(c).MFA = "sometimes" }, "identity_source.directory.mfa", "required or off"},
		{"directory without device", func(c *Config) { directoryOnly(c).WithoutDevice = "allow" }, "identity_source.directory.without_device", "register or refuse"},
		{"directory password short", func(c *Config) { directoryOnly(c).PasswordMinLength = 6 }, "identity_source.directory.password_min_length", "between 8 and 128"},
		{"directory lockout failures", func(c *Config) { directoryOnly(c).Lockout.MaxFailures = -1 }, "identity_source.directory.lockout.max_failures", "between 1 and 100"},
		{"directory lockout max below base", func(c *Config) {
			d := directoryOnly(c)
			d.Lockout.Duration, d.Lockout.MaxDuration = Duration(time.Hour), Duration(time.Minute)
		}, "identity_source.directory.lockout.max_duration", "at least lockout.duration"},
		{"directory rate window", func(c *Config) { directoryOnly(c).RateLimit.Window = Duration(time.Millisecond) }, "identity_source.directory.rate_limit.window", "at least 1s"},
		{"directory rp id foreign", func(c *Config) { directoryOnly(c).WebAuthnRPID = "evil.example" }, "identity_source.directory.webauthn_rp_id", "parent domain"},
		{"directory all set ok", func(c *Config) {
			d := directoryOnly(c)
			d.MFA, d.WithoutDevice, d.PasswordMinLength, d.Lockout.MaxFailures = "off", "refuse", 8, 3
		}, "", ""},
		{"data service scope quote", func(c *Config) { c.OAuth.DataServices[0].Scopes[1] = `warehouse"write` }, "oauth.data_services[0].scopes[1]", "not a scope token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := loadFull(t) // valid: the positive control for every case
			tc.mutate(c)
			err := c.Validate()
			if tc.path == "" {
				require.NoError(t, err)
				return
			}
			ps := problems(t, err)
			require.Len(t, ps, 1, "problems: %v", ps)
			assert.Equal(t, tc.path, ps[0].Path)
			assert.Contains(t, ps[0].Message, tc.message)
			assert.Contains(t, err.Error(), tc.path+": ")
		})
	}
}

func TestValidateSecretNotEchoed(t *testing.T) {
	c := loadFull(t)
	c.Store = StoreConfig{Driver: DriverPostgres, DSN: "host=db password=hunter2-secret"}
	err := c.Validate()
	ps := problems(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, "store.dsn", ps[0].Path)
	assert.NotContains(t, err.Error(), "hunter2-secret")
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	text := `
external_url: http://gw.example.com
listen: nonsense
trusted_proxies: [not-a-cidr]
store: {driver: mysql}
session: {lifetime: 0s}
identity_source:
  saml:
    clock_skew: 1h
    acs_endpoints:
      - {region: "", url: "http://a.example.com/saml/acs"}
applications:
  - {id: a, name_id_format: x, metadata_xml: "<x/>"}
  - {id: a, metadata_xml: "<x/>", attributes: {pw: password}}
accounts: [{id: "12"}]
permission_sets: [{name: p, session_duration: 13h}]
account_assignments: [{permission_set: q}]
oauth:
  signing_alg: none
  clients: [{id: c, grant_types: [password]}]
  trusted_token_issuers: [{name: i}]
`
	c, err := Parse([]byte(text), "", env())
	require.NoError(t, err)
	err = c.Validate()
	ps := problems(t, err)
	want := []string{
		"external_url",
		"listen",
		"trusted_proxies[0]",
		"store.driver",
		"session.lifetime",
		"identity_source.saml",
		"identity_source.saml.clock_skew",
		"identity_source.saml.acs_endpoints[0].region",
		"identity_source.saml.acs_endpoints[0].url",
		"applications[0].name_id_format",
		"applications[1].id",
		"applications[1].attributes.pw",
		"accounts[0].id",
		"aws.region",
		"permission_sets[0].session_duration",
		"account_assignments[0].permission_set",
		"account_assignments[0]",
		"account_assignments[0]",
		"oauth.signing_alg",
		"oauth.clients[0].grant_types[0]",
		"oauth.trusted_token_issuers[0].issuer",
		"oauth.trusted_token_issuers[0]",
		"oauth.trusted_token_issuers[0].audiences",
		"oauth.trusted_token_issuers[0].claim",
		"oauth.trusted_token_issuers[0].user_attribute",
	}
	assert.Equal(t, want, paths(ps))
	// One problem per line in the message, each with its line number where known.
	lines := strings.Split(err.Error(), "\n")
	assert.Len(t, lines, len(want))
	assert.Equal(t, "external_url: must use https (http is allowed only on a loopback host) (line 2)", lines[0])
	assert.Contains(t, err.Error(), "identity_source.saml.acs_endpoints[0].region: is required (line 11)")
	assert.Contains(t, err.Error(), "aws.region: is required when accounts or permission sets are configured\n")
}

func TestUnknownKeys(t *testing.T) {
	text := fullYAML(t)
	tests := []struct {
		name, old, new, path string
	}{
		{"top level", `listen: "127.0.0.1:8080"`, `listen: "127.0.0.1:8080"` + "\nlisten_addr: x", "listen_addr"},
		{"section", `  dir: "keys"`, `  dir: "keys"` + "\n  rotate: true", "keys.rotate"},
		{"nested in list", `        url: "https://eu-west-1.gw.example.com/saml/acs"`, `        url: "https://eu-west-1.gw.example.com/saml/acs"` + "\n        weight: 2", "identity_source.saml.acs_endpoints[1].weight"},
		{"typo", `    allow_idp_initiated: false`, `    allow_idp_initated: false`, "identity_source.saml.allow_idp_initated"},
		{"deep", `      users: []`, `      users: []` + "\n      roles: [x]", "applications[0].assignments.roles"},
		{"identity source", `  # directory: {}`, `  ldap: {}`, "identity_source.ldap"},
		{"directory has no keys", `  # directory: {}`, `  directory: {password: true}`, "identity_source.directory.password"},
		{"flow mapping", `  region: "us-east-1"`, `  region: "us-east-1"` + "\n  profile: {name: x}", "aws.profile"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseEdited(t, tc.old, tc.new, nil)
			ps := problems(t, err)
			edited := strings.Replace(text, tc.old, tc.new, 1)
			key := tc.path[strings.LastIndex(tc.path, ".")+1:]
			require.NotEmpty(t, ps)
			assert.Equal(t, tc.path, ps[0].Path)
			assert.Contains(t, ps[0].Message, "unknown key")
			if tc.name != "directory has no keys" { // that one also selects a second identity source
				assert.Len(t, ps, 1, "%v", ps)
			}
			assert.Equal(t, lineOfText(t, edited, key+":"), ps[0].Line)
		})
	}

	// Several unknown keys are all reported, followed by the other problems
	// of the file.
	_, err := Parse([]byte("external_url: https://x\nfoo: 1\nstore: {bar: 2, driver: sqlite}\noauth:\n  clients: [{id: a, baz: 3}]\n"), "", env())
	assert.Equal(t, []string{"foo", "store.bar", "oauth.clients[0].baz", "listen", "identity_source", "oauth.clients[0].grant_types"},
		paths(problems(t, err)))
}

func TestParseProblemsComeWithValidationProblems(t *testing.T) {
	// A typo'd key, an unset variable and a wrong type, plus two invalid
	// values elsewhere: all five are named, and the keys whose values could
	// not be read are not reported twice.
	text := `
external_url: http://gw.example.com
listn: 127.0.0.1:8080
trusted_proxies: ["${PROXY_CIDR}"]
session: {lifetime: forever}
store: {driver: mysql}
identity_source:
  directory: {}
`
	_, err := Parse([]byte(text), "", env())
	ps := problems(t, err)
	assert.Equal(t, []string{"listn", "trusted_proxies[0]", "session.lifetime", "external_url", "listen", "store.driver"}, paths(ps))
	assert.Contains(t, ps[0].Message, "unknown key")
	assert.Contains(t, ps[1].Message, "PROXY_CIDR is not set")
	assert.Contains(t, ps[2].Message, "invalid duration")
	assert.Contains(t, ps[4].Message, "is required")
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, text, path, message string
	}{
		{"duplicate key", "listen: a:1\nlisten: b:2\n", "listen", "duplicate key (first set at line 1)"},
		{"anchor", "listen: &l a:1\ntelemetry_listen: *l\n", "listen", "anchors and aliases"},
		{"merge key", "store: {driver: sqlite}\nkeys:\n  <<: {dir: x}\n", "keys.<<", "merge keys"},
		{"wrong type", "listen: [1, 2]\n", "listen", "cannot unmarshal"},
		{"bad duration", "session:\n  lifetime: 8 hours\n", "session.lifetime", "invalid duration"},
		{"integer duration", "session:\n  lifetime: 3600\n", "session.lifetime", "invalid duration"},
		{"bool for list", "trusted_proxies: true\n", "trusted_proxies", "cannot unmarshal"},
		{"flow mapping, one deepest key", "session: {lifetime: [1]}\n", "session.lifetime", "a duration must be a string"},
		{"flow mapping, ambiguous line", "store: {driver: [x], dsn: y}\n", "store", "cannot unmarshal"},
		{"non-string key", "? [a]\n: b\n", "", "keys must be plain strings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.text), "", env())
			ps := problems(t, err)
			require.NotEmpty(t, ps)
			assert.Equal(t, tc.path, ps[0].Path)
			assert.Contains(t, ps[0].Message, tc.message)
			assert.Positive(t, ps[0].Line)
		})
	}

	for name, text := range map[string]string{
		"empty":           "",
		"comment only":    "# nothing\n",
		"two documents":   "listen: a:1\n---\nlisten: b:2\n",
		"list at top":     "- a\n- b\n",
		"scalar at top":   "hello\n",
		"syntax error":    "listen: [\n",
		"tab indentation": "store:\n\tdriver: sqlite\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Parse([]byte(text), "", env())
			require.Error(t, err)
			assert.Nil(t, c)
		})
	}

	_, err := Parse(bytes.Repeat([]byte("#"), MaxFileSize+1), "", env())
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestEnvExpansion(t *testing.T) {
	text := `
external_url: "${SCHEME}://${HOST}"
listen: ${LISTEN}
store:
  driver: postgres
  dsn: "postgres://gh:${DB_PASSWORD}@db/gh?sslmode=disable"
identity_source:
  saml:
    metadata_url: https://idp.example.com/md?price=$5
    allow_idp_initiated: ${ALLOW}
    jit_provisioning: ${JIT}
    clock_skew: ${SKEW}
    entity_id: "urn:x:$${NOT_EXPANDED}"
    acs_endpoints:
      - {region: "${REGION}", url: "https://gw.example.com/saml/acs"}
oauth:
  clients:
    - id: ${ACCOUNT_LIKE}
      secret: ${YAML_LOOKALIKE}
      grant_types: [refresh_token]
`
	lookup := env(
		"SCHEME", "https", "HOST", "gw.example.com", "LISTEN", "0.0.0.0:8443",
		"DB_PASSWORD", "p@ss:word", "ALLOW", "true", "JIT", "true", "SKEW", "2m",
		"REGION", "eu-central-1", "ACCOUNT_LIKE", "012345678901",
		"YAML_LOOKALIKE", "a: b\n- c\n[x]",
	)
	c, err := Parse([]byte(text), "", lookup)
	require.NoError(t, err)
	assert.Equal(t, "https://gw.example.com", c.ExternalURL)
	assert.Equal(t, "0.0.0.0:8443", c.Listen)
	assert.Equal(t, "postgres://gh:p@ss:word@db/gh?sslmode=disable", c.Store.DSN.Value())
	assert.Equal(t, "https://idp.example.com/md?price=$5", c.IdentitySource.SAML.MetadataURL, "a lone $ is kept")
	assert.True(t, c.IdentitySource.SAML.AllowIDPInitiated, "a plain scalar takes its expanded type")
	assert.Equal(t, 2*time.Minute, c.IdentitySource.SAML.ClockSkew.Std())
	assert.Equal(t, "urn:x:${NOT_EXPANDED}", c.IdentitySource.SAML.EntityID, "$${ is a literal ${")
	assert.Equal(t, "eu-central-1", c.IdentitySource.SAML.ACSEndpoints[0].Region)
	assert.Equal(t, "012345678901", c.OAuth.Clients[0].ID, "digits stay text")
	assert.Equal(t, Secret("a: b\n- c\n[x]"), c.OAuth.Clients[0].Secret, "a value never adds structure")

	// A quoted scalar stays a string: "true" cannot go into a bool.
	_, err = Parse([]byte("identity_source:\n  saml:\n    jit_provisioning: \"${JIT}\"\n"), "", env("JIT", "true"))
	require.Error(t, err)

	// Unset variables are all named, with their paths and lines.
	_, err = Parse([]byte(text), "", env("SCHEME", "https"))
	ps := problems(t, err)
	var msgs []string
	for _, p := range ps {
		msgs = append(msgs, p.String())
	}
	assert.Contains(t, msgs, "external_url: environment variable HOST is not set (line 2)")
	assert.Contains(t, msgs, "listen: environment variable LISTEN is not set (line 3)")
	assert.Contains(t, msgs, "store.dsn: environment variable DB_PASSWORD is not set (line 6)")
	assert.Contains(t, msgs, "oauth.clients[0].secret: environment variable YAML_LOOKALIKE is not set (line 19)")
	assert.Len(t, ps, 9)

	// Set but empty counts as set; an empty secret is then reported.
	c, err = parseEdited(t, "${BI_TOOL_SECRET}", "${BI_TOOL_SECRET}", env("BI_TOOL_SECRET", ""))
	require.NoError(t, err)
	ps = problems(t, c.Validate())
	require.Len(t, ps, 1)
	assert.Equal(t, "oauth.clients[0].secret", ps[0].Path)
	assert.Contains(t, ps[0].Message, "leave the key out for a public client")
	assert.Equal(t, 67, ps[0].Line)

	// Without the key, the client is public.
	c, err = parseEdited(t, `      secret: "${BI_TOOL_SECRET}"         # absent: public client`+"\n", "", env())
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	assert.Empty(t, c.OAuth.Clients[0].Secret)

	for _, bad := range []string{"${", "${NAME", "${}", "${1X}", "${A-B}", "x${A}${"} {
		t.Run(bad, func(t *testing.T) {
			_, err := Parse([]byte(minimalYAML+"telemetry_listen: \""+bad+"\"\n"), "", env("A", "a", "NAME", "n"))
			ps := problems(t, err)
			require.Len(t, ps, 1)
			assert.Equal(t, "telemetry_listen", ps[0].Path)
		})
	}
}

func TestEnvDefaultsToProcessEnvironment(t *testing.T) {
	t.Setenv("GATEHOUSE_TEST_LISTEN", "127.0.0.1:7000")
	c, err := Parse([]byte("listen: ${GATEHOUSE_TEST_LISTEN}\n"), "", nil)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:7000", c.Listen)
}

func TestRelativePaths(t *testing.T) {
	base := filepath.FromSlash("/etc/gatehouse")
	abs := filepath.FromSlash("/var/lib/gh/md.xml")
	text := fmt.Sprintf(`
keys: {dir: ../keys}
admin: {token_file: secrets/admin.token}
identity_source:
  saml: {metadata_file: %q}
applications:
  - {id: a, metadata_file: sp/a.xml}
permission_sets:
  - {name: p, inline_policy_file: policies/p.json}
oauth:
  trusted_token_issuers:
    - {name: i, jwks_file: jwks.json}
`, abs)
	c, err := Parse([]byte(text), base, env())
	require.NoError(t, err)
	assert.Equal(t, filepath.FromSlash("/etc/keys"), c.Keys.Dir)
	assert.Equal(t, filepath.Join(base, "secrets", "admin.token"), c.Admin.TokenFile)
	assert.Equal(t, abs, c.IdentitySource.SAML.MetadataFile, "absolute paths are kept")
	assert.Equal(t, filepath.Join(base, "sp", "a.xml"), c.Applications[0].MetadataFile)
	assert.Equal(t, filepath.Join(base, "policies", "p.json"), c.PermissionSets[0].InlinePolicyFile)
	assert.Equal(t, filepath.Join(base, "jwks.json"), c.OAuth.TrustedTokenIssuers[0].JWKSFile)
	assert.Equal(t, filepath.Join(base, "gatehouse.db"), c.Store.DSN.Value())

	for dsn, want := range map[string]string{
		"data/gh.db":                         filepath.Join(base, "data", "gh.db"),
		"/var/lib/gh.db":                     "/var/lib/gh.db",
		":memory:":                           ":memory:",
		"file::memory:?cache=shared":         "file::memory:?cache=shared",
		"file:gh.db?_pragma=foreign_keys(1)": "file:" + filepath.Join(base, "gh.db") + "?_pragma=foreign_keys(1)",
		"file:/abs/gh.db":                    "file:/abs/gh.db",
	} {
		c, err := Parse([]byte("store: {driver: sqlite, dsn: \""+dsn+"\"}\n"), base, env())
		require.NoError(t, err)
		assert.Equal(t, want, c.Store.DSN.Value(), dsn)
	}
	c, err = Parse([]byte("store: {driver: postgres, dsn: \"postgres://db/gh\"}\n"), base, env())
	require.NoError(t, err)
	assert.Equal(t, "postgres://db/gh", c.Store.DSN.Value(), "a postgres URL is not a path")
}

func TestLoadResolvesAgainstConfigFolder(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "conf"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "conf", "idp.xml"), []byte("<x/>"), 0o600))
	cfgPath := filepath.Join(dir, "conf", "gatehouse.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(`
external_url: https://gw.example.com
listen: 127.0.0.1:0
identity_source:
  saml:
    metadata_file: idp.xml
    acs_endpoints: [{region: r, url: "https://gw.example.com/saml/acs"}]
`), 0o600))
	t.Chdir(dir) // the working folder must not matter
	c, err := Load(filepath.Join("conf", "gatehouse.yaml"), env())
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	assert.Equal(t, filepath.Join(dir, "conf", "idp.xml"), c.IdentitySource.SAML.MetadataFile)
	assert.Equal(t, filepath.Join(dir, "conf", "gatehouse.db"), c.Store.DSN.Value())

	_, err = Load(filepath.Join(dir, "missing.yaml"), env())
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestSecretRedaction(t *testing.T) {
	c := loadFull(t)
	cl := c.OAuth.Clients[0]
	assert.Equal(t, testSecret, cl.Secret.Value())
	for _, s := range []string{fmt.Sprint(cl), fmt.Sprintf("%+v", cl), fmt.Sprintf("%#v", cl), fmt.Sprintf("%s", cl.Secret)} {
		assert.NotContains(t, s, testSecret)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secret", cl.Secret, "dsn", c.Store.DSN)
	assert.NotContains(t, buf.String(), testSecret)
	assert.Contains(t, buf.String(), `"secret":"[REDACTED]"`)
	assert.Equal(t, "", Secret("").String())
}

func TestProblemString(t *testing.T) {
	assert.Equal(t, "a.b: bad (line 3)", Problem{Path: "a.b", Message: "bad", Line: 3}.String())
	assert.Equal(t, "a.b: bad", Problem{Path: "a.b", Message: "bad"}.String())
	assert.Equal(t, "bad", Problem{Message: "bad"}.String())
	err := error(&ValidationError{Problems: []Problem{{Path: "x", Message: "one"}, {Path: "y", Message: "two"}}})
	assert.Equal(t, "x: one\ny: two", err.Error())
	var ve *ValidationError
	assert.True(t, errors.As(fmt.Errorf("wrapped: %w", err), &ve))
}

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.9.9.9": true, "::1": true, "[::1]": true,
		"::ffff:127.0.0.1": true, "example.com": false, "10.0.0.1": false, "localhost.example.com": false, "": false,
	} {
		assert.Equal(t, want, IsLoopbackHost(host), host)
	}
}

func TestIsUserField(t *testing.T) {
	for f, want := range map[string]bool{
		"id": true, "email": true, "groups": true, "attributes.dept": true, "attributes.a.b": true,
		"attributes.": false, "attributes": false, "password": false, "Email": false, "": false, "attributes.a b": false,
	} {
		assert.Equal(t, want, IsUserField(f), f)
	}
}

func FuzzParse(f *testing.F) {
	full, err := os.ReadFile(filepath.Join("testdata", "full.yaml"))
	require.NoError(f, err)
	f.Add(full)
	f.Add([]byte(minimalYAML))
	f.Add([]byte("listen: ${A}\nstore: {dsn: \"$${A}\"}\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Add([]byte("identity_source:\n  directory:\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "/base", env("A", "1", "BI_TOOL_SECRET", "s"))
		if err != nil {
			require.Nil(t, c)
			require.NotEmpty(t, err.Error())
			return
		}
		require.NotNil(t, c)
		if err := c.Validate(); err != nil {
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			require.NotEmpty(t, ve.Problems)
		}
	})
}

// directoryOnly switches c to the directory identity source and returns
// its settings.
func directoryOnly(c *Config) *DirectoryConfig {
	c.IdentitySource.SAML = nil
	c.IdentitySource.Directory = &DirectoryConfig{}
	return c.IdentitySource.Directory
}
