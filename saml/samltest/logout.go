package samltest

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// Single logout helpers for tests of an identity provider: SP metadata
// with SingleLogoutService endpoints, LogoutRequests sent over the
// HTTP-Redirect and HTTP-POST bindings (signed with any key and, for
// negative tests, with SHA-1), and verification of the LogoutResponse the
// IdP answers with.

const nsMetadata = "urn:oasis:names:tc:SAML:2.0:metadata"

// logoutClockSkew and logoutMaxAge bound a LogoutResponse's IssueInstant.
const (
	logoutClockSkew = 90 * time.Second
	logoutMaxAge    = 5 * time.Minute
)

// SLOEndpoint is a SingleLogoutService endpoint published in SP metadata
// (SAML metadata §2.2.2).
type SLOEndpoint struct {
	Binding  saml.Binding
	Location string
	// ResponseLocation, when set, is where LogoutResponses go.
	ResponseLocation string
}

// MetadataWithSLO returns the SP's metadata (see Metadata) publishing eps
// as SingleLogoutService endpoints.
func (s *SP) MetadataWithSLO(signRequests, encryption bool, eps ...SLOEndpoint) ([]byte, error) {
	md, err := s.Metadata(signRequests, encryption)
	if err != nil {
		return nil, err
	}
	return AddSingleLogoutServices(md, eps...)
}

// AddSingleLogoutServices returns SP metadata md (one md:EntityDescriptor
// with an md:SPSSODescriptor, as metadata.BuildSP makes) with eps added as
// md:SingleLogoutService elements where the schema puts them: before any
// ManageNameIDService, NameIDFormat and AssertionConsumerService.
func AddSingleLogoutServices(md []byte, eps ...SLOEndpoint) ([]byte, error) {
	doc, err := saml.ParseXML(md, saml.Limits{})
	if err != nil {
		return nil, fmt.Errorf("samltest: metadata: %w", err)
	}
	var sso *etree.Element
	for _, c := range doc.Root().ChildElements() {
		if c.Tag == "SPSSODescriptor" && c.NamespaceURI() == nsMetadata {
			sso = c
		}
	}
	if sso == nil {
		return nil, errors.New("samltest: metadata has no md:SPSSODescriptor")
	}
	at := sloInsertIndex(sso)
	tag := "SingleLogoutService"
	if sso.Space != "" {
		tag = sso.Space + ":" + tag
	}
	for k, e := range eps {
		if e.Binding == "" || e.Location == "" {
			return nil, fmt.Errorf("samltest: SLO endpoint %d needs a binding and a location", k)
		}
		el := etree.NewElement(tag)
		el.CreateAttr("Binding", string(e.Binding))
		el.CreateAttr("Location", e.Location)
		if e.ResponseLocation != "" {
			el.CreateAttr("ResponseLocation", e.ResponseLocation)
		}
		sso.InsertChildAt(at+k, el)
	}
	return doc.WriteToBytes()
}

// sloInsertIndex returns the index in sso.Child of the first element that
// follows SingleLogoutService in the schema's sequence.
func sloInsertIndex(sso *etree.Element) int {
	for k, tok := range sso.Child {
		if c, ok := tok.(*etree.Element); ok {
			switch c.Tag {
			case "ManageNameIDService", "NameIDFormat", "AssertionConsumerService", "AttributeConsumingService":
				return k
			}
		}
	}
	return len(sso.Child)
}

// LogoutRequest is a samlp:LogoutRequest (SAML core §3.7.1) as an SP sends
// it. Marshal emits only what is set, so tests can leave out or change any
// one part.
type LogoutRequest struct {
	ID, Issuer, Destination string
	IssueInstant            time.Time
	// NotOnOrAfter is left out when zero.
	NotOnOrAfter time.Time
	// NameID is the subject the IdP named in its assertion; NameIDFormat,
	// NameQualifier and SPNameQualifier are echoed when set.
	NameID, NameIDFormat, NameQualifier, SPNameQualifier string
	SessionIndexes                                       []string
	// Reason is left out when empty.
	Reason string
}

// LogoutRequest returns a fresh LogoutRequest from this SP to the IdP's
// SLO URL for the subject the IdP named nameID (with its format), valid for
// five minutes.
func (s *SP) LogoutRequest(sloURL, nameID, nameIDFormat string, now time.Time) *LogoutRequest {
	return &LogoutRequest{
		ID:           saml.NewID(),
		Issuer:       s.entityID,
		Destination:  sloURL,
		IssueInstant: now,
		NotOnOrAfter: now.Add(5 * time.Minute),
		NameID:       nameID,
		NameIDFormat: nameIDFormat,
	}
}

