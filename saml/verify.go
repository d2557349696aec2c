package saml

import (
	"crypto"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	saml2 "github.com/russellhaering/gosaml2"
	"github.com/russellhaering/gosaml2/types"
	dsig "github.com/russellhaering/goxmldsig"
)

// Defaults and bounds of VerifierConfig.
const (
	DefaultClockSkew            = 90 * time.Second
	MaxClockSkew                = 10 * time.Minute
	DefaultMaxAssertionAge      = 5 * time.Minute
	DefaultMaxAssertionLifetime = 2 * time.Hour
	maxConfigurableDuration     = 24 * time.Hour
)

// VerifierConfig configures a Verifier for one trusted IdP.
type VerifierConfig struct {
	// IdPEntityID is required: the Response and Assertion Issuer must equal it.
	IdPEntityID string
	// Certificates are the IdP's signing certificates (at least one, each
	// passing CheckKey). Several are allowed for key rollover; each is
	// tried on its own.
	Certificates []*x509.Certificate
	// Audience is required: the SP entity ID, which every
	// AudienceRestriction must contain.
	Audience string
	// ClockSkew is allowed between the IdP's clock and ours in every time
	// comparison. Zero means DefaultClockSkew (90s), NoClockSkew none; at
	// most 10m.
	ClockSkew time.Duration
	// MaxAssertionAge bounds how long ago the assertion's IssueInstant may
	// be (plus ClockSkew). Zero means DefaultMaxAssertionAge (5m); at most 24h.
	MaxAssertionAge time.Duration
	// MaxAssertionLifetime bounds Conditions@NotOnOrAfter and
	// SubjectConfirmationData@NotOnOrAfter minus IssueInstant, and so how
	// long replay records must be kept. Zero means
	// DefaultMaxAssertionLifetime (2h: Azure AD and AD FS issue assertions
	// valid for about an hour); at most 24h.
	MaxAssertionLifetime time.Duration
	// DecryptionKey and DecryptionCert, both or neither, allow
	// EncryptedAssertion. gosaml2 decrypts only with an *rsa.PrivateKey, so
	// DecryptionKey must be one (2048 bits or more), matching DecryptionCert.
	DecryptionKey  crypto.Decrypter
	DecryptionCert *x509.Certificate
	// Limits bound the encoded and decoded message.
	Limits Limits
}

// Verifier verifies SAML Responses from one IdP. It is immutable and safe
// for concurrent use.
type Verifier struct {
	idpEntityID string
	certs       []*x509.Certificate
	audience    string
	skew        time.Duration
	maxAge      time.Duration
	maxLifetime time.Duration
	decKey      *rsa.PrivateKey
	decCert     *x509.Certificate
	lim         Limits
}

// NewVerifier validates cfg and copies it into a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	var errs []error
	if cfg.IdPEntityID == "" {
		errs = append(errs, errors.New("IdPEntityID required"))
	}
	if cfg.Audience == "" {
		errs = append(errs, errors.New("Audience required"))
	}
	if len(cfg.Certificates) == 0 {
		errs = append(errs, errors.New("at least one IdP certificate required"))
	}
	for i, c := range cfg.Certificates {
		if c == nil {
			errs = append(errs, fmt.Errorf("certificate %d is nil", i))
		} else if err := CheckKey(c.PublicKey); err != nil {
			errs = append(errs, fmt.Errorf("certificate %d: %w", i, err))
		}
	}
	v := &Verifier{
		idpEntityID: cfg.IdPEntityID,
		certs:       append([]*x509.Certificate(nil), cfg.Certificates...),
		audience:    cfg.Audience,
		skew:        skewOr(cfg.ClockSkew),
		maxAge:      durationOr(cfg.MaxAssertionAge, DefaultMaxAssertionAge),
		maxLifetime: durationOr(cfg.MaxAssertionLifetime, DefaultMaxAssertionLifetime),
		lim:         cfg.Limits.withDefaults(),
	}
	if v.skew < 0 || v.skew > MaxClockSkew {
		errs = append(errs, fmt.Errorf("ClockSkew must be between 0 and %s", MaxClockSkew))
	}
	if v.maxAge < 0 || v.maxAge > maxConfigurableDuration {
		errs = append(errs, fmt.Errorf("MaxAssertionAge must be between 0 and %s", maxConfigurableDuration))
	}
	if v.maxLifetime < 0 || v.maxLifetime > maxConfigurableDuration {
		errs = append(errs, fmt.Errorf("MaxAssertionLifetime must be between 0 and %s", maxConfigurableDuration))
	}
	switch {
	case cfg.DecryptionKey == nil && cfg.DecryptionCert == nil:
	case cfg.DecryptionKey == nil || cfg.DecryptionCert == nil:
		errs = append(errs, errors.New("DecryptionKey and DecryptionCert must be set together"))
	default:
		k, ok := cfg.DecryptionKey.(*rsa.PrivateKey)
		if !ok {
			errs = append(errs, errors.New("DecryptionKey must be an *rsa.PrivateKey (gosaml2 limitation)"))
			break
		}
		if err := CheckKey(&k.PublicKey); err != nil {
			errs = append(errs, fmt.Errorf("DecryptionKey: %w", err))
		}
		if !k.PublicKey.Equal(cfg.DecryptionCert.PublicKey) {
			errs = append(errs, errors.New("DecryptionCert does not match DecryptionKey"))
		}
		v.decKey, v.decCert = k, cfg.DecryptionCert
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("saml: invalid verifier config: %w", errors.Join(errs...))
	}
	return v, nil
}

