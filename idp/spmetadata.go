package idp

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// ErrInvalidMetadata is wrapped by every error ParseServiceProviderMetadata
// returns.
var ErrInvalidMetadata = errors.New("idp: invalid service provider metadata")

// Endpoint is one SAML endpoint of an application (SAML metadata §2.2.2,
// §2.2.3). Index and IsDefault are meaningful for ACS endpoints only.
type Endpoint struct {
	Index     int
	Location  string
	Binding   string
	IsDefault bool
}

// ServiceProviderMetadata is the part of an application's SAML metadata the
// IdP uses. It is built only by ParseServiceProviderMetadata.
type ServiceProviderMetadata struct {
	EntityID string
	// ACS are the AssertionConsumerService endpoints with the HTTP-POST
	// binding, in document order; endpoints of other bindings are dropped.
	// Each Location is an absolute https URL (http only on loopback).
	ACS []Endpoint
	// SLO are the SingleLogoutService endpoints with the HTTP-Redirect or
	// HTTP-POST binding, in document order.
	SLO []Endpoint
	// SigningCertificates and EncryptionCertificates come from the
	// KeyDescriptors (no use attribute means both), deduplicated; each key
	// passed saml.CheckKey.
	SigningCertificates    []*x509.Certificate
	EncryptionCertificates []*x509.Certificate
	// EncryptionMethods are the Algorithm values of the EncryptionMethod
	// elements of the encryption KeyDescriptors, deduplicated.
	EncryptionMethods    []string
	AuthnRequestsSigned  bool
	WantAssertionsSigned bool
	NameIDFormats        []string
	// ValidUntil is the earliest validUntil on the path to the
	// SPSSODescriptor (zero when none).
	ValidUntil time.Time
}

const (
	nsMetadata    = "urn:oasis:names:tc:SAML:2.0:metadata"
	maxEntityID   = 1024
	maxURLLength  = 4096
	maxMetadataSz = 8 << 20
)

func mdLimits() saml.Limits {
	return saml.Limits{MaxXMLBytes: maxMetadataSz, MaxDepth: 64, MaxTokens: 500_000}
}

// ParseServiceProviderMetadata parses an application's SAML metadata: an
// md:EntityDescriptor, or an md:EntitiesDescriptor holding exactly one
// entity with a SAML 2.0 SPSSODescriptor. The document first passes
// saml.CheckXML (no DTD or entities, one root, bounded size and depth);
// elements are matched by namespace URI and local name. A validUntil not
// after now is an error. Metadata signatures are not verified: the document
// must come from the administrator or a pinned URL.
func ParseServiceProviderMetadata(b []byte, now time.Time) (*ServiceProviderMetadata, error) {
	b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
	doc, err := saml.ParseXML(b, mdLimits())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMetadata, err)
	}
	var until time.Time
	var found []*etree.Element
	var walk func(el *etree.Element) error
	walk = func(el *etree.Element) error {
		if err := narrowValidUntil(el, &until, now); err != nil {
			return err
		}
		for _, ch := range el.ChildElements() {
			switch {
			case isMDElem(ch, "EntitiesDescriptor"):
				if err := walk(ch); err != nil {
					return err
				}
			case isMDElem(ch, "EntityDescriptor") && spDescriptor(ch) != nil:
				found = append(found, ch)
			}
		}
		return nil
	}
	root := doc.Root()
	switch {
	case isMDElem(root, "EntityDescriptor"):
		found = append(found, root)
	case isMDElem(root, "EntitiesDescriptor"):
		if err := walk(root); err != nil {
			return nil, err
		}
	default:
		return nil, mdErr("root element is not md:EntityDescriptor or md:EntitiesDescriptor")
	}
	if len(found) != 1 {
		return nil, mdErr("want exactly one entity with an SPSSODescriptor, found %d", len(found))
	}
	return buildSPMetadata(found[0], until, now)
}

