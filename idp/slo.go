package idp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// SessionTerminator ends portal sessions for single logout. The
// gateway's sp.SP satisfies it with its EndSession method.
type SessionTerminator interface {
	// EndSession ends the portal session r belongs to, if any, and clears
	// its cookie on w. It may set response headers but must not write the
	// status or the body. No session is not an error. Any error means the
	// session may still exist: the IdP then removes Set-Cookie and
	// Clear-Site-Data, answers 503 and sends no LogoutResponse.
	EndSession(w http.ResponseWriter, r *http.Request) error
}

// StatusUnknownPrincipal is the second-level status of a LogoutResponse
// whose request names someone other than the signed-in user (SAML core
// §3.2.2.2).
const StatusUnknownPrincipal = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal"

// Bounds of a LogoutRequest.
const (
	maxSessionIndexes = 16
	maxNameID         = 1024
	maxSAMLID         = 256
)

// The single logout error pages.
var (
	pageLogoutRejected = errorPage{http.StatusBadRequest, "Sign-out request rejected",
		"The application sent a sign-out request that cannot be accepted, so you may still be signed in. Sign out from your applications page, or contact your administrator."}
	pageLogoutDisabled = errorPage{http.StatusNotFound, "Single sign-out not available",
		"Single sign-out is not enabled here. Sign out from your applications page."}
	pageLogoutUnavailable = errorPage{http.StatusServiceUnavailable, "Temporarily unavailable",
		"Sign-out is temporarily unavailable, so you may still be signed in. Please try again shortly."}
)

// logoutRequest is a samlp:LogoutRequest (SAML core §3.7.1) that passed
// parseLogoutRequest.
type logoutRequest struct {
	ID, Issuer, Destination string
	IssueInstant            time.Time
	// NotOnOrAfter is zero when absent.
	NotOnOrAfter         time.Time
	NameID, NameIDFormat string
	SessionIndexes       []string
}

// parseLogoutRequest parses a samlp:LogoutRequest with the hardened parser
// (saml.ParseXML: no DTD, one root, bounded size, depth and tokens). It
// checks shape only: the root element, Version 2.0, an NCName ID, an
// IssueInstant, an optional NotOnOrAfter, exactly one Issuer (required by
// SAML profiles §4.4.4.1) and one NameID (BaseID and EncryptedID are not
// supported), at most 16 SessionIndex elements. Issuer, NameID and
// SessionIndex must hold text only: a comment or element inside one is an
// error, so text cannot be cut short by markup.
func parseLogoutRequest(b []byte, lim saml.Limits) (*logoutRequest, error) {
	doc, err := saml.ParseXML(b, lim)
	if err != nil {
		return nil, err
	}
	root := doc.Root()
	if root.Tag != "LogoutRequest" || root.NamespaceURI() != saml.NSProtocol {
		return nil, fmt.Errorf("%w: root element is not samlp:LogoutRequest", saml.ErrMalformed)
	}
	if v := mdAttr(root, "Version"); v != "2.0" {
		return nil, fmt.Errorf("%w: unsupported version %.20q", saml.ErrMalformed, v)
	}
	r := &logoutRequest{ID: mdAttr(root, "ID"), Destination: mdAttr(root, "Destination")}
	if !isSAMLID(r.ID) {
		return nil, fmt.Errorf("%w: invalid ID", saml.ErrMalformed)
	}
	if r.IssueInstant, err = time.Parse(time.RFC3339Nano, mdAttr(root, "IssueInstant")); err != nil {
		return nil, fmt.Errorf("%w: invalid IssueInstant", saml.ErrMalformed)
	}
	if s, ok := mdAttrOK(root, "NotOnOrAfter"); ok {
		if r.NotOnOrAfter, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, fmt.Errorf("%w: invalid NotOnOrAfter", saml.ErrMalformed)
		}
	}
	issuers, names := 0, 0
	for _, c := range root.ChildElements() {
		ns := c.NamespaceURI()
		switch {
		case c.Tag == "Issuer" && ns == saml.NSAssertion:
			issuers++
			if r.Issuer, err = logoutText(c, maxEntityID); err != nil {
				return nil, err
			}
		case c.Tag == "NameID" && ns == saml.NSAssertion:
			names++
			if r.NameID, err = logoutText(c, maxNameID); err != nil {
				return nil, err
			}
			r.NameIDFormat = mdAttr(c, "Format")
		case (c.Tag == "BaseID" || c.Tag == "EncryptedID") && ns == saml.NSAssertion:
			return nil, fmt.Errorf("%w: %s not supported", saml.ErrMalformed, c.Tag)
		case c.Tag == "SessionIndex" && ns == saml.NSProtocol:
			if len(r.SessionIndexes) == maxSessionIndexes {
				return nil, fmt.Errorf("%w: more than %d SessionIndex elements", saml.ErrMalformed, maxSessionIndexes)
			}
			si, err := logoutText(c, maxSAMLID)
			if err != nil {
				return nil, err
			}
			r.SessionIndexes = append(r.SessionIndexes, si)
		}
	}
	if issuers != 1 || names != 1 {
		return nil, fmt.Errorf("%w: want exactly one Issuer and one NameID", saml.ErrMalformed)
	}
	return r, nil
}

