package gateway

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/apps"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/internal/portal"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/metadata"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// The app-facing IdP's endpoints, under external_url.
const (
	idpMetadataPath = "/saml/idp/metadata"
	idpSSOPath      = "/saml/idp/sso"
	idpSLOPath      = "/saml/idp/slo"
)

// sessionBridge lets the app-facing IdP use the portal sessions that the
// IdP-facing SP creates.
type sessionBridge struct {
	sessions *sp.SessionManager
	// loginPath starts a sign-in at the identity source.
	loginPath string
	proxies   *server.TrustedProxies
}

func (b sessionBridge) Principal(r *http.Request) (idp.Principal, error) {
	sess, user, err := b.sessions.Authenticate(r)
	if errors.Is(err, sp.ErrNoSession) {
		return idp.Principal{}, idp.ErrNoSession
	}
	if err != nil {
		return idp.Principal{}, err
	}
	p := idp.Principal{
		UserID:               user.ID,
		UserName:             user.UserName,
		Email:                user.Email,
		DisplayName:          user.DisplayName,
		Groups:               append([]string(nil), user.Groups...),
		SessionNotOnOrAfter:  sess.ExpiresAt,
		AuthnInstant:         sess.AuthnInstant,
		AuthnContextClassRef: sess.AuthnContextClassRef,
		SessionIndex:         sess.PublicID(),
	}
	if p.AuthnInstant.IsZero() {
		p.AuthnInstant = sess.CreatedAt
	}
	if ip := b.proxies.ClientIP(r); ip.IsValid() {
		p.ClientIP = ip.String()
	}
	return p, nil
}

// StartLogin sends the browser through the identity source and back to
// returnTo, which the IdP guarantees is a local path.
func (b sessionBridge) StartLogin(w http.ResponseWriter, r *http.Request, returnTo string) {
	if !sp.IsLocalPath(returnTo) {
		returnTo = "/portal"
	}
	http.Redirect(w, r, b.loginURL(returnTo), http.StatusFound)
}

// loginURL is the identity source's sign-in start with a return target.
func (b sessionBridge) loginURL(returnTo string) string {
	return b.loginPath + "?return_to=" + url.QueryEscape(returnTo)
}

// EndSession ends the portal session (single logout).
func (b sessionBridge) EndSession(w http.ResponseWriter, r *http.Request) error {
	return b.sessions.EndSession(w, r)
}

// idpMetadataHandler serves the IdP metadata with the current and the next
// signing certificate, read from the key ring at each request so that a
// rotation is published as soon as the ring reloads.
func (g *Gateway) idpMetadataHandler(ring *keys.Ring) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		certs, err := ring.Certificates(r.Context())
		if err == nil {
			var md []byte
			md, err = metadata.BuildIdP(metadata.IdPConfig{
				EntityID:            g.idp.EntityID(),
				SigningCertificates: certs,
				SSOURL:              g.idp.SSOURL(),
				SLOURL:              g.idp.SLOURL(),
				NameIDFormats: []string{
					idp.NameIDFormatEmailURI, idp.NameIDFormatPersistentURI,
					idp.NameIDFormatTransientURI, idp.NameIDFormatUnspecifiedURI,
				},
			})
			if err == nil {
				w.Header().Set("Content-Type", "application/samlmetadata+xml")
				_, _ = w.Write(md)
				return
			}
		}
		g.log.ErrorContext(r.Context(), "IdP metadata unavailable", "err", err)
		server.WriteJSONError(w, http.StatusServiceUnavailable, "unavailable", "the IdP metadata is temporarily unavailable")
	})
}

// externalURL joins external_url and an absolute path.
func externalURL(base, path string) string {
	return strings.TrimSuffix(base, "/") + path
}

// openIdPKeys opens the IdP signing key ring (where keys.rings keeps it)
// and the persistent-NameID secret in keys.dir, generating them on first
// start.
func openIdPKeys(ctx context.Context, cfg *config.Config, g *Gateway) (*keys.Ring, []byte, error) {
	ring, err := OpenRing(ctx, cfg, g.store, keys.IdPSigningRing, keys.RingOptions{
		CommonName: keys.IdPSigningCommonName, Now: g.now, Logger: g.log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: %w", err)
	}
	secret, err := keys.LoadOrCreateSecret(cfg.Keys.Dir, "persistent-nameid", 32)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: keys.dir: %w", err)
	}
	return ring, secret, nil
}

