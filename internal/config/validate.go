package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Problem is one thing wrong with a config.
type Problem struct {
	// Path is the YAML path of the offending key, such as
	// "identity_source.saml.acs_endpoints[1].url"; empty when unknown.
	Path string
	// Message says what is wrong. It never contains a secret's value.
	Message string
	// Line is the line in the file, or 0 when unknown.
	Line int
}

// String formats the problem as "path: message (line N)".
func (p Problem) String() string {
	s := p.Message
	if p.Path != "" {
		s = p.Path + ": " + s
	}
	if p.Line > 0 {
		s += " (line " + strconv.Itoa(p.Line) + ")"
	}
	return s
}

// ValidationError lists every problem found in a config.
type ValidationError struct {
	Problems []Problem
}

// Error lists the problems, one per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Bounds checked by Validate.
const (
	MaxSessionLifetime     = 7 * 24 * time.Hour
	MinMetadataRefresh     = time.Minute
	MaxClockSkew           = 10 * time.Minute
	MinSessionDuration     = time.Hour
	MaxSessionDuration     = 12 * time.Hour
	MaxAccessTokenLifetime = 24 * time.Hour
	// MaxRefreshFamilyLifetime bounds refresh tokens and their families.
	MaxRefreshFamilyLifetime = 90 * 24 * time.Hour
	// MaxDeviceCodeLifetime bounds device_code_lifetime.
	MaxDeviceCodeLifetime = 30 * time.Minute
	maxEntityIDLength     = 1024 // SAML core 8.3.6
)

var (
	reAccountID   = regexp.MustCompile(`^[0-9]{12}$`)
	reAppID       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	reRegion      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	reAWSRegion   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	rePermSetName = regexp.MustCompile(`^[A-Za-z0-9_+=,.@-]{1,32}$`)
	reSessionTag  = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
	reRoleARN     = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::([0-9]{12}):role/[A-Za-z0-9_+=,.@/-]{1,512}$`)
	rePolicyARN   = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::(aws|[0-9]{12}):policy/[A-Za-z0-9_+=,.@/-]{1,512}$`)
	reAttrKey     = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$`)
	reScope       = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,256}$`) // RFC 6749 3.3 scope-token
)

// IsUserField reports whether s names a user field that an application
// attribute may carry: id, user_name, email, display_name, given_name,
// family_name, external_id, groups, or attributes.<key>.
func IsUserField(s string) bool {
	switch s {
	case "id", "user_name", "email", "display_name", "given_name", "family_name", "external_id", "groups":
		return true
	}
	k, ok := strings.CutPrefix(s, "attributes.")
	return ok && reAttrKey.MatchString(k)
}

// isMatchAttribute reports whether s is a user attribute that identifies one
// user, for matching external tokens: id, user_name, email, external_id or
// attributes.<key>.
func isMatchAttribute(s string) bool {
	switch s {
	case "id", "user_name", "email", "external_id":
		return true
	}
	k, ok := strings.CutPrefix(s, "attributes.")
	return ok && reAttrKey.MatchString(k)
}

// Validate checks the whole config and returns a *ValidationError listing
// every problem, or nil. It expects ApplyDefaults to have run (Load and Parse
// do that). It checks that the input files it names (metadata, JWKS, inline
// policies) exist.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.top()
	v.store()
	v.session()
	v.identitySource()
	v.applications()
	accounts := v.accounts()
	v.aws()
	sets := v.permissionSets()
	v.accountAssignments(sets, accounts)
	v.oauth()
	v.scim()
	v.tracing()
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

type validator struct {
	c        *Config
	problems []Problem
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...), Line: v.c.lineOf(path)})
}

