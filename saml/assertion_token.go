package saml

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"strings"

	dsig "github.com/russellhaering/goxmldsig"
)

// Bare assertions as OAuth tokens (RFC 7522 §2.1, RFC 8693 §3 token type
// urn:ietf:params:oauth:token-type:saml2): a single signed saml:Assertion,
// base64url-encoded, not carried in a Response. VerifyAssertion checks its
// shape in the one CheckXML pass, then wraps it in a minimal unsigned
// samlp:Response built here and runs exactly the verification path of
// VerifyResponse on that.
//
// Why wrapping cannot change what the signature covers: the assertion's
// signature must use exclusive canonicalization only (checkTokenC14N),
// which renders only the namespaces an element visibly uses, plus those
// its InclusiveNamespaces PrefixList names, and every prefix the assertion
// uses must be declared inside it (checkTokenNamespaces). The envelope
// declares no default namespace and one prefix, envelopePrefix, which the
// assertion may neither use, declare nor list. So the canonical form of
// the assertion inside the envelope is byte for byte what it is on its
// own. The envelope itself carries no signature and a fresh random ID, so
// no signature can cover it: only the assertion's own signature can make
// it acceptable (checkTokenSignatureShape requires exactly one, its
// direct child, referencing its ID).

// envelopePrefix is the only namespace prefix the envelope puts in scope
// of the assertion.
const envelopePrefix = "gatehouse-envelope"

// VerifyAssertion verifies a bare SAML 2.0 Assertion presented as an OAuth
// grant or subject token (RFC 7522, RFC 8693 token type saml2): encoded is
// its base64url encoding, with or without padding (no other alphabet, no
// whitespace). It applies every check of VerifyResponse, with
// exp.Destination the URL of the token endpoint, which the bearer
// SubjectConfirmationData@Recipient must equal (RFC 7522 §3 item 2b), and
// the Verifier's Audience, which every AudienceRestriction must name
// (RFC 7522 §3 item 3). In addition the root must be a signed
// saml:Assertion (an EncryptedAssertion is refused), signed by its own
// enveloped signature with exclusive canonicalization, and it must not
// answer an AuthnRequest (no InResponseTo). The caller still must record
// (Issuer, ID) in the replay store shared with the ACS until NotOnOrAfter.
// Every error is a *VerifyError.
func (v *Verifier) VerifyAssertion(encoded string, exp Expected) (*Assertion, error) {
	a, verr := v.verifyAssertion(encoded, exp)
	if verr != nil {
		return nil, verr
	}
	return a, nil
}

func (v *Verifier) verifyAssertion(encoded string, exp Expected) (*Assertion, *VerifyError) {
	if exp.Destination == "" || exp.Now.IsZero() {
		return nil, fail(ReasonOther, "Expected.Destination and Expected.Now are required")
	}
	raw, err := decodeBase64URL(encoded, v.lim)
	if err != nil {
		return nil, &VerifyError{Reason: ReasonMalformed, Err: err}
	}
	var shape tokenShape
	if err := scanXML(raw, v.lim, shape.visit); err != nil {
		return nil, &VerifyError{Reason: ReasonMalformed, Err: err}
	}
	for _, check := range []func(*tokenShape) *VerifyError{
		checkTokenRoot,
		checkTokenAssertionCount,
		checkTokenNamespaces,
		checkTokenAlgorithms,
		checkTokenSignatureShape,
	} {
		if verr := check(&shape); verr != nil {
			return nil, verr
		}
	}

	wrapped := wrapAssertion(stripXMLDeclaration(raw), v.idpEntityID, exp)
	// The assertion itself was held to v.lim above; the envelope adds a
	// bounded number of bytes, tokens and one level of depth.
	w := *v
	w.lim.MaxXMLBytes = max(w.lim.MaxXMLBytes, len(wrapped))
	w.lim.MaxEncodedBytes = max(w.lim.MaxEncodedBytes, base64.StdEncoding.EncodedLen(len(wrapped)))
	w.lim.MaxTokens += 16
	w.lim.MaxDepth++
	a, verr := w.verify(EncodePOST(wrapped), exp)
	if verr != nil {
		return nil, verr
	}
	if verr := checkNoInResponseTo(a); verr != nil {
		return nil, verr
	}
	return a, nil
}

