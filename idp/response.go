package idp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// Status codes (SAML core §3.2.2.2).
const (
	StatusSuccess             = "urn:oasis:names:tc:SAML:2.0:status:Success"
	StatusRequester           = "urn:oasis:names:tc:SAML:2.0:status:Requester"
	StatusResponder           = "urn:oasis:names:tc:SAML:2.0:status:Responder"
	StatusNoPassive           = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"
	StatusInvalidNameIDPolicy = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
	StatusAuthnFailed         = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
)

// AuthnContextPasswordProtectedTransport is the default
// AuthnContextClassRef.
const AuthnContextPasswordProtectedTransport = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"

const (
	cmBearer         = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	nameFormatEntity = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
)

// Errors BuildResponse returns, besides key source failures.
var (
	// ErrUserData: the principal lacks a value the application needs (an
	// e-mail address for emailAddress NameIDs) or carries text XML cannot
	// hold.
	ErrUserData = errors.New("idp: unusable user data")
	// ErrACSNotRegistered: the ACS URL is not one of the application's.
	ErrACSNotRegistered = errors.New("idp: ACS URL not registered for the application")
	// ErrSigningKey: the key source failed or returned an unusable key.
	ErrSigningKey = errors.New("idp: signing key unavailable")
)

// BuildResponse builds a signed samlp:Response carrying exactly one
// assertion about p for sp, to be posted to acsURL, which must be one of
// sp's registered ACS locations. inResponseTo is the AuthnRequest ID ("" for
// IdP-initiated). The assertion is valid from now for the configured
// lifetime, signed as sp.Sign says, and encrypted when sp.EncryptAssertions
// (after the assertion signature; the Response signature, if any, is made
// over the encrypted form).
func (i *IdP) BuildResponse(ctx context.Context, sp *ServiceProvider, p Principal, acsURL, inResponseTo string, now time.Time) ([]byte, error) {
	if sp == nil {
		return nil, errors.New("idp: BuildResponse: nil service provider")
	}
	if _, ok := sp.ACSByURL(acsURL); !ok {
		return nil, ErrACSNotRegistered
	}
	key, err := i.signingKey(ctx)
	if err != nil {
		return nil, err
	}
	doc, resp := i.responseElement(acsURL, inResponseTo, now, StatusSuccess, "")
	a, err := i.assertion(sp, p, acsURL, inResponseTo, now)
	if err != nil {
		return nil, err
	}
	resp.AddChild(a)
	if sp.Sign == SignAssertion || sp.Sign == SignBoth {
		if _, err := saml.Sign(a, key.signer, key.chain, key.alg); err != nil {
			return nil, fmt.Errorf("idp: sign assertion: %w", err)
		}
	}
	if sp.EncryptAssertions {
		ea, err := saml.EncryptAssertion(a, sp.EncryptionCertificate, sp.KeyTransport, sp.DataEncryption)
		if err != nil {
			return nil, fmt.Errorf("idp: encrypt assertion: %w", err)
		}
		resp.RemoveChild(a)
		resp.AddChild(ea)
	}
	if sp.Sign == SignResponse || sp.Sign == SignBoth {
		if _, err := saml.Sign(resp, key.signer, key.chain, key.alg); err != nil {
			return nil, fmt.Errorf("idp: sign response: %w", err)
		}
	}
	return doc.WriteToBytes()
}

// buildErrorResponse builds a signed Response without an assertion, with
// a top-level and a second-level status code.
func (i *IdP) buildErrorResponse(ctx context.Context, acsURL, inResponseTo, top, second string, now time.Time) ([]byte, error) {
	key, err := i.signingKey(ctx)
	if err != nil {
		return nil, err
	}
	doc, resp := i.responseElement(acsURL, inResponseTo, now, top, second)
	if _, err := saml.Sign(resp, key.signer, key.chain, key.alg); err != nil {
		return nil, fmt.Errorf("idp: sign response: %w", err)
	}
	return doc.WriteToBytes()
}

