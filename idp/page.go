package idp

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
)

// postTemplate is the auto-submitting form. html/template escapes every
// value for its context (attribute values, URL); the script is static and
// runs only with the per-response CSP nonce.
var postTemplate = template.Must(template.New("post").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Signing in</title>
</head>
<body>
<form id="saml-post" method="post" action="{{.ACS}}">
<input type="hidden" name="SAMLResponse" value="{{.SAMLResponse}}">
{{- if .RelayState}}
<input type="hidden" name="RelayState" value="{{.RelayState}}">
{{- end}}
<noscript>
<p>JavaScript is turned off. Press Continue to sign in.</p>
<button type="submit">Continue</button>
</noscript>
</form>
<script nonce="{{.Nonce}}">document.getElementById("saml-post").submit();</script>
</body>
</html>
`))

// errorTemplate is the page shown when nothing may be sent to an
// application. It carries no detail beyond a fixed message.
var errorTemplate = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
<p><a href="/portal">Go to your applications</a></p>
</main>
</body>
</html>
`))

// The fixed error pages.
type errorPage struct {
	status         int
	Title, Message string
}

var (
	pageBadRequest = errorPage{http.StatusBadRequest, "Sign-in request rejected",
		"The application sent a sign-in request that cannot be accepted. Return to the application and try again, or contact your administrator."}
	pageUnknownApp = errorPage{http.StatusNotFound, "Application not found",
		"This application does not exist or is no longer available."}
	pageExpired = errorPage{http.StatusBadRequest, "Sign-in expired",
		"This sign-in took too long or was already used. Return to the application and try again."}
	pageNoSession = errorPage{http.StatusUnauthorized, "Sign-in did not complete",
		"You are not signed in. Return to the application and try again."}
	pageUnassigned = errorPage{http.StatusForbidden, "No access to this application",
		"You are not assigned to this application. Ask your administrator for access."}
	pageUserData = errorPage{http.StatusForbidden, "Your account cannot be used here",
		"Your account lacks information this application needs. Contact your administrator."}
	pageUnavailable = errorPage{http.StatusServiceUnavailable, "Temporarily unavailable",
		"Sign-in is temporarily unavailable. Please try again shortly."}
	pageMethod = errorPage{http.StatusMethodNotAllowed, "Method not allowed",
		"This address does not accept that kind of request."}
)

// setPageHeaders sets the headers every IdP page carries.
func setPageHeaders(w http.ResponseWriter, csp string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

func writeErrorPage(w http.ResponseWriter, p errorPage) {
	setPageHeaders(w, "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	if p.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "GET, POST")
	}
	var buf bytes.Buffer
	if err := errorTemplate.Execute(&buf, p); err != nil {
		http.Error(w, http.StatusText(p.status), p.status)
		return
	}
	w.WriteHeader(p.status)
	_, _ = w.Write(buf.Bytes())
}

// writePostPage writes the auto-submitting form that POSTs samlResponse
// (and relayState) to acs, a validated ACS location of the application.
//
// form-action names the ACS origin and "https:": Chromium applies
// form-action to the redirects that follow a form submission, and ACS
// endpoints commonly redirect to another origin (an AWS sign-in endpoint
// to its console). The form's target is fixed server-side, so the
// directive is defence in depth, not the control.
func writePostPage(w http.ResponseWriter, acs, samlResponse, relayState string) error {
	u, err := url.Parse(acs)
	if err != nil {
		return err
	}
	var n [16]byte
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails (Go 1.24+)
	nonce := base64.RawURLEncoding.EncodeToString(n[:])
	var buf bytes.Buffer
	err = postTemplate.Execute(&buf, struct {
		ACS, SAMLResponse, RelayState, Nonce string
	}{acs, samlResponse, relayState, nonce})
	if err != nil {
		return err
	}
	origin := u.Scheme + "://" + u.Host
	setPageHeaders(w, "default-src 'none'; script-src 'nonce-"+nonce+"'; form-action "+origin+" https:; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}
