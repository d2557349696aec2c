package metadata

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strconv"
	"time"

	"github.com/beevik/etree"
)

// maxPublishedCacheDuration bounds IdPConfig.CacheDuration: a relying party
// must refresh well within a key rollover.
const maxPublishedCacheDuration = 30 * 24 * time.Hour

// IdPConfig describes the identity provider whose metadata BuildIdP writes:
// Gatehouse itself, as seen by the applications it signs users in to.
type IdPConfig struct {
	// EntityID is the IdP entity ID (required, at most 1024 characters).
	EntityID string
	// SigningCertificates are published as one KeyDescriptor use="signing"
	// each, in order: the current certificate first, then the next one
	// during a key rollover, so that applications trust the next key before
	// it signs. At least one; no duplicates; each key passes saml.CheckKey.
	SigningCertificates []*x509.Certificate
	// SSOURL is the SingleSignOnService location, published with the
	// HTTP-Redirect and HTTP-POST bindings (required; absolute https, http
	// only on loopback).
	SSOURL string
	// SLOURL, when set, is the SingleLogoutService location, published with
	// the HTTP-Redirect and HTTP-POST bindings.
	SLOURL string
	// NameIDFormats are published in order; empty publishes none.
	NameIDFormats []string
	// WantAuthnRequestsSigned is published as given.
	WantAuthnRequestsSigned bool
	// ValidUntil, when not zero, is published as validUntil (UTC).
	ValidUntil time.Time
	// CacheDuration, when not zero, is published as cacheDuration: how
	// often applications should fetch the metadata again. Whole seconds,
	// at most 30 days.
	CacheDuration time.Duration
}

// BuildIdP validates cfg and returns IdP metadata: one md:EntityDescriptor
// with one SAML 2.0 IDPSSODescriptor holding, in schema order (SAML
// Metadata, 2.4.2 and 2.4.3), the signing KeyDescriptors,
// SingleLogoutServices, NameIDFormats and SingleSignOnServices. It never
// emits an empty element or attribute. A validation error wraps
// ErrInvalidConfig (and ErrInsecureURL or ErrWeakKey where they apply) and
// names the IdPConfig field.
func BuildIdP(cfg IdPConfig) ([]byte, error) {
	if err := validateIdPConfig(cfg); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", nsMD)
	ed.CreateAttr("xmlns:ds", nsDS)
	ed.CreateAttr("entityID", cfg.EntityID)
	if !cfg.ValidUntil.IsZero() {
		ed.CreateAttr("validUntil", cfg.ValidUntil.UTC().Format(time.RFC3339))
	}
	if cfg.CacheDuration != 0 {
		ed.CreateAttr("cacheDuration", "PT"+strconv.FormatInt(int64(cfg.CacheDuration/time.Second), 10)+"S")
	}
	sso := ed.CreateElement("md:IDPSSODescriptor")
	sso.CreateAttr("protocolSupportEnumeration", protocolSAML2)
	sso.CreateAttr("WantAuthnRequestsSigned", strconv.FormatBool(cfg.WantAuthnRequestsSigned))
	for _, c := range cfg.SigningCertificates {
		addKeyDescriptor(sso, "signing", c)
	}
	if cfg.SLOURL != "" {
		addEndpoints(sso, "md:SingleLogoutService", cfg.SLOURL)
	}
	for _, f := range cfg.NameIDFormats {
		sso.CreateElement("md:NameIDFormat").SetText(f)
	}
	addEndpoints(sso, "md:SingleSignOnService", cfg.SSOURL)
	doc.Indent(2)
	return doc.WriteToBytes()
}

// addEndpoints publishes location with the HTTP-Redirect and HTTP-POST
// bindings.
func addEndpoints(parent *etree.Element, tag, location string) {
	for _, b := range []string{BindingHTTPRedirect, BindingHTTPPost} {
		e := parent.CreateElement(tag)
		e.CreateAttr("Binding", b)
		e.CreateAttr("Location", location)
	}
}

func validateIdPConfig(cfg IdPConfig) error {
	if err := checkText("entity ID", cfg.EntityID, maxEntityIDLen); err != nil {
		return fmt.Errorf("%w: EntityID: %w", ErrInvalidConfig, err)
	}
	if len(cfg.SigningCertificates) == 0 {
		return fmt.Errorf("%w: SigningCertificates: at least one signing certificate is required", ErrInvalidConfig)
	}
	for i, c := range cfg.SigningCertificates {
		if c == nil || len(c.Raw) == 0 {
			return fmt.Errorf("%w: SigningCertificates[%d]: no certificate", ErrInvalidConfig, i)
		}
		if err := checkCert(c); err != nil {
			return fmt.Errorf("%w: SigningCertificates[%d]: %w", ErrInvalidConfig, i, err)
		}
		for j := range i {
			if bytes.Equal(cfg.SigningCertificates[j].Raw, c.Raw) {
				return fmt.Errorf("%w: SigningCertificates[%d] repeats SigningCertificates[%d]", ErrInvalidConfig, i, j)
			}
		}
	}
	if err := checkEndpointURL("SSOURL", cfg.SSOURL); err != nil {
		return err
	}
	if cfg.SLOURL != "" {
		if err := checkEndpointURL("SLOURL", cfg.SLOURL); err != nil {
			return err
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
	if d := cfg.CacheDuration; d != 0 && (d < time.Second || d > maxPublishedCacheDuration || d%time.Second != 0) {
		return fmt.Errorf("%w: CacheDuration: %s is not a whole number of seconds between 1s and %s", ErrInvalidConfig, d, maxPublishedCacheDuration)
	}
	return nil
}

func checkEndpointURL(field, u string) error {
	if err := checkText("URL", u, 4096); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidConfig, field, err)
	}
	if _, err := checkURL(u); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidConfig, field, err)
	}
	return nil
}