// setupIdP builds the application registry, the app-facing IdP and the
// admin token from the config.
func (g *Gateway) setupIdP(ctx context.Context, cfg *config.Config, opts Options, proxies *server.TrustedProxies) error {
	ring, secret, err := openIdPKeys(ctx, cfg, g)
	if err != nil {
		return err
	}
	g.ring = ring
	g.apps, err = apps.New(apps.Config{
		Static:     cfg.Applications,
		ConfigFile: opts.ConfigFile,
		Store:      opts.Store,
		HTTPClient: opts.HTTPClient,
		Now:        g.now,
		Logger:     g.log,
		Registerer: g.registry,
	})
	if err != nil {
		return fmt.Errorf("gateway: applications: %w", err)
	}
	if err := g.apps.Load(ctx); err != nil {
		return fmt.Errorf("gateway: applications: %w", err)
	}
	bridge := sessionBridge{sessions: g.sessions, loginPath: g.loginPath, proxies: proxies}
	g.idp, err = idp.New(idp.Config{
		EntityID:         externalURL(cfg.ExternalURL, idpMetadataPath),
		SSOURL:           externalURL(cfg.ExternalURL, idpSSOPath),
		SLOURL:           externalURL(cfg.ExternalURL, idpSLOPath),
		ServiceProviders: g.apps,
		Sessions:         bridge,
		Terminator:       bridge,
		Access:           g.apps,
		Keys:             ring,
		States:           opts.Store,
		PersistentIDKey:  secret,
		Now:              g.now,
		Logger:           g.log,
		Registry:         g.registry,
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	tok, created, err := admin.LoadOrCreateToken(cfg.Admin.TokenFile)
	if err != nil {
		return fmt.Errorf("gateway: admin.token_file: %w", err)
	}
	if created {
		g.log.Info("created the admin token", "file", cfg.Admin.TokenFile)
	}
	g.adminToken = tok
	devices := ""
	if cfg.IdentitySource.Directory != nil && cfg.IdentitySource.Directory.MFA != "off" {
		devices = portal.SignInAddPath
	}
	var accounts portal.AccountLister
	if accessEnabled(cfg) {
		accounts = portalAccounts{g}
	}
	g.portal, err = portal.New(portal.Config{
		Sessions:   portalSessions{bridge},
		Apps:       portalApps{g.apps},
		Accounts:   accounts,
		DevicesURL: devices,
		Now:        g.now,
		Logger:     g.log,
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

// portalSessions adapts the portal sessions to the portal page.
type portalSessions struct{ b sessionBridge }

func (s portalSessions) Current(r *http.Request) (portal.User, time.Time, error) {
	sess, user, err := s.b.sessions.Authenticate(r)
	if errors.Is(err, sp.ErrNoSession) {
		return portal.User{}, time.Time{}, portal.ErrNoSession
	}
	if err != nil {
		return portal.User{}, time.Time{}, err
	}
	return portal.User{ID: user.ID, UserName: user.UserName, Email: user.Email, DisplayName: user.DisplayName, Groups: user.Groups}, sess.ExpiresAt, nil
}

func (s portalSessions) LoginURL(returnTo string) string { return s.b.loginURL(returnTo) }

// portalApps lists the applications assigned to the portal's user.
type portalApps struct{ reg *apps.Registry }

func (a portalApps) ApplicationsFor(ctx context.Context, u portal.User) ([]portal.App, error) {
	sums := a.reg.ApplicationsFor(ctx, idp.Principal{UserID: u.ID, UserName: u.UserName, Email: u.Email, Groups: u.Groups})
	out := make([]portal.App, 0, len(sums))
	for _, s := range sums {
		out = append(out, portal.App{ID: s.ID, Name: s.Name, LaunchURL: "/saml/idp/launch/" + url.PathEscape(s.ID)})
	}
	return out, nil
}

// idpRoutes registers the app-facing IdP, the portal and the admin API.
func (g *Gateway) idpRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+idpMetadataPath, g.idpMetadataHandler(g.ring))
	sso := g.idp.SSOHandler()
	mux.Handle("GET "+idpSSOPath, sso)
	mux.Handle("POST "+idpSSOPath, server.MaxBody(maxSAMLBody)(sso))
	slo := g.idp.SLOHandler()
	mux.Handle("GET "+idpSLOPath, slo)
	mux.Handle("POST "+idpSLOPath, server.MaxBody(maxSAMLBody)(slo))
	mux.Handle("GET "+g.idp.ResumePath(), g.idp.ResumeHandler())
	mux.Handle("GET /saml/idp/launch/{app_id}", g.idp.LaunchHandler())
	mux.Handle("GET "+portal.PortalPath, g.portal.Handler())
	mux.Handle("POST "+portal.SignOutPath, g.portal.SignOutHandler(g.sessions.EndSession))
	admin.Routes(mux, g.adminToken, g.apps)
	admin.AuditRoutes(mux, g.adminToken, g.audit, g.log)
	admin.DirectoryRoutes(mux, g.adminToken, g.store, g.audit, g.now, g.log)
	var signInAdmin admin.SignInAdmin // nil unless identity_source is directory
	if g.signin != nil {
		signInAdmin = g.signin
	}
	admin.SignInRoutes(mux, g.adminToken, signInAdmin, g.audit, g.now, g.log)
	accessCfg := admin.AccessConfig{Auditor: g.audit, Now: g.now, Logger: g.log} // 404 not_configured without access
	if g.accessRT != nil {
		accessCfg.Service, accessCfg.Store, accessCfg.Principals, accessCfg.Provisioning = g.accessRT.service, g.store, g.store, g.accessRT.worker
	}
	admin.AccessRoutes(mux, g.adminToken, accessCfg)
	g.accessAPIRoutes(mux) // the CLI's /api/v1/accounts and /api/v1/credentials
}

// IdPEntityID returns the app-facing IdP's entity ID.
func (g *Gateway) IdPEntityID() string { return g.idp.EntityID() }

// IdPCertificates returns the app-facing IdP's published signing
// certificates (current, then next).
func (g *Gateway) IdPCertificates(ctx context.Context) ([]*x509.Certificate, error) {
	return g.ring.Certificates(ctx)
}
