package config

import (
	"fmt"
	"log/slog"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the gateway configuration file (see CONTRACT.md, "Config file").
// Parse and Load return it with defaults applied and relative paths resolved;
// call Validate before using it.
type Config struct {
	ExternalURL        string                    `yaml:"external_url"`
	Listen             string                    `yaml:"listen"`
	TelemetryListen    string                    `yaml:"telemetry_listen"`
	TrustedProxies     []string                  `yaml:"trusted_proxies"`
	Store              StoreConfig               `yaml:"store"`
	Keys               KeysConfig                `yaml:"keys"`
	Session            SessionConfig             `yaml:"session"`
	Admin              AdminConfig               `yaml:"admin"`
	IdentitySource     IdentitySourceConfig      `yaml:"identity_source"`
	Applications       []ApplicationConfig       `yaml:"applications"`
	Accounts           []AccountConfig           `yaml:"accounts"`
	AWS                AWSConfig                 `yaml:"aws"`
	PermissionSets     []PermissionSetConfig     `yaml:"permission_sets"`
	AccountAssignments []AccountAssignmentConfig `yaml:"account_assignments"`
	OAuth              OAuthConfig               `yaml:"oauth"`
	SCIM               SCIMConfig                `yaml:"scim"`
	Tracing            TracingConfig             `yaml:"tracing"`

	// lines maps a YAML path ("store.dsn") to the line of its key in the
	// parsed file, so that problems can point at the source. It is empty for a
	// Config built in code.
	lines map[string]int
}

// Store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// StoreConfig selects the storage backend.
type StoreConfig struct {
	// Driver is DriverSQLite (default) or DriverPostgres.
	Driver string `yaml:"driver"`
	// DSN is a SQLite file path (resolved against the config folder) or a
	// PostgreSQL URL. It may contain a password: never log it.
	DSN Secret `yaml:"dsn"`
}

// KeysConfig locates the signing and encryption keys.
type KeysConfig struct {
	Dir string `yaml:"dir"`
	// Rings says where the signing key rings (the app-facing IdP's SAML
	// key and the OAuth access-token key) live: RingsStore, in the store,
	// so that every instance on it agrees on the current, next and
	// previous key (the default with PostgreSQL), or RingsDir, as files in
	// Dir (the default with SQLite). Private keys in the store are sealed
	// with Dir's ring-seal.secret, which every instance must share. A ring
	// that exists in Dir but not yet in the store is imported on first
	// start, so switching keeps the keys partners trust.
	Rings string `yaml:"rings"`
	// ReloadInterval is how often a running instance re-reads the rings,
	// picking up a rotation or activation done by `gatehouse keys` or
	// another instance (default DefaultKeyReloadInterval).
	ReloadInterval Duration `yaml:"reload_interval"`
}

// DefaultKeyReloadInterval is keys.reload_interval's default.
const DefaultKeyReloadInterval = 30 * time.Second

// Values of keys.rings.
const (
	RingsDir   = "dir"
	RingsStore = "store"
)

// SessionConfig configures portal sessions.
type SessionConfig struct {
	Lifetime Duration `yaml:"lifetime"`
	// CookieDomain, when set, is the Domain of the session and sign-in state
	// cookies, so that regional endpoints on different hosts under one
	// domain (us-east-1.gw.example.com, eu-west-1.gw.example.com) share
	// them and a sign-in started at one completes at another. Empty: the
	// cookies are host-only.
	CookieDomain string `yaml:"cookie_domain"`
}

// AdminConfig configures the admin API.
type AdminConfig struct {
	// TokenFile holds the bearer token for /api/v1/admin.
	TokenFile string `yaml:"token_file"`
}

// IdentitySourceConfig selects exactly one identity source.
type IdentitySourceConfig struct {
	SAML      *SAMLSourceConfig `yaml:"saml"`
	Directory *DirectoryConfig  `yaml:"directory"`
}

// SAMLSourceConfig configures the IdP-facing SAML service provider.
type SAMLSourceConfig struct {
	EntityID          string         `yaml:"entity_id"`
	MetadataFile      string         `yaml:"metadata_file"`
	MetadataURL       string         `yaml:"metadata_url"`
	MetadataRefresh   Duration       `yaml:"metadata_refresh"`
	AllowIDPInitiated bool           `yaml:"allow_idp_initiated"`
	JITProvisioning   bool           `yaml:"jit_provisioning"`
	Attributes        SAMLAttributes `yaml:"attributes"`
	ClockSkew         Duration       `yaml:"clock_skew"`
	ACSEndpoints      []ACSEndpoint  `yaml:"acs_endpoints"`
	// SignAuthnRequests signs AuthnRequests (HTTP-Redirect binding) with
	// the SP key in keys.dir, published in the SP metadata.
	SignAuthnRequests bool `yaml:"sign_authn_requests"`
}

// SAMLAttributes names the assertion attribute for each user field.
type SAMLAttributes struct {
	Email       string `yaml:"email"`
	DisplayName string `yaml:"display_name"`
	Groups      string `yaml:"groups"`
}

// ACSEndpoint is one regional sign-in endpoint.
type ACSEndpoint struct {
	Region string `yaml:"region"`
	URL    string `yaml:"url"`
}

// DirectoryConfig selects the built-in directory (password + MFA) sign-in;
// `directory: {}` selects it with the defaults.
type DirectoryConfig struct {
	// MFA is "required" (default) or "off".
	MFA string `yaml:"mfa"`
	// WithoutDevice is what happens at sign-in to a user without a second
	// factor when MFA is required: "register" (default: the user sets one
	// up after the password) or "refuse" (an administrator must help).
	WithoutDevice string `yaml:"without_device"`
	// PasswordMinLength is the shortest password accepted (default 12,
	// at least 8).
	PasswordMinLength int `yaml:"password_min_length"`
	// Lockout locks an account after repeated failures.
	Lockout LockoutConfig `yaml:"lockout"`
	// RateLimit limits failures per client address (per instance).
	RateLimit RateLimitConfig `yaml:"rate_limit"`
	// WebAuthnRPID is the WebAuthn relying party ID; default the host of
	// external_url.
	WebAuthnRPID string `yaml:"webauthn_rp_id"`
}

// LockoutConfig: after max_failures failures in a row the account is
// locked for duration, doubling with each further failure up to
// max_duration.
type LockoutConfig struct {
	MaxFailures int      `yaml:"max_failures"`
	Duration    Duration `yaml:"duration"`
	MaxDuration Duration `yaml:"max_duration"`
}

// RateLimitConfig allows failures per window per client address.
type RateLimitConfig struct {
	Failures int      `yaml:"failures"`
	Window   Duration `yaml:"window"`
}

// Name ID formats accepted in ApplicationConfig.NameIDFormat.
const (
	NameIDEmailAddress = "emailAddress"
	NameIDPersistent   = "persistent"
	NameIDTransient    = "transient"
	NameIDUnspecified  = "unspecified"
)

// ApplicationConfig is an app-facing SAML service provider.
type ApplicationConfig struct {
	ID           string `yaml:"id"`
	Name         string `yaml:"name"`
	MetadataFile string `yaml:"metadata_file"`
	MetadataURL  string `yaml:"metadata_url"`
	MetadataXML  string `yaml:"metadata_xml"`
	NameIDFormat string `yaml:"name_id_format"`
	// Attributes maps a SAML attribute name to a user field (see UserFields).
	Attributes  map[string]string      `yaml:"attributes"`
	Assignments ApplicationAssignments `yaml:"assignments"`
	// Sign is what the IdP signs: "assertion" (default), "response" or
	// "both".
	Sign string `yaml:"sign"`
	// EncryptAssertions encrypts assertions to the application's
	// encryption certificate (RSA-OAEP with AES-GCM; AES-CBC only when
	// its metadata lists nothing else).
	EncryptAssertions bool `yaml:"encrypt_assertions"`
	// RequireSignedRequests requires signed AuthnRequests even when the
	// application's metadata does not ask for it.
	RequireSignedRequests bool `yaml:"require_signed_requests"`
	// DefaultRelayState is sent with IdP-initiated launches.
	DefaultRelayState string `yaml:"default_relay_state"`
}

// ApplicationAssignments lists who may use an application; empty means nobody.
type ApplicationAssignments struct {
	Groups []string `yaml:"groups"`
	Users  []string `yaml:"users"`
}

// AccountConfig is a target (AWS) account.
type AccountConfig struct {
	ID            string `yaml:"id"`
	Name          string `yaml:"name"`
	OU            string `yaml:"ou"`
	AssumeRoleARN string `yaml:"assume_role_arn"`
}

// AWSConfig says how Gatehouse reaches AWS.
type AWSConfig struct {
	Region      string `yaml:"region"`
	EndpointURL string `yaml:"endpoint_url"`
	// SessionTags lists custom user attributes (directory.User.Attributes
	// keys) sent as PrincipalTag:<key> session tags when credentials are
	// vended, for attribute-based access control; each is a valid AWS
	// session tag key not starting with "aws:".
	SessionTags []string `yaml:"session_tags"`
}

// PermissionSetConfig is a named set of policies granted in accounts.
type PermissionSetConfig struct {
	Name             string   `yaml:"name"`
	SessionDuration  Duration `yaml:"session_duration"`
	ManagedPolicies  []string `yaml:"managed_policies"`
	InlinePolicyFile string   `yaml:"inline_policy_file"`
}

// AccountAssignmentConfig grants a permission set to principals in accounts.
type AccountAssignmentConfig struct {
	PermissionSet string   `yaml:"permission_set"`
	Groups        []string `yaml:"groups"`
	Users         []string `yaml:"users"`
	Accounts      []string `yaml:"accounts"`
	OUs           []string `yaml:"ous"`
}

// Signing algorithms accepted in OAuthConfig.SigningAlg.
const (
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
	AlgEdDSA = "EdDSA"
)

// OAuth grant types accepted in OAuthClientConfig.GrantTypes.
const (
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantDeviceCode    = "urn:ietf:params:oauth:grant-type:device_code"
	GrantRefreshToken  = "refresh_token"
)

// OAuthConfig configures the authorization server.
type OAuthConfig struct {
	AccessTokenLifetime Duration `yaml:"access_token_lifetime"`
	// RefreshTokenLifetime bounds each refresh token (rotated on every
	// use); RefreshFamilyLifetime bounds a chain of rotations, after which
	// the user signs in again.
	RefreshTokenLifetime  Duration `yaml:"refresh_token_lifetime"`
	RefreshFamilyLifetime Duration `yaml:"refresh_family_lifetime"`
	// DeviceCodeLifetime is how long a device authorization may wait for
	// the user (RFC 8628).
	DeviceCodeLifetime  Duration                   `yaml:"device_code_lifetime"`
	SigningAlg          string                     `yaml:"signing_alg"`
	Clients             []OAuthClientConfig        `yaml:"clients"`
	TrustedTokenIssuers []TrustedTokenIssuerConfig `yaml:"trusted_token_issuers"`
	DataServices        []DataServiceConfig        `yaml:"data_services"`
}

// OAuthClientConfig is a registered OAuth client.
type OAuthClientConfig struct {
	ID string `yaml:"id"`
	// Secret is empty for a public client (the key absent from the file).
	Secret Secret `yaml:"secret"`
	// JWKSFile holds the client's public keys for private_key_jwt client
	// authentication (RFC 7523 section 2.2); each key names its alg.
	JWKSFile   string   `yaml:"jwks_file"`
	GrantTypes []string `yaml:"grant_types"`
	Audiences  []string `yaml:"audiences"`
	Scopes     []string `yaml:"scopes"`
}

// TrustedTokenIssuerConfig is an external token issuer whose tokens may be
// exchanged.
type TrustedTokenIssuerConfig struct {
	Name          string   `yaml:"name"`
	Issuer        string   `yaml:"issuer"`
	JWKSFile      string   `yaml:"jwks_file"`
	JWKSURL       string   `yaml:"jwks_url"`
	Audiences     []string `yaml:"audiences"`
	Claim         string   `yaml:"claim"`
	UserAttribute string   `yaml:"user_attribute"`
}

// DataServiceConfig is a downstream data service (a token audience) and the
// scopes it accepts.
type DataServiceConfig struct {
	Audience string   `yaml:"audience"`
	Scopes   []string `yaml:"scopes"`
}

// SCIMConfig configures SCIM 2.0 provisioning.
type SCIMConfig struct {
	// TokenLifetime is how long a SCIM bearer token is valid.
	TokenLifetime Duration `yaml:"token_lifetime"`
	// TokenExpiryWarning is how long before expiry a token is reported
	// (log warning, admin API) as due for rotation.
	TokenExpiryWarning Duration `yaml:"token_expiry_warning"`
}

// TracingConfig configures OpenTelemetry tracing (W3C traceparent
// propagation, spans exported over OTLP/HTTP).
type TracingConfig struct {
	// OTLPEndpoint is the OTLP/HTTP collector URL, such as
	// http://otel-collector:4318 (the path defaults to /v1/traces). Empty
	// (the default) turns tracing off: no exporter, a no-op tracer. Plain
	// http is accepted on any host: collectors usually run beside the
	// gateway, and spans carry no secrets.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio is the fraction of new traces sampled, 0 to 1 (default
	// 0.1). Sampling is parent-based: a request whose traceparent says
	// sampled (or not) is traced (or not) accordingly.
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name of the spans (default "gatehouse").
	ServiceName string `yaml:"service_name"`
}

// Duration is a time.Duration written in Go syntax ("90s", "8h") in YAML.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String returns d in Go syntax.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a duration must be a string such as \"90s\" or \"8h\"", n.Line)}}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: invalid duration %q: use Go syntax such as \"90s\" or \"8h\"", n.Line, truncate(n.Value, 40))}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d in Go syntax.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Secret is a string that must not be logged or printed. Its String, GoString
// and LogValue methods redact it; Value returns the content.
type Secret string

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[REDACTED]"
}

// GoString redacts the secret in %#v.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
