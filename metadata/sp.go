package metadata

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// ACSEndpoint is one AssertionConsumerService of the SP. Its index in
// SPConfig.ACS is its SAML index.
type ACSEndpoint struct {
	// URL is the absolute https URL (http only on loopback) of the endpoint,
	// published exactly as given.
	URL string
}

// SPConfig describes the service provider whose metadata BuildSP writes.
type SPConfig struct {
	// EntityID is the SP entity ID (required, at most 1024 characters).
	EntityID string
	// ACS lists the assertion consumer services in order of preference; at
	// least one. Each is published with the HTTP-POST binding, index = its
	// position (0-based), the first with isDefault="true".
	ACS []ACSEndpoint
	// SigningCert, when set, is published as a KeyDescriptor use="signing".
	SigningCert *x509.Certificate
	// EncryptionCert, when set, is published as a KeyDescriptor
	// use="encryption" advertising RSA-OAEP and AES-GCM. It must be RSA.
	EncryptionCert *x509.Certificate
	// AuthnRequestsSigned and WantAssertionsSigned are published as given.
	AuthnRequestsSigned  bool
	WantAssertionsSigned bool
	// NameIDFormats are published in order; empty publishes none.
	NameIDFormats []string
	// ValidUntil, when not zero, is published as validUntil (UTC).
	ValidUntil time.Time
}

// BuildSP validates cfg and returns SP metadata: one md:EntityDescriptor with
// one SPSSODescriptor. It never emits an empty element that should carry text
// nor an empty attribute (some IdPs, pysaml2 among them, crash on them).
func BuildSP(cfg SPConfig) ([]byte, error) {
	if err := validateSPConfig(cfg); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", nsMD)
	if cfg.SigningCert != nil || cfg.EncryptionCert != nil {
		ed.CreateAttr("xmlns:ds", nsDS)
	}
	ed.CreateAttr("entityID", cfg.EntityID)
	if !cfg.ValidUntil.IsZero() {
		ed.CreateAttr("validUntil", cfg.ValidUntil.UTC().Format(time.RFC3339))
	}
	sso := ed.CreateElement("md:SPSSODescriptor")
	sso.CreateAttr("protocolSupportEnumeration", protocolSAML2)
	sso.CreateAttr("AuthnRequestsSigned", strconv.FormatBool(cfg.AuthnRequestsSigned))
	sso.CreateAttr("WantAssertionsSigned", strconv.FormatBool(cfg.WantAssertionsSigned))
	if cfg.SigningCert != nil {
		addKeyDescriptor(sso, "signing", cfg.SigningCert)
	}
	if cfg.EncryptionCert != nil {
		kd := addKeyDescriptor(sso, "encryption", cfg.EncryptionCert)
		for _, alg := range []string{algAES256GCM, algAES128GCM, algRSAOAEP11, algRSAOAEPMGF} {
			kd.CreateElement("md:EncryptionMethod").CreateAttr("Algorithm", alg)
		}
	}
	for _, f := range cfg.NameIDFormats {
		sso.CreateElement("md:NameIDFormat").SetText(f)
	}
	for i, a := range cfg.ACS {
		acs := sso.CreateElement("md:AssertionConsumerService")
		acs.CreateAttr("Binding", BindingHTTPPost)
		acs.CreateAttr("Location", a.URL)
		acs.CreateAttr("index", strconv.Itoa(i))
		if i == 0 {
			acs.CreateAttr("isDefault", "true")
		}
	}
	doc.Indent(2)
	return doc.WriteToBytes()
}

func addKeyDescriptor(parent *etree.Element, use string, c *x509.Certificate) *etree.Element {
	kd := parent.CreateElement("md:KeyDescriptor")
	kd.CreateAttr("use", use)
	kd.CreateElement("ds:KeyInfo").
		CreateElement("ds:X509Data").
		CreateElement("ds:X509Certificate").
		SetText(base64.StdEncoding.EncodeToString(c.Raw))
	return kd
}

func validateSPConfig(cfg SPConfig) error {
	if err := checkText("entity ID", cfg.EntityID, maxEntityIDLen); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if len(cfg.ACS) == 0 {
		return fmt.Errorf("%w: at least one ACS endpoint is required", ErrInvalidConfig)
	}
	seen := make(map[string]int, len(cfg.ACS))
	for i, a := range cfg.ACS {
		if err := checkEndpointURL(fmt.Sprintf("ACS[%d]", i), a.URL); err != nil {
			return err
		}
		if j, dup := seen[a.URL]; dup {
			return fmt.Errorf("%w: ACS[%d] repeats ACS[%d] %q", ErrInvalidConfig, i, j, a.URL)
		}
		seen[a.URL] = i
	}
	if cfg.SigningCert != nil {
		if err := checkCert(cfg.SigningCert); err != nil {
			return fmt.Errorf("%w: signing %w", ErrInvalidConfig, err)
		}
	}
	if c := cfg.EncryptionCert; c != nil {
		if err := checkCert(c); err != nil {
			return fmt.Errorf("%w: encryption %w", ErrInvalidConfig, err)
		}
		if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
			return fmt.Errorf("%w: encryption certificate must carry an RSA key (RSA-OAEP key transport): %w", ErrInvalidConfig, ErrWeakKey)
		}
	}
	formats := make(map[string]bool, len(cfg.NameIDFormats))
	for i, f := range cfg.NameIDFormats {
		if err := checkText("NameID format", f, 1024); err != nil {
			return fmt.Errorf("%w: NameIDFormats[%d]: %w", ErrInvalidConfig, i, err)
		}
		if formats[f] {
			return fmt.Errorf("%w: NameIDFormats[%d] repeats %q", ErrInvalidConfig, i, f)
		}
		formats[f] = true
	}
	return nil
}

// checkText requires a non-empty, valid UTF-8 value of at most max bytes,
// without control characters or surrounding white space: such values are
// either unrepresentable in XML 1.0 or silently normalised by some peers.
func checkText(what, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty", what)
	case len(s) > max:
		return fmt.Errorf("%s is longer than %d bytes", what, max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%s %q has surrounding white space", what, s)
	case strings.ContainsFunc(s, unicode.IsControl):
		return fmt.Errorf("%s %q contains control characters", what, s)
	}
	return nil
}