// Marshal serializes the request, unsigned.
func (r *LogoutRequest) Marshal() ([]byte, error) {
	doc, err := r.document()
	if err != nil {
		return nil, err
	}
	return doc.WriteToBytes()
}

func (r *LogoutRequest) document() (*etree.Document, error) {
	if r.ID == "" || r.IssueInstant.IsZero() {
		return nil, errors.New("samltest: LogoutRequest: ID and IssueInstant required")
	}
	doc := etree.NewDocument()
	doc.WriteSettings.CanonicalText = true
	doc.WriteSettings.CanonicalAttrVal = true
	root := doc.CreateElement("samlp:LogoutRequest")
	root.CreateAttr("xmlns:samlp", saml.NSProtocol)
	root.CreateAttr("xmlns:saml", saml.NSAssertion)
	root.CreateAttr("ID", r.ID)
	root.CreateAttr("Version", "2.0")
	root.CreateAttr("IssueInstant", saml.FormatTime(r.IssueInstant))
	if r.Destination != "" {
		root.CreateAttr("Destination", r.Destination)
	}
	if !r.NotOnOrAfter.IsZero() {
		root.CreateAttr("NotOnOrAfter", saml.FormatTime(r.NotOnOrAfter))
	}
	if r.Reason != "" {
		root.CreateAttr("Reason", r.Reason)
	}
	if r.Issuer != "" {
		root.CreateElement("saml:Issuer").SetText(r.Issuer)
	}
	if r.NameID != "" {
		n := root.CreateElement("saml:NameID")
		for _, a := range [][2]string{{"NameQualifier", r.NameQualifier}, {"SPNameQualifier", r.SPNameQualifier}, {"Format", r.NameIDFormat}} {
			if a[1] != "" {
				n.CreateAttr(a[0], a[1])
			}
		}
		n.SetText(r.NameID)
	}
	for _, si := range r.SessionIndexes {
		root.CreateElement("samlp:SessionIndex").SetText(si)
	}
	return doc, nil
}

// LogoutRedirectURL returns the HTTP-Redirect binding URL that sends req
// to sloURL with relayState, signed with the SP's key (RSA-SHA256) when
// sign is set.
func (s *SP) LogoutRedirectURL(sloURL string, req *LogoutRequest, relayState string, sign bool) (string, error) {
	if !sign {
		return LogoutRedirectURL(sloURL, req, relayState, nil, "")
	}
	return LogoutRedirectURL(sloURL, req, relayState, s.key, saml.SigAlgRSASHA256)
}

// LogoutPOSTForm returns the HTTP-POST binding form fields (SAMLRequest,
// and RelayState when set) for req, with an enveloped RSA-SHA256
// signature by the SP's key when sign is set.
func (s *SP) LogoutPOSTForm(req *LogoutRequest, relayState string, sign bool) (url.Values, error) {
	if !sign {
		return LogoutPOSTForm(req, relayState, nil, nil, "")
	}
	return LogoutPOSTForm(req, relayState, s.key, s.cert, saml.SigAlgRSASHA256)
}

// LogoutRedirectURL returns the HTTP-Redirect binding URL for req signed
// by signer with sigAlg over the query octets (SAML bindings §3.4.4.1), or
// unsigned when signer is nil. sigAlg may be SigAlgRSASHA1, which the saml
// package refuses, so tests can prove it is rejected.
func LogoutRedirectURL(sloURL string, req *LogoutRequest, relayState string, signer crypto.Signer, sigAlg string) (string, error) {
	xml, err := req.Marshal()
	if err != nil {
		return "", err
	}
	var q string
	switch {
	case signer == nil:
		q, err = saml.RedirectQuery("SAMLRequest", xml, relayState, nil, "")
	case saml.AllowedSignatureAlgorithm(sigAlg):
		q, err = saml.RedirectQuery("SAMLRequest", xml, relayState, signer, sigAlg)
	default:
		q, err = insecureRedirectQuery(xml, relayState, signer, sigAlg)
	}
	if err != nil {
		return "", fmt.Errorf("samltest: %w", err)
	}
	sep := "?"
	if strings.Contains(sloURL, "?") {
		sep = "&"
	}
	return sloURL + sep + q, nil
}

