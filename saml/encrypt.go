package saml

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/beevik/etree"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// Key transport and data encryption algorithm URIs (XML Encryption 1.1
// §5.4.2, §5.2.2, §5.2.4) that EncryptAssertion produces.
//
// AES-256-CBC is unauthenticated: an SP that decrypts before it verifies
// a signature can be used as a padding oracle against it. It is here only
// for recipients that implement nothing else; Verifier rejects it, and
// Gatehouse's IdP chooses it only when an application's metadata lists no
// AES-GCM algorithm.
const (
	KeyTransportRSAOAEPMGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	KeyTransportRSAOAEP      = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
	DataAES128GCM            = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
	DataAES256GCM            = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
	DataAES256CBC            = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
)

// KeyTransportRSA15 is RSAES-PKCS1-v1_5 key transport (XML Encryption
// §5.4.1), which invites Bleichenbacher oracles at the recipient. Only
// InsecureEncryptAssertion produces it, and Verifier rejects it.
const KeyTransportRSA15 = "http://www.w3.org/2001/04/xmlenc#rsa-1_5"

// ErrEncryptionAlgorithm is returned by EncryptAssertion and
// InsecureEncryptAssertion for a key transport or data encryption
// algorithm they do not produce.
var ErrEncryptionAlgorithm = errors.New("saml: encryption algorithm not supported")

const (
	encTypeElement = "http://www.w3.org/2001/04/xmlenc#Element"
	digestSHA1     = "http://www.w3.org/2000/09/xmldsig#sha1"
)

// EncryptAssertion returns a saml:EncryptedAssertion (SAML core §2.3.4,
// §6.1) holding assertion, which should already be signed: a fresh
// content key encrypts assertion's serialisation, namespace declarations
// in scope included, with dataEncryption, and is wrapped for to's RSA
// public key with keyTransport.
//
// keyTransport is KeyTransportRSAOAEPMGF1P or KeyTransportRSAOAEP, both
// with SHA-1 as OAEP digest and MGF1 hash (the defaults every SAML stack
// implements; OAEP's security does not rest on SHA-1's collision
// resistance). dataEncryption is DataAES256GCM, DataAES128GCM or, only for
// a recipient that supports no AES-GCM, DataAES256CBC. Anything else is
// ErrEncryptionAlgorithm. Choosing among these from a recipient's metadata
// is the caller's job. assertion itself is not modified.
//
// The layout is the one gosaml2, node-saml, pysaml2 and Shibboleth read:
//
//	EncryptedAssertion/EncryptedData[@Type=…#Element]
//	  EncryptionMethod[@Algorithm=dataEncryption]
//	  ds:KeyInfo/EncryptedKey
//	    EncryptionMethod[@Algorithm=keyTransport]/ds:DigestMethod[SHA-1]
//	    ds:KeyInfo/ds:X509Data/ds:X509Certificate (to)
//	    CipherData/CipherValue (wrapped key)
//	  CipherData/CipherValue (IV or nonce || ciphertext [|| tag])
func EncryptAssertion(assertion *etree.Element, to *x509.Certificate, keyTransport, dataEncryption string) (*etree.Element, error) {
	if keyTransport != KeyTransportRSAOAEPMGF1P && keyTransport != KeyTransportRSAOAEP {
		return nil, fmt.Errorf("%w: key transport %q", ErrEncryptionAlgorithm, keyTransport)
	}
	return encryptAssertion(assertion, to, keyTransport, dataEncryption)
}

// InsecureEncryptAssertion is EncryptAssertion that also accepts
// KeyTransportRSA15. It exists only so that test identity providers
// (package samltest) can build the weak messages a verifier must reject;
// never send its RSA-1_5 output to a real service provider.
func InsecureEncryptAssertion(assertion *etree.Element, to *x509.Certificate, keyTransport, dataEncryption string) (*etree.Element, error) {
	if keyTransport == KeyTransportRSA15 {
		return encryptAssertion(assertion, to, keyTransport, dataEncryption)
	}
	return EncryptAssertion(assertion, to, keyTransport, dataEncryption)
}

