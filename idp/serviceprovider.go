package idp

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// ErrInvalidServiceProvider is wrapped by every error NewServiceProvider
// returns; the message names the field.
var ErrInvalidServiceProvider = errors.New("idp: invalid service provider")

// NameIDFormat is how the user is named in the assertion's Subject.
type NameIDFormat string

// NameID formats (SAML core §8.3). The zero value is NameIDUnspecified.
const (
	// NameIDEmail names the user by e-mail address.
	NameIDEmail NameIDFormat = "emailAddress"
	// NameIDPersistent is a stable opaque identifier per user and
	// application: base64url(HMAC-SHA256(key, SP entityID || 0 || userID)).
	NameIDPersistent NameIDFormat = "persistent"
	// NameIDTransient is a fresh random identifier per assertion.
	NameIDTransient NameIDFormat = "transient"
	// NameIDUnspecified names the user by user name.
	NameIDUnspecified NameIDFormat = "unspecified"
)

// NameID format URIs.
const (
	NameIDFormatEmailURI       = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	NameIDFormatPersistentURI  = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	NameIDFormatTransientURI   = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
	NameIDFormatUnspecifiedURI = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
)

// URI returns the format's SAML URI ("" for an unknown format).
func (f NameIDFormat) URI() string {
	switch f {
	case NameIDEmail:
		return NameIDFormatEmailURI
	case NameIDPersistent:
		return NameIDFormatPersistentURI
	case NameIDTransient:
		return NameIDFormatTransientURI
	case NameIDUnspecified, "":
		return NameIDFormatUnspecifiedURI
	}
	return ""
}

// SignMode says what the IdP signs in a Response.
type SignMode int

// Sign modes. The zero value signs the assertion only.
const (
	SignAssertion SignMode = iota
	SignResponse
	SignBoth
)

func (m SignMode) String() string {
	switch m {
	case SignAssertion:
		return "assertion"
	case SignResponse:
		return "response"
	case SignBoth:
		return "both"
	}
	return fmt.Sprintf("SignMode(%d)", int(m))
}

// Attribute NameFormat URIs (SAML core §8.2).
const (
	AttrNameFormatBasic       = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
	AttrNameFormatURI         = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
	AttrNameFormatUnspecified = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
)

// AttributeMapping publishes one user field as a SAML attribute.
type AttributeMapping struct {
	// Name is the SAML attribute name, for example "email" or
	// "https://aws.amazon.com/SAML/Attributes/AccessControl:CostCenter".
	Name string
	// NameFormat is one of the AttrNameFormat URIs. Empty: uri when Name
	// is a URI (has a scheme), basic otherwise.
	NameFormat string
	// Field is the user field: id, user_name, email, display_name,
	// given_name, family_name, external_id, groups (multi-valued) or
	// attributes.<key>.
	Field string
}

var knownFields = []string{"id", "user_name", "email", "display_name", "given_name", "family_name", "external_id", "groups"}

// ServiceProviderOptions are the administrator's settings for an
// application beyond its metadata.
type ServiceProviderOptions struct {
	NameIDFormat NameIDFormat
	Sign         SignMode
	// EncryptAssertions encrypts assertions to the application's
	// encryption certificate.
	EncryptAssertions bool
	// RequireSignedRequests requires signed AuthnRequests even when the
	// metadata does not declare AuthnRequestsSigned.
	RequireSignedRequests bool
	Attributes            []AttributeMapping
	// DefaultRelayState is sent with IdP-initiated responses (at most 80
	// bytes, SAML bindings §3.4.3).
	DefaultRelayState string
}

// Data encryption and key transport algorithm URIs the IdP can produce.
const (
	EncAES256GCM   = saml.DataAES256GCM
	EncAES128GCM   = saml.DataAES128GCM
	EncAES256CBC   = saml.DataAES256CBC
	KeyRSAOAEPMGF1 = saml.KeyTransportRSAOAEPMGF1P
	KeyRSAOAEP11   = saml.KeyTransportRSAOAEP
)