func (v *validator) top() {
	c := v.c
	switch {
	case c.ExternalURL == "":
		v.add("external_url", "is required")
	default:
		v.url("external_url", c.ExternalURL, urlOpts{noQuery: true})
	}
	v.listen("listen", c.Listen, true)
	v.listen("telemetry_listen", c.TelemetryListen, false)
	if c.TelemetryListen != "" && c.TelemetryListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		v.add("telemetry_listen", "must differ from listen")
	}
	for i, s := range c.TrustedProxies {
		p := index("trusted_proxies", i)
		pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
		switch {
		case err != nil:
			v.add(p, "%q is not a CIDR such as 10.0.0.0/8 or 192.0.2.1/32", truncate(s, 64))
		case pfx != pfx.Masked():
			v.add(p, "%q has bits set after the prefix length; did you mean %s?", s, pfx.Masked())
		}
	}
	if c.Keys.Dir == "" {
		v.add("keys.dir", "is required")
	}
	v.durationRange("keys.reload_interval", c.Keys.ReloadInterval, time.Second, time.Hour, "at least 1s")
	if c.Keys.Rings != RingsDir && c.Keys.Rings != RingsStore {
		v.add("keys.rings", "%q is not one of %s, %s", truncate(c.Keys.Rings, 32), RingsDir, RingsStore)
	}
}

func (v *validator) listen(path, addr string, required bool) {
	if addr == "" {
		if required {
			v.add(path, "is required (host:port, such as 127.0.0.1:8080)")
		}
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(path, "%q is not host:port, such as 127.0.0.1:8080", truncate(addr, 64))
		return
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port != strconv.FormatUint(n, 10) {
		v.add(path, "port %q is not a number from 0 to 65535", truncate(port, 16))
	}
	if strings.ContainsAny(host, " /@?#") {
		v.add(path, "host %q is not a host name or IP address", truncate(host, 64))
	}
}

func (v *validator) store() {
	s := v.c.Store
	switch s.Driver {
	case DriverSQLite:
		if s.DSN == "" {
			v.add("store.dsn", "is required: the SQLite database file")
		}
	case DriverPostgres:
		dsn := s.DSN.Value()
		if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
			v.add("store.dsn", "must be a PostgreSQL URL (postgres://...) when the driver is postgres")
		} else if _, err := url.Parse(dsn); err != nil {
			v.add("store.dsn", "is not a valid URL") // the value may hold a password: not echoed
		}
	default:
		v.add("store.driver", "%q is not one of sqlite, postgres", truncate(s.Driver, 32))
	}
}

func (v *validator) session() {
	v.durationRange("session.lifetime", v.c.Session.Lifetime, time.Nanosecond, MaxSessionLifetime, "more than 0")
	if d := v.c.Session.CookieDomain; d != "" {
		if !reCookieDomain.MatchString(d) {
			v.add("session.cookie_domain", "%q is not a domain name", truncate(d, 64))
			return
		}
		if s := v.c.IdentitySource.SAML; s != nil {
			for i, e := range s.ACSEndpoints {
				u, err := url.Parse(e.URL)
				if err != nil || u.Hostname() == "" {
					continue
				}
				if h := strings.ToLower(u.Hostname()); h != d && !strings.HasSuffix(h, "."+d) {
					v.add("session.cookie_domain", "%q does not cover acs_endpoints[%d] host %q", d, i, truncate(h, 64))
				}
			}
		}
	}
}

// reCookieDomain matches a lower-case DNS name with at least two labels.
var reCookieDomain = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// durationRange checks min <= d <= max.
func (v *validator) durationRange(path string, d Duration, minD, maxD time.Duration, minText string) {
	switch {
	case d.Std() < minD:
		v.add(path, "must be %s (got %s)", minText, d)
	case d.Std() > maxD:
		v.add(path, "must be at most %s (got %s)", maxD, d)
	}
}

func (v *validator) identitySource() {
	is := v.c.IdentitySource
	switch {
	case is.SAML == nil && is.Directory == nil:
		v.add("identity_source", "choose one of saml or directory")
	case is.SAML != nil && is.Directory != nil:
		v.add("identity_source", "set only one of saml or directory")
	}
	if is.SAML != nil {
		v.saml(is.SAML)
	}
	if is.Directory != nil {
		v.directory(is.Directory)
	}
}