// logoutText returns el's text without surrounding white space; el must
// hold character data only, non-empty, at most max bytes, XML text.
func logoutText(el *etree.Element, max int) (string, error) {
	var b strings.Builder
	for _, ch := range el.Child {
		cd, ok := ch.(*etree.CharData)
		if !ok {
			return "", fmt.Errorf("%w: %s holds markup, want text only", saml.ErrMalformed, el.Tag)
		}
		b.WriteString(cd.Data)
	}
	s := strings.TrimSpace(b.String())
	if s == "" || len(s) > max || !isXMLText(s) {
		return "", fmt.Errorf("%w: %s empty, too long or not text", saml.ErrMalformed, el.Tag)
	}
	return s, nil
}

// isSAMLID reports whether s is an ASCII xs:NCName of at most 256 bytes.
func isSAMLID(s string) bool {
	if s == "" || len(s) > maxSAMLID {
		return false
	}
	for k := 0; k < len(s); k++ {
		c := s[k]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case k > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// sloRequest is a LogoutRequest that passed every check: its Issuer is a
// registered application with SLO endpoints, its signature verified, and
// req was read from the verified message only.
type sloRequest struct {
	sp         *ServiceProvider
	req        *logoutRequest
	relayState string
	binding    saml.Binding
}

// SLOHandler serves the single logout endpoint at the SLO URL: GET for the
// HTTP-Redirect binding, POST for HTTP-POST (SAML bindings §3.4, §3.5;
// profiles §4.4). It accepts SP-initiated LogoutRequests from registered
// applications that publish a SingleLogoutService, always signed, ends the
// portal session through the Terminator and answers with a signed
// LogoutResponse over the binding of the application's SLO endpoint.
//
// Gatehouse does not initiate logout towards applications, so a
// LogoutResponse arriving here is never expected and is rejected. A
// rejected request gets an HTML error page (400); the session is not ended
// and nothing is sent to any application.
func (i *IdP) SLOHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := i.now()
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			i.rejectLogout(w, r, appUnknown, fail(ReasonMethod, pageMethod, "method %s", r.Method))
			return
		}
		if i.sloURL == "" || i.ended == nil {
			i.rejectLogout(w, r, appUnknown, fail(ReasonSLODisabled, pageLogoutDisabled, "SLOURL or Terminator not configured"))
			return
		}
		sr, f := i.validateLogoutRequest(w, r, now)
		if f != nil {
			app := appUnknown
			if sr != nil {
				app = sr.sp.ID
			}
			i.rejectLogout(w, r, app, f)
			return
		}
		i.logout(w, r, sr, now)
	})
}

