package idp

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/prometheus/client_golang/prometheus"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// maxRelayState bounds RelayState. SAML bindings §3.4.3 says 80 bytes, but
// common SPs send whole URLs; the value is only ever echoed back as
// escaped text to the application's registered ACS.
const maxRelayState = 2048

// failure is a rejected or interrupted request: its bounded reason, the
// page to show, and detail for the log.
type failure struct {
	reason Reason
	page   errorPage
	err    error
}

func fail(reason Reason, page errorPage, format string, args ...any) *failure {
	return &failure{reason: reason, page: page, err: fmt.Errorf(format, args...)}
}

func unavailable(err error) *failure {
	return &failure{reason: ReasonStoreUnavailable, page: pageUnavailable, err: err}
}

// ssoRequest is an AuthnRequest that passed every check: its Issuer is a
// registered application, its signature (when required) verified, and acs
// is one of that application's registered ACS locations.
type ssoRequest struct {
	sp         *ServiceProvider
	req        *saml.AuthnRequest
	acs        string
	relayState string
}

// SSOHandler serves the SSO endpoint: GET for the HTTP-Redirect binding,
// POST for HTTP-POST (SAML bindings §3.4, §3.5). A request that fails
// validation before its ACS URL is known to be the application's gets an
// HTML error page and nothing is sent anywhere.
func (i *IdP) SSOHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := i.now()
		app := appUnknown
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			i.reject(w, r, app, fail(ReasonMethod, pageMethod, "method %s", r.Method))
			return
		}
		sr, f := i.validateRequest(w, r, now)
		if f != nil {
			if sr != nil {
				app = sr.sp.ID
			}
			i.reject(w, r, app, f)
			return
		}
		i.continueSSO(w, r, sr, now)
	})
}

// validateRequest decodes and checks the AuthnRequest, in order: decoding,
// RelayState, parsing, Issuer, Destination, signature, IssueInstant, ACS,
// ProtocolBinding. On failure the returned ssoRequest, when not nil, names
// the application (for metrics only).
func (i *IdP) validateRequest(w http.ResponseWriter, r *http.Request, now time.Time) (*ssoRequest, *failure) {
	ctx := r.Context()
	msg, relayState, f := i.readMessage(w, r, pageBadRequest, false)
	if f != nil {
		return nil, f
	}
	req, err := saml.ParseAuthnRequest(msg, i.limits)
	if err != nil {
		return nil, fail(ReasonMalformed, pageBadRequest, "parse AuthnRequest: %w", err)
	}
	sp, err := i.sps.ServiceProviderByEntityID(ctx, req.Issuer)
	switch {
	case errors.Is(err, ErrUnknownServiceProvider):
		return nil, fail(ReasonUnknownSP, pageBadRequest, "unknown Issuer %.100q", req.Issuer)
	case err != nil:
		return nil, unavailable(err)
	case sp == nil || sp.EntityID != req.Issuer:
		return nil, fail(ReasonUnknownSP, pageBadRequest, "registry returned another application for %.100q", req.Issuer)
	}
	sr := &ssoRequest{sp: sp, req: req, relayState: relayState}
	if f := i.checkDestination(req); f != nil {
		return sr, f
	}
	if f := i.checkSignature(r, sr, msg, now); f != nil {
		return sr, f
	}
	if f := i.checkIssueInstant(sr.req, now); f != nil {
		return sr, f
	}
	acs, f := selectACS(sp, sr.req)
	if f != nil {
		return sr, f
	}
	sr.acs = acs.Location
	if f := checkProtocolBinding(sr.req); f != nil {
		return sr, f
	}
	return sr, nil
}