// directory checks the directory sign-in settings; a zero value means the
// default (ApplyDefaults fills it in).
func (v *validator) directory(d *DirectoryConfig) {
	const p = "identity_source.directory"
	if d.MFA != "" && d.MFA != "required" && d.MFA != "off" {
		v.add(p+".mfa", "must be required or off (got %q)", d.MFA)
	}
	if d.WithoutDevice != "" && d.WithoutDevice != "register" && d.WithoutDevice != "refuse" {
		v.add(p+".without_device", "must be register or refuse (got %q)", d.WithoutDevice)
	}
	if d.PasswordMinLength != 0 && (d.PasswordMinLength < 8 || d.PasswordMinLength > 128) {
		v.add(p+".password_min_length", "must be between 8 and 128 (got %d)", d.PasswordMinLength)
	}
	if d.Lockout.MaxFailures != 0 && (d.Lockout.MaxFailures < 1 || d.Lockout.MaxFailures > 100) {
		v.add(p+".lockout.max_failures", "must be between 1 and 100 (got %d)", d.Lockout.MaxFailures)
	}
	if d.Lockout.Duration != 0 {
		v.durationRange(p+".lockout.duration", d.Lockout.Duration, time.Second, 24*time.Hour, "at least 1s")
	}
	if d.Lockout.MaxDuration != 0 {
		v.durationRange(p+".lockout.max_duration", d.Lockout.MaxDuration, d.Lockout.Duration.Std(), 7*24*time.Hour, "at least lockout.duration")
	}
	if d.RateLimit.Failures != 0 && (d.RateLimit.Failures < 1 || d.RateLimit.Failures > 10000) {
		v.add(p+".rate_limit.failures", "must be between 1 and 10000 (got %d)", d.RateLimit.Failures)
	}
	if d.RateLimit.Window != 0 {
		v.durationRange(p+".rate_limit.window", d.RateLimit.Window, time.Second, 24*time.Hour, "at least 1s")
	}
	if d.WebAuthnRPID != "" {
		if u, err := url.Parse(v.c.ExternalURL); err == nil && u.Hostname() != "" {
			h := u.Hostname()
			if h != d.WebAuthnRPID && !strings.HasSuffix(h, "."+d.WebAuthnRPID) {
				v.add(p+".webauthn_rp_id", "must be the host of external_url (%s) or a parent domain of it (got %q)", h, d.WebAuthnRPID)
			}
		}
	}
}

func (v *validator) saml(s *SAMLSourceConfig) {
	const p = "identity_source.saml"
	switch {
	case s.EntityID == "" && v.c.ExternalURL != "":
		v.add(p+".entity_id", "is required")
	case len(s.EntityID) > maxEntityIDLength:
		v.add(p+".entity_id", "is longer than %d characters", maxEntityIDLength)
	}
	v.oneOf(p, []string{"metadata_file", "metadata_url"}, s.MetadataFile, s.MetadataURL)
	v.file(p+".metadata_file", s.MetadataFile)
	if s.MetadataURL != "" {
		v.url(p+".metadata_url", s.MetadataURL, urlOpts{})
	}
	if s.MetadataRefresh.Std() < MinMetadataRefresh {
		v.add(p+".metadata_refresh", "must be at least %s (got %s)", MinMetadataRefresh, s.MetadataRefresh)
	}
	v.durationRange(p+".clock_skew", s.ClockSkew, 0, MaxClockSkew, "0s or more")
	if len(s.ACSEndpoints) == 0 {
		v.add(p+".acs_endpoints", "at least one endpoint is required")
	}
	regions := map[string]int{}
	urls := map[string]int{}
	for i, e := range s.ACSEndpoints {
		ep := index(p+".acs_endpoints", i)
		switch {
		case e.Region == "":
			v.add(ep+".region", "is required")
		case !reRegion.MatchString(e.Region):
			v.add(ep+".region", "%q may hold only letters, digits, '.', '_' and '-' (at most 63)", truncate(e.Region, 64))
		default:
			if j, dup := regions[e.Region]; dup {
				v.add(ep+".region", "%q is already used by acs_endpoints[%d]", e.Region, j)
			} else {
				regions[e.Region] = i
			}
		}
		if e.URL == "" {
			v.add(ep+".url", "is required")
			continue
		}
		if v.url(ep+".url", e.URL, urlOpts{needPath: true}) {
			if j, dup := urls[e.URL]; dup {
				v.add(ep+".url", "is already used by acs_endpoints[%d]", j)
			} else {
				urls[e.URL] = i
			}
		}
	}
}