// validateLogoutRequest decodes and checks a LogoutRequest, in order:
// decoding, RelayState, parsing, Issuer, SLO endpoints, signature (the
// request is then read again from the verified bytes), Destination,
// IssueInstant and NotOnOrAfter. Every failure uses pageLogoutRejected,
// except an unavailable registry.
func (i *IdP) validateLogoutRequest(w http.ResponseWriter, r *http.Request, now time.Time) (*sloRequest, *failure) {
	msg, relayState, f := i.readMessage(w, r, pageLogoutRejected, true)
	if f != nil {
		return nil, f
	}
	req, err := parseLogoutRequest(msg, i.limits)
	if err != nil {
		return nil, fail(ReasonMalformed, pageLogoutRejected, "parse LogoutRequest: %w", err)
	}
	sp, err := i.sps.ServiceProviderByEntityID(r.Context(), req.Issuer)
	switch {
	case errors.Is(err, ErrUnknownServiceProvider):
		return nil, fail(ReasonUnknownSP, pageLogoutRejected, "unknown Issuer %.100q", req.Issuer)
	case err != nil:
		return nil, logoutUnavailable(ReasonStoreUnavailable, err)
	case sp == nil || sp.EntityID != req.Issuer:
		return nil, fail(ReasonUnknownSP, pageLogoutRejected, "registry returned another application for %.100q", req.Issuer)
	}
	sr := &sloRequest{sp: sp, req: req, relayState: relayState, binding: saml.BindingHTTPPost}
	if r.Method == http.MethodGet {
		sr.binding = saml.BindingHTTPRedirect
	}
	if len(sp.SLO) == 0 {
		return sr, fail(ReasonNoSLOEndpoint, pageLogoutRejected, "application %q publishes no SingleLogoutService", sp.ID)
	}
	if f := i.checkLogoutSignature(r, sr, msg, now); f != nil {
		return sr, f
	}
	if sr.req.Destination != "" && sr.req.Destination != i.sloURL {
		return sr, fail(ReasonDestination, pageLogoutRejected, "Destination %.100q is not the SLO URL", sr.req.Destination)
	}
	if f := i.checkLogoutTime(sr.req, now); f != nil {
		return sr, f
	}
	return sr, nil
}

// checkLogoutSignature requires and verifies the request's signature
// (profiles §4.4.4.1: LogoutRequests MUST be authenticated; Gatehouse
// accepts only signatures). HTTP-Redirect: over the exact raw query octets
// (bindings §3.4.4.1). HTTP-POST: the enveloped XML signature (core §5),
// after which sr.req is replaced by the request read from the verified
// bytes. Only allow-listed algorithms and the application's registered
// signing keys are accepted.
func (i *IdP) checkLogoutSignature(r *http.Request, sr *sloRequest, msg []byte, now time.Time) *failure {
	sp := sr.sp
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		if !q.Has("Signature") && !q.Has("SigAlg") {
			return fail(ReasonUnsigned, pageLogoutRejected, "unsigned LogoutRequest from %q", sp.ID)
		}
		if len(sp.SigningCertificates) == 0 {
			return fail(ReasonSignature, pageLogoutRejected, "application %q has no signing certificate", sp.ID)
		}
		if err := saml.VerifyRedirectSignature(r.URL.RawQuery, "SAMLRequest", publicKeys(sp.SigningCertificates)); err != nil {
			return fail(ReasonSignature, pageLogoutRejected, "redirect signature: %w", err)
		}
		return nil
	}
	doc, err := saml.ParseXML(msg, i.limits)
	if err != nil {
		return fail(ReasonMalformed, pageLogoutRejected, "parse: %w", err)
	}
	present := slices.ContainsFunc(doc.Root().ChildElements(), func(c *etree.Element) bool {
		return c.Tag == "Signature" && c.NamespaceURI() == saml.NSDSig
	})
	if !present {
		return fail(ReasonUnsigned, pageLogoutRejected, "unsigned LogoutRequest from %q", sp.ID)
	}
	if len(sp.SigningCertificates) == 0 {
		return fail(ReasonSignature, pageLogoutRejected, "application %q has no signing certificate", sp.ID)
	}
	verified, err := verifyEnveloped(doc.Root(), sp.SigningCertificates, now)
	if err != nil {
		return fail(ReasonSignature, pageLogoutRejected, "POST signature: %w", err)
	}
	req, err := parseLogoutRequest(verified, i.limits)
	if err != nil {
		return fail(ReasonMalformed, pageLogoutRejected, "parse verified LogoutRequest: %w", err)
	}
	if req.Issuer != sp.EntityID {
		return fail(ReasonSignature, pageLogoutRejected, "verified Issuer differs")
	}
	sr.req = req
	return nil
}

// checkLogoutTime bounds the request's age like an AuthnRequest's
// (IssueInstant not after now plus skew, not before now less MaxRequestAge
// and skew) and, when NotOnOrAfter is present, requires that it has not
// passed, less skew (core §3.7.1).
func (i *IdP) checkLogoutTime(req *logoutRequest, now time.Time) *failure {
	if req.IssueInstant.After(now.Add(i.skew)) || req.IssueInstant.Before(now.Add(-i.maxReqAge-i.skew)) {
		return fail(ReasonRequestTime, pageLogoutRejected, "IssueInstant %s outside the accepted window", saml.FormatTime(req.IssueInstant))
	}
	if !req.NotOnOrAfter.IsZero() && !now.Add(-i.skew).Before(req.NotOnOrAfter) {
		return fail(ReasonRequestTime, pageLogoutRejected, "expired at %s", saml.FormatTime(req.NotOnOrAfter))
	}
	return nil
}