// readMessage extracts and decodes SAMLRequest and RelayState, each at
// most once: from the query for GET, from the form body (capped) for POST.
// In a query every parameter name must be unescaped, so that the names the
// signature check reads from the raw query are the names decoded here.
// Failures show page. With refuseResponse (the SLO endpoint) a
// SAMLResponse is refused: Gatehouse sends no LogoutRequests to
// applications, so no LogoutResponse can be pending.
func (i *IdP) readMessage(w http.ResponseWriter, r *http.Request, page errorPage, refuseResponse bool) ([]byte, string, *failure) {
	var values url.Values
	if r.Method == http.MethodGet {
		for part := range strings.SplitSeq(r.URL.RawQuery, "&") {
			if name, _, _ := strings.Cut(part, "="); strings.ContainsAny(name, "%+") {
				return nil, "", fail(ReasonMalformed, page, "escaped query parameter name")
			}
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, "", fail(ReasonMalformed, page, "query: %w", err)
		}
		values = q
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, i.maxBody)
		if err := r.ParseForm(); err != nil {
			return nil, "", fail(ReasonMalformed, page, "form: %w", err)
		}
		values = r.PostForm
	}
	msgs, relays := values["SAMLRequest"], values["RelayState"]
	if _, ok := values["SAMLResponse"]; ok && refuseResponse {
		return nil, "", fail(ReasonLogoutResponse, page, "LogoutResponse received, but no logout was started by this IdP")
	}
	if len(msgs) != 1 || len(relays) > 1 {
		return nil, "", fail(ReasonMalformed, page, "want one SAMLRequest and at most one RelayState")
	}
	relayState := ""
	if len(relays) == 1 {
		relayState = relays[0]
		if len(relayState) > maxRelayState || !isXMLText(relayState) {
			return nil, "", fail(ReasonRelayState, page, "RelayState too long or not text")
		}
	}
	var msg []byte
	var err error
	if r.Method == http.MethodGet {
		msg, err = saml.DecodeRedirect(msgs[0], i.limits)
	} else {
		msg, err = saml.DecodePOST(msgs[0], i.limits)
	}
	if err != nil {
		return nil, "", fail(ReasonMalformed, page, "decode SAMLRequest: %w", err)
	}
	return msg, relayState, nil
}

// checkDestination: a Destination, when present, must equal the SSO URL
// exactly (SAML core §3.2.1, bindings §3.4.5.2).
func (i *IdP) checkDestination(req *saml.AuthnRequest) *failure {
	if req.Destination != "" && req.Destination != i.ssoURL {
		return fail(ReasonDestination, pageBadRequest, "Destination %.100q is not the SSO URL", req.Destination)
	}
	return nil
}

// checkSignature verifies the request's signature when the application
// requires signed requests, and also whenever a signature is present and
// the application has signing keys (a bad signature is never ignored).
// HTTP-Redirect: over the raw query octets (bindings §3.4.4.1). HTTP-POST:
// the enveloped XML signature (core §5), after which only the verified
// bytes are used.
func (i *IdP) checkSignature(r *http.Request, sr *ssoRequest, msg []byte, now time.Time) *failure {
	sp := sr.sp
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		present := q.Has("Signature") || q.Has("SigAlg")
		if !sp.WantAuthnRequestsSigned && !(present && len(sp.SigningCertificates) > 0) {
			return nil
		}
		if !present {
			return fail(ReasonUnsigned, pageBadRequest, "application %q requires signed requests", sp.ID)
		}
		if err := saml.VerifyRedirectSignature(r.URL.RawQuery, "SAMLRequest", publicKeys(sp.SigningCertificates)); err != nil {
			return fail(ReasonSignature, pageBadRequest, "redirect signature: %w", err)
		}
		return nil
	}
	doc, err := saml.ParseXML(msg, i.limits)
	if err != nil {
		return fail(ReasonMalformed, pageBadRequest, "parse: %w", err)
	}
	present := false
	for _, c := range doc.Root().ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == saml.NSDSig {
			present = true
		}
	}
	if !sp.WantAuthnRequestsSigned && !(present && len(sp.SigningCertificates) > 0) {
		return nil
	}
	if !present {
		return fail(ReasonUnsigned, pageBadRequest, "application %q requires signed requests", sp.ID)
	}
	verified, err := verifyEnveloped(doc.Root(), sp.SigningCertificates, now)
	if err != nil {
		return fail(ReasonSignature, pageBadRequest, "POST signature: %w", err)
	}
	req, err := saml.ParseAuthnRequest(verified, i.limits)
	if err != nil {
		return fail(ReasonMalformed, pageBadRequest, "parse verified AuthnRequest: %w", err)
	}
	if req.Issuer != sp.EntityID {
		return fail(ReasonSignature, pageBadRequest, "verified Issuer differs")
	}
	sr.req = req
	return nil
}

