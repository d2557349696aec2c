package gateway

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// maxSAMLBody caps SAML POST bodies (SECURITY.md, class 9).
const maxSAMLBody = 256 << 10

func (g *Gateway) routes(mux *http.ServeMux) {
	server.RegisterHealth(mux, g, g.log)
	mux.Handle("GET /metrics", server.MetricsHandler(g.registry))

	mux.Handle("GET /saml/sp/metadata", g.sp.MetadataHandler())
	mux.Handle("GET /saml/sp/login", g.requireFreshMetadata(g.sp.LoginHandler()))
	acs := server.MaxBody(maxSAMLBody)(g.requireFreshMetadata(g.sp.ACSHandler()))
	for _, p := range g.sp.ACSPaths() {
		mux.Handle("POST "+p, acs)
	}
	mux.Handle("GET /api/v1/session", g.sp.SessionHandler())
	mux.Handle("POST /api/v1/logout", g.sp.LogoutHandler())
	mux.Handle("GET /portal", http.HandlerFunc(g.portal))
	mux.Handle("POST /logout", http.HandlerFunc(g.logout))
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

var portalPage = template.Must(template.New("portal").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gatehouse access portal</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#222}
dt{font-weight:600}dd{margin:0 0 .6rem 0}</style></head>
<body><h1>Access portal</h1>
<p>Signed in as <strong id="user">{{.DisplayName}}</strong></p>
<dl><dt>User name</dt><dd id="user_name">{{.UserName}}</dd>
<dt>E-mail</dt><dd id="email">{{.Email}}</dd>
<dt>Groups</dt><dd id="groups">{{range $i, $g := .Groups}}{{if $i}}, {{end}}{{$g}}{{else}}none{{end}}</dd>
<dt>Session ends</dt><dd id="expires">{{.Expires}}</dd></dl>
<h2>Applications</h2><p id="apps">No applications are assigned to you.</p>
<form method="post" action="/logout"><button type="submit" id="signout">Sign out</button></form>
</body></html>
`))

type portalData struct {
	DisplayName, UserName, Email, Expires string
	Groups                                []string
}

// portal shows the signed-in user; without a session it starts sign-in.
func (g *Gateway) portal(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	sess, user, err := g.sp.Authenticate(r)
	if errors.Is(err, sp.ErrNoSession) {
		http.Redirect(w, r, "/saml/sp/login?return_to="+url.QueryEscape("/portal"), http.StatusFound)
		return
	}
	if err != nil {
		g.log.ErrorContext(r.Context(), "portal: session lookup failed", "err", err)
		http.Error(w, "The portal is temporarily unavailable.", http.StatusServiceUnavailable)
		return
	}
	name := user.DisplayName
	if name == "" {
		name = user.UserName
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_ = portalPage.Execute(w, portalData{
		DisplayName: name, UserName: user.UserName, Email: user.Email,
		Groups: user.Groups, Expires: sess.ExpiresAt.UTC().Format("2006-01-02 15:04 MST"),
	})
}

var signedOutPage = template.Must(template.New("signed-out").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head>
<body><h1 id="signed-out">You are signed out</h1><p><a href="/portal">Sign in again</a></p></body></html>
`))

// logout is the portal's sign-out form target. Cross-site POSTs carry no
// session cookie (SameSite=Lax), so it cannot be used to sign others out.
func (g *Gateway) logout(w http.ResponseWriter, r *http.Request) {
	if err := g.sp.EndSession(w, r); err != nil {
		g.log.ErrorContext(r.Context(), "logout failed", "err", err)
		w.Header().Del("Clear-Site-Data")
		w.Header().Del("Set-Cookie")
		http.Error(w, "Signing out is temporarily unavailable.", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	_ = signedOutPage.Execute(w, nil)
}
