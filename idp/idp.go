package idp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// Defaults and bounds of Config.
const (
	DefaultAssertionLifetime = 5 * time.Minute
	MaxAssertionLifetime     = 5 * time.Minute
	DefaultClockSkew         = 90 * time.Second
	DefaultSSOStateLifetime  = 10 * time.Minute
	DefaultMaxRequestAge     = 10 * time.Minute
	DefaultMaxBodyBytes      = 256 << 10
	DefaultResumePath        = "/saml/idp/resume"
	minPersistentIDKey       = 32
)

// Config configures an IdP. Zero values take the documented defaults.
type Config struct {
	// EntityID is the IdP's entity ID, the Issuer of every Response.
	EntityID string
	// SSOURL is the absolute URL of SSOHandler; an AuthnRequest's
	// Destination, when present, must equal it.
	SSOURL string
	// SLOURL is the absolute URL of the single logout endpoint (optional,
	// for metadata); SLOHandler serves it. A LogoutRequest's Destination,
	// when present, must equal it.
	SLOURL string
	// ResumePath is the local path ResumeHandler is served at (default
	// /saml/idp/resume).
	ResumePath string

	ServiceProviders ServiceProviderRegistry
	Sessions         SessionProvider
	Access           AccessPolicy
	Keys             KeySource
	States           SSOStateStore
	// Terminator ends the portal session when an application asks for
	// single logout (optional; requires SLOURL). Without it SLOHandler
	// rejects every request.
	Terminator SessionTerminator

	// PersistentIDKey is the HMAC-SHA256 key (at least 32 bytes) persistent
	// NameIDs are derived with. Changing it changes every persistent NameID.
	PersistentIDKey []byte
	// AssertionLifetime is how long an issued assertion is valid (default
	// and maximum 5m).
	AssertionLifetime time.Duration
	// ClockSkew is the tolerance for AuthnRequest IssueInstant and
	// ForceAuthn checks (default 90s, at most 10m).
	ClockSkew time.Duration
	// MaxRequestAge bounds how old an AuthnRequest's IssueInstant may be
	// (default 10m).
	MaxRequestAge time.Duration
	// SSOStateLifetime bounds how long a user may take to sign in at the
	// identity source (default 10m).
	SSOStateLifetime time.Duration
	// Limits bound AuthnRequest parsing.
	Limits saml.Limits
	// MaxBodyBytes caps SSO POST bodies (default 256 KiB).
	MaxBodyBytes int64

	Now      func() time.Time
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// IdP is the app-facing SAML identity provider. It is immutable and safe
// for concurrent use.
type IdP struct {
	entityID, ssoURL, sloURL, resumePath string

	sps      ServiceProviderRegistry
	sessions SessionProvider
	access   AccessPolicy
	keys     KeySource
	states   SSOStateStore
	ended    SessionTerminator

	persistentKey []byte
	lifetime      time.Duration
	skew          time.Duration
	maxReqAge     time.Duration
	stateLifetime time.Duration
	limits        saml.Limits
	maxBody       int64
	now           func() time.Time
	log           *slog.Logger
	metrics       *idpMetrics
}

// New validates cfg, reporting every problem at once, and returns an IdP.
func New(cfg Config) (*IdP, error) {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := checkText(cfg.EntityID, maxEntityID); err != nil {
		add("EntityID: %w", err)
	}
	if err := checkEndpointURL(cfg.SSOURL); err != nil {
		add("SSOURL: %w", err)
	}
	if cfg.SLOURL != "" {
		if err := checkEndpointURL(cfg.SLOURL); err != nil {
			add("SLOURL: %w", err)
		}
	}
	if cfg.Terminator != nil && cfg.SLOURL == "" {
		add("Terminator requires SLOURL")
	}
	if cfg.ResumePath != "" && !isLocalPath(cfg.ResumePath) {
		add("ResumePath must be a local path")
	}
	if cfg.ServiceProviders == nil || cfg.Sessions == nil || cfg.Access == nil || cfg.Keys == nil || cfg.States == nil {
		add("ServiceProviders, Sessions, Access, Keys and States are required")
	}
	if len(cfg.PersistentIDKey) < minPersistentIDKey {
		add("PersistentIDKey must be at least %d bytes", minPersistentIDKey)
	}
	if cfg.AssertionLifetime < 0 || cfg.AssertionLifetime > MaxAssertionLifetime {
		add("AssertionLifetime must be between 0 and %s", MaxAssertionLifetime)
	}
	if cfg.ClockSkew < 0 || cfg.ClockSkew > saml.MaxClockSkew {
		add("ClockSkew must be between 0 and %s", saml.MaxClockSkew)
	}
	if cfg.MaxRequestAge < 0 || cfg.MaxRequestAge > time.Hour {
		add("MaxRequestAge must be between 0 and 1h")
	}
	if cfg.SSOStateLifetime < 0 || cfg.SSOStateLifetime > time.Hour {
		add("SSOStateLifetime must be between 0 and 1h")
	}
	if cfg.MaxBodyBytes < 0 {
		add("MaxBodyBytes must not be negative")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("idp: invalid config: %w", errors.Join(errs...))
	}
	i := &IdP{
		entityID:      cfg.EntityID,
		ssoURL:        cfg.SSOURL,
		sloURL:        cfg.SLOURL,
		resumePath:    or(cfg.ResumePath, DefaultResumePath),
		sps:           cfg.ServiceProviders,
		sessions:      cfg.Sessions,
		access:        cfg.Access,
		keys:          cfg.Keys,
		states:        cfg.States,
		ended:         cfg.Terminator,
		persistentKey: append([]byte(nil), cfg.PersistentIDKey...),
		lifetime:      orDuration(cfg.AssertionLifetime, DefaultAssertionLifetime),
		skew:          orDuration(cfg.ClockSkew, DefaultClockSkew),
		maxReqAge:     orDuration(cfg.MaxRequestAge, DefaultMaxRequestAge),
		stateLifetime: orDuration(cfg.SSOStateLifetime, DefaultSSOStateLifetime),
		limits:        cfg.Limits,
		maxBody:       cfg.MaxBodyBytes,
		now:           cfg.Now,
		log:           cfg.Logger,
	}
	if i.maxBody == 0 {
		i.maxBody = DefaultMaxBodyBytes
	}
	if i.now == nil {
		i.now = time.Now
	}
	if i.log == nil {
		i.log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("idp: metrics: %w", err)
	}
	i.metrics = m
	return i, nil
}

// EntityID returns the IdP's entity ID.
func (i *IdP) EntityID() string { return i.entityID }

// SSOURL returns the IdP's SSO endpoint URL.
func (i *IdP) SSOURL() string { return i.ssoURL }

// SLOURL returns the IdP's single logout URL ("" when not configured).
func (i *IdP) SLOURL() string { return i.sloURL }

// ResumePath returns the local path ResumeHandler must be served at.
func (i *IdP) ResumePath() string { return i.resumePath }

// isLocalPath reports whether p is a path on this host: it starts with a
// single "/" (not "//" or "/\", which browsers treat as another host) and
// holds no control characters or backslashes.
func isLocalPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\") {
		return false
	}
	if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == ""
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
