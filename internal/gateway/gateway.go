// Package gateway assembles the reference gateway from a validated config:
// the store, the IdP-facing SP with its regional endpoints, IdP metadata
// refresh, the session API, the app-facing IdP with its applications and
// admin API, the portal, the OAuth token endpoint with its signing keys and
// trusted token issuers, health and metrics.
//
// # Security model
//
// The gateway adds no verification of its own: every SAML check lives in
// package sp and package saml. What it owns is the edge: forwarded headers
// are honoured only from trusted_proxies (so the receiving regional endpoint
// cannot be spoofed by a client), request bodies on SAML endpoints are
// capped, metadata older than its staleness bound stops sign-in (503) rather
// than trusting keys that may have been revoked, and readiness reports false
// while the store or the IdP metadata is unavailable. Trusted token
// issuers' keys come only from configured JWK Sets (a file, or a URL over
// https or loopback http, with bounded staleness), each key with an
// explicit algorithm; an external token's unverified iss only selects which
// configured issuer's validator runs. saml2 subject tokens are verified
// with the SP's own verifier and share the ACS's replay cache. Every token
// decision is written to the audit log before a token leaves, and a token
// whose audit record cannot be stored is not issued.
//
// With identity_source directory there is no SP: the sign-in pages
// (package portal over package signin) create the same sessions through
// an sp.SessionManager, and every factor, lockout and flow decision is the
// signin service's. With multi-account access configured, the gateway
// provisions roles only through each account's configured role and only
// ones it tagged itself (package provision), vends credentials only after
// re-checking the entitlement against the store (package vend), and
// accepts on the CLI's API only its own access tokens for the
// {external_url}/api audience with the credentials scope. Tracing, when
// on, records route patterns, statuses and store operation names, never
// paths, queries, tokens or cookies.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/apps"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/awsapi"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/internal/portal"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/signin"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
	"github.com/gatehouse-dev/gatehouse/metadata"
	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// Store is everything the gateway needs from its storage backend.
type Store interface {
	store.Store
	idp.SSOStateStore
	apps.Store
	// UserByAttribute finds the user a trusted issuer's token names.
	UserByAttribute(ctx context.Context, attribute, value string) (sp.User, error)
}

// Options are the gateway's dependencies that do not come from the config.
type Options struct {
	// Store is the opened, migrated store. Required.
	Store Store
	// Logger receives JSON logs; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Registry receives the metrics; nil means a fresh registry with the Go
	// and process collectors.
	Registry *prometheus.Registry
	// HTTPClient fetches IdP metadata; nil means a default client.
	HTTPClient *http.Client
	// TracerProvider, when set and not a no-op (telemetry.Enabled),
	// traces requests (continuing an incoming W3C traceparent) and the
	// metadata and JWK Set fetches; nil means no tracing.
	TracerProvider trace.TracerProvider
	// IdentityProvider, when set, is trusted instead of loading the
	// configured IdP metadata (the demo uses it for its built-in IdP).
	IdentityProvider *sp.IdentityProvider
	// Routes, when set, registers extra routes on the public mux.
	Routes func(mux *http.ServeMux)
	// ConfigFile is the config file's path, named in messages about the
	// applications it defines.
	ConfigFile string
	// KeyReloadInterval is how often Start re-reads the IdP signing key
	// ring from keys.dir, to pick up `gatehouse keys rotate` and
	// `gatehouse keys activate`; 0 means keys.DefaultWatchInterval.
	KeyReloadInterval time.Duration
}

// Gateway is an assembled gateway. Build it with New, then Start it.
type Gateway struct {
	cfg       *config.Config
	store     Store
	sp        *sp.SP
	refresher *metadata.Refresher
	log       *slog.Logger
	now       func() time.Time
	registry  *prometheus.Registry
	handler   http.Handler
	telemetry http.Handler

	sessions  *sp.SessionManager
	loginPath string
	signin    *signin.Service
	// signinPages serves the directory sign-in pages.
	signinPages http.Handler

	idp        *idp.IdP
	ring       *keys.Ring
	apps       *apps.Registry
	portal     *portal.Portal
	adminToken admin.Token
	keyReload  time.Duration

	oauth      *oauthServer
	audit      *audit.Log
	metrics    *gatewayMetrics
	scimTokens *scimtoken.Service
	scim       http.Handler
	// accessRT is multi-account access; nil when not configured.
	accessRT *accessRuntime
	// accountPages serves the portal's AWS console and credentials pages.
	accountPages http.Handler
	// accessAPI is the CLI's API (multi-account access only).
	accessAPI *awsapi.API
	// tracer is Options.TracerProvider (nil: tracing off).
	tracer trace.TracerProvider
}