// encryptAssertion builds the EncryptedAssertion for any key transport
// its callers allowed.
func encryptAssertion(a *etree.Element, to *x509.Certificate, keyTransport, dataEncryption string) (*etree.Element, error) {
	if a == nil {
		return nil, errors.New("saml: EncryptAssertion: nil assertion")
	}
	if to == nil {
		return nil, errors.New("saml: EncryptAssertion: no encryption certificate")
	}
	pub, ok := to.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("saml: EncryptAssertion: encryption certificate is not RSA")
	}
	var keyLen int
	switch dataEncryption {
	case DataAES128GCM:
		keyLen = 16
	case DataAES256GCM, DataAES256CBC:
		keyLen = 32
	default:
		return nil, fmt.Errorf("%w: data encryption %q", ErrEncryptionAlgorithm, dataEncryption)
	}
	plain, err := serializeDetached(a)
	if err != nil {
		return nil, fmt.Errorf("saml: EncryptAssertion: %w", err)
	}
	key := make([]byte, keyLen)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	ct, err := encryptData(key, dataEncryption, plain)
	if err != nil {
		return nil, fmt.Errorf("saml: EncryptAssertion: %w", err)
	}
	var wrapped []byte
	if keyTransport == KeyTransportRSA15 {
		wrapped, err = rsa.EncryptPKCS1v15(rand.Reader, pub, key)
	} else {
		wrapped, err = rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, key, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("saml: EncryptAssertion: wrap key: %w", err)
	}

	ea := etree.NewElement("saml:EncryptedAssertion")
	ea.CreateAttr("xmlns:saml", NSAssertion)
	ed := ea.CreateElement("xenc:EncryptedData")
	ed.CreateAttr("xmlns:xenc", NSXMLEnc)
	ed.CreateAttr("Type", encTypeElement)
	ed.CreateElement("xenc:EncryptionMethod").CreateAttr("Algorithm", dataEncryption)
	ki := ed.CreateElement("ds:KeyInfo")
	ki.CreateAttr("xmlns:ds", NSDSig)
	ek := ki.CreateElement("xenc:EncryptedKey")
	em := ek.CreateElement("xenc:EncryptionMethod")
	em.CreateAttr("Algorithm", keyTransport)
	if keyTransport != KeyTransportRSA15 {
		em.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", digestSHA1)
	}
	ek.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
		SetText(base64.StdEncoding.EncodeToString(to.Raw))
	ek.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").
		SetText(base64.StdEncoding.EncodeToString(wrapped))
	ed.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").
		SetText(base64.StdEncoding.EncodeToString(ct))
	return ea, nil
}

// serializeDetached writes a copy of a carrying the namespace declarations
// in scope, with character references for every character (tab, CR, LF
// in attributes; CR in text) that XML parsing would otherwise normalise,
// so the plaintext parses back to what was signed.
func serializeDetached(a *etree.Element) ([]byte, error) {
	ctx, err := etreeutils.NSBuildParentContext(a)
	if err != nil {
		return nil, err
	}
	detached, err := etreeutils.NSDetatch(ctx, a)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.WriteSettings.CanonicalText = true
	doc.WriteSettings.CanonicalAttrVal = true
	doc.SetRoot(detached)
	return doc.WriteToBytes()
}

// encryptData encrypts plain under key: AES-GCM as nonce || ciphertext ||
// tag (XML Encryption 1.1 §5.2.4), AES-CBC as IV || ciphertext with the
// padding of §5.2 (the last byte gives the padding length).
func encryptData(key []byte, alg string, plain []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if alg == DataAES256CBC {
		pad := aes.BlockSize - len(plain)%aes.BlockSize
		buf := make([]byte, aes.BlockSize+len(plain)+pad)
		iv := buf[:aes.BlockSize]
		_, _ = rand.Read(iv)
		body := buf[aes.BlockSize:]
		copy(body, plain)
		body[len(body)-1] = byte(pad)
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(body, body)
		return buf, nil
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plain)+gcm.Overhead())
	_, _ = rand.Read(nonce)
	return gcm.Seal(nonce, nonce, plain, nil), nil
}
