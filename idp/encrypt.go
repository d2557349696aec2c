package idp

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

	"github.com/gatehouse-dev/gatehouse/saml"
)

const (
	encTypeElement = "http://www.w3.org/2001/04/xmlenc#Element"
	digestSHA1     = "http://www.w3.org/2000/09/xmldsig#sha1"
)

// encryptAssertion returns a saml:EncryptedAssertion holding the (already
// signed) assertion a (SAML core §2.3.4, XML Encryption 1.1): a fresh
// content key encrypts a's serialisation with dataAlg (AES-GCM, or
// AES-256-CBC when the application accepts nothing else), and is wrapped
// for to's RSA key with RSA-OAEP (MGF1 and digest SHA-1, the defaults every
// SAML stack implements; OAEP's security does not rest on SHA-1 collision
// resistance).
func encryptAssertion(a *etree.Element, to *x509.Certificate, keyTransport, dataAlg string) (*etree.Element, error) {
	if to == nil {
		return nil, errors.New("no encryption certificate")
	}
	pub, ok := to.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("encryption certificate is not RSA")
	}
	ctx, err := etreeutils.NSBuildParentContext(a)
	if err != nil {
		return nil, err
	}
	detached, err := etreeutils.NSDetatch(ctx, a)
	if err != nil {
		return nil, err
	}
	pdoc := etree.NewDocument()
	pdoc.WriteSettings.CanonicalText = true
	pdoc.WriteSettings.CanonicalAttrVal = true
	pdoc.SetRoot(detached)
	plain, err := pdoc.WriteToBytes()
	if err != nil {
		return nil, err
	}

	keyLen := 32
	if dataAlg == EncAES128GCM {
		keyLen = 16
	}
	key := make([]byte, keyLen)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	var ct []byte
	switch dataAlg {
	case EncAES256GCM, EncAES128GCM:
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plain)+gcm.Overhead())
		_, _ = rand.Read(nonce)
		ct = gcm.Seal(nonce, nonce, plain, nil)
	case EncAES256CBC:
		// XML Encryption §5.2: IV || ciphertext; the last padding byte
		// gives the padding length.
		pad := aes.BlockSize - len(plain)%aes.BlockSize
		buf := make([]byte, aes.BlockSize+len(plain)+pad)
		iv := buf[:aes.BlockSize]
		_, _ = rand.Read(iv)
		body := buf[aes.BlockSize:]
		copy(body, plain)
		body[len(body)-1] = byte(pad)
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(body, body)
		ct = buf
	default:
		return nil, fmt.Errorf("data encryption %q not supported", dataAlg)
	}
	if keyTransport != KeyRSAOAEPMGF1 && keyTransport != KeyRSAOAEP11 {
		return nil, fmt.Errorf("key transport %q not supported", keyTransport)
	}
	wrapped, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, key, nil)
	if err != nil {
		return nil, err
	}

	ea := etree.NewElement("saml:EncryptedAssertion")
	ea.CreateAttr("xmlns:saml", saml.NSAssertion)
	ed := ea.CreateElement("xenc:EncryptedData")
	ed.CreateAttr("xmlns:xenc", saml.NSXMLEnc)
	ed.CreateAttr("Type", encTypeElement)
	ed.CreateElement("xenc:EncryptionMethod").CreateAttr("Algorithm", dataAlg)
	ki := ed.CreateElement("ds:KeyInfo")
	ki.CreateAttr("xmlns:ds", saml.NSDSig)
	ek := ki.CreateElement("xenc:EncryptedKey")
	em := ek.CreateElement("xenc:EncryptionMethod")
	em.CreateAttr("Algorithm", keyTransport)
	em.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", digestSHA1)
	ek.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
		SetText(base64.StdEncoding.EncodeToString(to.Raw))
	ek.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").
		SetText(base64.StdEncoding.EncodeToString(wrapped))
	ed.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").
		SetText(base64.StdEncoding.EncodeToString(ct))
	return ea, nil
}