// decodeBase64URL decodes base64url (RFC 4648 §5), with or without the
// exact padding, refusing any other character (whitespace included, which
// Go's decoder would skip) and non-canonical trailing bits.
func decodeBase64URL(value string, lim Limits) ([]byte, error) {
	if len(value) > lim.MaxEncodedBytes {
		return nil, malformed("encoded token larger than %d bytes", lim.MaxEncodedBytes)
	}
	for i := 0; i < len(value); i++ {
		c := value[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=') {
			return nil, malformed("invalid base64url character at offset %d", i)
		}
	}
	trimmed := strings.TrimRight(value, "=")
	if pad := len(value) - len(trimmed); pad > 0 && (pad > 2 || len(value)%4 != 0) {
		return nil, malformed("invalid base64url padding")
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(trimmed)
	if err != nil {
		return nil, malformed("invalid base64url")
	}
	if len(b) == 0 {
		return nil, malformed("empty token")
	}
	return b, nil
}

// tokenShape records, during the one CheckXML pass over an unverified bare
// assertion, what the structural checks need. As in responseShape, counted
// elements are matched by local name in any namespace, and namespace URIs
// are resolved from the declarations in scope, never from prefixes.
type tokenShape struct {
	root       xml.Name // Space is the resolved namespace URI
	rootID     string
	assertions int // Assertion and EncryptedAssertion elements
	signatures int // Signature elements
	sigDepth   int // depth of the last of them: 1 for a child of the root
	references int // Reference elements
	refURI     string
	algErr     *VerifyError
	nsErr      *VerifyError
	scopes     [][]xml.Attr // attributes of the open elements, root first
}

// visit is the elementVisitor that fills s.
func (s *tokenShape) visit(el xml.StartElement, parent string, depth int) {
	s.scopes = append(s.scopes[:depth], el.Attr)
	if depth == 0 {
		s.root = xml.Name{Space: namespaceURI(el.Name.Space, el.Attr), Local: el.Name.Local}
		s.rootID = attrValue(el.Attr, "ID")
	}
	switch el.Name.Local {
	case "Assertion", "EncryptedAssertion":
		s.assertions++
	case "Signature":
		s.signatures++
		s.sigDepth = depth
	case "Reference":
		s.references++
		s.refURI = attrValue(el.Attr, "URI")
	}
	if s.algErr == nil {
		s.algErr = checkAlgorithm(el.Name.Local, parent, algorithmAttr(el.Attr))
	}
	if s.algErr == nil {
		s.algErr = checkTokenC14N(el.Name.Local, algorithmAttr(el.Attr))
	}
	if s.nsErr == nil {
		s.nsErr = s.checkNamespaces(el)
	}
}

// checkNamespaces: every prefix of the element's and its attributes' names
// is declared by the element or an ancestor inside the assertion, and
// envelopePrefix is neither used, declared nor listed in an
// InclusiveNamespaces PrefixList (Namespaces in XML §5, "Prefix
// Declared"; see the comment at the top of this file for why).
func (s *tokenShape) checkNamespaces(el xml.StartElement) *VerifyError {
	inScope := make([][]xml.Attr, len(s.scopes))
	for i, attrs := range s.scopes {
		inScope[len(s.scopes)-1-i] = attrs
	}
	declared := func(prefix string) bool {
		return prefix == "xml" || prefix != envelopePrefix && namespaceURI(prefix, inScope...) != ""
	}
	if p := el.Name.Space; p != "" && !declared(p) {
		return fail(ReasonMalformed, "%w: undeclared namespace prefix %s", ErrMalformed, quoteShort(p))
	}
	for _, a := range el.Attr {
		switch {
		case a.Name.Space == "xmlns":
			if a.Name.Local == envelopePrefix {
				return fail(ReasonMalformed, "%w: reserved namespace prefix declared", ErrMalformed)
			}
		case a.Name.Space != "" && !declared(a.Name.Space):
			return fail(ReasonMalformed, "%w: undeclared namespace prefix %s", ErrMalformed, quoteShort(a.Name.Space))
		}
	}
	if el.Name.Local == "InclusiveNamespaces" {
		for _, p := range strings.Fields(attrValue(el.Attr, "PrefixList")) {
			if p == envelopePrefix {
				return fail(ReasonMalformed, "%w: reserved namespace prefix listed", ErrMalformed)
			}
		}
	}
	return nil
}

// attrValue returns the unprefixed attribute name's value ("" when absent).
func attrValue(attrs []xml.Attr, name string) string {
	for _, a := range attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// checkTokenC14N allows only exclusive canonicalization (XML Signature
// §6.5, Exclusive XML Canonicalization §3), with or without comments, as
// CanonicalizationMethod and Transform, besides the enveloped signature
// transform (XML Signature §6.6.4): inclusive canonicalization would sign
// the namespaces in scope from the document around the assertion.
func checkTokenC14N(local, alg string) *VerifyError {
	exclusive := alg == string(dsig.CanonicalXML10ExclusiveAlgorithmId) ||
		alg == string(dsig.CanonicalXML10ExclusiveWithCommentsAlgorithmId)
	switch local {
	case "CanonicalizationMethod":
		if !exclusive {
			return fail(ReasonAlgorithm, "canonicalization %s not allowed in a token", quoteShort(alg))
		}
	case "Transform":
		if !exclusive && alg != string(dsig.EnvelopedSignatureAltorithmId) {
			return fail(ReasonAlgorithm, "transform %s not allowed in a token", quoteShort(alg))
		}
	}
	return nil
}

// checkTokenRoot: the token is a saml:Assertion (RFC 7522 §2.1: "a single
// SAML 2.0 Assertion"). An EncryptedAssertion is refused: a token endpoint
// must not become a decryption oracle.
func checkTokenRoot(s *tokenShape) *VerifyError {
	switch s.root {
	case xml.Name{Space: NSAssertion, Local: "Assertion"}:
		return nil
	case xml.Name{Space: NSAssertion, Local: "EncryptedAssertion"}:
		return fail(ReasonMalformed, "%w: encrypted assertions are not accepted as tokens", ErrMalformed)
	}
	return fail(ReasonMalformed, "%w: root element is not saml:Assertion", ErrMalformed)
}

// checkTokenAssertionCount: the root is the only Assertion or
// EncryptedAssertion in the document (no Advice, no wrapped copies).
func checkTokenAssertionCount(s *tokenShape) *VerifyError {
	if s.assertions != 1 {
		return fail(ReasonAssertionCount, "%d assertions in token, want exactly 1", s.assertions)
	}
	return nil
}

// checkTokenNamespaces reports the first namespace problem found.
func checkTokenNamespaces(s *tokenShape) *VerifyError { return s.nsErr }

// checkTokenAlgorithms reports the first algorithm refused during the pass
// (SAML core §5.4, the allow-lists of checkAlgorithm and checkTokenC14N).
func checkTokenAlgorithms(s *tokenShape) *VerifyError { return s.algErr }

// checkTokenSignatureShape: exactly one Signature in the document, a
// direct child of the assertion, with exactly one Reference, to the
// assertion's ID (SAML core §5.4.1, §5.4.2; RFC 7522 §3 item 9: the
// assertion must be signed).
func checkTokenSignatureShape(s *tokenShape) *VerifyError {
	switch {
	case s.signatures == 0:
		return fail(ReasonSignature, "assertion is not signed")
	case s.signatures != 1 || s.sigDepth != 1:
		return fail(ReasonSignature, "want exactly one Signature, a child of the assertion")
	case s.rootID == "" || s.references != 1 || s.refURI != "#"+s.rootID:
		return fail(ReasonSignature, "the signature does not reference the assertion")
	}
	return nil
}

// checkNoInResponseTo: a token is not the answer to an AuthnRequest; RFC
// 7522 §3 leaves InResponseTo out of the bearer confirmation, and an
// assertion that answers a request belongs at the ACS.
func checkNoInResponseTo(a *Assertion) *VerifyError {
	if a.inResponseTo != "" {
		return fail(ReasonInResponseToMismatch, "a token must not carry InResponseTo")
	}
	return nil
}

// stripXMLDeclaration removes a leading XML declaration; CheckXML already
// allowed a processing instruction only there and only with target xml,
// and a processing instruction cannot contain "?>".
func stripXMLDeclaration(b []byte) []byte {
	if !bytes.HasPrefix(b, []byte("<?xml")) {
		return b
	}
	if i := bytes.Index(b, []byte("?>")); i >= 0 {
		return b[i+2:]
	}
	return b
}

// wrapAssertion builds the unsigned envelope: a samlp:Response with a
// fresh ID, Version 2.0, IssueInstant and Destination from exp, the IdP as
// Issuer (declared on the Issuer element alone) and Status Success,
// holding the assertion bytes as they are.
func wrapAssertion(assertion []byte, idpEntityID string, exp Expected) []byte {
	var b bytes.Buffer
	b.Grow(len(assertion) + 512)
	b.WriteString(`<` + envelopePrefix + `:Response xmlns:` + envelopePrefix + `="` + NSProtocol + `" ID="` + NewID() +
		`" Version="2.0" IssueInstant="` + FormatTime(exp.Now) + `" Destination="`)
	_ = xml.EscapeText(&b, []byte(exp.Destination)) // a bytes.Buffer cannot fail
	b.WriteString(`"><saml:Issuer xmlns:saml="` + NSAssertion + `">`)
	_ = xml.EscapeText(&b, []byte(idpEntityID))
	b.WriteString(`</saml:Issuer><` + envelopePrefix + `:Status><` + envelopePrefix + `:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></` + envelopePrefix + `:Status>`)
	b.Write(assertion)
	b.WriteString(`</` + envelopePrefix + `:Response>`)
	return b.Bytes()
}