// ServiceProvider is a registered application. It is built only by
// NewServiceProvider and is immutable: treat every field as read-only
// (values are shared between goroutines).
type ServiceProvider struct {
	// ID is the application ID (used in /saml/idp/launch/{id}).
	ID       string
	EntityID string
	// ACS are the HTTP-POST AssertionConsumerService endpoints; at least
	// one. SLO are the SingleLogoutService endpoints.
	ACS []Endpoint
	SLO []Endpoint
	// SigningCertificates verify the application's signed requests.
	SigningCertificates []*x509.Certificate
	// EncryptionCertificate is the RSA certificate assertions are
	// encrypted to (nil unless EncryptAssertions).
	EncryptionCertificate *x509.Certificate
	// EncryptionMethods are the algorithms the metadata advertises.
	EncryptionMethods []string
	// DataEncryption and KeyTransport are the algorithms chosen for
	// encrypted assertions (empty unless EncryptAssertions).
	DataEncryption, KeyTransport string
	WantAuthnRequestsSigned      bool
	NameIDFormat                 NameIDFormat
	Sign                         SignMode
	EncryptAssertions            bool
	Attributes                   []AttributeMapping
	DefaultRelayState            string
	// ValidUntil is the metadata's validUntil (zero when none).
	ValidUntil time.Time
}

// NewServiceProvider validates an application: its ID, its metadata md
// (see ParseServiceProviderMetadata; now is compared with validUntil) and
// opts. Errors wrap ErrInvalidServiceProvider and name the bad field.
func NewServiceProvider(id string, md []byte, opts ServiceProviderOptions, now time.Time) (*ServiceProvider, error) {
	bad := func(field string, err error) error {
		return fmt.Errorf("%w: application %q: %s: %w", ErrInvalidServiceProvider, id, field, err)
	}
	if err := checkAppID(id); err != nil {
		return nil, bad("id", err)
	}
	m, err := ParseServiceProviderMetadata(md, now)
	if err != nil {
		return nil, bad("metadata", err)
	}
	sp := &ServiceProvider{
		ID:                      id,
		EntityID:                m.EntityID,
		ACS:                     slices.Clone(m.ACS),
		SLO:                     slices.Clone(m.SLO),
		SigningCertificates:     slices.Clone(m.SigningCertificates),
		EncryptionMethods:       slices.Clone(m.EncryptionMethods),
		WantAuthnRequestsSigned: m.AuthnRequestsSigned || opts.RequireSignedRequests,
		NameIDFormat:            opts.NameIDFormat,
		Sign:                    opts.Sign,
		EncryptAssertions:       opts.EncryptAssertions,
		DefaultRelayState:       opts.DefaultRelayState,
		ValidUntil:              m.ValidUntil,
	}
	if sp.NameIDFormat == "" {
		sp.NameIDFormat = NameIDUnspecified
	}
	if sp.NameIDFormat.URI() == "" {
		return nil, bad("name_id_format", fmt.Errorf("%q is not one of emailAddress, persistent, transient, unspecified", string(opts.NameIDFormat)))
	}
	if sp.Sign < SignAssertion || sp.Sign > SignBoth {
		return nil, bad("sign", fmt.Errorf("unknown mode %d", int(sp.Sign)))
	}
	if sp.WantAuthnRequestsSigned && len(sp.SigningCertificates) == 0 {
		return nil, bad("metadata", errors.New("signed AuthnRequests required but no signing certificate published"))
	}
	if sp.EncryptAssertions {
		if err := sp.chooseEncryption(m); err != nil {
			return nil, bad("encrypt_assertions", err)
		}
	}
	if opts.DefaultRelayState != "" {
		if err := checkText(opts.DefaultRelayState, 80); err != nil {
			return nil, bad("default_relay_state", err)
		}
	}
	names := map[string]int{}
	for i, a := range opts.Attributes {
		field := fmt.Sprintf("attributes[%d]", i)
		if err := checkText(a.Name, 1024); err != nil {
			return nil, bad(field+".name", err)
		}
		if j, dup := names[a.Name]; dup {
			return nil, bad(field+".name", fmt.Errorf("%q repeats attributes[%d]", a.Name, j))
		}
		names[a.Name] = i
		if err := checkField(a.Field); err != nil {
			return nil, bad(field+".field", err)
		}
		switch a.NameFormat {
		case "":
			a.NameFormat = AttrNameFormatBasic
			if isURIName(a.Name) {
				a.NameFormat = AttrNameFormatURI
			}
		case AttrNameFormatBasic, AttrNameFormatURI, AttrNameFormatUnspecified:
		default:
			return nil, bad(field+".name_format", fmt.Errorf("%q is not an attrname-format URI", a.NameFormat))
		}
		sp.Attributes = append(sp.Attributes, a)
	}
	return sp, nil
}