// verifyEnveloped checks the AuthnRequest's enveloped signature with
// goxmldsig against each certificate in turn (rollover without KeyInfo)
// and returns the serialisation of the element goxmldsig verified. Every
// SignatureMethod and DigestMethod in the document must be allow-listed,
// and there must be exactly one Signature, a child of the root.
func verifyEnveloped(root *etree.Element, certs []*x509.Certificate, now time.Time) ([]byte, error) {
	sigs, direct := 0, 0
	var algErr error
	var walk func(el *etree.Element, depth int)
	walk = func(el *etree.Element, depth int) {
		switch {
		case el.Tag == "Signature" && el.NamespaceURI() == saml.NSDSig:
			sigs++
			if depth == 1 {
				direct++
			}
		case el.Tag == "SignatureMethod":
			if a := el.SelectAttrValue("Algorithm", ""); !saml.AllowedSignatureAlgorithm(a) {
				algErr = fmt.Errorf("signature algorithm %.100q not allowed", a)
			}
		case el.Tag == "DigestMethod":
			if a := el.SelectAttrValue("Algorithm", ""); !saml.AllowedDigestAlgorithm(a) {
				algErr = fmt.Errorf("digest algorithm %.100q not allowed", a)
			}
		}
		for _, c := range el.ChildElements() {
			walk(c, depth+1)
		}
	}
	walk(root, 0)
	if sigs != 1 || direct != 1 {
		return nil, errors.New("want exactly one Signature, a child of the AuthnRequest")
	}
	if algErr != nil {
		return nil, algErr
	}
	var lastErr error = errors.New("no signing certificate")
	for _, c := range certs {
		vctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{c}})
		vctx.Clock = dsig.NewFakeClockAt(now)
		el, err := vctx.Validate(root.Copy())
		if err != nil {
			lastErr = err
			continue
		}
		out := etree.NewDocument()
		out.SetRoot(el)
		return out.WriteToBytes()
	}
	return nil, fmt.Errorf("signature does not verify with any registered key: %w", lastErr)
}

func publicKeys(certs []*x509.Certificate) []crypto.PublicKey {
	out := make([]crypto.PublicKey, len(certs))
	for k, c := range certs {
		out[k] = c.PublicKey
	}
	return out
}

// checkIssueInstant bounds the request's age: not after now plus skew, not
// before now less MaxRequestAge and skew.
func (i *IdP) checkIssueInstant(req *saml.AuthnRequest, now time.Time) *failure {
	if req.IssueInstant.After(now.Add(i.skew)) || req.IssueInstant.Before(now.Add(-i.maxReqAge-i.skew)) {
		return fail(ReasonRequestTime, pageBadRequest, "IssueInstant %s outside the accepted window", saml.FormatTime(req.IssueInstant))
	}
	return nil
}

// selectACS picks the ACS from the application's registration (SAML core
// §3.4.1, profiles §4.1.4.1): the URL must equal a registered HTTP-POST
// location exactly, or the index must exist; both together are an error;
// neither means the default endpoint.
func selectACS(sp *ServiceProvider, req *saml.AuthnRequest) (Endpoint, *failure) {
	switch {
	case req.AssertionConsumerServiceURL != "" && req.AssertionConsumerServiceIndex != nil:
		return Endpoint{}, fail(ReasonACS, pageBadRequest, "both AssertionConsumerServiceURL and Index")
	case req.AssertionConsumerServiceURL != "":
		e, ok := sp.ACSByURL(req.AssertionConsumerServiceURL)
		if !ok {
			return Endpoint{}, fail(ReasonACS, pageBadRequest, "ACS URL %.100q not registered", req.AssertionConsumerServiceURL)
		}
		return e, nil
	case req.AssertionConsumerServiceIndex != nil:
		e, ok := sp.ACSByIndex(*req.AssertionConsumerServiceIndex)
		if !ok {
			return Endpoint{}, fail(ReasonACS, pageBadRequest, "ACS index %d not registered", *req.AssertionConsumerServiceIndex)
		}
		return e, nil
	}
	return sp.DefaultACS(), nil
}

// checkProtocolBinding: responses go out over HTTP-POST only.
func checkProtocolBinding(req *saml.AuthnRequest) *failure {
	if req.ProtocolBinding != "" && req.ProtocolBinding != saml.BindingHTTPPost {
		return fail(ReasonBinding, pageBadRequest, "ProtocolBinding %.100q not supported", string(req.ProtocolBinding))
	}
	return nil
}

// nameIDPolicyOK: a requested NameID format must be unspecified or the
// application's configured one (core §3.4.1.1).
func nameIDPolicyOK(sp *ServiceProvider, format string) bool {
	return format == "" || format == NameIDFormatUnspecifiedURI || format == sp.NameIDFormat.URI()
}

