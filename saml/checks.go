package saml

import (
	"encoding/xml"
	"strings"
	"time"

	"github.com/beevik/etree"
	saml2 "github.com/russellhaering/gosaml2"
	"github.com/russellhaering/gosaml2/types"
)

// Checks on the unverified document. They can only reject; nothing read
// here is used after verification. They run on what the CheckXML pass
// recorded in a responseShape, so that an unencrypted Response is parsed
// into a tree only once, by gosaml2.

// responseShape records, during the one streaming CheckXML pass over an
// unverified Response, what the structural checks need. Elements are
// matched by local name in any namespace where that is the stricter
// reading (counting assertions, scanning algorithms), so no namespace trick
// hides one; where a rule names a namespace, the URI is resolved from the
// xmlns declarations in scope, never read from the prefix.
type responseShape struct {
	root       xml.Name // Space is the resolved namespace URI
	rootAttr   []xml.Attr
	assertions int      // Assertion and EncryptedAssertion elements
	assertion  xml.Name // the last of them; Space resolved at depth 1 only
	depth      int      // its depth: 1 for a child of the root, as required
	algErr     *VerifyError
}

// visit is the elementVisitor that fills s.
func (s *responseShape) visit(el xml.StartElement, parent string, depth int) {
	if depth == 0 {
		s.rootAttr = el.Attr
		s.root = xml.Name{Space: namespaceURI(el.Name.Space, el.Attr), Local: el.Name.Local}
	}
	if isAssertionTag(el.Name.Local) {
		s.assertions++
		s.assertion, s.depth = xml.Name{Local: el.Name.Local}, depth
		if depth == 1 {
			s.assertion.Space = namespaceURI(el.Name.Space, el.Attr, s.rootAttr)
		}
	}
	if s.algErr == nil {
		s.algErr = checkAlgorithm(el.Name.Local, parent, algorithmAttr(el.Attr))
	}
}

// namespaceURI resolves a prefix ("" for the default namespace) through the
// attribute lists of an element and then of its ancestors, innermost first
// (Namespaces in XML §6): the nearest xmlns or xmlns:prefix declaration
// wins, and an undeclared prefix resolves to "", exactly as etree's
// Element.NamespaceURI does.
func namespaceURI(prefix string, scopes ...[]xml.Attr) string {
	for _, attrs := range scopes {
		for _, a := range attrs {
			if prefix == "" && a.Name.Space == "" && a.Name.Local == "xmlns" ||
				prefix != "" && a.Name.Space == "xmlns" && a.Name.Local == prefix {
				return a.Value
			}
		}
	}
	return ""
}

// algorithmAttr returns the unprefixed Algorithm attribute ("" when absent).
func algorithmAttr(attrs []xml.Attr) string {
	for _, a := range attrs {
		if a.Name.Space == "" && a.Name.Local == "Algorithm" {
			return a.Value
		}
	}
	return ""
}

func isAssertionTag(local string) bool {
	return local == "Assertion" || local == "EncryptedAssertion"
}

// checkRoot: the HTTP-POST message must be a samlp:Response (SAML core
// §3.3.3, profiles §4.1.4.2).
func checkRoot(s *responseShape) *VerifyError {
	if s.root != (xml.Name{Space: NSProtocol, Local: "Response"}) {
		return fail(ReasonMalformed, "%w: root element is not samlp:Response", ErrMalformed)
	}
	return nil
}

// checkAssertionStructure: exactly one Assertion or EncryptedAssertion in
// the whole document, as a direct child of the Response in the SAML
// assertion namespace (profiles §4.1.4.2 allows several, Gatehouse accepts
// one: gosaml2 would use the first of two validly signed assertions).
// Elements are counted by local name in any namespace, so no namespace
// trick hides a second one.
func checkAssertionStructure(s *responseShape) *VerifyError {
	if s.assertions != 1 {
		return fail(ReasonAssertionCount, "%d assertions in response, want exactly 1", s.assertions)
	}
	if s.depth != 1 || s.assertion.Space != NSAssertion {
		return fail(ReasonAssertionCount, "assertion is not a direct child of the Response")
	}
	return nil
}