// insecureRedirectQuery signs a SAMLRequest query with an algorithm
// outside the saml allow-list (RSA keys; ECDSA signatures in ASN.1).
func insecureRedirectQuery(xml []byte, relayState string, signer crypto.Signer, sigAlg string) (string, error) {
	h, ok := sigHashes[sigAlg]
	if !ok {
		return "", fmt.Errorf("unknown signature algorithm %q", sigAlg)
	}
	enc, err := saml.EncodeRedirect(xml)
	if err != nil {
		return "", err
	}
	q := "SAMLRequest=" + url.QueryEscape(enc)
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	q += "&SigAlg=" + url.QueryEscape(sigAlg)
	d := h.New()
	d.Write([]byte(q))
	sig, err := signer.Sign(rand.Reader, d.Sum(nil), h)
	if err != nil {
		return "", err
	}
	return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig)), nil
}

// LogoutPOSTForm returns the HTTP-POST binding form fields for req with an
// enveloped signature by signer (certificate cert in KeyInfo) using sigAlg,
// or unsigned when signer is nil. sigAlg may be SigAlgRSASHA1.
func LogoutPOSTForm(req *LogoutRequest, relayState string, signer crypto.Signer, cert *x509.Certificate, sigAlg string) (url.Values, error) {
	doc, err := req.document()
	if err != nil {
		return nil, err
	}
	if signer != nil {
		if cert == nil {
			return nil, errors.New("samltest: a certificate is required to sign")
		}
		if saml.AllowedSignatureAlgorithm(sigAlg) {
			_, err = saml.Sign(doc.Root(), signer, [][]byte{cert.Raw}, sigAlg)
		} else {
			_, err = insecureSign(doc.Root(), signer, cert.Raw, sigAlg, "")
		}
		if err != nil {
			return nil, fmt.Errorf("samltest: sign: %w", err)
		}
	}
	b, err := doc.WriteToBytes()
	if err != nil {
		return nil, err
	}
	form := url.Values{"SAMLRequest": {saml.EncodePOST(b)}}
	if relayState != "" {
		form.Set("RelayState", relayState)
	}
	return form, nil
}

// LogoutResponse is a verified samlp:LogoutResponse (SAML core §3.7.2,
// §3.2.2).
type LogoutResponse struct {
	ID, InResponseTo, Issuer, Destination string
	IssueInstant                          time.Time
	// Status is the top-level StatusCode; SubStatus the second-level one
	// ("" when absent).
	Status, SubStatus string
}

// ExpectedLogoutResponse is what the receiving SP knows.
type ExpectedLogoutResponse struct {
	// IdPEntityID must equal the Issuer.
	IdPEntityID string
	// Certificates are the IdP's signing certificates, tried in turn.
	Certificates []*x509.Certificate
	// Destination is the URL the response was sent to; the Destination
	// attribute must be present and equal it.
	Destination string
	// InResponseTo is the ID of the LogoutRequest sent; it must match.
	InResponseTo string
	// Now is the time of receipt; IssueInstant must lie within five
	// minutes before it (90 seconds of skew either way).
	Now time.Time
}

// VerifyLogoutResponseRedirect verifies the HTTP-Redirect binding
// LogoutResponse at u (the URL the IdP redirected the browser to): the
// query signature over the raw octets with an allow-listed algorithm, then
// the message. It returns the response and the RelayState.
func VerifyLogoutResponseRedirect(u *url.URL, exp ExpectedLogoutResponse) (*LogoutResponse, string, error) {
	keys := make([]crypto.PublicKey, len(exp.Certificates))
	for k, c := range exp.Certificates {
		keys[k] = c.PublicKey
	}
	if err := saml.VerifyRedirectSignature(u.RawQuery, "SAMLResponse", keys); err != nil {
		return nil, "", fmt.Errorf("samltest: %w", err)
	}
	q := u.Query()
	if len(q["SAMLResponse"]) != 1 || len(q["RelayState"]) > 1 {
		return nil, "", errors.New("samltest: exactly one SAMLResponse and at most one RelayState required")
	}
	b, err := saml.DecodeRedirect(q.Get("SAMLResponse"), saml.Limits{})
	if err != nil {
		return nil, "", fmt.Errorf("samltest: %w", err)
	}
	doc, err := saml.ParseXML(b, saml.Limits{})
	if err != nil {
		return nil, "", fmt.Errorf("samltest: %w", err)
	}
	resp, err := checkLogoutResponse(doc.Root(), exp)
	if err != nil {
		return nil, "", err
	}
	return resp, q.Get("RelayState"), nil
}