var nameIDFormats = []string{NameIDEmailAddress, NameIDPersistent, NameIDTransient, NameIDUnspecified}

func (v *validator) applications() {
	ids := map[string]int{}
	for i, a := range v.c.Applications {
		p := index("applications", i)
		switch {
		case a.ID == "":
			v.add(p+".id", "is required")
		case !reAppID.MatchString(a.ID):
			v.add(p+".id", "%q may hold only letters, digits, '.', '_' and '-' (at most 64, not starting with '.', '_' or '-')", truncate(a.ID, 64))
		default:
			if j, dup := ids[a.ID]; dup {
				v.add(p+".id", "%q is already used by applications[%d]", a.ID, j)
			} else {
				ids[a.ID] = i
			}
		}
		if a.Sign != "" && !slices.Contains([]string{"assertion", "response", "both"}, a.Sign) {
			v.add(p+".sign", "%q is not one of assertion, response, both", truncate(a.Sign, 32))
		}
		if !slices.Contains(nameIDFormats, a.NameIDFormat) {
			v.add(p+".name_id_format", "%q is not one of %s", truncate(a.NameIDFormat, 64), strings.Join(nameIDFormats, ", "))
		}
		v.oneOf(p, []string{"metadata_file", "metadata_url", "metadata_xml"}, a.MetadataFile, a.MetadataURL, a.MetadataXML)
		v.file(p+".metadata_file", a.MetadataFile)
		if a.MetadataURL != "" {
			v.url(p+".metadata_url", a.MetadataURL, urlOpts{})
		}
		for _, name := range sortedKeys(a.Attributes) {
			ap := p + ".attributes." + name
			if strings.TrimSpace(name) == "" {
				v.add(p+".attributes", "a SAML attribute name is empty")
				continue
			}
			if field := a.Attributes[name]; !IsUserField(field) {
				v.add(ap, "%q is not a user field (id, user_name, email, display_name, given_name, family_name, external_id, groups, attributes.<key>)", truncate(field, 64))
			}
		}
		v.nonEmpty(p+".assignments.groups", a.Assignments.Groups)
		v.nonEmpty(p+".assignments.users", a.Assignments.Users)
	}
}

// accounts validates accounts and returns the set of declared account IDs.
func (v *validator) accounts() map[string]bool {
	ids := map[string]bool{}
	first := map[string]int{}
	for i, a := range v.c.Accounts {
		p := index("accounts", i)
		ids[a.ID] = true // declared, so references to it are not reported again
		validID := reAccountID.MatchString(a.ID)
		if !validID {
			v.add(p+".id", "%q is not a 12-digit account ID", truncate(a.ID, 32))
		} else if j, dup := first[a.ID]; dup {
			v.add(p+".id", "%q is already used by accounts[%d]", a.ID, j)
		} else {
			first[a.ID] = i
		}
		if a.OU != "" {
			v.ou(p+".ou", a.OU)
		}
		if a.AssumeRoleARN != "" {
			m := reRoleARN.FindStringSubmatch(a.AssumeRoleARN)
			switch {
			case m == nil:
				v.add(p+".assume_role_arn", "%q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", truncate(a.AssumeRoleARN, 128))
			case validID && m[2] != a.ID:
				v.add(p+".assume_role_arn", "names account %s, not %s", m[2], a.ID)
			}
		}
	}
	return ids
}

func (v *validator) ou(path, ou string) {
	if ou == "/" {
		return
	}
	if !strings.HasPrefix(ou, "/") || strings.HasSuffix(ou, "/") || strings.Contains(ou, "//") || len(ou) > 512 {
		v.add(path, "%q is not an OU path such as /workloads/dev", truncate(ou, 64))
	}
}