// checkScannedAlgorithms reports the first element, in document order,
// that checkAlgorithm rejected during the pass (SAML core §5.4, §6), before
// any cryptography runs.
func checkScannedAlgorithms(s *responseShape) *VerifyError {
	return s.algErr
}

// Key transport and data encryption algorithms accepted in
// EncryptedAssertion (XML Encryption 1.1 §5.4.2, §5.2.4): RSA-OAEP and
// AES-GCM only; RSA v1.5 and CBC modes have practical padding oracles.
var (
	keyTransportAlgorithms = map[string]bool{
		types.MethodRSAOAEP:  true,
		types.MethodRSAOAEP2: true,
	}
	dataEncryptionAlgorithms = map[string]int{
		types.MethodAES128GCM: 16,
		types.MethodAES192GCM: 24,
		types.MethodAES256GCM: 32,
	}
)

// checkAlgorithm applies the allow-lists to one element, given its local
// name, its parent's local name and its Algorithm attribute: every
// SignatureMethod, DigestMethod and EncryptionMethod, in any namespace (SAML
// core §5.4, §6; XML Signature §6; XML Encryption §5). A DigestMethod
// inside a key transport EncryptionMethod is the OAEP hash, not a signature
// digest: there SHA-1 is the common default, and OAEP's security does not
// rest on collision resistance.
func checkAlgorithm(local, parent, alg string) *VerifyError {
	switch local {
	case "SignatureMethod":
		if !AllowedSignatureAlgorithm(alg) {
			return fail(ReasonAlgorithm, "signature algorithm %s not allowed", quoteShort(alg))
		}
	case "DigestMethod":
		if parent == "EncryptionMethod" {
			if _, ok := oaepDigest(alg); !ok {
				return fail(ReasonAlgorithm, "OAEP digest %s not allowed", quoteShort(alg))
			}
		} else if !AllowedDigestAlgorithm(alg) {
			return fail(ReasonAlgorithm, "digest algorithm %s not allowed", quoteShort(alg))
		}
	case "EncryptionMethod":
		switch parent {
		case "EncryptedKey":
			if !keyTransportAlgorithms[alg] {
				return fail(ReasonAlgorithm, "key transport %s not allowed", quoteShort(alg))
			}
		case "EncryptedData":
			if _, ok := dataEncryptionAlgorithms[alg]; !ok {
				return fail(ReasonAlgorithm, "data encryption %s not allowed", quoteShort(alg))
			}
		default:
			return fail(ReasonAlgorithm, "unexpected EncryptionMethod")
		}
	}
	return nil
}

// checkAlgorithms runs checkAlgorithm on root and every descendant of a
// parsed tree, in document order (used for decrypted assertions).
func checkAlgorithms(root *etree.Element) *VerifyError {
	var verr *VerifyError
	walk(root, func(el *etree.Element) {
		if verr != nil {
			return
		}
		parent := ""
		if p := el.Parent(); p != nil {
			parent = p.Tag
		}
		verr = checkAlgorithm(el.Tag, parent, attr(el, "Algorithm"))
	})
	return verr
}

// walk calls fn for el and every descendant element, depth first.
func walk(el *etree.Element, fn func(*etree.Element)) {
	fn(el)
	for _, tok := range el.Child {
		if c, ok := tok.(*etree.Element); ok {
			walk(c, fn)
		}
	}
}

// Checks on the verified response, in order.

// checkVerifiedAssertionCount: exactly one assertion came out of signature
// verification and decryption (profiles §4.1.4.2).
func checkVerifiedAssertionCount(resp *types.Response) *VerifyError {
	if len(resp.Assertions) != 1 || len(resp.EncryptedAssertions) != 0 {
		return fail(ReasonAssertionCount, "%d verified assertions, want exactly 1", len(resp.Assertions))
	}
	return nil
}

