package gateway

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// maxSAMLBody caps SAML POST bodies (SECURITY.md, class 9).
const maxSAMLBody = 256 << 10

func (g *Gateway) routes(mux *http.ServeMux) {
	server.RegisterHealth(mux, g, g.log)
	mux.Handle("GET /metrics", server.MetricsHandler(g.registry))

	if g.sp != nil {
		mux.Handle("GET /saml/sp/metadata", g.sp.MetadataHandler())
		mux.Handle("GET /saml/sp/login", g.requireFreshMetadata(g.sp.LoginHandler()))
		acs := server.MaxBody(maxSAMLBody)(g.requireFreshMetadata(g.sp.ACSHandler()))
		for _, p := range g.sp.ACSPaths() {
			mux.Handle("POST "+p, acs)
		}
	}
	g.signInRoutes(mux)
	g.accountPageRoutes(mux)
	mux.Handle("GET /api/v1/session", g.sessions.SessionHandler())
	mux.Handle("POST /api/v1/logout", g.sessions.LogoutHandler())
	g.idpRoutes(mux)
	g.oauthRoutes(mux)
	g.scimRoutes(mux)
	mux.Handle("GET /{$}", http.RedirectHandler("/portal", http.StatusFound))
}

// requireFreshMetadata answers 503 while the IdP metadata is older than its
// staleness bound: its keys may have been revoked since.
func (g *Gateway) requireFreshMetadata(next http.Handler) http.Handler {
	if g.refresher == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.refresher.Current() == nil {
			g.log.ErrorContext(r.Context(), "sign-in refused: IdP metadata is stale")
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "Sign-in is temporarily unavailable. Please try again shortly.", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}