func (v *validator) aws() {
	a := v.c.AWS
	switch {
	case a.Region == "" && (len(v.c.Accounts) > 0 || len(v.c.PermissionSets) > 0):
		v.add("aws.region", "is required when accounts or permission sets are configured")
	case a.Region != "" && !reAWSRegion.MatchString(a.Region):
		v.add("aws.region", "%q is not an AWS region such as us-east-1", truncate(a.Region, 32))
	}
	if a.EndpointURL != "" {
		v.url("aws.endpoint_url", a.EndpointURL, urlOpts{})
	}
	first := map[string]int{}
	for i, k := range a.SessionTags {
		p := index("aws.session_tags", i)
		switch {
		case !reSessionTag.MatchString(k):
			v.add(p, "%q is not a session tag key (1 to 128 letters, digits, spaces and _.:/=+-@)", truncate(k, 40))
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			v.add(p, "%q uses the reserved prefix aws:", truncate(k, 40))
		default:
			if j, dup := first[k]; dup {
				v.add(p, "%q is already listed as aws.session_tags[%d]", truncate(k, 40), j)
			} else {
				first[k] = i
			}
		}
	}
}

// permissionSets validates permission sets and returns the declared names.
func (v *validator) permissionSets() map[string]bool {
	names := map[string]bool{}
	first := map[string]int{}
	for i, ps := range v.c.PermissionSets {
		p := index("permission_sets", i)
		names[ps.Name] = true
		if !rePermSetName.MatchString(ps.Name) {
			v.add(p+".name", "%q must be 1 to 32 letters, digits or +=,.@_-", truncate(ps.Name, 40))
		} else if j, dup := first[ps.Name]; dup {
			v.add(p+".name", "%q is already used by permission_sets[%d]", ps.Name, j)
		} else {
			first[ps.Name] = i
		}
		v.durationRange(p+".session_duration", ps.SessionDuration, MinSessionDuration, MaxSessionDuration, "at least "+MinSessionDuration.String())
		for j, arn := range ps.ManagedPolicies {
			if !rePolicyARN.MatchString(arn) {
				v.add(index(p+".managed_policies", j), "%q is not an IAM policy ARN", truncate(arn, 128))
			}
		}
		v.file(p+".inline_policy_file", ps.InlinePolicyFile)
	}
	return names
}

func (v *validator) accountAssignments(sets, accounts map[string]bool) {
	for i, a := range v.c.AccountAssignments {
		p := index("account_assignments", i)
		switch {
		case a.PermissionSet == "":
			v.add(p+".permission_set", "is required")
		case !sets[a.PermissionSet]:
			v.add(p+".permission_set", "%q is not a configured permission set", truncate(a.PermissionSet, 40))
		}
		if len(a.Groups)+len(a.Users) == 0 {
			v.add(p, "name at least one of groups or users")
		}
		v.nonEmpty(p+".groups", a.Groups)
		v.nonEmpty(p+".users", a.Users)
		if len(a.Accounts)+len(a.OUs) == 0 {
			v.add(p, "name at least one of accounts or ous")
		}
		for j, id := range a.Accounts {
			if !accounts[id] {
				v.add(index(p+".accounts", j), "%q is not a configured account", truncate(id, 32))
			}
		}
		for j, ou := range a.OUs {
			v.ou(index(p+".ous", j), ou)
		}
	}
}

var (
	signingAlgs = []string{AlgES256, AlgRS256, AlgEdDSA}
	grantTypes  = []string{GrantTokenExchange, GrantJWTBearer, GrantDeviceCode, GrantRefreshToken}
)

func (v *validator) scim() {
	sc := v.c.SCIM
	v.durationRange("scim.token_lifetime", sc.TokenLifetime, time.Hour, DefaultSCIMTokenLifetime, "at least 1h")
	v.durationRange("scim.token_expiry_warning", sc.TokenExpiryWarning, time.Nanosecond, DefaultSCIMTokenLifetime, "more than 0")
	if sc.TokenExpiryWarning >= sc.TokenLifetime {
		v.add("scim.token_expiry_warning", "must be shorter than scim.token_lifetime (%s)", sc.TokenLifetime)
	}
}

// maxServiceNameLength bounds tracing.service_name.
const maxServiceNameLength = 128