// chooseEncryption picks the encryption certificate and algorithms: RSA-OAEP
// key transport (mgf1p, or xmlenc11 rsa-oaep when only that is listed) and
// AES-256-GCM; AES-128-GCM when the metadata lists GCM only in 128 bits;
// AES-256-CBC only when the metadata lists no GCM algorithm at all but
// lists it. Nothing weaker. An empty list means the defaults.
func (sp *ServiceProvider) chooseEncryption(m *ServiceProviderMetadata) error {
	for _, c := range m.EncryptionCertificates {
		if _, ok := c.PublicKey.(*rsa.PublicKey); ok {
			sp.EncryptionCertificate = c
			break
		}
	}
	if sp.EncryptionCertificate == nil {
		return errors.New("metadata publishes no RSA encryption certificate")
	}
	var keyAlgs, dataAlgs []string
	for _, a := range m.EncryptionMethods {
		switch {
		case strings.Contains(a, "rsa-") || strings.Contains(a, "kw-"):
			keyAlgs = append(keyAlgs, a)
		default:
			dataAlgs = append(dataAlgs, a)
		}
	}
	switch {
	case len(keyAlgs) == 0 || slices.Contains(keyAlgs, KeyRSAOAEPMGF1):
		sp.KeyTransport = KeyRSAOAEPMGF1
	case slices.Contains(keyAlgs, KeyRSAOAEP11):
		sp.KeyTransport = KeyRSAOAEP11
	default:
		return fmt.Errorf("metadata allows no RSA-OAEP key transport (lists %q)", keyAlgs)
	}
	switch {
	case len(dataAlgs) == 0 || slices.Contains(dataAlgs, EncAES256GCM):
		sp.DataEncryption = EncAES256GCM
	case slices.Contains(dataAlgs, EncAES128GCM):
		sp.DataEncryption = EncAES128GCM
	case slices.Contains(dataAlgs, EncAES256CBC):
		sp.DataEncryption = EncAES256CBC
	default:
		return fmt.Errorf("metadata allows neither AES-GCM nor AES-256-CBC (lists %q)", dataAlgs)
	}
	return nil
}

// DefaultACS returns the ACS endpoint with isDefault="true", otherwise the
// first one (SAML metadata §2.2.3).
func (sp *ServiceProvider) DefaultACS() Endpoint {
	for _, e := range sp.ACS {
		if e.IsDefault {
			return e
		}
	}
	return sp.ACS[0]
}

// ACSByURL returns the ACS endpoint whose Location equals u exactly.
func (sp *ServiceProvider) ACSByURL(u string) (Endpoint, bool) {
	for _, e := range sp.ACS {
		if e.Location == u {
			return e, true
		}
	}
	return Endpoint{}, false
}

// ACSByIndex returns the ACS endpoint with the given index.
func (sp *ServiceProvider) ACSByIndex(i int) (Endpoint, bool) {
	for _, e := range sp.ACS {
		if e.Index == i {
			return e, true
		}
	}
	return Endpoint{}, false
}

// checkAppID allows 1 to 64 characters of [A-Za-z0-9._-], so an ID is
// safe in a URL path.
func checkAppID(id string) error {
	if id == "" || len(id) > 64 {
		return errors.New("must be 1 to 64 characters")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%q: only letters, digits, '.', '_' and '-' allowed", id)
		}
	}
	if id == "." || id == ".." {
		return fmt.Errorf("%q is not allowed", id)
	}
	return nil
}

func checkField(f string) error {
	if slices.Contains(knownFields, f) {
		return nil
	}
	if key, ok := strings.CutPrefix(f, "attributes."); ok && key != "" && utf8.ValidString(key) {
		return nil
	}
	return fmt.Errorf("%q is not one of %s or attributes.<key>", f, strings.Join(knownFields, ", "))
}

// isURIName reports whether an attribute name looks like a URI (a scheme
// followed by ':'), for the NameFormat default.
func isURIName(name string) bool {
	scheme, _, ok := strings.Cut(name, ":")
	if !ok || scheme == "" {
		return false
	}
	for i := 0; i < len(scheme); i++ {
		c := scheme[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}