// checkSigned: the assertion, or the Response carrying it, was signed
// (profiles §4.1.4.2, §4.1.4.5).
func checkSigned(resp *types.Response, a *types.Assertion) *VerifyError {
	if !resp.SignatureValidated && !a.SignatureValidated {
		return fail(ReasonSignature, "neither Response nor Assertion signature verified")
	}
	return nil
}

// checkStatus: top-level StatusCode is Success (core §3.2.2.2).
func checkStatus(resp *types.Response) *VerifyError {
	if resp.Status == nil || resp.Status.StatusCode == nil {
		return fail(ReasonStatus, "missing Status")
	}
	if v := resp.Status.StatusCode.Value; v != saml2.StatusCodeSuccess {
		return fail(ReasonStatus, "status %s", quoteShort(v))
	}
	return nil
}

// checkDestination: Response@Destination is required and equals, byte for
// byte, the URL that received the POST (bindings §3.5.5.2, required by
// Gatehouse even when only the assertion is signed).
func checkDestination(resp *types.Response, want string) *VerifyError {
	if resp.Destination == "" {
		return fail(ReasonDestination, "missing Destination")
	}
	if resp.Destination != want {
		return fail(ReasonDestination, "Destination %s does not match", quoteShort(resp.Destination))
	}
	return nil
}

// checkIssuer: Response and Assertion Issuer equal the configured IdP
// entity ID (core §3.2.2, profiles §4.1.4.2).
func checkIssuer(resp *types.Response, a *types.Assertion, want string) *VerifyError {
	if resp.Issuer == nil || resp.Issuer.Value != want {
		return fail(ReasonIssuer, "Response Issuer does not match")
	}
	if a.Issuer == nil || a.Issuer.Value != want {
		return fail(ReasonIssuer, "Assertion Issuer does not match")
	}
	return nil
}

// checkAssertionVersion: Assertion@Version is "2.0" (core §2.3.3).
func checkAssertionVersion(a *types.Assertion) *VerifyError {
	if a.Version != "2.0" {
		return fail(ReasonMalformed, "assertion version %s", quoteShort(a.Version))
	}
	return nil
}

// checkSubject: a non-empty NameID and a bearer SubjectConfirmation with
// SubjectConfirmationData (profiles §4.1.4.2, core §2.4.1).
func checkSubject(a *types.Assertion) *VerifyError {
	s := a.Subject
	if s == nil || s.NameID == nil || strings.TrimSpace(s.NameID.Value) == "" {
		return fail(ReasonSubject, "missing or empty NameID")
	}
	sc := s.SubjectConfirmation
	if sc == nil || sc.Method != saml2.SubjMethodBearer || sc.SubjectConfirmationData == nil {
		return fail(ReasonSubject, "missing bearer SubjectConfirmationData")
	}
	return nil
}

// checkRecipient: SubjectConfirmationData@Recipient equals the receiving
// URL exactly (profiles §4.1.4.3; gosaml2 checks it too).
func checkRecipient(a *types.Assertion, want string) *VerifyError {
	if r := a.Subject.SubjectConfirmation.SubjectConfirmationData.Recipient; r != want {
		return fail(ReasonRecipient, "Recipient %s does not match", quoteShort(r))
	}
	return nil
}

// checkSubjectNotOnOrAfter: SubjectConfirmationData@NotOnOrAfter is
// required and not passed, allowing for skew (profiles §4.1.4.2, core
// §2.4.1.2).
func checkSubjectNotOnOrAfter(a *types.Assertion, now time.Time, skew time.Duration) *VerifyError {
	t, err := parseTime(a.Subject.SubjectConfirmation.SubjectConfirmationData.NotOnOrAfter)
	if err != nil {
		return fail(ReasonExpired, "missing or invalid SubjectConfirmationData NotOnOrAfter")
	}
	if !now.Add(-skew).Before(t) {
		return fail(ReasonExpired, "SubjectConfirmationData expired")
	}
	return nil
}