// VerifyLogoutResponsePOST verifies an HTTP-POST binding SAMLResponse
// form value holding a LogoutResponse: exactly one enveloped signature,
// allow-listed algorithms, verified by goxmldsig with one of the
// certificates; only the verified element is read.
func VerifyLogoutResponsePOST(samlResponse string, exp ExpectedLogoutResponse) (*LogoutResponse, error) {
	b, err := saml.DecodePOST(samlResponse, saml.Limits{})
	if err != nil {
		return nil, fmt.Errorf("samltest: %w", err)
	}
	doc, err := saml.ParseXML(b, saml.Limits{})
	if err != nil {
		return nil, fmt.Errorf("samltest: %w", err)
	}
	root := doc.Root()
	sigs, direct := 0, 0
	var walk func(el *etree.Element, depth int) error
	walk = func(el *etree.Element, depth int) error {
		switch el.Tag {
		case "Signature":
			sigs++
			if depth == 1 && el.NamespaceURI() == saml.NSDSig {
				direct++
			}
		case "SignatureMethod":
			if a := el.SelectAttrValue("Algorithm", ""); !saml.AllowedSignatureAlgorithm(a) {
				return fmt.Errorf("samltest: signature algorithm %q not allowed", a)
			}
		case "DigestMethod":
			if a := el.SelectAttrValue("Algorithm", ""); !saml.AllowedDigestAlgorithm(a) {
				return fmt.Errorf("samltest: digest algorithm %q not allowed", a)
			}
		}
		for _, c := range el.ChildElements() {
			if err := walk(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, 0); err != nil {
		return nil, err
	}
	if sigs != 1 || direct != 1 {
		return nil, errors.New("samltest: want exactly one Signature, a child of the LogoutResponse")
	}
	now := exp.Now
	if now.IsZero() {
		now = time.Now()
	}
	lastErr := errors.New("no IdP certificate")
	for _, c := range exp.Certificates {
		v := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{c}})
		v.Clock = dsig.NewFakeClockAt(now)
		el, err := v.Validate(root.Copy())
		if err != nil {
			lastErr = err
			continue
		}
		return checkLogoutResponse(el, exp)
	}
	return nil, fmt.Errorf("samltest: LogoutResponse signature: %w", lastErr)
}

// checkLogoutResponse checks the shape and the protocol fields of a
// LogoutResponse whose signature was verified.
func checkLogoutResponse(root *etree.Element, exp ExpectedLogoutResponse) (*LogoutResponse, error) {
	if root.Tag != "LogoutResponse" || root.NamespaceURI() != saml.NSProtocol {
		return nil, errors.New("samltest: root is not samlp:LogoutResponse")
	}
	if v := root.SelectAttrValue("Version", ""); v != "2.0" {
		return nil, fmt.Errorf("samltest: version %q", v)
	}
	r := &LogoutResponse{
		ID:           root.SelectAttrValue("ID", ""),
		InResponseTo: root.SelectAttrValue("InResponseTo", ""),
		Destination:  root.SelectAttrValue("Destination", ""),
	}
	t, err := time.Parse(time.RFC3339Nano, root.SelectAttrValue("IssueInstant", ""))
	if err != nil {
		return nil, errors.New("samltest: invalid IssueInstant")
	}
	r.IssueInstant = t
	for _, c := range root.ChildElements() {
		switch {
		case c.Tag == "Issuer" && c.NamespaceURI() == saml.NSAssertion:
			r.Issuer = strings.TrimSpace(c.Text())
		case c.Tag == "Status" && c.NamespaceURI() == saml.NSProtocol:
			if sc := c.SelectElement("StatusCode"); sc != nil {
				r.Status = sc.SelectAttrValue("Value", "")
				if sub := sc.SelectElement("StatusCode"); sub != nil {
					r.SubStatus = sub.SelectAttrValue("Value", "")
				}
			}
		}
	}
	switch {
	case r.ID == "":
		return nil, errors.New("samltest: LogoutResponse without ID")
	case r.Issuer != exp.IdPEntityID:
		return nil, fmt.Errorf("samltest: Issuer %q", r.Issuer)
	case r.Destination == "" || r.Destination != exp.Destination:
		return nil, fmt.Errorf("samltest: Destination %q", r.Destination)
	case r.InResponseTo == "" || r.InResponseTo != exp.InResponseTo:
		return nil, fmt.Errorf("samltest: InResponseTo %q", r.InResponseTo)
	case r.Status == "":
		return nil, errors.New("samltest: LogoutResponse without Status")
	}
	if !exp.Now.IsZero() && (t.After(exp.Now.Add(logoutClockSkew)) || t.Before(exp.Now.Add(-logoutMaxAge-logoutClockSkew))) {
		return nil, fmt.Errorf("samltest: IssueInstant %s outside the accepted window", saml.FormatTime(t))
	}
	return r, nil
}
