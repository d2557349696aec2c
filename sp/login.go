package sp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// LoginHandler starts SP-initiated sign-in (GET /saml/sp/login?return_to=PATH):
// it records a pending request bound to this browser and redirects to the
// IdP with an AuthnRequest over the HTTP-Redirect binding. The request names
// the ACS of the regional endpoint the login request arrived on, otherwise
// the first ready region in preference order.
func (s *SP) LoginHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := s.now()
		returnTo := r.URL.Query().Get("return_to")
		if returnTo == "" {
			returnTo = s.defaultReturnTo
		}
		if !IsLocalPath(returnTo) {
			s.log.InfoContext(r.Context(), "sp login rejected", "reason", "return_to")
			writeError(w, http.StatusBadRequest, "invalid_request", "return_to must be a local path")
			return
		}
		location, err := s.startLogin(w, r, returnTo, now)
		if err != nil {
			if errors.Is(err, errStore) {
				s.log.ErrorContext(r.Context(), "sp login: store unavailable", "err", err)
				writeError(w, http.StatusServiceUnavailable, "unavailable", "sign-in is temporarily unavailable")
				return
			}
			s.log.ErrorContext(r.Context(), "sp login failed", "err", err)
			writeError(w, http.StatusBadGateway, "idp_unavailable", "the identity provider cannot be reached")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, location, http.StatusFound)
	})
}

var errStore = errors.New("store unavailable")

func (s *SP) startLogin(w http.ResponseWriter, r *http.Request, returnTo string, now time.Time) (string, error) {
	idp := s.idp.Load()
	region := s.chooseRegion(r)
	ssoURL := s.chooseSSO(r, idp.desc.SSOURLs)

	state := s.browserState(w, r)
	req := saml.AuthnRequest{
		ID:                          saml.NewID(),
		Issuer:                      s.entityID,
		Destination:                 ssoURL,
		AssertionConsumerServiceURL: region.ACSURL,
		ProtocolBinding:             saml.BindingHTTPPost,
		IssueInstant:                now,
	}
	relayState := randomToken(16)
	pending := PendingRequest{
		ID:             req.ID,
		RelayState:     relayState,
		BrowserBinding: bindingHash(state),
		ReturnTo:       returnTo,
		Region:         region.Name,
		CreatedAt:      now,
		ExpiresAt:      now.Add(s.pendingLifetime),
	}
	if err := s.requests.SaveRequest(r.Context(), pending); err != nil {
		return "", fmt.Errorf("%w: %w", errStore, err)
	}
	xml, err := req.Marshal()
	if err != nil {
		return "", fmt.Errorf("sp: AuthnRequest: %w", err)
	}
	query, err := saml.RedirectQuery("SAMLRequest", xml, relayState, s.signer, s.sigAlg)
	if err != nil {
		return "", fmt.Errorf("sp: AuthnRequest: %w", err)
	}
	sep := "?"
	if strings.Contains(ssoURL, "?") {
		sep = "&"
	}
	s.metrics.logins.WithLabelValues(region.Name).Inc()
	return ssoURL + sep + query, nil
}

// chooseRegion returns the region whose ACS URL shares scheme and host with
// the URL the request arrived at, otherwise the first ready region, otherwise
// the first region.
func (s *SP) chooseRegion(r *http.Request) Region {
	u := s.requestURL(r)
	for _, reg := range s.regions {
		if sameOrigin(reg.ACSURL, u.Scheme, u.Host) {
			return reg
		}
	}
	for _, reg := range s.regions {
		if s.health.RegionReady(r, reg) {
			return reg
		}
	}
	return s.regions[0]
}

// chooseSSO returns the first reachable IdP SSO URL, otherwise the first.
func (s *SP) chooseSSO(r *http.Request, urls []string) string {
	if len(urls) == 1 {
		return urls[0]
	}
	for _, u := range urls {
		if s.health.Reachable(r, u) {
			return u
		}
	}
	return urls[0]
}

// browserState returns the value of this browser's state cookie, setting a
// new one when absent. The cookie outlives one sign-in so that several tabs
// can sign in at once; pending requests store only its hash.
func (s *SP) browserState(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(StateCookie); err == nil && validToken(c.Value) {
		return c.Value
	}
	v := randomToken(32)
	secure := s.requestURL(r).Scheme == "https"
	c := &http.Cookie{
		Name:     StateCookie,
		Value:    v,
		Path:     "/",
		Domain:   s.cookieDomain,
		MaxAge:   int(s.pendingLifetime / time.Second),
		HttpOnly: true,
		Secure:   secure,
		// The ACS POST is a cross-site request from the IdP: over https the
		// cookie must be SameSite=None to be sent. Browsers refuse
		// SameSite=None without Secure, so plain-http (loopback) setups fall
		// back to Lax, which works when the IdP is same-site.
		SameSite: http.SameSiteLaxMode,
	}
	if secure {
		c.SameSite = http.SameSiteNoneMode
	}
	http.SetCookie(w, c)
	return v
}

func bindingHash(state string) string {
	sum := sha256.Sum256([]byte("gatehouse-browser-binding:" + state))
	return hex.EncodeToString(sum[:])
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

func validToken(v string) bool {
	if len(v) < 22 || len(v) > 64 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// IsLocalPath reports whether p is a safe local redirect target: an absolute
// path on this host, with no scheme, host, backslash or control characters.
func IsLocalPath(p string) bool {
	if p == "" || len(p) > 2048 || p[0] != '/' {
		return false
	}
	if strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsRune(p, '\\') {
		return false
	}
	for _, c := range p {
		if unicode.IsControl(c) || unicode.IsSpace(c) {
			return false
		}
	}
	return true
}

func sameOrigin(raw, scheme, host string) bool {
	i := strings.Index(raw, "://")
	if i < 0 {
		return false
	}
	rest := raw[i+3:]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	return strings.EqualFold(raw[:i], scheme) && strings.EqualFold(rest, host)
}

func defaultSigAlg(signer crypto.Signer) (string, error) {
	switch signer.Public().(type) {
	case *rsa.PublicKey:
		return saml.SigAlgRSASHA256, nil
	case *ecdsa.PublicKey:
		return saml.SigAlgECDSASHA256, nil
	default:
		return "", fmt.Errorf("unsupported AuthnRequest signing key %T", signer.Public())
	}
}
