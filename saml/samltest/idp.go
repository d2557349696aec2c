package samltest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-dev/gatehouse/saml"
)

// IdP is a SAML identity provider for tests: it signs (and optionally
// encrypts) responses with its own key and publishes its metadata.
type IdP struct {
	entityID string
	signer   crypto.Signer
	cert     *x509.Certificate
}

// NewIdP creates an IdP with a fresh RSA-2048 key and a self-signed
// certificate valid from one hour ago for ten years.
func NewIdP(entityID string) (*IdP, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("samltest: generate key: %w", err)
	}
	der, err := SelfSignedCert(entityID, key, time.Now().Add(-time.Hour), time.Now().Add(10*365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	return NewIdPWithKey(entityID, key, der)
}

// NewIdPWithKey creates an IdP from an existing key and the DER certificate
// for it. The key is not checked against saml.CheckKey, so that tests can
// build IdPs with weak keys.
func NewIdPWithKey(entityID string, signer crypto.Signer, certDER []byte) (*IdP, error) {
	if entityID == "" || signer == nil {
		return nil, errors.New("samltest: entity ID and signer required")
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("samltest: certificate: %w", err)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("samltest: certificate does not match signer")
	}
	return &IdP{entityID: entityID, signer: signer, cert: cert}, nil
}

// SelfSignedCert returns a DER self-signed certificate for signer's key.
func SelfSignedCert(cn string, signer crypto.Signer, notBefore, notAfter time.Time) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("samltest: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: truncate(cn, 64)},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("samltest: certificate: %w", err)
	}
	return der, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// EntityID returns the IdP entity ID.
func (i *IdP) EntityID() string { return i.entityID }

// Certificate returns the IdP signing certificate.
func (i *IdP) Certificate() *x509.Certificate { return i.cert }

// Signer returns the IdP signing key.
func (i *IdP) Signer() crypto.Signer { return i.signer }

// defaultSigAlg is RSA-SHA256 or ECDSA-SHA256 according to the key.
func (i *IdP) defaultSigAlg() string {
	if _, ok := i.signer.Public().(*ecdsa.PublicKey); ok {
		return saml.SigAlgECDSASHA256
	}
	return saml.SigAlgRSASHA256
}

// Metadata returns an md:EntityDescriptor with an IDPSSODescriptor: the
// signing KeyDescriptor and HTTP-Redirect and HTTP-POST SingleSignOnService
// endpoints at ssoURL.
func (i *IdP) Metadata(ssoURL string) []byte {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", "urn:oasis:names:tc:SAML:2.0:metadata")
	ed.CreateAttr("xmlns:ds", saml.NSDSig)
	ed.CreateAttr("entityID", i.entityID)
	d := ed.CreateElement("md:IDPSSODescriptor")
	d.CreateAttr("protocolSupportEnumeration", saml.NSProtocol)
	d.CreateAttr("WantAuthnRequestsSigned", "false")
	kd := d.CreateElement("md:KeyDescriptor")
	kd.CreateAttr("use", "signing")
	kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
		SetText(base64.StdEncoding.EncodeToString(i.cert.Raw))
	d.CreateElement("md:NameIDFormat").SetText("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
	for _, b := range []saml.Binding{saml.BindingHTTPRedirect, saml.BindingHTTPPost} {
		s := d.CreateElement("md:SingleSignOnService")
		s.CreateAttr("Binding", string(b))
		s.CreateAttr("Location", ssoURL)
	}
	var buf bytes.Buffer
	doc.Indent(2)
	_, _ = doc.WriteTo(&buf) // writing to a bytes.Buffer cannot fail
	return buf.Bytes()
}
