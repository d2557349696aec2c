package samltest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// ParseAuthnRequestFromRedirect decodes and parses the SAMLRequest of an
// HTTP-Redirect binding URL and returns it with its RelayState. It does
// not verify a redirect signature (see saml.VerifyRedirectSignature).
func ParseAuthnRequestFromRedirect(u *url.URL) (*saml.AuthnRequest, string, error) {
	q := u.Query()
	if len(q["SAMLRequest"]) != 1 || len(q["RelayState"]) > 1 {
		return nil, "", fmt.Errorf("samltest: exactly one SAMLRequest and at most one RelayState required")
	}
	xml, err := saml.DecodeRedirect(q.Get("SAMLRequest"), saml.Limits{})
	if err != nil {
		return nil, "", err
	}
	req, err := saml.ParseAuthnRequest(xml, saml.Limits{})
	if err != nil {
		return nil, "", err
	}
	return req, q.Get("RelayState"), nil
}

// DemoUser is an account of the demo IdP.
type DemoUser struct {
	Password    string
	Email       string
	DisplayName string
	Groups      []string
}

// IdPHandlerConfig configures LoginHandler.
type IdPHandlerConfig struct {
	IdP *IdP
	// SSOURL is the absolute URL the handler is served at.
	SSOURL string
	Users  map[string]DemoUser
	// AllowedACS lists the SP ACS URLs responses may be posted to. A
	// request naming no ACS URL gets the first.
	AllowedACS []string
	// Audience is the SP entity ID: requests from any other Issuer are
	// refused, and assertions are restricted to it.
	Audience string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

type loginHandler struct {
	cfg IdPHandlerConfig
}

// LoginHandler returns an http.Handler for a demo IdP. GET with an
// HTTP-Redirect AuthnRequest shows a login form; POST of that form checks
// the user's password and answers with an auto-submitting form that POSTs
// a signed SAMLResponse (and RelayState) to the request's ACS URL, only if
// that URL is allow-listed and the request's Issuer is the configured
// Audience. All output is escaped by html/template. It is meant for
// demos and tests, not production.
func LoginHandler(cfg IdPHandlerConfig) (http.Handler, error) {
	if cfg.IdP == nil || cfg.SSOURL == "" || cfg.Audience == "" || len(cfg.AllowedACS) == 0 {
		return nil, errors.New("samltest: IdP, SSOURL, Audience and AllowedACS are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.AllowedACS = slices.Clone(cfg.AllowedACS)
	users := make(map[string]DemoUser, len(cfg.Users))
	for k, v := range cfg.Users {
		v.Groups = slices.Clone(v.Groups)
		users[k] = v
	}
	cfg.Users = users
	return &loginHandler{cfg: cfg}, nil
}

var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Demo IdP sign-in</title></head>
<body><h1>Sign in to {{.EntityID}}</h1>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="SAMLRequest" value="{{.SAMLRequest}}">
<input type="hidden" name="RelayState" value="{{.RelayState}}">
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form></body></html>
`))

var postPage = template.Must(template.New("post").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signing in</title></head>
<body><form method="post" action="{{.ACS}}">
<input type="hidden" name="SAMLResponse" value="{{.SAMLResponse}}">
{{if .RelayState}}<input type="hidden" name="RelayState" value="{{.RelayState}}">{{end}}
<noscript><button type="submit">Continue</button></noscript>
</form>
<script nonce="{{.Nonce}}">document.forms[0].submit();</script>
</body></html>
`))

func (h *loginHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	switch r.Method {
	case http.MethodGet:
		h.showLogin(w, r.URL, "", http.StatusOK)
	case http.MethodPost:
		h.login(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (h *loginHandler) showLogin(w http.ResponseWriter, u *url.URL, msg string, status int) {
	if _, _, err := ParseAuthnRequestFromRedirect(u); err != nil {
		http.Error(w, "invalid SAML request", http.StatusBadRequest)
		return
	}
	q := u.Query()
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, map[string]string{
		"EntityID":    h.cfg.IdP.EntityID(),
		"Error":       msg,
		"Action":      h.cfg.SSOURL,
		"SAMLRequest": q.Get("SAMLRequest"),
		"RelayState":  q.Get("RelayState"),
	})
}

func (h *loginHandler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 512<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "invalid form", http.StatusBadRequest)
		return
	}
	// Rebuild the redirect URL from the posted hidden fields.
	u := &url.URL{RawQuery: url.Values{
		"SAMLRequest": r.PostForm["SAMLRequest"],
		"RelayState":  r.PostForm["RelayState"],
	}.Encode()}
	req, relayState, err := ParseAuthnRequestFromRedirect(u)
	if err != nil {
		http.Error(w, "invalid SAML request", http.StatusBadRequest)
		return
	}
	if req.Issuer != h.cfg.Audience {
		http.Error(w, "unknown service provider", http.StatusForbidden)
		return
	}
	acs, ok := h.acsURL(req)
	if !ok {
		http.Error(w, "assertion consumer service not allowed", http.StatusForbidden)
		return
	}
	user, ok := h.authenticate(r.PostForm.Get("username"), r.PostForm.Get("password"))
	if !ok {
		h.showLogin(w, u, "Invalid username or password.", http.StatusUnauthorized)
		return
	}
	attrs := map[string][]string{}
	if user.Email != "" {
		attrs["email"] = []string{user.Email}
	}
	if user.DisplayName != "" {
		attrs["displayName"] = []string{user.DisplayName}
	}
	if len(user.Groups) > 0 {
		attrs["groups"] = slices.Clone(user.Groups)
	}
	encoded, err := h.cfg.IdP.EncodedResponse(ResponseOptions{
		Now:          h.cfg.Now(),
		Destination:  acs,
		Audience:     h.cfg.Audience,
		InResponseTo: req.ID,
		NameID:       r.PostForm.Get("username"),
		NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
		Attributes:   attrs,
		Sign:         SignBoth,
	})
	if err != nil {
		http.Error(w, "cannot issue response", http.StatusInternalServerError)
		return
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	n := hex.EncodeToString(nonce)
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+n+"'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = postPage.Execute(w, map[string]string{
		"ACS":          acs,
		"SAMLResponse": encoded,
		"RelayState":   relayState,
		"Nonce":        n,
	})
}

// acsURL returns the ACS URL to answer at: the request's, if allow-listed
// exactly; the first allowed one when the request names none. Index-based
// selection is not supported.
func (h *loginHandler) acsURL(req *saml.AuthnRequest) (string, bool) {
	if req.AssertionConsumerServiceIndex != nil {
		return "", false
	}
	if req.AssertionConsumerServiceURL == "" {
		return h.cfg.AllowedACS[0], true
	}
	if slices.Contains(h.cfg.AllowedACS, req.AssertionConsumerServiceURL) {
		return req.AssertionConsumerServiceURL, true
	}
	return "", false
}

func (h *loginHandler) authenticate(username, password string) (DemoUser, bool) {
	u, ok := h.cfg.Users[username]
	if !ok || username == "" {
		// Compare anyway so that unknown users take as long.
		subtle.ConstantTimeCompare([]byte(password), []byte("\x00unknown-user"))
		return DemoUser{}, false
	}
	return u, subtle.ConstantTimeCompare([]byte(password), []byte(u.Password)) == 1
}
