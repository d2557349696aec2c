package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/metadata"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// requestCookie binds a sign-in the app started to the browser: it holds
// the AuthnRequest ID and the RelayState sent with it.
const requestCookie = "demo_app_request"

// demoApp is the application (a SAML service provider) registered with the
// IdP, served under /app/. It is a test SP: it keeps no sessions and no
// replay cache, it only shows what it received.
type demoApp struct {
	sp          *samltest.SP
	ssoURL      string
	idpMetadata func(context.Context) ([]byte, error)
	log         *slog.Logger
	home, shown *template.Template
}

func newDemoApp(base, ssoURL string, idpMetadata func(context.Context) ([]byte, error), log *slog.Logger) (*demoApp, error) {
	s, err := samltest.NewSP(base+"/app/", base+"/app/acs")
	if err != nil {
		return nil, err
	}
	return &demoApp{
		sp: s, ssoURL: ssoURL, idpMetadata: idpMetadata, log: log,
		home: template.Must(template.New("home").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Demo app</title></head><body>
<h1>Demo app</h1><p><a href="/app/login">Sign in with the IdP</a>
or <a href="/saml/idp/launch/{{.}}">launch from the IdP</a>.</p></body></html>`)),
		shown: template.Must(template.New("shown").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signed in</title></head><body>
<h1>Signed in ({{.Flow}})</h1>
<p>NameID: <code id="nameid">{{.NameID}}</code> ({{.Format}})</p>
<table>{{range .Attributes}}<tr><th>{{.Name}}</th><td>{{range .Values}}<code>{{.}}</code> {{end}}</td></tr>{{end}}</table>
</body></html>`)),
	}, nil
}

func (a *demoApp) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /app/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = a.home.Execute(w, appID)
	})
	mux.HandleFunc("GET /app/login", a.login)
	mux.HandleFunc("POST /app/acs", a.acs)
}

// login sends a signed AuthnRequest over the HTTP-Redirect binding.
func (a *demoApp) login(w http.ResponseWriter, r *http.Request) {
	req := a.sp.AuthnRequest(a.ssoURL, time.Now())
	relayState := rand.Text()
	location, err := a.sp.RedirectURL(a.ssoURL, req, relayState, true)
	if err != nil {
		a.log.ErrorContext(r.Context(), "app: AuthnRequest", "err", err)
		http.Error(w, "cannot start sign-in", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: requestCookie, Value: req.ID + "." + relayState, Path: "/app/", MaxAge: 600,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, location, http.StatusFound)
}

// acs verifies the Response against the IdP's published metadata and shows
// the NameID and attributes. A solicited Response must answer the request
// this browser started (InResponseTo and RelayState); an unsolicited one
// comes from IdP-initiated sign-in, which this app accepts.
func (a *demoApp) acs(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "invalid form", http.StatusBadRequest)
		return
	}
	md, err := a.idpMetadata(r.Context())
	if err != nil {
		http.Error(w, "IdP metadata unavailable", http.StatusServiceUnavailable)
		return
	}
	trusted, err := metadata.ParseIdP(md, now)
	if err != nil {
		http.Error(w, "IdP metadata unavailable", http.StatusServiceUnavailable)
		return
	}
	assertion, err := a.sp.Verify(trusted.EntityID, trusted.SigningCertificates, r.PostForm.Get("SAMLResponse"), now)
	if err != nil {
		a.log.WarnContext(r.Context(), "app: response rejected", "err", err)
		http.Error(w, "sign-in failed", http.StatusForbidden)
		return
	}
	flow := "IdP-initiated"
	if id := assertion.InResponseTo(); id != "" {
		c, err := r.Cookie(requestCookie)
		want := id + "." + r.PostForm.Get("RelayState")
		if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(want)) != 1 {
			a.log.WarnContext(r.Context(), "app: response does not answer this browser's request")
			http.Error(w, "sign-in failed", http.StatusForbidden)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: requestCookie, Path: "/app/", MaxAge: -1})
		flow = "SP-initiated"
	}
	type attribute struct {
		Name   string
		Values []string
	}
	var attrs []attribute
	for _, name := range assertion.AttributeNames() {
		attrs = append(attrs, attribute{name, assertion.Attribute(name)})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = a.shown.Execute(w, map[string]any{
		"Flow": flow, "NameID": assertion.NameID(), "Attributes": attrs,
		"Format": assertion.NameIDFormat(),
	})
}