// continueSSO answers a validated request: an error Response for an
// unsatisfiable NameIDPolicy, the identity source when there is no
// session (or ForceAuthn), NoPassive for IsPassive without one, then the
// access check and the assertion.
func (i *IdP) continueSSO(w http.ResponseWriter, r *http.Request, sr *ssoRequest, now time.Time) {
	ctx := r.Context()
	sp := sr.sp
	if !nameIDPolicyOK(sp, sr.req.NameIDPolicyFormat) {
		i.sendError(w, r, sp, sr.acs, sr.req.ID, sr.relayState, StatusRequester, StatusInvalidNameIDPolicy, ReasonNameIDPolicy, now)
		return
	}
	p, err := i.sessions.Principal(r)
	noSession := errors.Is(err, ErrNoSession)
	if err != nil && !noSession {
		i.reject(w, r, sp.ID, unavailable(err))
		return
	}
	if sr.req.IsPassive && (noSession || sr.req.ForceAuthn) {
		i.sendError(w, r, sp, sr.acs, sr.req.ID, sr.relayState, StatusResponder, StatusNoPassive, ReasonNoPassive, now)
		return
	}
	if noSession || sr.req.ForceAuthn {
		state := PendingSSO{
			ID:         saml.NewID(),
			SPEntityID: sp.EntityID,
			RequestID:  sr.req.ID,
			ACSURL:     sr.acs,
			RelayState: sr.relayState,
			ForceAuthn: sr.req.ForceAuthn,
			CreatedAt:  now,
			ExpiresAt:  now.Add(i.stateLifetime),
		}
		if err := i.states.SaveSSOState(ctx, state); err != nil {
			i.reject(w, r, sp.ID, unavailable(err))
			return
		}
		i.record(r, sp.ID, outcomeLogin, ReasonLogin, nil)
		i.sessions.StartLogin(w, r, i.resumePath+"?state="+url.QueryEscape(state.ID))
		return
	}
	i.issue(w, r, sp, p, sr.acs, sr.req.ID, sr.relayState, now)
}

// ResumeHandler continues an SP-initiated sign-in after the identity
// source: GET {ResumePath}?state=ID. The state is consumed once; the
// application and its ACS are looked up again, so a registration changed
// in between takes effect.
func (i *IdP) ResumeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := i.now()
		ctx := r.Context()
		if r.Method != http.MethodGet {
			i.reject(w, r, appUnknown, fail(ReasonMethod, pageMethod, "method %s", r.Method))
			return
		}
		id := r.URL.Query().Get("state")
		if id == "" || len(id) > 128 {
			i.reject(w, r, appUnknown, fail(ReasonUnknownState, pageExpired, "missing or oversized state"))
			return
		}
		st, err := i.states.ConsumeSSOState(ctx, id, now)
		switch {
		case errors.Is(err, ErrNotFound):
			i.reject(w, r, appUnknown, fail(ReasonUnknownState, pageExpired, "unknown, expired or used state"))
			return
		case err != nil:
			i.reject(w, r, appUnknown, unavailable(err))
			return
		}
		sp, err := i.sps.ServiceProviderByEntityID(ctx, st.SPEntityID)
		switch {
		case errors.Is(err, ErrUnknownServiceProvider):
			i.reject(w, r, appUnknown, fail(ReasonUnknownSP, pageUnknownApp, "application %.100q removed during sign-in", st.SPEntityID))
			return
		case err != nil:
			i.reject(w, r, appUnknown, unavailable(err))
			return
		}
		if _, ok := sp.ACSByURL(st.ACSURL); !ok {
			i.reject(w, r, sp.ID, fail(ReasonACS, pageBadRequest, "ACS no longer registered"))
			return
		}
		p, err := i.sessions.Principal(r)
		switch {
		case errors.Is(err, ErrNoSession):
			i.reject(w, r, sp.ID, fail(ReasonNoSession, pageNoSession, "no session after the identity source"))
			return
		case err != nil:
			i.reject(w, r, sp.ID, unavailable(err))
			return
		}
		if st.ForceAuthn && p.AuthnInstant.Before(st.CreatedAt.Add(-i.skew)) {
			i.sendError(w, r, sp, st.ACSURL, st.RequestID, st.RelayState, StatusResponder, StatusAuthnFailed, ReasonStaleAuthn, now)
			return
		}
		i.issue(w, r, sp, p, st.ACSURL, st.RequestID, st.RelayState, now)
	})
}