func (v *validator) tracing() {
	t := v.c.Tracing
	if t.OTLPEndpoint != "" {
		v.otlpEndpoint("tracing.otlp_endpoint", t.OTLPEndpoint)
	}
	// Written so that NaN fails too.
	if !(t.SampleRatio >= 0 && t.SampleRatio <= 1) {
		v.add("tracing.sample_ratio", "must be from 0 to 1 (got %v)", t.SampleRatio)
	}
	switch n := strings.TrimSpace(t.ServiceName); {
	case n == "":
		v.add("tracing.service_name", "is empty")
	case len(n) > maxServiceNameLength || strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		v.add("tracing.service_name", "must be at most %d printable characters", maxServiceNameLength)
	}
}

// otlpEndpoint checks an absolute http or https URL (http on any host: see
// TracingConfig) without user information, query or fragment.
func (v *validator) otlpEndpoint(path, raw string) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		v.add(path, "is not an absolute URL") // not echoed: it may hold credentials
		return
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		v.add(path, "scheme %q is not http or https", truncate(u.Scheme, 16))
	}
	if u.User != nil {
		v.add(path, "must not contain user information (use the OTEL_EXPORTER_OTLP_HEADERS environment variable for credentials)")
	}
	if u.RawQuery != "" || u.ForceQuery {
		v.add(path, "must not contain a query")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		v.add(path, "must not contain a fragment")
	}
}

func (v *validator) oauth() {
	o := v.c.OAuth
	if !slices.Contains(signingAlgs, o.SigningAlg) {
		v.add("oauth.signing_alg", "%q is not one of %s", truncate(o.SigningAlg, 16), strings.Join(signingAlgs, ", "))
	}
	v.durationRange("oauth.access_token_lifetime", o.AccessTokenLifetime, time.Nanosecond, MaxAccessTokenLifetime, "more than 0")
	v.durationRange("oauth.refresh_token_lifetime", o.RefreshTokenLifetime, time.Minute, MaxRefreshFamilyLifetime, "1m")
	v.durationRange("oauth.refresh_family_lifetime", o.RefreshFamilyLifetime, time.Minute, MaxRefreshFamilyLifetime, "1m")
	if o.RefreshTokenLifetime > o.RefreshFamilyLifetime {
		v.add("oauth.refresh_token_lifetime", "is longer than oauth.refresh_family_lifetime (%s)", o.RefreshFamilyLifetime)
	}
	v.durationRange("oauth.device_code_lifetime", o.DeviceCodeLifetime, time.Minute, MaxDeviceCodeLifetime, "1m")

	ids := map[string]int{}
	for i, cl := range o.Clients {
		p := index("oauth.clients", i)
		if cl.ID == "" {
			v.add(p+".id", "is required")
		} else if j, dup := ids[cl.ID]; dup {
			v.add(p+".id", "%q is already used by oauth.clients[%d]", truncate(cl.ID, 64), j)
		} else {
			ids[cl.ID] = i
		}
		if cl.Secret == "" && v.c.has(p+".secret") {
			v.add(p+".secret", "is empty; leave the key out for a public client")
		}
		if cl.Secret != "" && cl.JWKSFile != "" {
			v.add(p+".jwks_file", "a client authenticates with a secret or with private_key_jwt keys, not both")
		}
		v.file(p+".jwks_file", cl.JWKSFile)
		if len(cl.GrantTypes) == 0 {
			v.add(p+".grant_types", "at least one grant type is required")
		}
		seen := map[string]bool{}
		for j, g := range cl.GrantTypes {
			gp := index(p+".grant_types", j)
			switch {
			case !slices.Contains(grantTypes, g):
				v.add(gp, "%q is not one of %s", truncate(g, 64), strings.Join(grantTypes, ", "))
			case seen[g]:
				v.add(gp, "%q is listed twice", g)
			}
			seen[g] = true
		}
		v.nonEmpty(p+".audiences", cl.Audiences)
		v.scopes(p+".scopes", cl.Scopes)
	}

	names := map[string]int{}
	issuers := map[string]int{}
	for i, t := range o.TrustedTokenIssuers {
		p := index("oauth.trusted_token_issuers", i)
		if t.Name == "" {
			v.add(p+".name", "is required")
		} else if j, dup := names[t.Name]; dup {
			v.add(p+".name", "%q is already used by oauth.trusted_token_issuers[%d]", truncate(t.Name, 64), j)
		} else {
			names[t.Name] = i
		}
		if t.Issuer == "" {
			v.add(p+".issuer", "is required")
		} else if j, dup := issuers[t.Issuer]; dup {
			v.add(p+".issuer", "is already used by oauth.trusted_token_issuers[%d]", j)
		} else {
			issuers[t.Issuer] = i
		}
		v.oneOf(p, []string{"jwks_file", "jwks_url"}, t.JWKSFile, t.JWKSURL)
		v.file(p+".jwks_file", t.JWKSFile)
		if t.JWKSURL != "" {
			v.url(p+".jwks_url", t.JWKSURL, urlOpts{})
		}
		if len(t.Audiences) == 0 {
			v.add(p+".audiences", "at least one audience is required")
		}
		v.nonEmpty(p+".audiences", t.Audiences)
		if t.Claim == "" {
			v.add(p+".claim", "is required")
		}
		if !isMatchAttribute(t.UserAttribute) {
			v.add(p+".user_attribute", "%q is not one of id, user_name, email, external_id, attributes.<key>", truncate(t.UserAttribute, 64))
		}
	}

	auds := map[string]int{}
	for i, d := range o.DataServices {
		p := index("oauth.data_services", i)
		if d.Audience == "" {
			v.add(p+".audience", "is required")
		} else if j, dup := auds[d.Audience]; dup {
			v.add(p+".audience", "%q is already used by oauth.data_services[%d]", truncate(d.Audience, 128), j)
		} else {
			auds[d.Audience] = i
		}
		if len(d.Scopes) == 0 {
			v.add(p+".scopes", "at least one scope is required")
		}
		v.scopes(p+".scopes", d.Scopes)
	}
}

