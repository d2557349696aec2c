package gateway

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/scim"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
)

// setupSCIM builds the SCIM bearer token service and the SCIM 2.0 server
// on the store.
func (g *Gateway) setupSCIM(cfg *config.Config) error {
	svc, err := scimtoken.New(scimtoken.Config{
		Store:      g.store,
		Auditor:    g.audit,
		Lifetime:   cfg.SCIM.TokenLifetime.Std(),
		WarnBefore: cfg.SCIM.TokenExpiryWarning.Std(),
		Now:        g.now,
		Logger:     g.log,
		Registerer: g.registry,
	})
	if err != nil {
		return fmt.Errorf("gateway: scim: %w", err)
	}
	g.scimTokens = svc
	srv, err := scim.New(scim.Config{
		Store:   g.store,
		Auditor: g.audit,
		BaseURL: externalURL(cfg.ExternalURL, scim.PathPrefix),
		Now:     g.now,
		Logger:  g.log,
	})
	if err != nil {
		return fmt.Errorf("gateway: scim: %w", err)
	}
	g.scim = srv.Handler()
	return nil
}

// scimRoutes registers /scim/v2 (behind a SCIM bearer token, counted in
// gatehouse_scim_requests_total) and the SCIM token admin endpoints.
func (g *Gateway) scimRoutes(mux *http.ServeMux) {
	mux.Handle(scim.PathPrefix+"/", g.metrics.instrumentSCIM(g.scimTokens.Require(g.scim)))
	admin.SCIMTokenRoutes(mux, g.adminToken, g.scimTokens, g.log)
}

// startSCIM runs the periodic expiry warning until ctx is done.
func (g *Gateway) startSCIM(ctx context.Context) {
	go g.scimTokens.WarnEvery(ctx, 0)
}