// New builds a gateway from a validated config.
func New(ctx context.Context, cfg *config.Config, opts Options) (_ *Gateway, err error) {
	if opts.Store == nil {
		return nil, errors.New("gateway: a store is required")
	}
	if (cfg.IdentitySource.SAML == nil) == (cfg.IdentitySource.Directory == nil) {
		return nil, errors.New("gateway: configure exactly one of identity_source.saml and identity_source.directory")
	}
	if opts.KeyReloadInterval < 0 {
		return nil, errors.New("gateway: KeyReloadInterval must not be negative")
	}
	g := &Gateway{cfg: cfg, store: opts.Store, now: opts.Now, registry: opts.Registry, keyReload: opts.KeyReloadInterval, tracer: opts.TracerProvider}
	// Outbound fetches (IdP and application metadata) make client spans
	// and carry the caller's traceparent; unchanged when tracing is off.
	opts.HTTPClient = telemetry.Client(opts.TracerProvider, opts.HTTPClient)
	base := opts.Logger
	if base == nil {
		base = slog.New(slog.DiscardHandler)
	}
	// Records made with a request's context carry its request ID; the
	// server middleware adds it to its own records itself.
	g.log = slog.New(requestIDHandler{base.Handler()})
	if g.now == nil {
		g.now = time.Now
	}
	if g.registry == nil {
		g.registry = server.NewRegistry()
	}
	proxies, err := server.NewTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("gateway: trusted_proxies: %w", err)
	}

	if err := g.setupAudit(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = g.Close()
		}
	}()
	if err := g.setupMetrics(opts.Store); err != nil {
		return nil, err
	}

	requestURL := func(r *http.Request) *url.URL {
		u := proxies.ExternalURL(r)
		u.Path = r.URL.Path
		return u
	}
	if cfg.IdentitySource.SAML != nil {
		if err := g.setupSP(ctx, cfg, opts, requestURL); err != nil {
			return nil, err
		}
		g.sessions = g.sp.Sessions()
		g.loginPath = "/saml/sp/login"
	} else {
		if g.sessions, err = sp.NewSessionManager(sp.SessionManagerConfig{
			Sessions: opts.Store, Users: opts.Store, Lifetime: cfg.Session.Lifetime.Std(),
			CookieDomain: cfg.Session.CookieDomain, RequestURL: requestURL, Now: g.now, Logger: g.log,
		}); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		g.loginPath = portal.SignInPath
	}

	if err := g.setupIdP(ctx, cfg, opts, proxies); err != nil {
		return nil, err
	}
	if err := g.setupAccess(ctx, cfg); err != nil {
		return nil, err
	}
	if err := g.setupAccountPages(); err != nil {
		return nil, err
	}
	if err := g.setupSignIn(cfg); err != nil {
		return nil, err
	}
	if err := g.setupOAuth(ctx, cfg); err != nil {
		return nil, err
	}
	if err := g.setupAccessAPI(); err != nil {
		return nil, err
	}
	if err := g.setupSCIM(cfg); err != nil {
		return nil, err
	}

	httpMetrics, err := server.NewHTTPMetrics(g.registry)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	mux := http.NewServeMux()
	g.routes(mux)
	if opts.Routes != nil {
		opts.Routes(mux)
	}
	var routed http.Handler = httpMetrics.Instrument(mux)
	if telemetry.Enabled(g.tracer) {
		routed = telemetry.Route(routed) // names the server span by the mux pattern
	}
	g.handler = telemetry.Handler(g.tracer, server.RequestID(proxies, base)(server.AccessLog(base)(routed)))

	tmux := http.NewServeMux()
	server.RegisterHealth(tmux, g, g.log)
	tmux.Handle("GET /metrics", server.MetricsHandler(g.registry))
	g.telemetry = tmux
	return g, nil
}

// setupSP builds the IdP-facing SAML service provider (identity_source
// saml).
func (g *Gateway) setupSP(ctx context.Context, cfg *config.Config, opts Options, requestURL func(*http.Request) *url.URL) error {
	samlCfg := cfg.IdentitySource.SAML
	idp, err := g.loadIdP(ctx, samlCfg, opts)
	if err != nil {
		return err
	}
	regions := make([]sp.Region, len(samlCfg.ACSEndpoints))
	for i, e := range samlCfg.ACSEndpoints {
		regions[i] = sp.Region{Name: e.Region, ACSURL: e.URL}
	}
	spCfg := sp.Config{
		CookieDomain:      cfg.Session.CookieDomain,
		EntityID:          samlCfg.EntityID,
		Regions:           regions,
		IdP:               idp,
		ClockSkew:         configSkew(samlCfg.ClockSkew.Std()),
		SessionLifetime:   cfg.Session.Lifetime.Std(),
		AllowIdPInitiated: samlCfg.AllowIDPInitiated,
		JITProvisioning:   samlCfg.JITProvisioning,
		Attributes: sp.AttributeMap{
			Email:       samlCfg.Attributes.Email,
			DisplayName: samlCfg.Attributes.DisplayName,
			Groups:      samlCfg.Attributes.Groups,
		},
		Requests: opts.Store, Replay: opts.Store, Sessions: opts.Store, Users: opts.Store, Starter: opts.Store,
		RequestURL: requestURL,
		Audit:      signInAudit{log: g.audit},
		Now:        g.now,
		Logger:     g.log,
		Registry:   g.registry,
	}
	if samlCfg.SignAuthnRequests {
		// The SP key signs AuthnRequests and is published in the SP
		// metadata; it is generated in keys.dir on first start.
		pair, err := keys.LoadOrCreateRSA(cfg.Keys.Dir, "sp-signing", "Gatehouse SP "+samlCfg.EntityID, 10*365*24*time.Hour, g.now())
		if err != nil {
			return fmt.Errorf("gateway: keys.dir: %w", err)
		}
		spCfg.Signer, spCfg.SigningCertificate = pair.Signer, pair.Certificate
		g.metrics.spSigningCert = pair.Certificate
	}
	srv, err := sp.New(spCfg)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	g.sp = srv
	return nil
}