// NoClockSkew, as VerifierConfig.ClockSkew, compares times exactly (zero
// means the default skew).
const NoClockSkew time.Duration = -1

// skewOr resolves a configured skew: NoClockSkew is none, zero the default.
func skewOr(d time.Duration) time.Duration {
	if d == NoClockSkew {
		return 0
	}
	return durationOr(d, DefaultClockSkew)
}

func durationOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Expected carries what the receiving endpoint knows about this request.
type Expected struct {
	// Destination is the exact URL of the (regional) ACS endpoint that
	// received the POST. Response@Destination and
	// SubjectConfirmationData@Recipient must equal it byte for byte.
	Destination string
	// Now is the request time, taken once per request. Required.
	Now time.Time
}

// VerifyResponse verifies an HTTP-POST SAMLResponse form value and returns
// the one assertion it carries, built only from bytes whose signature
// goxmldsig verified. The caller still must match InResponseTo against a
// pending request bound to this browser, and record (Issuer, ID) in a
// replay store until NotOnOrAfter. Every error is a *VerifyError.
func (v *Verifier) VerifyResponse(encoded string, exp Expected) (*Assertion, error) {
	a, verr := v.verify(encoded, exp)
	if verr != nil {
		return nil, verr
	}
	return a, nil
}

func (v *Verifier) verify(encoded string, exp Expected) (*Assertion, *VerifyError) {
	if exp.Destination == "" || exp.Now.IsZero() {
		return nil, fail(ReasonOther, "Expected.Destination and Expected.Now are required")
	}
	now := exp.Now

	// Cheap, structural checks on the unverified document first, in the
	// one streaming pass of CheckXML.
	raw, err := decodeBase64(encoded, v.lim)
	if err != nil {
		return nil, &VerifyError{Reason: ReasonMalformed, Err: err}
	}
	var shape responseShape
	if err := scanXML(raw, v.lim, shape.visit); err != nil {
		return nil, &VerifyError{Reason: ReasonMalformed, Err: err}
	}
	for _, check := range []func(*responseShape) *VerifyError{
		checkRoot,
		checkAssertionStructure,
		checkScannedAlgorithms,
	} {
		if verr := check(&shape); verr != nil {
			return nil, verr
		}
	}
	if shape.assertion.Local == "EncryptedAssertion" {
		if verr := v.checkEncryptedResponse(raw); verr != nil {
			return nil, verr
		}
	}

	// Signature verification and gosaml2's own checks, on exactly the bytes
	// checked above.
	resp, verr := v.verifySignature(gosaml2Input(encoded, raw), exp.Destination, now)
	if verr != nil {
		return nil, verr
	}

	// Protocol checks on the verified response.
	if verr := checkVerifiedAssertionCount(resp); verr != nil {
		return nil, verr
	}
	a := &resp.Assertions[0]
	for _, check := range []func() *VerifyError{
		func() *VerifyError { return checkSigned(resp, a) },
		func() *VerifyError { return checkStatus(resp) },
		func() *VerifyError { return checkDestination(resp, exp.Destination) },
		func() *VerifyError { return checkIssuer(resp, a, v.idpEntityID) },
		func() *VerifyError { return checkAssertionVersion(a) },
		func() *VerifyError { return checkSubject(a) },
		func() *VerifyError { return checkRecipient(a, exp.Destination) },
		func() *VerifyError { return checkSubjectNotOnOrAfter(a, now, v.skew) },
		func() *VerifyError { return checkConditionsTime(a, now, v.skew) },
		func() *VerifyError { return checkAudience(a, v.audience) },
		func() *VerifyError { return checkIssueInstant(a, now, v.skew, v.maxAge) },
		func() *VerifyError { return checkLifetime(a, v.maxLifetime) },
		func() *VerifyError { return checkInResponseTo(resp, a) },
	} {
		if verr := check(); verr != nil {
			return nil, verr
		}
	}
	return newAssertion(a)
}

