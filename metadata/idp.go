package metadata

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// Endpoint is one SAML protocol endpoint from metadata (SAML Metadata,
// 2.2.2).
type Endpoint struct {
	Binding  string // binding URI, e.g. BindingHTTPRedirect
	Location string // absolute https URL (http only on loopback), as published
	// ResponseLocation is the optional separate response URL; empty when
	// absent.
	ResponseLocation string
}

// IdPMetadata is the validated description of one SAML 2.0 identity
// provider. It is built only by ParseIdP and ParseIdPEntity.
//
// Treat every field as read-only: a value is shared between goroutines (the
// Refresher hands the same pointer to every caller) and is never modified
// after parsing. Use Clone for a private, modifiable copy.
type IdPMetadata struct {
	// EntityID is the IdP's entityID, as published.
	EntityID string
	// SigningCertificates are the certificates of the KeyDescriptors with
	// use="signing" or without a use attribute, in document order,
	// deduplicated. There is at least one; several mean a key rollover is
	// under way and each must be tried. Each key passed the key check.
	SigningCertificates []*x509.Certificate
	// EncryptionCertificates are the certificates of KeyDescriptors with
	// use="encryption" or without a use attribute, deduplicated.
	EncryptionCertificates []*x509.Certificate
	// SSOServices are the SingleSignOnService endpoints in document order.
	// At least one uses HTTP-Redirect or HTTP-POST.
	SSOServices []Endpoint
	// SLOServices are the SingleLogoutService endpoints in document order.
	SLOServices []Endpoint
	// NameIDFormats are the published NameIDFormat values, in order,
	// deduplicated, empty values dropped.
	NameIDFormats []string
	// WantAuthnRequestsSigned is the IDPSSODescriptor attribute.
	WantAuthnRequestsSigned bool
	// ValidUntil is the earliest validUntil on the path from the document
	// root to the IDPSSODescriptor; zero when none is published.
	ValidUntil time.Time
	// CacheDuration is the shortest cacheDuration on that path; zero when
	// none is published.
	CacheDuration time.Duration
}

// SSOService returns the first SingleSignOnService with the given binding.
func (m *IdPMetadata) SSOService(binding string) (Endpoint, bool) {
	for _, e := range m.SSOServices {
		if e.Binding == binding {
			return e, true
		}
	}
	return Endpoint{}, false
}

// NextCertificateExpiry returns the earliest NotAfter among the signing and
// encryption certificates, for alerting before an IdP certificate expires.
// Expired certificates are not rejected (see the package documentation).
func (m *IdPMetadata) NextCertificateExpiry() time.Time {
	var first time.Time
	for _, c := range slices.Concat(m.SigningCertificates, m.EncryptionCertificates) {
		if first.IsZero() || c.NotAfter.Before(first) {
			first = c.NotAfter
		}
	}
	return first
}

// Clone returns a copy whose slices the caller may modify. Certificates are
// shared; they must not be modified.
func (m *IdPMetadata) Clone() *IdPMetadata {
	c := *m
	c.SigningCertificates = slices.Clone(m.SigningCertificates)
	c.EncryptionCertificates = slices.Clone(m.EncryptionCertificates)
	c.SSOServices = slices.Clone(m.SSOServices)
	c.SLOServices = slices.Clone(m.SLOServices)
	c.NameIDFormats = slices.Clone(m.NameIDFormats)
	return &c
}

// ParseIdP parses IdP metadata: an md:EntityDescriptor, or an
// md:EntitiesDescriptor (nested ones included) holding exactly one entity with
// a SAML 2.0 IDPSSODescriptor. now is compared with every validUntil.
//
// The document first passes a hardened pre-parse check (no DTD, no entities,
// no processing instructions besides the XML declaration, one root, no
// trailing content, depth 64, 8 MiB). Metadata signatures are not verified:
// the document must come from a pinned file or URL.
func ParseIdP(b []byte, now time.Time) (*IdPMetadata, error) {
	return parseIdP(b, "", now)
}

// ParseIdPEntity is ParseIdP for the entity whose entityID equals entityID
// exactly, for aggregates holding several IdPs. When the root is an
// EntityDescriptor its entityID must match too.
func ParseIdPEntity(b []byte, entityID string, now time.Time) (*IdPMetadata, error) {
	if entityID == "" {
		return nil, fmt.Errorf("%w: empty entity ID selector", ErrInvalidConfig)
	}
	return parseIdP(b, entityID, now)
}

// candidate is one EntityDescriptor with the validity attributes inherited
// from its enclosing EntitiesDescriptors.
type candidate struct {
	el       *etree.Element
	validity validity
}

type validity struct {
	until time.Time
	cache time.Duration
}

