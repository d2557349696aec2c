package saml

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/xml"

	"github.com/beevik/etree"
	"github.com/russellhaering/gosaml2/types"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// OAEP digest URIs accepted inside a key transport EncryptionMethod: SHA-1
// (the XML Encryption default) and SHA-256/512, both under their standard
// URIs and under the xmldsig# spellings gosaml2 v0.12.0 expects.
var oaepDigests = map[string]crypto.Hash{
	"":                 crypto.SHA1,
	types.MethodSHA1:   crypto.SHA1,
	types.MethodSHA256: crypto.SHA256,
	types.MethodSHA512: crypto.SHA512,
	DigestSHA256:       crypto.SHA256,
	DigestSHA512:       crypto.SHA512,
}

func oaepDigest(uri string) (crypto.Hash, bool) {
	h, ok := oaepDigests[uri]
	return h, ok
}

// errDecrypt is the one message for every decryption failure, so that the
// error text carries no padding or parsing oracle.
const errDecrypt = "cannot decrypt EncryptedAssertion"

// checkEncryptedResponse parses raw into a tree, which only an
// EncryptedAssertion needs (checkEncryptedAssertion unmarshals it as
// gosaml2 does), and inspects the assertion that checkAssertionStructure
// found as the root's one child in the SAML assertion namespace.
func (v *Verifier) checkEncryptedResponse(raw []byte) *VerifyError {
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = v.lim.MaxDepth
	if err := doc.ReadFromBytes(raw); err != nil || doc.Root() == nil {
		return fail(ReasonMalformed, "%w: unparsable document", ErrMalformed)
	}
	for _, el := range doc.Root().ChildElements() {
		if el.Tag == "EncryptedAssertion" && el.NamespaceURI() == NSAssertion {
			return v.checkEncryptedAssertion(el)
		}
	}
	return fail(ReasonAssertionCount, "assertion is not a direct child of the Response")
}

// checkEncryptedAssertion: an EncryptedAssertion (core §2.3.4, §6.1) is
// accepted only when a decryption key is configured, with exactly one
// EncryptedData and one EncryptedKey, OAEP key transport and AES-GCM data
// encryption (already allow-listed by checkAlgorithms). It decrypts the
// assertion with the configured key to inspect the plaintext before
// gosaml2 decrypts it again: the plaintext must pass CheckXML, be one
// saml:Assertion with no nested assertion, and use only allow-listed
// signature algorithms. Nothing decrypted here is used afterwards.
func (v *Verifier) checkEncryptedAssertion(el *etree.Element) *VerifyError {
	if v.decKey == nil {
		return fail(ReasonDecrypt, "EncryptedAssertion received but no decryption key configured")
	}
	var data, keys, methods int
	walk(el, func(e *etree.Element) {
		switch e.Tag {
		case "EncryptedData":
			data++
		case "EncryptedKey":
			keys++
		case "EncryptionMethod":
			methods++
		}
	})
	if data != 1 || keys != 1 || methods != 2 {
		return fail(ReasonDecrypt, "EncryptedAssertion must hold one EncryptedData and one EncryptedKey")
	}
	ea, err := unmarshalEncryptedAssertion(el)
	if err != nil {
		return fail(ReasonDecrypt, errDecrypt)
	}
	plain, ok := v.decrypt(ea)
	if !ok {
		return fail(ReasonDecrypt, errDecrypt)
	}
	doc, err := ParseXML(plain, v.lim)
	if err != nil {
		return &VerifyError{Reason: ReasonMalformed, Err: err}
	}
	root := doc.Root()
	if root.Tag != "Assertion" || root.NamespaceURI() != NSAssertion {
		return fail(ReasonAssertionCount, "EncryptedAssertion does not contain an Assertion")
	}
	nested := 0
	walk(root, func(e *etree.Element) {
		if e.Tag == "Assertion" || e.Tag == "EncryptedAssertion" {
			nested++
		}
	})
	if nested != 1 {
		return fail(ReasonAssertionCount, "nested assertions in EncryptedAssertion")
	}
	return checkAlgorithms(root)
}

// unmarshalEncryptedAssertion reads el the way gosaml2 does (detached with
// its namespace context, then encoding/xml), so both see the same values.
func unmarshalEncryptedAssertion(el *etree.Element) (*types.EncryptedAssertion, error) {
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, err
	}
	detached, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.SetRoot(detached)
	b, err := doc.WriteToBytes()
	if err != nil {
		return nil, err
	}
	ea := &types.EncryptedAssertion{}
	if err := xml.Unmarshal(b, ea); err != nil {
		return nil, err
	}
	return ea, nil
}

// decrypt unwraps the content key with RSA-OAEP through crypto.Decrypter
// and opens the AES-GCM ciphertext (nonce || ciphertext || tag).
func (v *Verifier) decrypt(ea *types.EncryptedAssertion) ([]byte, bool) {
	ek := &ea.EncryptedKey
	if ek.CipherValue == "" {
		ek = &ea.DetEncryptedKey
	}
	if !keyTransportAlgorithms[ek.EncryptionMethod.Algorithm] {
		return nil, false
	}
	digestURI := ""
	if ek.EncryptionMethod.DigestMethod != nil {
		digestURI = ek.EncryptionMethod.DigestMethod.Algorithm
	}
	h, ok := oaepDigest(digestURI)
	if !ok {
		return nil, false
	}
	if ek.X509Data != "" {
		c, err := base64.StdEncoding.DecodeString(ek.X509Data)
		if err != nil || !bytes.Equal(c, v.decCert.Raw) {
			return nil, false
		}
	}
	keySize, ok := dataEncryptionAlgorithms[ea.EncryptionMethod.Algorithm]
	if !ok {
		return nil, false
	}
	wrapped, err := base64.StdEncoding.DecodeString(ek.CipherValue)
	if err != nil {
		return nil, false
	}
	var dec crypto.Decrypter = v.decKey
	key, err := dec.Decrypt(rand.Reader, wrapped, &rsa.OAEPOptions{Hash: h})
	if err != nil || len(key) != keySize {
		return nil, false
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, false
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, false
	}
	ct, err := base64.StdEncoding.DecodeString(ea.CipherValue)
	if err != nil || len(ct) < gcm.NonceSize()+gcm.Overhead() {
		return nil, false
	}
	plain, err := gcm.Open(nil, ct[:gcm.NonceSize()], ct[gcm.NonceSize():], nil)
	if err != nil {
		return nil, false
	}
	return plain, true
}