// LaunchHandler serves IdP-initiated sign-in, GET .../{app_id} (the
// pattern must name the wildcard app_id): no session sends the user
// through the identity source back to the same path; an assigned user
// gets a Response without InResponseTo posted to the application's
// default ACS, with its default RelayState.
func (i *IdP) LaunchHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := i.now()
		ctx := r.Context()
		if r.Method != http.MethodGet {
			i.reject(w, r, appUnknown, fail(ReasonMethod, pageMethod, "method %s", r.Method))
			return
		}
		id := r.PathValue("app_id")
		if checkAppID(id) != nil {
			i.reject(w, r, appUnknown, fail(ReasonUnknownSP, pageUnknownApp, "invalid application ID"))
			return
		}
		sp, err := i.sps.ServiceProviderByID(ctx, id)
		switch {
		case errors.Is(err, ErrUnknownServiceProvider):
			i.reject(w, r, appUnknown, fail(ReasonUnknownSP, pageUnknownApp, "unknown application %q", id))
			return
		case err != nil:
			i.reject(w, r, appUnknown, unavailable(err))
			return
		case sp == nil || sp.ID != id:
			i.reject(w, r, appUnknown, fail(ReasonUnknownSP, pageUnknownApp, "registry returned another application for %q", id))
			return
		}
		p, err := i.sessions.Principal(r)
		switch {
		case errors.Is(err, ErrNoSession):
			returnTo := r.URL.EscapedPath()
			if !isLocalPath(returnTo) {
				i.reject(w, r, sp.ID, fail(ReasonMalformed, pageBadRequest, "launch path is not a local path"))
				return
			}
			i.record(r, sp.ID, outcomeLogin, ReasonLogin, nil)
			i.sessions.StartLogin(w, r, returnTo)
			return
		case err != nil:
			i.reject(w, r, sp.ID, unavailable(err))
			return
		}
		i.issue(w, r, sp, p, sp.DefaultACS().Location, "", sp.DefaultRelayState, now)
	})
}

// issue checks the assignment, builds the Response and writes the
// auto-submitting page.
func (i *IdP) issue(w http.ResponseWriter, r *http.Request, sp *ServiceProvider, p Principal, acs, inResponseTo, relayState string, now time.Time) {
	ctx := r.Context()
	ok, err := i.access.CanAccess(ctx, sp, p)
	if err != nil {
		i.reject(w, r, sp.ID, unavailable(err))
		return
	}
	if !ok {
		i.reject(w, r, sp.ID, fail(ReasonUnassigned, pageUnassigned, "user %q is not assigned", p.UserID))
		return
	}
	b, err := i.BuildResponse(ctx, sp, p, acs, inResponseTo, now)
	if err != nil {
		i.reject(w, r, sp.ID, issueFailure(err))
		return
	}
	if err := writePostPage(w, acs, saml.EncodePOST(b), relayState); err != nil {
		i.reject(w, r, sp.ID, &failure{reason: ReasonInternal, page: pageUnavailable, err: err})
		return
	}
	i.record(r, sp.ID, outcomeIssued, ReasonOK, nil, slog.String("user_id", p.UserID))
}

// sendError posts a signed error Response (no assertion) to a validated
// ACS.
func (i *IdP) sendError(w http.ResponseWriter, r *http.Request, sp *ServiceProvider, acs, inResponseTo, relayState, top, second string, reason Reason, now time.Time) {
	b, err := i.buildErrorResponse(r.Context(), acs, inResponseTo, top, second, now)
	if err != nil {
		i.reject(w, r, sp.ID, issueFailure(err))
		return
	}
	if err := writePostPage(w, acs, saml.EncodePOST(b), relayState); err != nil {
		i.reject(w, r, sp.ID, &failure{reason: ReasonInternal, page: pageUnavailable, err: err})
		return
	}
	i.record(r, sp.ID, outcomeErrorResponse, reason, nil)
}

func issueFailure(err error) *failure {
	switch {
	case errors.Is(err, ErrUserData):
		return &failure{reason: ReasonUserData, page: pageUserData, err: err}
	case errors.Is(err, ErrSigningKey):
		return &failure{reason: ReasonKeys, page: pageUnavailable, err: err}
	}
	return &failure{reason: ReasonInternal, page: pageUnavailable, err: err}
}

// reject writes f's error page; nothing is sent to any application.
func (i *IdP) reject(w http.ResponseWriter, r *http.Request, app string, f *failure) {
	i.record(r, app, outcomeRejected, f.reason, f.err)
	writeErrorPage(w, f.page)
}

// record counts an SSO outcome and logs it once, at the HTTP edge.
func (i *IdP) record(r *http.Request, app, outcome string, reason Reason, err error, extra ...slog.Attr) {
	i.recordOutcome(r, i.metrics.responses, "idp sso", app, outcome, reason, err, extra...)
}

// recordOutcome counts an outcome on counter and logs it once as msg.
func (i *IdP) recordOutcome(r *http.Request, counter *prometheus.CounterVec, msg, app, outcome string, reason Reason, err error, extra ...slog.Attr) {
	counter.WithLabelValues(app, outcome, string(reason)).Inc()
	level := slog.LevelInfo
	attrs := append([]slog.Attr{
		slog.String("app", app), slog.String("outcome", outcome), slog.String("reason", string(reason)),
	}, extra...)
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	i.log.LogAttrs(context.WithoutCancel(r.Context()), level, msg, attrs...)
}
