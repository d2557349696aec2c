package saml

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// XML namespaces (SAML core §1.2).
const (
	NSProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	NSAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	NSDSig      = "http://www.w3.org/2000/09/xmldsig#"
	NSXMLEnc    = "http://www.w3.org/2001/04/xmlenc#"
)

// timeFormat is xs:dateTime in UTC (SAML core §1.3.3).
const timeFormat = "2006-01-02T15:04:05Z"

// FormatTime formats t as a SAML xs:dateTime in UTC with second precision.
func FormatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// AuthnRequest is a samlp:AuthnRequest (SAML core §3.4.1).
type AuthnRequest struct {
	ID                            string
	Issuer                        string
	Destination                   string
	AssertionConsumerServiceURL   string
	AssertionConsumerServiceIndex *int
	ProtocolBinding               Binding
	NameIDPolicyFormat            string
	ForceAuthn, IsPassive         bool
	IssueInstant                  time.Time
}

// Marshal serializes the request. ID, Issuer and IssueInstant are required;
// AssertionConsumerServiceURL and AssertionConsumerServiceIndex are mutually
// exclusive (SAML core §3.4.1). No empty element or attribute is emitted.
// (It is not called MarshalXML so as not to collide with xml.Marshaler.)
func (r *AuthnRequest) Marshal() ([]byte, error) {
	switch {
	case r.ID == "" || !isNCName(r.ID):
		return nil, errors.New("saml: AuthnRequest: ID must be a non-empty NCName")
	case r.Issuer == "":
		return nil, errors.New("saml: AuthnRequest: Issuer required")
	case r.IssueInstant.IsZero():
		return nil, errors.New("saml: AuthnRequest: IssueInstant required")
	case r.AssertionConsumerServiceURL != "" && r.AssertionConsumerServiceIndex != nil:
		return nil, errors.New("saml: AuthnRequest: AssertionConsumerServiceURL and Index are mutually exclusive")
	case r.AssertionConsumerServiceIndex != nil && (*r.AssertionConsumerServiceIndex < 0 || *r.AssertionConsumerServiceIndex > 65535):
		return nil, errors.New("saml: AuthnRequest: AssertionConsumerServiceIndex out of range")
	}
	doc := etree.NewDocument()
	root := doc.CreateElement("samlp:AuthnRequest")
	root.CreateAttr("xmlns:samlp", NSProtocol)
	root.CreateAttr("xmlns:saml", NSAssertion)
	root.CreateAttr("ID", r.ID)
	root.CreateAttr("Version", "2.0")
	root.CreateAttr("IssueInstant", FormatTime(r.IssueInstant))
	if r.Destination != "" {
		root.CreateAttr("Destination", r.Destination)
	}
	if r.ForceAuthn {
		root.CreateAttr("ForceAuthn", "true")
	}
	if r.IsPassive {
		root.CreateAttr("IsPassive", "true")
	}
	if r.ProtocolBinding != "" {
		root.CreateAttr("ProtocolBinding", string(r.ProtocolBinding))
	}
	if r.AssertionConsumerServiceURL != "" {
		root.CreateAttr("AssertionConsumerServiceURL", r.AssertionConsumerServiceURL)
	}
	if r.AssertionConsumerServiceIndex != nil {
		root.CreateAttr("AssertionConsumerServiceIndex", strconv.Itoa(*r.AssertionConsumerServiceIndex))
	}
	root.CreateElement("saml:Issuer").SetText(r.Issuer)
	if r.NameIDPolicyFormat != "" {
		p := root.CreateElement("samlp:NameIDPolicy")
		p.CreateAttr("Format", r.NameIDPolicyFormat)
		p.CreateAttr("AllowCreate", "true")
	}
	return doc.WriteToBytes()
}

// ParseAuthnRequest parses a samlp:AuthnRequest with the hardened parser.
// It checks shape only (root element, Version 2.0, ID, IssueInstant, at most
// one Issuer and NameIDPolicy); the IdP must still authenticate the Issuer
// and allow-list the ACS URL against registered metadata. Errors wrap
// ErrMalformed.
func ParseAuthnRequest(b []byte, lim Limits) (*AuthnRequest, error) {
	doc, err := ParseXML(b, lim)
	if err != nil {
		return nil, err
	}
	root := doc.Root()
	if root.Tag != "AuthnRequest" || root.NamespaceURI() != NSProtocol {
		return nil, malformed("root element is not samlp:AuthnRequest")
	}
	if v := root.SelectAttrValue("Version", ""); v != "2.0" {
		return nil, malformed("unsupported version %s", quoteShort(v))
	}
	r := &AuthnRequest{
		ID:                          attr(root, "ID"),
		Destination:                 attr(root, "Destination"),
		AssertionConsumerServiceURL: attr(root, "AssertionConsumerServiceURL"),
		ProtocolBinding:             Binding(attr(root, "ProtocolBinding")),
	}
	if !isNCName(r.ID) {
		return nil, malformed("invalid ID")
	}
	if r.IssueInstant, err = parseTime(attr(root, "IssueInstant")); err != nil {
		return nil, malformed("invalid IssueInstant")
	}
	if r.ForceAuthn, err = parseBool(root, "ForceAuthn"); err != nil {
		return nil, err
	}
	if r.IsPassive, err = parseBool(root, "IsPassive"); err != nil {
		return nil, err
	}
	if s := root.SelectAttr("AssertionConsumerServiceIndex"); s != nil {
		n, err := strconv.ParseUint(s.Value, 10, 16)
		if err != nil {
			return nil, malformed("invalid AssertionConsumerServiceIndex")
		}
		i := int(n)
		r.AssertionConsumerServiceIndex = &i
	}
	issuers, policies := 0, 0
	for _, c := range root.ChildElements() {
		switch {
		case c.Tag == "Issuer" && c.NamespaceURI() == NSAssertion:
			issuers++
			r.Issuer = strings.TrimSpace(c.Text())
		case c.Tag == "NameIDPolicy" && c.NamespaceURI() == NSProtocol:
			policies++
			r.NameIDPolicyFormat = attr(c, "Format")
		}
	}
	if issuers > 1 || policies > 1 {
		return nil, malformed("duplicate Issuer or NameIDPolicy")
	}
	return r, nil
}

// attr returns the value of the unprefixed attribute key ("" if absent).
func attr(el *etree.Element, key string) string {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == key {
			return a.Value
		}
	}
	return ""
}

func parseBool(el *etree.Element, key string) (bool, error) {
	a := el.SelectAttr(key)
	if a == nil {
		return false, nil
	}
	switch a.Value {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, malformed("invalid boolean %s", key)
}

// parseTime parses an xs:dateTime as SAML uses it (RFC 3339 with a zone).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time")
	}
	return t, nil
}

// isNCName reports whether s is a plausible xs:NCName of at most 256 bytes:
// a letter or underscore followed by letters, digits, '.', '-' or '_'
// (ASCII only, which is stricter than XML).
func isNCName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}