func buildSPMetadata(ed *etree.Element, until time.Time, now time.Time) (*ServiceProviderMetadata, error) {
	m := &ServiceProviderMetadata{EntityID: mdAttr(ed, "entityID")}
	if err := checkText(m.EntityID, maxEntityID); err != nil {
		return nil, mdErr("entityID: %v", err)
	}
	sso := spDescriptor(ed)
	if sso == nil {
		return nil, mdErr("entity %q has no SAML 2.0 SPSSODescriptor", m.EntityID)
	}
	if n := countSPDescriptors(ed); n != 1 {
		return nil, mdErr("entity %q has %d SAML 2.0 SPSSODescriptor elements, want 1", m.EntityID, n)
	}
	if err := narrowValidUntil(ed, &until, now); err != nil {
		return nil, err
	}
	if err := narrowValidUntil(sso, &until, now); err != nil {
		return nil, err
	}
	m.ValidUntil = until
	var err error
	if m.AuthnRequestsSigned, err = mdBool(sso, "AuthnRequestsSigned"); err != nil {
		return nil, err
	}
	if m.WantAssertionsSigned, err = mdBool(sso, "WantAssertionsSigned"); err != nil {
		return nil, err
	}
	indexes := map[int]bool{}
	defaults := 0
	for _, ch := range sso.ChildElements() {
		switch {
		case isMDElem(ch, "KeyDescriptor"):
			err = m.addKeyDescriptor(ch)
		case isMDElem(ch, "AssertionConsumerService"):
			err = m.addACS(ch, indexes, &defaults)
		case isMDElem(ch, "SingleLogoutService"):
			b := mdAttr(ch, "Binding")
			if b != string(saml.BindingHTTPRedirect) && b != string(saml.BindingHTTPPost) {
				continue
			}
			loc := mdAttr(ch, "Location")
			if err = checkEndpointURL(loc); err == nil {
				m.SLO = append(m.SLO, Endpoint{Location: loc, Binding: b})
			} else {
				err = mdErr("SingleLogoutService Location: %v", err)
			}
		case isMDElem(ch, "NameIDFormat"):
			var f string
			if f, err = textOnly(ch); err == nil {
				if f = strings.TrimSpace(f); f != "" && !slices.Contains(m.NameIDFormats, f) {
					m.NameIDFormats = append(m.NameIDFormats, f)
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("entity %q: %w", m.EntityID, err)
		}
	}
	if len(m.ACS) == 0 {
		return nil, mdErr("entity %q: no AssertionConsumerService with the HTTP-POST binding", m.EntityID)
	}
	if defaults > 1 {
		return nil, mdErr("entity %q: several AssertionConsumerService elements with isDefault=\"true\"", m.EntityID)
	}
	return m, nil
}

// addACS parses one HTTP-POST AssertionConsumerService. index is required
// by the schema (xs:unsignedShort) and must be unique among all ACS
// endpoints; endpoints of other bindings are skipped after that check.
func (m *ServiceProviderMetadata) addACS(el *etree.Element, indexes map[int]bool, defaults *int) error {
	raw, ok := mdAttrOK(el, "index")
	if !ok {
		return mdErr("AssertionConsumerService without index")
	}
	n, err := strconv.ParseUint(strings.TrimSpace(raw), 10, 16)
	if err != nil {
		return mdErr("AssertionConsumerService index %q is not an xs:unsignedShort", raw)
	}
	idx := int(n)
	if indexes[idx] {
		return mdErr("AssertionConsumerService index %d repeated", idx)
	}
	indexes[idx] = true
	def, err := mdBool(el, "isDefault")
	if err != nil {
		return err
	}
	if mdAttr(el, "Binding") != string(saml.BindingHTTPPost) {
		return nil
	}
	if def {
		*defaults++
	}
	loc := mdAttr(el, "Location")
	if err := checkEndpointURL(loc); err != nil {
		return mdErr("AssertionConsumerService index %d Location: %v", idx, err)
	}
	m.ACS = append(m.ACS, Endpoint{Index: idx, Location: loc, Binding: string(saml.BindingHTTPPost), IsDefault: def})
	return nil
}

// addKeyDescriptor parses one KeyDescriptor: exactly one X509Certificate
// whose key passes saml.CheckKey; no use attribute means both uses.
func (m *ServiceProviderMetadata) addKeyDescriptor(kd *etree.Element) error {
	use, hasUse := mdAttrOK(kd, "use")
	if hasUse && use != "signing" && use != "encryption" {
		return mdErr("KeyDescriptor use=%q", use)
	}
	var certs []*etree.Element
	for _, ki := range kd.ChildElements() {
		if !isNS(ki, saml.NSDSig, "KeyInfo") {
			continue
		}
		for _, xd := range ki.ChildElements() {
			if !isNS(xd, saml.NSDSig, "X509Data") {
				continue
			}
			for _, xc := range xd.ChildElements() {
				if isNS(xc, saml.NSDSig, "X509Certificate") {
					certs = append(certs, xc)
				}
			}
		}
	}
	if len(certs) != 1 {
		return mdErr("KeyDescriptor has %d X509Certificate elements, want exactly 1", len(certs))
	}
	text, err := textOnly(certs[0])
	if err != nil {
		return err
	}
	der, err := base64.StdEncoding.DecodeString(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, text))
	if err != nil {
		return mdErr("X509Certificate is not base64")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return mdErr("X509Certificate: %v", err)
	}
	if err := saml.CheckKey(cert.PublicKey); err != nil {
		return mdErr("certificate %q: %v", cert.Subject.String(), err)
	}
	if !hasUse || use == "signing" {
		m.SigningCertificates = appendCert(m.SigningCertificates, cert)
	}
	if !hasUse || use == "encryption" {
		m.EncryptionCertificates = appendCert(m.EncryptionCertificates, cert)
		for _, em := range kd.ChildElements() {
			if isMDElem(em, "EncryptionMethod") {
				if alg := strings.TrimSpace(mdAttr(em, "Algorithm")); alg != "" && !slices.Contains(m.EncryptionMethods, alg) {
					m.EncryptionMethods = append(m.EncryptionMethods, alg)
				}
			}
		}
	}
	return nil
}

func appendCert(list []*x509.Certificate, c *x509.Certificate) []*x509.Certificate {
	for _, have := range list {
		if bytes.Equal(have.Raw, c.Raw) {
			return list
		}
	}
	return append(list, c)
}

func spDescriptor(ed *etree.Element) *etree.Element {
	for _, ch := range ed.ChildElements() {
		if isMDElem(ch, "SPSSODescriptor") &&
			slices.Contains(strings.Fields(mdAttr(ch, "protocolSupportEnumeration")), saml.NSProtocol) {
			return ch
		}
	}
	return nil
}

func countSPDescriptors(ed *etree.Element) int {
	n := 0
	for _, ch := range ed.ChildElements() {
		if isMDElem(ch, "SPSSODescriptor") &&
			slices.Contains(strings.Fields(mdAttr(ch, "protocolSupportEnumeration")), saml.NSProtocol) {
			n++
		}
	}
	return n
}

// narrowValidUntil applies el's validUntil: it must lie after now, and the
// earliest one wins (SAML metadata §2.3.1).
func narrowValidUntil(el *etree.Element, until *time.Time, now time.Time) error {
	s, ok := mdAttrOK(el, "validUntil")
	if !ok {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		if t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", strings.TrimSpace(s), time.UTC); err != nil {
			return mdErr("%s validUntil %q is not an xs:dateTime", el.Tag, s)
		}
	}
	if !now.Before(t) {
		return mdErr("%s validUntil %s has passed", el.Tag, t.UTC().Format(time.RFC3339))
	}
	if until.IsZero() || t.Before(*until) {
		*until = t
	}
	return nil
}

func mdErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidMetadata}, args...)...)
}

func isMDElem(el *etree.Element, local string) bool { return isNS(el, nsMetadata, local) }

func isNS(el *etree.Element, ns, local string) bool {
	return el.Tag == local && el.NamespaceURI() == ns
}

// mdAttrOK returns the unprefixed attribute name of el.
func mdAttrOK(el *etree.Element, name string) (string, bool) {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == name {
			return a.Value, true
		}
	}
	return "", false
}

func mdAttr(el *etree.Element, name string) string {
	v, _ := mdAttrOK(el, name)
	return v
}

func mdBool(el *etree.Element, name string) (bool, error) {
	s, ok := mdAttrOK(el, name)
	if !ok {
		return false, nil
	}
	switch strings.TrimSpace(s) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, mdErr("%s=%q is not an xs:boolean", name, s)
}

// textOnly returns el's character data, refusing comments or child
// elements inside a value (where parsers disagree).
func textOnly(el *etree.Element) (string, error) {
	var b strings.Builder
	for _, ch := range el.Child {
		cd, ok := ch.(*etree.CharData)
		if !ok {
			return "", mdErr("%s holds markup, want text only", el.Tag)
		}
		b.WriteString(cd.Data)
	}
	return b.String(), nil
}

// checkText requires a non-empty value of at most max bytes, valid UTF-8,
// without surrounding white space or control characters.
func checkText(s string, max int) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > max:
		return fmt.Errorf("longer than %d bytes", max)
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	case strings.TrimSpace(s) != s:
		return errors.New("surrounding white space")
	case strings.ContainsFunc(s, unicode.IsControl):
		return errors.New("control characters")
	}
	return nil
}

// checkEndpointURL allows an absolute https URL with a host, or http on a
// loopback host; no user info or fragment. javascript:, data: and every
// other scheme are rejected.
func checkEndpointURL(raw string) error {
	if err := checkText(raw, maxURLLength); err != nil {
		return fmt.Errorf("URL %w", err)
	}
	if strings.Contains(raw, "#") {
		return errors.New("URL carries a fragment")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("URL does not parse")
	}
	if !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL with a host", u.Redacted())
	}
	if u.User != nil {
		return fmt.Errorf("%q carries user info", u.Redacted())
	}
	// The host ends up in a Content-Security-Policy header: allow only
	// the characters of DNS names, IP literals and ports.
	for _, c := range []byte(u.Host) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return fmt.Errorf("%q: host holds characters not allowed in a DNS name", u.Redacted())
		}
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q uses http on a non-loopback host", u.Redacted())
	}
	return fmt.Errorf("%q: scheme %q not allowed", u.Redacted(), u.Scheme)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