func (i *IdP) responseElement(acsURL, inResponseTo string, now time.Time, top, second string) (*etree.Document, *etree.Element) {
	doc := etree.NewDocument()
	// Canonical escaping writes CR as &#xD; (and tabs and newlines in
	// attributes as references), so the receiver parses exactly the text
	// that was signed.
	doc.WriteSettings.CanonicalText = true
	doc.WriteSettings.CanonicalAttrVal = true
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	resp := doc.CreateElement("samlp:Response")
	resp.CreateAttr("xmlns:samlp", saml.NSProtocol)
	resp.CreateAttr("xmlns:saml", saml.NSAssertion)
	resp.CreateAttr("ID", saml.NewID())
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", saml.FormatTime(now))
	resp.CreateAttr("Destination", acsURL)
	if inResponseTo != "" {
		resp.CreateAttr("InResponseTo", inResponseTo)
	}
	iss := resp.CreateElement("saml:Issuer")
	iss.CreateAttr("Format", nameFormatEntity)
	iss.SetText(i.entityID)
	sc := resp.CreateElement("samlp:Status").CreateElement("samlp:StatusCode")
	sc.CreateAttr("Value", top)
	if second != "" {
		sc.CreateElement("samlp:StatusCode").CreateAttr("Value", second)
	}
	return doc, resp
}

// assertion builds the unsigned saml:Assertion.
func (i *IdP) assertion(sp *ServiceProvider, p Principal, acsURL, inResponseTo string, now time.Time) (*etree.Element, error) {
	if err := checkPrincipal(p); err != nil {
		return nil, err
	}
	if !p.SessionNotOnOrAfter.IsZero() && !p.SessionNotOnOrAfter.After(now) {
		return nil, fmt.Errorf("%w: the session has ended", ErrUserData)
	}
	nameID, err := i.nameID(sp, p)
	if err != nil {
		return nil, err
	}
	notOnOrAfter := saml.FormatTime(now.Add(i.lifetime))
	issued := saml.FormatTime(now)

	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", saml.NSAssertion)
	a.CreateAttr("ID", saml.NewID())
	a.CreateAttr("Version", "2.0")
	a.CreateAttr("IssueInstant", issued)
	iss := a.CreateElement("saml:Issuer")
	iss.CreateAttr("Format", nameFormatEntity)
	iss.SetText(i.entityID)

	subj := a.CreateElement("saml:Subject")
	nid := subj.CreateElement("saml:NameID")
	nid.CreateAttr("Format", sp.NameIDFormat.URI())
	if sp.NameIDFormat == NameIDPersistent || sp.NameIDFormat == NameIDTransient {
		nid.CreateAttr("NameQualifier", i.entityID)
		nid.CreateAttr("SPNameQualifier", sp.EntityID)
	}
	nid.SetText(nameID)
	scd := subj.CreateElement("saml:SubjectConfirmation")
	scd.CreateAttr("Method", cmBearer)
	data := scd.CreateElement("saml:SubjectConfirmationData")
	if addr, ok := bareIP(p.ClientIP); ok {
		data.CreateAttr("Address", addr)
	}
	if inResponseTo != "" {
		data.CreateAttr("InResponseTo", inResponseTo)
	}
	data.CreateAttr("NotOnOrAfter", notOnOrAfter)
	data.CreateAttr("Recipient", acsURL)

	cond := a.CreateElement("saml:Conditions")
	cond.CreateAttr("NotBefore", issued)
	cond.CreateAttr("NotOnOrAfter", notOnOrAfter)
	cond.CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText(sp.EntityID)

	as := a.CreateElement("saml:AuthnStatement")
	authnInstant := p.AuthnInstant
	if authnInstant.IsZero() || authnInstant.After(now) {
		authnInstant = now
	}
	as.CreateAttr("AuthnInstant", saml.FormatTime(authnInstant))
	as.CreateAttr("SessionIndex", or(p.SessionIndex, saml.NewID()))
	if !p.SessionNotOnOrAfter.IsZero() {
		as.CreateAttr("SessionNotOnOrAfter", saml.FormatTime(p.SessionNotOnOrAfter))
	}
	as.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").
		SetText(or(p.AuthnContextClassRef, AuthnContextPasswordProtectedTransport))

	var st *etree.Element
	for _, m := range sp.Attributes {
		values := attributeValues(p, m.Field)
		if len(values) == 0 {
			continue
		}
		if st == nil {
			st = a.CreateElement("saml:AttributeStatement")
		}
		at := st.CreateElement("saml:Attribute")
		at.CreateAttr("Name", m.Name)
		at.CreateAttr("NameFormat", m.NameFormat)
		for _, v := range values {
			at.CreateElement("saml:AttributeValue").SetText(v)
		}
	}
	return a, nil
}

