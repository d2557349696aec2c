package speers

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/beevik/etree"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

// keyPair is a fresh RSA-2048 key with a self-signed certificate, written as
// PEM files (PKCS#1 key, readable by every SP stack; the files are 0644
// because Apache's workers run as www-data: these are throwaway test keys).
type keyPair struct {
	keyFile, certFile string
	keyPEM, certPEM   []byte
	cert              *x509.Certificate
}

func newKeyPair(dir, name, commonName string, usage x509.KeyUsage) (*keyPair, error) {
	key, cert, err := testpeer.SelfSigned(commonName, usage)
	if err != nil {
		return nil, fmt.Errorf("speers: %w", err)
	}
	kp := &keyPair{
		keyFile:  filepath.Join(dir, name+".key"),
		certFile: filepath.Join(dir, name+".crt"),
		keyPEM:   pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		cert:     cert,
	}
	if err := os.WriteFile(kp.keyFile, kp.keyPEM, 0o644); err != nil {
		return nil, fmt.Errorf("speers: write key: %w", err)
	}
	if err := os.WriteFile(kp.certFile, kp.certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("speers: write certificate: %w", err)
	}
	return kp, nil
}

// spKeys are an SP's signing key and, when encrypting, its encryption key.
type spKeys struct {
	signing    *keyPair
	encryption *keyPair // nil unless SPOptions.EncryptAssertions
}

func newSPKeys(dir, entityID string, encrypt bool) (spKeys, error) {
	var k spKeys
	var err error
	if k.signing, err = newKeyPair(dir, "sp-signing", "signing "+entityID, x509.KeyUsageDigitalSignature); err != nil {
		return k, err
	}
	if encrypt {
		if k.encryption, err = newKeyPair(dir, "sp-encryption", "encryption "+entityID, x509.KeyUsageKeyEncipherment); err != nil {
			return k, err
		}
	}
	return k, nil
}

// Encryption algorithms every SP here decrypts, published in the SP's
// metadata in preference order.
var encryptionMethods = []string{
	"http://www.w3.org/2009/xmlenc11#aes256-gcm",
	"http://www.w3.org/2009/xmlenc11#aes128-gcm",
	"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
}

// spMetadata writes the SP's metadata: signing (and encryption) keys, the
// NameID formats, one HTTP-POST ACS with index 0. No empty elements.
func spMetadata(entityID, acsURL string, keys spKeys, signRequests bool) []byte {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", "urn:oasis:names:tc:SAML:2.0:metadata")
	ed.CreateAttr("xmlns:ds", "http://www.w3.org/2000/09/xmldsig#")
	ed.CreateAttr("entityID", entityID)
	d := ed.CreateElement("md:SPSSODescriptor")
	d.CreateAttr("AuthnRequestsSigned", fmt.Sprint(signRequests))
	d.CreateAttr("WantAssertionsSigned", "true")
	d.CreateAttr("protocolSupportEnumeration", "urn:oasis:names:tc:SAML:2.0:protocol")
	keyDescriptor := func(use string, kp *keyPair) *etree.Element {
		kd := d.CreateElement("md:KeyDescriptor")
		kd.CreateAttr("use", use)
		kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
			SetText(base64.StdEncoding.EncodeToString(kp.cert.Raw))
		return kd
	}
	keyDescriptor("signing", keys.signing)
	if keys.encryption != nil {
		kd := keyDescriptor("encryption", keys.encryption)
		for _, alg := range encryptionMethods {
			kd.CreateElement("md:EncryptionMethod").CreateAttr("Algorithm", alg)
		}
	}
	for _, f := range nameIDFormats {
		d.CreateElement("md:NameIDFormat").SetText(f)
	}
	acs := d.CreateElement("md:AssertionConsumerService")
	acs.CreateAttr("Binding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
	acs.CreateAttr("Location", acsURL)
	acs.CreateAttr("index", "0")
	acs.CreateAttr("isDefault", "true")
	doc.Indent(2)
	var buf bytes.Buffer
	_, _ = doc.WriteTo(&buf) // writing to a bytes.Buffer cannot fail
	return buf.Bytes()
}

// idpInfo is what the SPs need from the IdP's metadata.
type idpInfo struct {
	entityID    string
	ssoRedirect string
	certsPEM    []string // signing certificates
}

// parseIdPMetadata reads the IdP's entity ID, HTTP-Redirect SSO location and
// signing certificates (KeyDescriptors with use="signing" or no use).
func parseIdPMetadata(md []byte) (idpInfo, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(md); err != nil {
		return idpInfo{}, fmt.Errorf("speers: IdP metadata: %w", err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "EntityDescriptor" {
		return idpInfo{}, fmt.Errorf("speers: IdP metadata: the root is not an EntityDescriptor")
	}
	info := idpInfo{entityID: root.SelectAttrValue("entityID", "")}
	d := root.FindElement("./IDPSSODescriptor")
	if info.entityID == "" || d == nil {
		return idpInfo{}, fmt.Errorf("speers: IdP metadata: no entityID or no IDPSSODescriptor")
	}
	for _, s := range d.SelectElements("SingleSignOnService") {
		if s.SelectAttrValue("Binding", "") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" && info.ssoRedirect == "" {
			info.ssoRedirect = s.SelectAttrValue("Location", "")
		}
	}
	for _, kd := range d.SelectElements("KeyDescriptor") {
		if use := kd.SelectAttrValue("use", "signing"); use != "signing" {
			continue
		}
		for _, c := range kd.FindElements(".//X509Certificate") {
			der, err := base64.StdEncoding.DecodeString(stripSpace(c.Text()))
			if err != nil {
				return idpInfo{}, fmt.Errorf("speers: IdP metadata: certificate: %w", err)
			}
			if _, err := x509.ParseCertificate(der); err != nil {
				return idpInfo{}, fmt.Errorf("speers: IdP metadata: certificate: %w", err)
			}
			info.certsPEM = append(info.certsPEM, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
		}
	}
	if info.ssoRedirect == "" || len(info.certsPEM) == 0 {
		return idpInfo{}, fmt.Errorf("speers: IdP metadata: no HTTP-Redirect SingleSignOnService or no signing certificate")
	}
	return info, nil
}

func stripSpace(s string) string {
	return string(bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, []byte(s)))
}
