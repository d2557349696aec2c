package sp

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/metadata"
	"github.com/gatehouse-dev/gatehouse/saml"
)

// Region is one regional sign-in endpoint.
type Region struct {
	// Name is the region's name, for example "us-east-1".
	Name string
	// ACSURL is the absolute URL of the region's Assertion Consumer Service.
	// Destination and Recipient must equal it exactly.
	ACSURL string
}

// IdentityProvider is what the SP trusts about the upstream IdP.
type IdentityProvider struct {
	// EntityID is the IdP's entity ID; Issuer must equal it.
	EntityID string
	// Certificates are the pinned signing certificates (several during a
	// key rollover).
	Certificates []*x509.Certificate
	// SSOURLs are the IdP's HTTP-Redirect SingleSignOnService locations in
	// order of preference.
	SSOURLs []string
}

// AttributeMap names the assertion attributes that carry user fields.
type AttributeMap struct {
	Email       string
	DisplayName string
	Groups      string
}

// Config configures an SP. Zero values take the documented defaults.
type Config struct {
	// EntityID is the SP's entity ID and the Audience it requires.
	EntityID string
	// Regions are the regional ACS endpoints in order of preference; at
	// least one.
	Regions []Region
	// IdP is the trusted identity provider.
	IdP IdentityProvider

	// ClockSkew is the tolerance for time comparisons (default 90s;
	// saml.NoClockSkew for none).
	ClockSkew time.Duration
	// MaxAssertionAge bounds how old an assertion's IssueInstant may be
	// (default 5m).
	MaxAssertionAge time.Duration
	// PendingRequestLifetime bounds how long a sign-in may take at the IdP
	// (default 10m).
	PendingRequestLifetime time.Duration
	// SessionLifetime is the portal session lifetime (default 8h).
	SessionLifetime time.Duration
	// AllowIdPInitiated accepts unsolicited responses.
	AllowIdPInitiated bool
	// JITProvisioning creates users at first sign-in; otherwise the NameID
	// must match an existing user's user_name.
	JITProvisioning bool
	// Attributes maps assertion attributes to user fields.
	Attributes AttributeMap
	// DefaultReturnTo is where users land after sign-in when no return
	// target was given (default "/portal").
	DefaultReturnTo string
	// CookieDomain, when set, is the Domain attribute of the session and
	// state cookies, so regional endpoints on different hosts under one
	// domain share them. Empty: host-only cookies.
	CookieDomain string

	// Signer, when set, signs AuthnRequests (HTTP-Redirect binding) with
	// SigAlg (default RSA-SHA256 for RSA keys, ECDSA-SHA256 for EC keys).
	Signer crypto.Signer
	// SigningCertificate is published in the SP metadata with Signer.
	SigningCertificate *x509.Certificate
	SigAlg             string

	// Stores.
	Requests RequestTracker
	Replay   ReplayCache
	Sessions SessionStore
	Users    UserDirectory
	// Starter, when set, starts each ACS in one call instead of three
	// (see SignInStarter); it must work on the same data as Replay,
	// Requests and Users. The SQL and memory stores implement it.
	Starter SignInStarter

	// RequestURL returns the external URL a request arrived at (scheme,
	// host, path). Default: http or https from r.TLS and r.Host; set it to
	// honour X-Forwarded-* from trusted proxies only.
	RequestURL func(r *http.Request) *url.URL
	// Health reports whether a region and an IdP SSO URL are reachable.
	// Default: an HTTP prober with a short cache (see NewProber).
	Health HealthChecker

	// Limits bound SAML message parsing.
	Limits saml.Limits
	// MaxBodyBytes caps ACS POST bodies (default 256 KiB).
	MaxBodyBytes int64

	// Audit, when set, records every ACS outcome. A successful sign-in
	// whose record cannot be stored is undone (the session deleted) and
	// answered 503: no session without its audit record.
	Audit SignInAuditor

	Now      func() time.Time
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// SignInRecord is one ACS outcome for the audit log. It names the user by
// ID and never carries the assertion or the session ID.
type SignInRecord struct {
	Success bool
	// Reason is the bounded rejection reason (ReasonOK on success).
	Reason Reason
	Region string
	// UserID is set on success.
	UserID string
	// Issuer is the IdP entity ID of a verified assertion; AuthnContext
	// its AuthnContextClassRef (success only).
	Issuer       string
	AuthnContext string
}

// SignInAuditor records ACS outcomes.
type SignInAuditor interface {
	RecordSignIn(ctx context.Context, r SignInRecord) error
}

// HealthChecker reports reachability of regional endpoints and IdP SSO URLs.
type HealthChecker interface {
	// RegionReady reports whether the region's /readyz answers 200.
	RegionReady(r *http.Request, region Region) bool
	// Reachable reports whether an IdP SSO URL answers at all.
	Reachable(r *http.Request, rawURL string) bool
}

// SP is an IdP-facing SAML service provider. It is safe for concurrent use.
type SP struct {
	entityID          string
	regions           []Region
	skew              time.Duration
	maxAge            time.Duration
	pendingLifetime   time.Duration
	allowIdPInitiated bool
	jit               bool
	attrs             AttributeMap
	defaultReturnTo   string
	cookieDomain      string
	signer            crypto.Signer
	signingCert       *x509.Certificate
	sigAlg            string
	requests          RequestTracker
	replay            ReplayCache
	starter           SignInStarter
	sm                *SessionManager
	users             UserDirectory
	requestURL        func(r *http.Request) *url.URL
	health            HealthChecker
	limits            saml.Limits
	maxBody           int64
	now               func() time.Time
	log               *slog.Logger
	audit             SignInAuditor
	metrics           *spMetrics
	metadataXML       []byte

	idp atomic.Pointer[trustedIdP]
}

type trustedIdP struct {
	desc     IdentityProvider
	verifier *saml.Verifier
}

// Cookie names.
const (
	SessionCookie = "gatehouse_session"
	StateCookie   = "gatehouse_saml_state"
)

// New validates cfg and returns an SP.
func New(cfg Config) (*SP, error) {
	var problems []string
	if cfg.EntityID == "" {
		problems = append(problems, "EntityID is required")
	}
	if len(cfg.Regions) == 0 {
		problems = append(problems, "at least one region is required")
	}
	seenRegion := map[string]bool{}
	seenURL := map[string]bool{}
	for i, r := range cfg.Regions {
		if r.Name == "" {
			problems = append(problems, fmt.Sprintf("regions[%d]: name is required", i))
		}
		if seenRegion[r.Name] {
			problems = append(problems, fmt.Sprintf("regions[%d]: duplicate region %q", i, r.Name))
		}
		seenRegion[r.Name] = true
		if err := checkEndpointURL(r.ACSURL); err != nil {
			problems = append(problems, fmt.Sprintf("regions[%d]: %v", i, err))
		}
		if seenURL[r.ACSURL] {
			problems = append(problems, fmt.Sprintf("regions[%d]: duplicate ACS URL", i))
		}
		seenURL[r.ACSURL] = true
	}
	if cfg.Requests == nil || cfg.Replay == nil || cfg.Sessions == nil || cfg.Users == nil {
		problems = append(problems, "Requests, Replay, Sessions and Users stores are required")
	}
	if (cfg.ClockSkew < 0 && cfg.ClockSkew != saml.NoClockSkew) || cfg.ClockSkew > 10*time.Minute {
		problems = append(problems, "ClockSkew must be between 0 and 10m")
	}
	if cfg.SigningCertificate != nil && cfg.Signer == nil {
		problems = append(problems, "SigningCertificate needs Signer")
	}
	if cfg.DefaultReturnTo != "" && !IsLocalPath(cfg.DefaultReturnTo) {
		problems = append(problems, "DefaultReturnTo must be a local path")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("sp: invalid config: %s", strings.Join(problems, "; "))
	}

	s := &SP{
		entityID:          cfg.EntityID,
		regions:           append([]Region(nil), cfg.Regions...),
		skew:              cfg.ClockSkew,
		maxAge:            orDefault(cfg.MaxAssertionAge, 5*time.Minute),
		pendingLifetime:   orDefault(cfg.PendingRequestLifetime, 10*time.Minute),
		allowIdPInitiated: cfg.AllowIdPInitiated,
		jit:               cfg.JITProvisioning,
		attrs:             cfg.Attributes,
		defaultReturnTo:   cfg.DefaultReturnTo,
		cookieDomain:      cfg.CookieDomain,
		signer:            cfg.Signer,
		signingCert:       cfg.SigningCertificate,
		sigAlg:            cfg.SigAlg,
		requests:          cfg.Requests,
		replay:            cfg.Replay,
		starter:           cfg.Starter,
		users:             cfg.Users,
		requestURL:        cfg.RequestURL,
		health:            cfg.Health,
		limits:            cfg.Limits,
		maxBody:           cfg.MaxBodyBytes,
		now:               cfg.Now,
		log:               cfg.Logger,
		audit:             cfg.Audit,
	}
	switch cfg.ClockSkew {
	case 0:
		s.skew = saml.DefaultClockSkew
	case saml.NoClockSkew:
		s.skew = 0
	}
	if s.defaultReturnTo == "" {
		s.defaultReturnTo = "/portal"
	}
	if s.maxBody <= 0 {
		s.maxBody = 256 << 10
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.requestURL == nil {
		s.requestURL = DirectRequestURL
	}
	if s.health == nil {
		s.health = NewProber(ProberConfig{Now: s.now})
	}
	if s.signer != nil && s.sigAlg == "" {
		alg, err := defaultSigAlg(s.signer)
		if err != nil {
			return nil, fmt.Errorf("sp: %w", err)
		}
		s.sigAlg = alg
	}
	sm, err := NewSessionManager(SessionManagerConfig{
		Sessions: cfg.Sessions, Users: cfg.Users, Lifetime: cfg.SessionLifetime, CookieDomain: cfg.CookieDomain,
		RequestURL: s.requestURL, Now: s.now, Logger: s.log,
	})
	if err != nil {
		return nil, err
	}
	s.sm = sm
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("sp: metrics: %w", err)
	}
	s.metrics = m
	if err := s.UpdateIdP(cfg.IdP); err != nil {
		return nil, err
	}
	md, err := s.buildMetadata()
	if err != nil {
		return nil, fmt.Errorf("sp: metadata: %w", err)
	}
	s.metadataXML = md
	return s, nil
}

// UpdateIdP atomically replaces the trusted IdP descriptor, for example after
// a metadata refresh or a key rollover. An invalid descriptor leaves the
// current one in place.
func (s *SP) UpdateIdP(idp IdentityProvider) error {
	if len(idp.SSOURLs) == 0 {
		return errors.New("sp: the IdP has no HTTP-Redirect SingleSignOnService URL")
	}
	for _, u := range idp.SSOURLs {
		if err := checkEndpointURL(u); err != nil {
			return fmt.Errorf("sp: IdP SSO URL: %w", err)
		}
	}
	v, err := saml.NewVerifier(saml.VerifierConfig{
		IdPEntityID:     idp.EntityID,
		Certificates:    idp.Certificates,
		Audience:        s.entityID,
		ClockSkew:       verifierSkew(s.skew),
		MaxAssertionAge: s.maxAge,
		Limits:          s.limits,
	})
	if err != nil {
		return fmt.Errorf("sp: IdP: %w", err)
	}
	desc := IdentityProvider{
		EntityID:     idp.EntityID,
		Certificates: append([]*x509.Certificate(nil), idp.Certificates...),
		SSOURLs:      append([]string(nil), idp.SSOURLs...),
	}
	s.idp.Store(&trustedIdP{desc: desc, verifier: v})
	return nil
}

// IdentityProviderFromMetadata converts parsed IdP metadata into the SP's
// trust descriptor (HTTP-Redirect SSO endpoints only, in document order).
func IdentityProviderFromMetadata(md *metadata.IdPMetadata) IdentityProvider {
	out := IdentityProvider{
		EntityID:     md.EntityID,
		Certificates: append([]*x509.Certificate(nil), md.SigningCertificates...),
	}
	for _, e := range md.SSOServices {
		if e.Binding == metadata.BindingHTTPRedirect {
			out.SSOURLs = append(out.SSOURLs, e.Location)
		}
	}
	return out
}

// AssertionVerifier returns the verifier the ACS currently uses for the
// trusted IdP (replaced by UpdateIdP), so that other endpoints accepting
// the IdP's assertions (the token endpoint's saml2 subject tokens) verify
// them with exactly the same trust.
func (s *SP) AssertionVerifier() *saml.Verifier { return s.idp.Load().verifier }

// Regions returns the configured regional endpoints in preference order.
func (s *SP) Regions() []Region { return append([]Region(nil), s.regions...) }

// EntityID returns the SP's entity ID.
func (s *SP) EntityID() string { return s.entityID }

// ACSPaths returns the distinct URL paths of the regional ACS endpoints, for
// registering ACSHandler on a mux.
func (s *SP) ACSPaths() []string {
	var paths []string
	seen := map[string]bool{}
	for _, r := range s.regions {
		u, _ := url.Parse(r.ACSURL)
		if !seen[u.Path] {
			seen[u.Path] = true
			paths = append(paths, u.Path)
		}
	}
	return paths
}

func (s *SP) buildMetadata() ([]byte, error) {
	acs := make([]metadata.ACSEndpoint, len(s.regions))
	for i, r := range s.regions {
		acs[i] = metadata.ACSEndpoint{URL: r.ACSURL}
	}
	return metadata.BuildSP(metadata.SPConfig{
		EntityID:             s.entityID,
		ACS:                  acs,
		SigningCert:          s.signingCert,
		AuthnRequestsSigned:  s.signer != nil,
		WantAssertionsSigned: true,
	})
}

// MetadataHandler serves the SP metadata.
func (s *SP) MetadataHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(s.metadataXML)
	})
}

// Metadata returns the SP metadata XML.
func (s *SP) Metadata() []byte { return append([]byte(nil), s.metadataXML...) }

// DirectRequestURL is the default Config.RequestURL: it trusts only the
// connection (TLS or not) and the Host header, never forwarded headers.
func DirectRequestURL(r *http.Request) *url.URL {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path}
}

func checkEndpointURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return fmt.Errorf("%q: http is allowed only on loopback", raw)
		}
	default:
		return fmt.Errorf("%q: scheme must be https", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: no query, fragment or user info allowed", raw)
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// verifierSkew passes a resolved skew to saml, where zero means the default.
func verifierSkew(d time.Duration) time.Duration {
	if d == 0 {
		return saml.NoClockSkew
	}
	return d
}