// gosaml2Input returns the base64 form gosaml2 decodes again: the form
// value itself when decodeBase64 removed nothing from it, so that the
// decoded bytes are the same, else a fresh encoding of raw.
func gosaml2Input(encoded string, raw []byte) string {
	if strings.ContainsAny(encoded, "\r\n\t ") {
		return EncodePOST(raw)
	}
	return encoded
}

// serviceProvider builds a fresh gosaml2 SP for one call and one trusted
// certificate (the struct holds a mutex and must not be copied or shared).
// Its clock is set back by the skew so that its SubjectConfirmationData
// NotOnOrAfter check allows for it.
func (v *Verifier) serviceProvider(cert *x509.Certificate, destination string, now time.Time) *saml2.SAMLServiceProvider {
	sp := &saml2.SAMLServiceProvider{
		IdentityProviderIssuer:      v.idpEntityID,
		AssertionConsumerServiceURL: destination,
		AudienceURI:                 v.audience,
		IDPCertificateStore:         &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}},
		Clock:                       dsig.NewFakeClockAt(now.Add(-v.skew)),
		AllowMissingAttributes:      true,
		MaximumDecompressedBodySize: int64(v.lim.MaxXMLBytes),
		// CheckXML already bounded the real token count; gosaml2's
		// estimate (3 per '<') must not be stricter than that.
		MaximumXMLTokens: 3*int64(v.lim.MaxXMLBytes) + 1,
	}
	if v.decKey != nil {
		sp.SPKeyStore = dsig.TLSCertKeyStore(tls.Certificate{
			Certificate: [][]byte{v.decCert.Raw},
			PrivateKey:  v.decKey,
		})
	}
	return sp
}

// verifySignature runs gosaml2's ValidateEncodedResponse (not
// RetrieveAssertionInfo, which requires Conditions@NotBefore) once per
// trusted certificate, each in its own certificate store, so that a
// signature without KeyInfo verifies during key rollover (XML Signature
// §4.5: KeyInfo is optional). A failure after the signature verified ends
// the loop.
func (v *Verifier) verifySignature(encoded, destination string, now time.Time) (*types.Response, *VerifyError) {
	var lastErr error
	for _, cert := range v.certs {
		resp, err := v.serviceProvider(cert, destination, now).ValidateEncodedResponse(encoded)
		if err == nil {
			return resp, nil
		}
		if verr := mapValidationError(err); verr != nil {
			return nil, verr
		}
		lastErr = err
	}
	if errors.Is(lastErr, dsig.ErrMissingSignature) {
		return nil, fail(ReasonSignature, "no signature references the response or assertion")
	}
	return nil, fail(ReasonSignature, "signature verification failed: %s", quoteShort(fmt.Sprint(lastErr)))
}

// mapValidationError classifies the typed errors gosaml2's Validate returns
// once a signature has verified. Other errors (signature, decryption,
// parsing) return nil.
func mapValidationError(err error) *VerifyError {
	var iv saml2.ErrInvalidValue
	if errors.As(err, &iv) {
		switch iv.Key {
		case saml2.DestinationAttr:
			return fail(ReasonDestination, "Destination %s does not match", quoteShort(iv.Actual))
		case saml2.IssuerTag:
			return fail(ReasonIssuer, "Issuer %s does not match", quoteShort(iv.Actual))
		case saml2.StatusCodeTag:
			return fail(ReasonStatus, "status %s", quoteShort(iv.Actual))
		case saml2.RecipientAttr:
			return fail(ReasonRecipient, "Recipient %s does not match", quoteShort(iv.Actual))
		case saml2.NotOnOrAfterAttr:
			return fail(ReasonExpired, "SubjectConfirmationData expired at %s", quoteShort(iv.Actual))
		case saml2.SubjectConfirmationTag:
			return fail(ReasonSubject, "unsupported confirmation method %s", quoteShort(iv.Actual))
		}
		return fail(ReasonMalformed, "invalid %s", quoteShort(iv.Key))
	}
	var me saml2.ErrMissingElement
	if errors.As(err, &me) {
		switch me.Tag {
		case saml2.AssertionTag:
			return fail(ReasonAssertionCount, "no verified assertion")
		case saml2.IssuerTag:
			return fail(ReasonIssuer, "missing Issuer")
		case saml2.StatusTag, saml2.StatusCodeTag:
			return fail(ReasonStatus, "missing Status")
		}
		return fail(ReasonSubject, "missing %s", quoteShort(me.Tag+" "+me.Attribute))
	}
	var pe saml2.ErrParsing
	if errors.As(err, &pe) {
		return fail(ReasonMalformed, "cannot parse %s", quoteShort(pe.Tag))
	}
	return nil
}