func parseIdP(b []byte, entityID string, now time.Time) (*IdPMetadata, error) {
	b = trimBOM(b)
	if err := checkXML(b, parseLimits()); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = parseLimits().MaxDepth
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsafeXML, err)
	}
	root := doc.Root()
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", ErrUnsafeXML)
	}
	var entities []candidate
	switch {
	case isMD(root, "EntityDescriptor"):
		entities = []candidate{{el: root}}
	case isMD(root, "EntitiesDescriptor"):
		var err error
		if entities, err = collectEntities(root, validity{}, now, entities); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: root element is {%s}%s, want md:EntityDescriptor or md:EntitiesDescriptor",
			ErrInvalid, root.NamespaceURI(), root.Tag)
	}

	var (
		chosen *etree.Element
		inh    validity
		idpSSO *etree.Element
	)
	for _, c := range entities {
		id := attr(c.el, "entityID")
		if entityID != "" && id != entityID {
			continue
		}
		sso, err := idpDescriptor(c.el)
		if err != nil {
			return nil, fmt.Errorf("entity %q: %w", id, err)
		}
		if sso == nil {
			continue
		}
		if chosen != nil {
			return nil, fmt.Errorf("%w: entities %q and %q both describe an identity provider",
				ErrAmbiguousEntity, attr(chosen, "entityID"), id)
		}
		chosen, inh, idpSSO = c.el, c.validity, sso
	}
	if chosen == nil {
		if entityID != "" {
			return nil, fmt.Errorf("%w: no entity %q with a SAML 2.0 IDPSSODescriptor", ErrEntityNotFound, entityID)
		}
		return nil, fmt.Errorf("%w: no entity with a SAML 2.0 IDPSSODescriptor", ErrEntityNotFound)
	}
	return buildIdP(chosen, idpSSO, inh, now)
}

