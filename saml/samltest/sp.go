package samltest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/metadata"
	"github.com/gatehouse-dev/gatehouse/saml"
)

// SP is a SAML service provider for tests of an identity provider (such as
// Gatehouse's app-facing IdP): it publishes metadata with one HTTP-POST ACS,
// builds AuthnRequests for the HTTP-Redirect binding (optionally signed),
// and verifies responses with saml.Verifier, decrypting assertions
// encrypted to its certificate.
type SP struct {
	entityID string
	acsURL   string
	key      *rsa.PrivateKey
	cert     *x509.Certificate
}

// NewSP creates an SP with a fresh RSA-2048 key (for signing requests and
// decrypting assertions) and a self-signed certificate.
func NewSP(entityID, acsURL string) (*SP, error) {
	if entityID == "" || acsURL == "" {
		return nil, errors.New("samltest: entity ID and ACS URL required")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("samltest: generate key: %w", err)
	}
	der, err := SelfSignedCert(entityID, key, time.Now().Add(-time.Hour), time.Now().Add(10*365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("samltest: certificate: %w", err)
	}
	return &SP{entityID: entityID, acsURL: acsURL, key: key, cert: cert}, nil
}

// EntityID returns the SP's entity ID.
func (s *SP) EntityID() string { return s.entityID }

// ACSURL returns the SP's Assertion Consumer Service URL.
func (s *SP) ACSURL() string { return s.acsURL }

// Certificate returns the SP's signing and encryption certificate.
func (s *SP) Certificate() *x509.Certificate { return s.cert }

// Key returns the SP's private key.
func (s *SP) Key() *rsa.PrivateKey { return s.key }

// Metadata returns the SP's metadata. With signRequests it declares
// AuthnRequestsSigned; with encryption it publishes the certificate for
// encryption too.
func (s *SP) Metadata(signRequests, encryption bool) ([]byte, error) {
	cfg := metadata.SPConfig{
		EntityID:             s.entityID,
		ACS:                  []metadata.ACSEndpoint{{URL: s.acsURL}},
		SigningCert:          s.cert,
		AuthnRequestsSigned:  signRequests,
		WantAssertionsSigned: true,
	}
	if encryption {
		cfg.EncryptionCert = s.cert
	}
	return metadata.BuildSP(cfg)
}

// AuthnRequest returns a fresh AuthnRequest for the IdP's SSO URL naming
// this SP's ACS URL.
func (s *SP) AuthnRequest(ssoURL string, now time.Time) *saml.AuthnRequest {
	return &saml.AuthnRequest{
		ID:                          saml.NewID(),
		Issuer:                      s.entityID,
		Destination:                 ssoURL,
		AssertionConsumerServiceURL: s.acsURL,
		ProtocolBinding:             saml.BindingHTTPPost,
		IssueInstant:                now,
	}
}

// RedirectURL returns the HTTP-Redirect binding URL that sends req to
// ssoURL with relayState, signed with RSA-SHA256 when sign is set.
func (s *SP) RedirectURL(ssoURL string, req *saml.AuthnRequest, relayState string, sign bool) (string, error) {
	xml, err := req.Marshal()
	if err != nil {
		return "", fmt.Errorf("samltest: %w", err)
	}
	var q string
	if sign {
		q, err = saml.RedirectQuery("SAMLRequest", xml, relayState, s.key, saml.SigAlgRSASHA256)
	} else {
		q, err = saml.RedirectQuery("SAMLRequest", xml, relayState, nil, "")
	}
	if err != nil {
		return "", fmt.Errorf("samltest: %w", err)
	}
	sep := "?"
	if strings.Contains(ssoURL, "?") {
		sep = "&"
	}
	return ssoURL + sep + q, nil
}

// Verify checks a base64 SAMLResponse posted to this SP's ACS with every
// check saml.Verifier makes, decrypting an assertion encrypted to the SP's
// certificate.
func (s *SP) Verify(idpEntityID string, idpCerts []*x509.Certificate, samlResponse string, now time.Time) (*saml.Assertion, error) {
	v, err := saml.NewVerifier(saml.VerifierConfig{
		IdPEntityID:    idpEntityID,
		Certificates:   idpCerts,
		Audience:       s.entityID,
		DecryptionKey:  s.key,
		DecryptionCert: s.cert,
	})
	if err != nil {
		return nil, fmt.Errorf("samltest: %w", err)
	}
	return v.VerifyResponse(samlResponse, saml.Expected{Destination: s.acsURL, Now: now})
}