// subjectMatches reports whether a validated request names the signed-in
// user p as the IdP named them to sp: the NameID Format, when given, is
// sp's; emailAddress, unspecified and persistent NameIDs are recomputed
// and must be equal. Transient NameIDs are random and not recorded, so
// they cannot be recomputed: for them, and for every format, when the
// portal session has a SessionIndex and the request carries any, one of
// them must be it; a transient request without one matches only when the
// session has no SessionIndex either (the IdP then issued a random one
// per assertion and recorded nothing to compare).
func (i *IdP) subjectMatches(sp *ServiceProvider, p Principal, req *logoutRequest) bool {
	if req.NameIDFormat != "" && req.NameIDFormat != sp.NameIDFormat.URI() {
		return false
	}
	if sp.NameIDFormat == NameIDTransient {
		if p.SessionIndex != "" {
			return slices.Contains(req.SessionIndexes, p.SessionIndex)
		}
		return true
	}
	want, err := i.nameID(sp, p)
	if err != nil || want != req.NameID {
		return false
	}
	return p.SessionIndex == "" || len(req.SessionIndexes) == 0 || slices.Contains(req.SessionIndexes, p.SessionIndex)
}

// logout answers a validated request. A request naming someone other than
// the signed-in user gets a Requester/UnknownPrincipal LogoutResponse and
// the session stays. Otherwise the Success response is built and signed
// first, then the portal session is ended, then the response is sent: a
// signing failure leaves the session alone, and a failure to end the
// session sends nothing.
func (i *IdP) logout(w http.ResponseWriter, r *http.Request, sr *sloRequest, now time.Time) {
	ctx := r.Context()
	sp := sr.sp
	ep := sloEndpoint(sp, sr.binding)
	p, err := i.sessions.Principal(r)
	noSession := errors.Is(err, ErrNoSession)
	if err != nil && !noSession {
		i.rejectLogout(w, r, sp.ID, logoutUnavailable(ReasonStoreUnavailable, err))
		return
	}
	if !noSession && !i.subjectMatches(sp, p, sr.req) {
		reply, err := i.buildLogoutResponse(ctx, ep, sr.req.ID, sr.relayState, StatusRequester, StatusUnknownPrincipal, now)
		if err != nil {
			i.rejectLogout(w, r, sp.ID, logoutBuildFailure(err))
			return
		}
		if err := reply.write(w); err != nil {
			i.rejectLogout(w, r, sp.ID, logoutUnavailable(ReasonInternal, err))
			return
		}
		i.recordLogout(r, sp.ID, outcomeErrorResponse, ReasonUnknownSubject, nil, slog.String("user_id", p.UserID))
		return
	}
	reply, err := i.buildLogoutResponse(ctx, ep, sr.req.ID, sr.relayState, StatusSuccess, "", now)
	if err != nil {
		i.rejectLogout(w, r, sp.ID, logoutBuildFailure(err))
		return
	}
	if err := i.ended.EndSession(w, r); err != nil {
		h := w.Header()
		h.Del("Set-Cookie")
		h.Del("Clear-Site-Data")
		i.rejectLogout(w, r, sp.ID, logoutUnavailable(ReasonStoreUnavailable, fmt.Errorf("end session: %w", err)))
		return
	}
	if err := reply.write(w); err != nil {
		i.rejectLogout(w, r, sp.ID, logoutUnavailable(ReasonInternal, err))
		return
	}
	var extra []slog.Attr
	if !noSession {
		extra = append(extra, slog.String("user_id", p.UserID))
	}
	i.recordLogout(r, sp.ID, outcomeLoggedOut, ReasonOK, nil, extra...)
}

// sloEndpoint picks the application's SingleLogoutService for the answer:
// the first with the binding the request came over, else the first.
// (Endpoint carries no ResponseLocation, so the answer goes to Location.)
func sloEndpoint(sp *ServiceProvider, binding saml.Binding) Endpoint {
	for _, e := range sp.SLO {
		if e.Binding == string(binding) {
			return e
		}
	}
	return sp.SLO[0]
}