// collectEntities walks an EntitiesDescriptor, applying validUntil and
// cacheDuration on the way down.
func collectEntities(el *etree.Element, v validity, now time.Time, out []candidate) ([]candidate, error) {
	v, err := v.apply(el, now)
	if err != nil {
		return nil, err
	}
	for _, ch := range el.ChildElements() {
		switch {
		case isMD(ch, "EntityDescriptor"):
			out = append(out, candidate{el: ch, validity: v})
		case isMD(ch, "EntitiesDescriptor"):
			if out, err = collectEntities(ch, v, now, out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// idpDescriptor returns the entity's single IDPSSODescriptor supporting SAML
// 2.0, nil when there is none.
func idpDescriptor(ed *etree.Element) (*etree.Element, error) {
	var found *etree.Element
	for _, ch := range ed.ChildElements() {
		if !isMD(ch, "IDPSSODescriptor") {
			continue
		}
		if !slices.Contains(strings.Fields(attr(ch, "protocolSupportEnumeration")), protocolSAML2) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: several SAML 2.0 IDPSSODescriptor elements", ErrAmbiguousEntity)
		}
		found = ch
	}
	return found, nil
}

func buildIdP(ed, sso *etree.Element, inh validity, now time.Time) (*IdPMetadata, error) {
	id := attr(ed, "entityID")
	if err := checkText("entityID", id, maxEntityIDLen); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	wrap := func(err error) error { return fmt.Errorf("entity %q: %w", id, err) }

	v, err := inh.apply(ed, now)
	if err != nil {
		return nil, wrap(err)
	}
	if v, err = v.apply(sso, now); err != nil {
		return nil, wrap(err)
	}
	m := &IdPMetadata{EntityID: id, ValidUntil: v.until, CacheDuration: v.cache}

	if m.WantAuthnRequestsSigned, err = parseBool(sso, "WantAuthnRequestsSigned"); err != nil {
		return nil, wrap(err)
	}
	for _, ch := range sso.ChildElements() {
		switch {
		case isMD(ch, "KeyDescriptor"):
			err = m.addKeyDescriptor(ch)
		case isMD(ch, "SingleSignOnService"):
			var e Endpoint
			if e, err = parseEndpoint(ch); err == nil {
				m.SSOServices = append(m.SSOServices, e)
			}
		case isMD(ch, "SingleLogoutService"):
			var e Endpoint
			if e, err = parseEndpoint(ch); err == nil {
				m.SLOServices = append(m.SLOServices, e)
			}
		case isMD(ch, "NameIDFormat"):
			var f string
			if f, err = textContent(ch); err == nil {
				if f = strings.TrimSpace(f); f != "" && !slices.Contains(m.NameIDFormats, f) {
					m.NameIDFormats = append(m.NameIDFormats, f)
				}
			}
		}
		if err != nil {
			return nil, wrap(err)
		}
	}
	if len(m.SigningCertificates) == 0 {
		return nil, wrap(ErrNoSigningKey)
	}
	_, redirect := m.SSOService(BindingHTTPRedirect)
	_, post := m.SSOService(BindingHTTPPost)
	if !redirect && !post {
		return nil, wrap(ErrNoSSOService)
	}
	return m, nil
}

// addKeyDescriptor parses one KeyDescriptor (SAML Metadata, 2.4.1.1): its
// ds:KeyInfo must hold exactly one ds:X509Certificate, whose key must pass
// checkKey. A missing use attribute means both signing and encryption.
func (m *IdPMetadata) addKeyDescriptor(kd *etree.Element) error {
	use, hasUse := attrOK(kd, "use")
	if hasUse && use != "signing" && use != "encryption" {
		return fmt.Errorf("%w: KeyDescriptor use=%q", ErrInvalid, use)
	}
	var certs []*etree.Element
	for _, ki := range kd.ChildElements() {
		if !isDS(ki, "KeyInfo") {
			continue
		}
		for _, xd := range ki.ChildElements() {
			if !isDS(xd, "X509Data") {
				continue
			}
			for _, xc := range xd.ChildElements() {
				if isDS(xc, "X509Certificate") {
					certs = append(certs, xc)
				}
			}
		}
	}
	if len(certs) != 1 {
		return fmt.Errorf("%w: KeyDescriptor has %d X509Certificate elements, want exactly 1", ErrInvalid, len(certs))
	}
	text, err := textContent(certs[0])
	if err != nil {
		return err
	}
	cert, err := parseCertificate(text)
	if err != nil {
		return err
	}
	if !hasUse || use == "signing" {
		m.SigningCertificates = appendCert(m.SigningCertificates, cert)
	}
	if !hasUse || use == "encryption" {
		m.EncryptionCertificates = appendCert(m.EncryptionCertificates, cert)
	}
	return nil
}

func parseCertificate(text string) (*x509.Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, text))
	if err != nil {
		return nil, fmt.Errorf("%w: X509Certificate is not base64: %w", ErrInvalid, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: X509Certificate: %w", ErrInvalid, err)
	}
	if err := checkCert(cert); err != nil {
		return nil, err
	}
	return cert, nil
}

func appendCert(list []*x509.Certificate, c *x509.Certificate) []*x509.Certificate {
	for _, have := range list {
		if bytes.Equal(have.Raw, c.Raw) {
			return list
		}
	}
	return append(list, c)
}

func parseEndpoint(el *etree.Element) (Endpoint, error) {
	e := Endpoint{
		Binding:          attr(el, "Binding"),
		Location:         attr(el, "Location"),
		ResponseLocation: attr(el, "ResponseLocation"),
	}
	if e.Binding == "" {
		return Endpoint{}, fmt.Errorf("%w: %s without Binding", ErrInvalid, el.Tag)
	}
	if _, err := checkURL(e.Location); err != nil {
		return Endpoint{}, fmt.Errorf("%s Location: %w", el.Tag, err)
	}
	if _, ok := attrOK(el, "ResponseLocation"); ok {
		if _, err := checkURL(e.ResponseLocation); err != nil {
			return Endpoint{}, fmt.Errorf("%s ResponseLocation: %w", el.Tag, err)
		}
	}
	return e, nil
}

// apply narrows v by el's validUntil and cacheDuration (SAML Metadata,
// 2.3.1: the earliest validUntil and the shortest cacheDuration win) and
// rejects a validUntil that is not after now.
func (v validity) apply(el *etree.Element, now time.Time) (validity, error) {
	if s, ok := attrOK(el, "validUntil"); ok {
		t, err := parseDateTime(s)
		if err != nil {
			return v, fmt.Errorf("%w: %s validUntil: %w", ErrInvalid, el.Tag, err)
		}
		if !now.Before(t) {
			return v, fmt.Errorf("%w: %s validUntil %s is not after %s", ErrExpired, el.Tag,
				t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		if v.until.IsZero() || t.Before(v.until) {
			v.until = t
		}
	}
	if s, ok := attrOK(el, "cacheDuration"); ok {
		d, err := parseXSDuration(s)
		if err != nil {
			return v, fmt.Errorf("%w: %s cacheDuration: %w", ErrInvalid, el.Tag, err)
		}
		if v.cache == 0 || d < v.cache {
			v.cache = d
		}
	}
	return v, nil
}

func parseBool(el *etree.Element, name string) (bool, error) {
	s, ok := attrOK(el, name)
	if !ok {
		return false, nil
	}
	switch strings.TrimSpace(s) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%w: %s=%q is not an xs:boolean", ErrInvalid, name, s)
}

// parseDateTime parses an xs:dateTime. A value without a time zone is taken
// as UTC, as SAML requires UTC throughout (SAML Core, 1.3.3).
func parseDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
}

// textContent returns el's character data, requiring that el holds nothing
// else: a comment or child element inside a value is where parsers disagree
// (etree's Text skips comments, others stop at them).
func textContent(el *etree.Element) (string, error) {
	var b strings.Builder
	for _, ch := range el.Child {
		cd, ok := ch.(*etree.CharData)
		if !ok {
			return "", fmt.Errorf("%w: %s holds markup, want text only", ErrInvalid, el.Tag)
		}
		b.WriteString(cd.Data)
	}
	return b.String(), nil
}

func isMD(el *etree.Element, local string) bool {
	return el.Tag == local && el.NamespaceURI() == nsMD
}

func isDS(el *etree.Element, local string) bool {
	return el.Tag == local && el.NamespaceURI() == nsDS
}

// attrOK returns the value of the unqualified attribute name. Only attributes
// without a prefix match: SAML metadata attributes are unqualified.
func attrOK(el *etree.Element, name string) (string, bool) {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == name {
			return a.Value, true
		}
	}
	return "", false
}

func attr(el *etree.Element, name string) string {
	v, _ := attrOK(el, name)
	return v
}
