package main

import (
	"crypto/x509"
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// demoApp is the demo's SAML application: a service provider built on
// saml/samltest that trusts the gateway's app-facing IdP. It shows the
// verified assertion, so a newcomer sees what an application receives.
type demoApp struct {
	sp       *samltest.SP
	ssoURL   string
	entityID string
	certs    func(r *http.Request) ([]*x509.Certificate, error)
}

var demoAppPage = template.Must(template.New("demo-app").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Demo application</title></head>
<body><h1>Demo application</h1>
{{if .Error}}<p id="error" role="alert">{{.Error}}</p>{{end}}
{{if .NameID}}<p>Signed in through Gatehouse as <strong id="nameid">{{.NameID}}</strong>.</p>
<table><caption>Attributes in the assertion</caption><thead><tr><th scope="col">Name</th><th scope="col">Values</th></tr></thead><tbody>
{{range .Attributes}}<tr><td>{{.Name}}</td><td>{{range $i, $v := .Values}}{{if $i}}, {{end}}{{$v}}{{end}}</td></tr>{{end}}
</tbody></table>{{else}}<p><a id="signin" href="/demo-app/login">Sign in with Gatehouse</a></p>{{end}}
</body></html>
`))

type demoAppData struct {
	Error, NameID string
	Attributes    []demoAttribute
}

type demoAttribute struct {
	Name   string
	Values []string
}

func (a *demoApp) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /demo-app/{$}", func(w http.ResponseWriter, _ *http.Request) {
		a.render(w, http.StatusOK, demoAppData{})
	})
	// SP-initiated: an AuthnRequest over HTTP-Redirect to the gateway.
	mux.HandleFunc("GET /demo-app/login", func(w http.ResponseWriter, r *http.Request) {
		u, err := a.sp.RedirectURL(a.ssoURL, a.sp.AuthnRequest(a.ssoURL, time.Now()), "", false)
		if err != nil {
			a.render(w, http.StatusInternalServerError, demoAppData{Error: "Could not build the sign-in request."})
			return
		}
		http.Redirect(w, r, u, http.StatusFound)
	})
	mux.HandleFunc("POST /demo-app/acs", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
		certs, err := a.certs(r)
		if err != nil {
			a.render(w, http.StatusServiceUnavailable, demoAppData{Error: "The IdP keys are unavailable."})
			return
		}
		assertion, err := a.sp.Verify(a.entityID, certs, r.PostFormValue("SAMLResponse"), time.Now())
		if err != nil {
			a.render(w, http.StatusForbidden, demoAppData{Error: "The assertion was rejected."})
			return
		}
		d := demoAppData{NameID: assertion.NameID()}
		for name, values := range assertion.Attributes() {
			d.Attributes = append(d.Attributes, demoAttribute{Name: name, Values: values})
		}
		sort.Slice(d.Attributes, func(i, j int) bool { return d.Attributes[i].Name < d.Attributes[j].Name })
		a.render(w, http.StatusOK, d)
	})
}

func (a *demoApp) render(w http.ResponseWriter, status int, d demoAppData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = demoAppPage.Execute(w, d)
}