// logoutReply is a signed LogoutResponse ready to send.
type logoutReply struct {
	binding saml.Binding
	// location is the whole redirect URL (HTTP-Redirect) or the form
	// action (HTTP-POST); both are the application's registered endpoint.
	location     string
	samlResponse string
	relayState   string
}

// buildLogoutResponse builds and signs a LogoutResponse (core §3.7.2) to
// ep: for HTTP-Redirect signed over the query (bindings §3.4.4.1), for
// HTTP-POST with an enveloped signature.
func (i *IdP) buildLogoutResponse(ctx context.Context, ep Endpoint, inResponseTo, relayState, top, second string, now time.Time) (logoutReply, error) {
	key, err := i.signingKey(ctx)
	if err != nil {
		return logoutReply{}, err
	}
	doc := etree.NewDocument()
	doc.WriteSettings.CanonicalText = true
	doc.WriteSettings.CanonicalAttrVal = true
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	resp := doc.CreateElement("samlp:LogoutResponse")
	resp.CreateAttr("xmlns:samlp", saml.NSProtocol)
	resp.CreateAttr("xmlns:saml", saml.NSAssertion)
	resp.CreateAttr("ID", saml.NewID())
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", saml.FormatTime(now))
	resp.CreateAttr("Destination", ep.Location)
	resp.CreateAttr("InResponseTo", inResponseTo)
	iss := resp.CreateElement("saml:Issuer")
	iss.CreateAttr("Format", nameFormatEntity)
	iss.SetText(i.entityID)
	sc := resp.CreateElement("samlp:Status").CreateElement("samlp:StatusCode")
	sc.CreateAttr("Value", top)
	if second != "" {
		sc.CreateElement("samlp:StatusCode").CreateAttr("Value", second)
	}
	reply := logoutReply{binding: saml.Binding(ep.Binding), location: ep.Location, relayState: relayState}
	if reply.binding == saml.BindingHTTPRedirect {
		b, err := doc.WriteToBytes()
		if err != nil {
			return logoutReply{}, err
		}
		q, err := saml.RedirectQuery("SAMLResponse", b, relayState, key.signer, key.alg)
		if err != nil {
			return logoutReply{}, fmt.Errorf("idp: sign LogoutResponse: %w", err)
		}
		sep := "?"
		if strings.Contains(ep.Location, "?") {
			sep = "&"
		}
		reply.location = ep.Location + sep + q
		return reply, nil
	}
	if _, err := saml.Sign(resp, key.signer, key.chain, key.alg); err != nil {
		return logoutReply{}, fmt.Errorf("idp: sign LogoutResponse: %w", err)
	}
	b, err := doc.WriteToBytes()
	if err != nil {
		return logoutReply{}, err
	}
	reply.samlResponse = saml.EncodePOST(b)
	return reply, nil
}

// write sends the reply: a 303 redirect that is never cached (bindings
// §3.4.5.1), or the auto-submitting form page of the SSO endpoint, with
// its Content-Security-Policy.
func (lr logoutReply) write(w http.ResponseWriter) error {
	if lr.binding == saml.BindingHTTPRedirect {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Location", lr.location)
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	return writePostPage(w, lr.location, lr.samlResponse, lr.relayState)
}

func logoutUnavailable(reason Reason, err error) *failure {
	return &failure{reason: reason, page: pageLogoutUnavailable, err: err}
}

func logoutBuildFailure(err error) *failure {
	if errors.Is(err, ErrSigningKey) {
		return logoutUnavailable(ReasonKeys, err)
	}
	return logoutUnavailable(ReasonInternal, err)
}

// rejectLogout writes f's error page; the session is not ended and nothing
// is sent to any application.
func (i *IdP) rejectLogout(w http.ResponseWriter, r *http.Request, app string, f *failure) {
	i.recordLogout(r, app, outcomeRejected, f.reason, f.err)
	writeErrorPage(w, f.page)
}

// recordLogout counts a logout outcome and logs it once, at the HTTP edge.
func (i *IdP) recordLogout(r *http.Request, app, outcome string, reason Reason, err error, extra ...slog.Attr) {
	i.recordOutcome(r, i.metrics.logouts, "idp slo", app, outcome, reason, err, extra...)
}