func (v *validator) scopes(path string, scopes []string) {
	for i, s := range scopes {
		if !reScope.MatchString(s) {
			v.add(index(path, i), "%q is not a scope token (no spaces, quotes or backslashes)", truncate(s, 64))
		}
	}
}

func (v *validator) nonEmpty(path string, list []string) {
	for i, s := range list {
		if strings.TrimSpace(s) == "" {
			v.add(index(path, i), "is empty")
		}
	}
}

// oneOf checks that exactly one of values is set; keys name them under path.
func (v *validator) oneOf(path string, keys []string, values ...string) {
	n := 0
	for _, s := range values {
		if s != "" {
			n++
		}
	}
	switch {
	case n == 0:
		v.add(path, "set one of %s", strings.Join(keys, ", "))
	case n > 1:
		v.add(path, "set only one of %s", strings.Join(keys, ", "))
	}
}

// file checks that name, when set, is a readable regular file.
func (v *validator) file(path, name string) {
	if name == "" {
		return
	}
	st, err := os.Stat(name)
	switch {
	case errors.Is(err, os.ErrNotExist):
		v.add(path, "file %s does not exist", name)
	case err != nil:
		v.add(path, "cannot use file: %v", err)
	case !st.Mode().IsRegular():
		v.add(path, "%s is not a regular file", name)
	}
}

type urlOpts struct {
	needPath bool // a path other than "" and "/" is required
	noQuery  bool // no query string
}

// url checks an absolute https URL (http only on a loopback host) without
// user info or fragment. It reports whether the URL is valid.
func (v *validator) url(path, raw string, o urlOpts) bool {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		v.add(path, "%q is not an absolute URL", truncate(raw, 128))
		return false
	}
	ok := true
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && IsLoopbackHost(u.Hostname()):
	case u.Scheme == "http":
		v.add(path, "must use https (http is allowed only on a loopback host)")
		ok = false
	default:
		v.add(path, "scheme %q is not https", truncate(u.Scheme, 16))
		ok = false
	}
	if u.User != nil {
		v.add(path, "must not contain user information")
		ok = false
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		v.add(path, "must not contain a fragment")
		ok = false
	}
	if (o.noQuery || o.needPath) && (u.RawQuery != "" || u.ForceQuery) {
		v.add(path, "must not contain a query")
		ok = false
	}
	if o.needPath {
		if u.Path == "" || u.Path == "/" {
			v.add(path, "must have a path, such as /saml/acs")
			ok = false
		}
	}
	return ok
}

// IsLoopbackHost reports whether host (without port) is "localhost" or a
// loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
