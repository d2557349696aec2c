package config

import (
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Defaults.
const (
	DefaultSQLiteDSN           = "gatehouse.db"
	DefaultKeysDir             = "keys"
	DefaultAdminTokenFile      = "admin.token"
	DefaultSessionLifetime     = 8 * time.Hour
	DefaultMetadataRefresh     = time.Hour
	DefaultClockSkew           = 90 * time.Second
	DefaultSessionDuration     = time.Hour
	DefaultAccessTokenLifetime = time.Hour
	// Refresh tokens and device codes (RFC 8628 suggests minutes).
	DefaultRefreshTokenLifetime  = 8 * time.Hour
	DefaultRefreshFamilyLifetime = 30 * 24 * time.Hour
	DefaultDeviceCodeLifetime    = 10 * time.Minute
	// SCIM bearer tokens: a year, reported 30 days before they expire.
	DefaultSCIMTokenLifetime      = 365 * 24 * time.Hour
	DefaultSCIMTokenExpiryWarning = 30 * 24 * time.Hour
	DefaultSigningAlg             = AlgES256
	DefaultNameIDFormat           = NameIDUnspecified
	DefaultEmailAttribute         = "email"
	DefaultDisplayNameAttr        = "displayName"
	DefaultGroupsAttribute        = "groups"
	// Built-in directory sign-in.
	DefaultDirectoryMFA       = "required"
	DefaultWithoutDevice      = "register"
	DefaultPasswordMinLength  = 12
	DefaultLockoutFailures    = 5
	DefaultLockoutDuration    = time.Minute
	DefaultLockoutMaxDuration = time.Hour
	DefaultRateLimitFailures  = 20
	DefaultRateLimitWindow    = 10 * time.Minute
	// Tracing: a tenth of new traces, as service "gatehouse".
	DefaultTracingSampleRatio = 0.1
	DefaultTracingServiceName = "gatehouse"
	// SPMetadataPath is appended to external_url for the default SP entity ID.
	SPMetadataPath = "/saml/sp/metadata"
)

// ApplyDefaults fills in every setting left out. An empty string means the
// default. A duration key present in a parsed file keeps its value even when
// it is zero (so "clock_skew: 0s" means no skew, and "lifetime: 0s" is
// reported by Validate); in a Config built in code, a zero duration is
// replaced by the default. A trailing "/" is removed
// from external_url. Calling it twice changes nothing.
func (c *Config) ApplyDefaults() {
	c.ExternalURL = strings.TrimRight(c.ExternalURL, "/")
	if c.Store.Driver == "" {
		c.Store.Driver = DriverSQLite
	}
	if c.Store.Driver == DriverSQLite && c.Store.DSN == "" {
		c.Store.DSN = DefaultSQLiteDSN
	}
	if c.Keys.Dir == "" {
		c.Keys.Dir = DefaultKeysDir
	}
	defaultDuration(c, &c.Keys.ReloadInterval, "keys.reload_interval", DefaultKeyReloadInterval)
	if c.Keys.Rings == "" {
		c.Keys.Rings = RingsDir
		if c.Store.Driver == DriverPostgres {
			c.Keys.Rings = RingsStore
		}
	}
	if c.Admin.TokenFile == "" {
		c.Admin.TokenFile = DefaultAdminTokenFile
	}
	defaultDuration(c, &c.Session.Lifetime, "session.lifetime", DefaultSessionLifetime)

	if s := c.IdentitySource.SAML; s != nil {
		const p = "identity_source.saml."
		if s.EntityID == "" && c.ExternalURL != "" {
			s.EntityID = c.ExternalURL + SPMetadataPath
		}
		defaultDuration(c, &s.MetadataRefresh, p+"metadata_refresh", DefaultMetadataRefresh)
		defaultDuration(c, &s.ClockSkew, p+"clock_skew", DefaultClockSkew)
		defaultString(&s.Attributes.Email, DefaultEmailAttribute)
		defaultString(&s.Attributes.DisplayName, DefaultDisplayNameAttr)
		defaultString(&s.Attributes.Groups, DefaultGroupsAttribute)
	}
	if d := c.IdentitySource.Directory; d != nil {
		const p = "identity_source.directory."
		defaultString(&d.MFA, DefaultDirectoryMFA)
		defaultString(&d.WithoutDevice, DefaultWithoutDevice)
		if d.PasswordMinLength == 0 {
			d.PasswordMinLength = DefaultPasswordMinLength
		}
		if d.Lockout.MaxFailures == 0 {
			d.Lockout.MaxFailures = DefaultLockoutFailures
		}
		defaultDuration(c, &d.Lockout.Duration, p+"lockout.duration", DefaultLockoutDuration)
		defaultDuration(c, &d.Lockout.MaxDuration, p+"lockout.max_duration", DefaultLockoutMaxDuration)
		if d.RateLimit.Failures == 0 {
			d.RateLimit.Failures = DefaultRateLimitFailures
		}
		defaultDuration(c, &d.RateLimit.Window, p+"rate_limit.window", DefaultRateLimitWindow)
	}
	for i := range c.Applications {
		a := &c.Applications[i]
		if a.Name == "" {
			a.Name = a.ID
		}
		defaultString(&a.NameIDFormat, DefaultNameIDFormat)
	}
	for i := range c.PermissionSets {
		defaultDuration(c, &c.PermissionSets[i].SessionDuration, index("permission_sets", i)+".session_duration", DefaultSessionDuration)
	}
	defaultDuration(c, &c.OAuth.AccessTokenLifetime, "oauth.access_token_lifetime", DefaultAccessTokenLifetime)
	defaultString(&c.OAuth.SigningAlg, DefaultSigningAlg)
	defaultDuration(c, &c.OAuth.RefreshTokenLifetime, "oauth.refresh_token_lifetime", DefaultRefreshTokenLifetime)
	defaultDuration(c, &c.OAuth.RefreshFamilyLifetime, "oauth.refresh_family_lifetime", DefaultRefreshFamilyLifetime)
	defaultDuration(c, &c.OAuth.DeviceCodeLifetime, "oauth.device_code_lifetime", DefaultDeviceCodeLifetime)
	defaultDuration(c, &c.SCIM.TokenLifetime, "scim.token_lifetime", DefaultSCIMTokenLifetime)
	defaultDuration(c, &c.SCIM.TokenExpiryWarning, "scim.token_expiry_warning", DefaultSCIMTokenExpiryWarning)
	// An explicit sample_ratio of 0 in a file means sample no new trace.
	if c.Tracing.SampleRatio == 0 && !c.has("tracing.sample_ratio") {
		c.Tracing.SampleRatio = DefaultTracingSampleRatio
	}
	defaultString(&c.Tracing.ServiceName, DefaultTracingServiceName)
}

func defaultDuration(c *Config, d *Duration, path string, def time.Duration) {
	if *d == 0 && !c.has(path) {
		*d = Duration(def)
	}
}

func defaultString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// resolvePaths makes every relative file path absolute against baseDir.
func (c *Config) resolvePaths(baseDir string) {
	if baseDir == "" {
		return
	}
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(baseDir, *p)
		}
	}
	abs(&c.Keys.Dir)
	abs(&c.Admin.TokenFile)
	if c.Store.Driver == DriverSQLite {
		c.Store.DSN = Secret(resolveSQLiteDSN(c.Store.DSN.Value(), baseDir))
	}
	if s := c.IdentitySource.SAML; s != nil {
		abs(&s.MetadataFile)
	}
	for i := range c.Applications {
		abs(&c.Applications[i].MetadataFile)
	}
	for i := range c.PermissionSets {
		abs(&c.PermissionSets[i].InlinePolicyFile)
	}
	for i := range c.OAuth.Clients {
		abs(&c.OAuth.Clients[i].JWKSFile)
	}
	for i := range c.OAuth.TrustedTokenIssuers {
		abs(&c.OAuth.TrustedTokenIssuers[i].JWKSFile)
	}
}

// resolveSQLiteDSN resolves the file path of a SQLite DSN, either a plain path
// or a "file:PATH?params" URI; in-memory databases are left alone.
func resolveSQLiteDSN(dsn, baseDir string) string {
	if dsn == "" || dsn == ":memory:" || strings.HasPrefix(dsn, "file::memory:") {
		return dsn
	}
	if rest, ok := strings.CutPrefix(dsn, "file:"); ok {
		path, query, hasQuery := strings.Cut(rest, "?")
		if path == "" || filepath.IsAbs(path) || strings.HasPrefix(path, "//") {
			return dsn
		}
		out := "file:" + filepath.Join(baseDir, path)
		if hasQuery {
			out += "?" + query
		}
		return out
	}
	if filepath.IsAbs(dsn) {
		return dsn
	}
	return filepath.Join(baseDir, dsn)
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