func (g *Gateway) loadIdP(ctx context.Context, samlCfg *config.SAMLSourceConfig, opts Options) (sp.IdentityProvider, error) {
	if opts.IdentityProvider != nil {
		return *opts.IdentityProvider, nil
	}
	var initial *metadata.IdPMetadata
	r, err := metadata.NewRefresher(metadata.RefresherConfig{
		URL:       samlCfg.MetadataURL,
		File:      samlCfg.MetadataFile,
		Client:    opts.HTTPClient,
		Interval:  samlCfg.MetadataRefresh.Std(),
		CachePath: filepath.Join(g.cfg.Keys.Dir, "idp-metadata.cache.xml"),
		Logger:    g.log,
		Now:       g.now,
		OnUpdate: func(md *metadata.IdPMetadata) {
			if g.sp == nil {
				initial = md
				return
			}
			if err := g.sp.UpdateIdP(sp.IdentityProviderFromMetadata(md)); err != nil {
				g.log.Error("refreshed IdP metadata rejected; keeping the previous copy", "err", err)
			}
		},
	})
	if err != nil {
		return sp.IdentityProvider{}, fmt.Errorf("gateway: identity_source.saml: %w", err)
	}
	if err := r.Load(ctx); err != nil {
		return sp.IdentityProvider{}, fmt.Errorf("gateway: identity_source.saml: %w", err)
	}
	if initial == nil {
		initial = r.Current()
	}
	if initial == nil {
		return sp.IdentityProvider{}, errors.New("gateway: identity_source.saml: no usable IdP metadata")
	}
	g.refresher = r
	return sp.IdentityProviderFromMetadata(initial), nil
}

// jwksClient fetches trusted issuers' jwks_url key sets: their default
// client, traced when tracing is on.
func (g *Gateway) jwksClient() *http.Client {
	return telemetry.Client(g.tracer, &http.Client{Timeout: jwksFetchTimeout})
}

// Ready reports whether the store answers and the IdP metadata is usable.
func (g *Gateway) Ready(ctx context.Context) error {
	if err := g.store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if g.refresher != nil && g.refresher.Current() == nil {
		return errors.New("IdP metadata is older than its staleness bound")
	}
	return nil
}

// Handler is the public handler (all endpoints, health and metrics too).
func (g *Gateway) Handler() http.Handler { return g.handler }

// TelemetryHandler serves /metrics, /healthz and /readyz for
// telemetry_listen.
func (g *Gateway) TelemetryHandler() http.Handler { return g.telemetry }

// SP returns the gateway's service provider.
func (g *Gateway) SP() *sp.SP { return g.sp }

// Registry returns the gateway's metrics registry.
func (g *Gateway) Registry() *prometheus.Registry { return g.registry }

// Start runs the background work (metadata refresh, expired-row cleanup,
// the provisioning worker of multi-account access) until ctx is done.
func (g *Gateway) Start(ctx context.Context) {
	if g.refresher != nil {
		g.refresher.Start(ctx)
	}
	g.apps.Start(ctx)
	go g.ring.Watch(ctx, g.keyReload, func() {
		g.log.Info("IdP signing keys reloaded")
	})
	go g.oauth.ring.Watch(ctx, g.keyReload, func() {
		g.log.Info("OAuth signing keys reloaded")
	})
	g.startSCIM(ctx)
	g.startAccess(ctx)
	go g.cleanupLoop(ctx, 5*time.Minute)
}

func (g *Gateway) cleanupLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := g.store.Cleanup(ctx, g.now())
			if err != nil {
				g.log.Warn("store cleanup failed", "err", err)
				continue
			}
			if n > 0 {
				g.log.Debug("store cleanup", "deleted", n)
			}
		}
	}
}

// requestIDHandler adds the request ID set by server.RequestID to every log
// record made with a request's context.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := server.RequestIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// configSkew maps identity_source.saml.clock_skew to sp.Config, where zero
// means the default: a configured 0s means exact time comparisons.
func configSkew(d time.Duration) time.Duration {
	if d == 0 {
		return saml.NoClockSkew
	}
	return d
}