// checkConditionsTime: Conditions is required; NotBefore is optional and,
// when present, reached (now+skew >= NotBefore); NotOnOrAfter is required
// by Gatehouse and not passed (now-skew < NotOnOrAfter) (core §2.5.1.2).
func checkConditionsTime(a *types.Assertion, now time.Time, skew time.Duration) *VerifyError {
	c := a.Conditions
	if c == nil {
		return fail(ReasonAudience, "missing Conditions")
	}
	if c.NotBefore != "" {
		nb, err := parseTime(c.NotBefore)
		if err != nil {
			return fail(ReasonMalformed, "invalid Conditions NotBefore")
		}
		if now.Add(skew).Before(nb) {
			return fail(ReasonNotYetValid, "assertion not valid before %s", FormatTime(nb))
		}
	}
	noa, err := parseTime(c.NotOnOrAfter)
	if err != nil {
		return fail(ReasonExpired, "missing or invalid Conditions NotOnOrAfter")
	}
	if !now.Add(-skew).Before(noa) {
		return fail(ReasonExpired, "assertion expired at %s", FormatTime(noa))
	}
	return nil
}

// checkAudience: at least one AudienceRestriction, and every one of them
// contains our entity ID (core §2.5.1.4: each restriction must be
// satisfied; profiles §4.1.4.2 requires one naming the SP).
func checkAudience(a *types.Assertion, want string) *VerifyError {
	ars := a.Conditions.AudienceRestrictions
	if len(ars) == 0 {
		return fail(ReasonAudience, "missing AudienceRestriction")
	}
	for _, ar := range ars {
		ok := false
		for _, au := range ar.Audiences {
			if au.Value == want {
				ok = true
				break
			}
		}
		if !ok {
			return fail(ReasonAudience, "AudienceRestriction does not name this SP")
		}
	}
	return nil
}

// checkIssueInstant: Assertion@IssueInstant is not in the future beyond
// the skew and not older than MaxAssertionAge plus skew (core §2.3.3
// defines it; the bound is Gatehouse policy, as profiles §4.1.4.3 leaves
// it to the SP).
func checkIssueInstant(a *types.Assertion, now time.Time, skew, maxAge time.Duration) *VerifyError {
	t := a.IssueInstant
	if t.IsZero() {
		return fail(ReasonTooOld, "missing IssueInstant")
	}
	if t.After(now.Add(skew)) {
		return fail(ReasonNotYetValid, "IssueInstant in the future")
	}
	if t.Before(now.Add(-maxAge - skew)) {
		return fail(ReasonTooOld, "assertion issued at %s", FormatTime(t))
	}
	return nil
}

// checkLifetime: Conditions and SubjectConfirmationData NotOnOrAfter lie
// at most MaxAssertionLifetime after IssueInstant, which bounds how long
// the replay record must live (Gatehouse policy).
func checkLifetime(a *types.Assertion, maxLifetime time.Duration) *VerifyError {
	cond, _ := parseTime(a.Conditions.NotOnOrAfter)
	scd, _ := parseTime(a.Subject.SubjectConfirmation.SubjectConfirmationData.NotOnOrAfter)
	limit := a.IssueInstant.Add(maxLifetime)
	if cond.After(limit) || scd.After(limit) {
		return fail(ReasonLifetime, "assertion lifetime exceeds %s", maxLifetime)
	}
	return nil
}

// checkInResponseTo: when Response@InResponseTo is present it equals the
// signed SubjectConfirmationData@InResponseTo (core §3.2.2, profiles
// §4.1.4.3). Matching it to a pending request is the caller's job.
func checkInResponseTo(resp *types.Response, a *types.Assertion) *VerifyError {
	scd := a.Subject.SubjectConfirmation.SubjectConfirmationData.InResponseTo
	if resp.InResponseTo != "" && resp.InResponseTo != scd {
		return fail(ReasonInResponseToMismatch, "Response InResponseTo differs from SubjectConfirmationData")
	}
	return nil
}