// nameID returns the NameID value for sp's format.
func (i *IdP) nameID(sp *ServiceProvider, p Principal) (string, error) {
	switch sp.NameIDFormat {
	case NameIDEmail:
		if p.Email == "" {
			return "", fmt.Errorf("%w: the user has no e-mail address", ErrUserData)
		}
		return p.Email, nil
	case NameIDPersistent:
		return PersistentNameID(i.persistentKey, sp.EntityID, p.UserID), nil
	case NameIDTransient:
		return saml.NewID(), nil
	default:
		if p.UserName == "" {
			return "", fmt.Errorf("%w: the user has no user name", ErrUserData)
		}
		return p.UserName, nil
	}
}

// PersistentNameID derives the persistent NameID of userID at the
// application spEntityID: base64url (unpadded) of HMAC-SHA256(key,
// spEntityID || 0x00 || userID). It is stable per user and application and,
// without the key, unlinkable across applications.
func PersistentNameID(key []byte, spEntityID, userID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(spEntityID))
	m.Write([]byte{0})
	m.Write([]byte(userID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// attributeValues returns the non-empty values of a user field.
func attributeValues(p Principal, field string) []string {
	var v string
	switch field {
	case "id":
		v = p.UserID
	case "user_name":
		v = p.UserName
	case "email":
		v = p.Email
	case "display_name":
		v = p.DisplayName
	case "given_name":
		v = p.GivenName
	case "family_name":
		v = p.FamilyName
	case "external_id":
		v = p.ExternalID
	case "groups":
		out := make([]string, 0, len(p.Groups))
		for _, g := range p.Groups {
			if g != "" {
				out = append(out, g)
			}
		}
		return out
	default:
		if key, ok := strings.CutPrefix(field, "attributes."); ok {
			v = p.Attributes[key]
		}
	}
	if v == "" {
		return nil
	}
	return []string{v}
}

// checkPrincipal requires a user ID and that every value is valid UTF-8
// made of XML 1.0 characters: the text goes into the document as character
// data (escaped by etree), never as markup, and must survive parsing
// unchanged so that the signature holds.
func checkPrincipal(p Principal) error {
	if p.UserID == "" {
		return fmt.Errorf("%w: empty user ID", ErrUserData)
	}
	vals := []string{p.UserID, p.UserName, p.Email, p.GivenName, p.FamilyName, p.DisplayName,
		p.ExternalID, p.AuthnContextClassRef, p.SessionIndex}
	vals = append(vals, p.Groups...)
	for _, v := range p.Attributes {
		vals = append(vals, v)
	}
	for _, v := range vals {
		if !isXMLText(v) {
			return fmt.Errorf("%w: a value holds characters XML cannot carry", ErrUserData)
		}
	}
	return nil
}

// isXMLText reports whether s is valid UTF-8 made only of XML 1.0 Chars
// (XML 1.0 §2.2).
func isXMLText(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return false
		}
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
		i += n
	}
	return true
}

// bareIP returns s as a normalised IP address when it is one, without port
// or zone.
func bareIP(s string) (string, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", false
	}
	return a.Unmap().String(), true
}

type signingKey struct {
	signer crypto.Signer
	chain  [][]byte
	alg    string
}

// signingKey fetches and checks the current key: it must pass
// saml.CheckKey and match its certificate. RSA keys sign with RSA-SHA256,
// ECDSA keys with the SHA-2 hash of their curve's size.
func (i *IdP) signingKey(ctx context.Context) (signingKey, error) {
	s, cert, err := i.keys.SigningKey(ctx)
	if err != nil {
		return signingKey{}, fmt.Errorf("%w: %w", ErrSigningKey, err)
	}
	if s == nil || cert == nil {
		return signingKey{}, fmt.Errorf("%w: no key or certificate", ErrSigningKey)
	}
	if err := saml.CheckKey(s.Public()); err != nil {
		return signingKey{}, fmt.Errorf("%w: %w", ErrSigningKey, err)
	}
	pub, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return signingKey{}, fmt.Errorf("%w: certificate does not match the key", ErrSigningKey)
	}
	k := signingKey{signer: s, chain: [][]byte{cert.Raw}, alg: saml.SigAlgRSASHA256}
	if ec, ok := s.Public().(*ecdsa.PublicKey); ok {
		switch ec.Curve {
		case elliptic.P384():
			k.alg = saml.SigAlgECDSASHA384
		case elliptic.P521():
			k.alg = saml.SigAlgECDSASHA512
		default:
			k.alg = saml.SigAlgECDSASHA256
		}
	}
	return k, nil
}
