package saml_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
)

func TestCheckKey(t *testing.T) {
	rsa2048 := mustKeys(t).spKey
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)

	assert.NoError(t, saml.CheckKey(&rsa2048.PublicKey))
	assert.NoError(t, saml.CheckKey(&p256.PublicKey))
	assert.Error(t, saml.CheckKey(&rsa1024.PublicKey))
	assert.Error(t, saml.CheckKey(&p224.PublicKey))
	assert.Error(t, saml.CheckKey(edPub))
	assert.Error(t, saml.CheckKey(nil))
}

func TestAllowedAlgorithms(t *testing.T) {
	for _, a := range []string{saml.SigAlgRSASHA256, saml.SigAlgRSASHA384, saml.SigAlgRSASHA512, saml.SigAlgECDSASHA256, saml.SigAlgECDSASHA384, saml.SigAlgECDSASHA512} {
		assert.True(t, saml.AllowedSignatureAlgorithm(a), a)
	}
	for _, a := range []string{"http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1", "http://www.w3.org/2000/09/xmldsig#hmac-sha1", "http://www.w3.org/2001/04/xmldsig-more#rsa-md5", ""} {
		assert.False(t, saml.AllowedSignatureAlgorithm(a), a)
	}
	for _, a := range []string{saml.DigestSHA256, saml.DigestSHA384, saml.DigestSHA512} {
		assert.True(t, saml.AllowedDigestAlgorithm(a), a)
	}
	for _, a := range []string{"http://www.w3.org/2000/09/xmldsig#sha1", "http://www.w3.org/2001/04/xmldsig-more#md5", ""} {
		assert.False(t, saml.AllowedDigestAlgorithm(a), a)
	}
}

func TestSignPlacementAndVerification(t *testing.T) {
	k := mustKeys(t)
	doc := etree.NewDocument()
	root := doc.CreateElement("samlp:LogoutRequest")
	root.CreateAttr("xmlns:samlp", saml.NSProtocol)
	root.CreateAttr("xmlns:saml", saml.NSAssertion)
	root.CreateAttr("ID", saml.NewID())
	root.CreateElement("saml:Issuer").SetText("sp")
	root.CreateElement("saml:NameID").SetText("alice")

	sig, err := saml.Sign(root, k.idp.Signer(), [][]byte{k.idp.Certificate().Raw}, saml.SigAlgRSASHA384)
	require.NoError(t, err)
	require.Equal(t, 1, sig.Index(), "Signature right after Issuer")
	assert.Equal(t, saml.SigAlgRSASHA384, sig.FindElement("./SignedInfo/SignatureMethod").SelectAttrValue("Algorithm", ""))
	assert.Equal(t, string(dsig.CanonicalXML10ExclusiveAlgorithmId), sig.FindElement("./SignedInfo/CanonicalizationMethod").SelectAttrValue("Algorithm", ""))
	assert.True(t, saml.AllowedDigestAlgorithm(sig.FindElement("./SignedInfo/Reference/DigestMethod").SelectAttrValue("Algorithm", "")))

	// Round trip through bytes and goxmldsig.
	b, err := doc.WriteToBytes()
	require.NoError(t, err)
	parsed, err := saml.ParseXML(b, saml.Limits{})
	require.NoError(t, err)
	vctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{k.idp.Certificate()}})
	_, err = vctx.Validate(parsed.Root())
	require.NoError(t, err)

	parsed.Root().FindElement("./NameID").SetText("mallory")
	_, err = vctx.Validate(parsed.Root())
	assert.Error(t, err, "tampering breaks the signature")
}

func TestSignErrors(t *testing.T) {
	k := mustKeys(t)
	el := etree.NewElement("x")
	el.CreateAttr("ID", "_x")
	_, err := saml.Sign(el, k.idp.Signer(), nil, "http://www.w3.org/2000/09/xmldsig#rsa-sha1")
	assert.Error(t, err)
	_, err = saml.Sign(el, k.idp.Signer(), nil, saml.SigAlgECDSASHA256)
	assert.Error(t, err)
	_, err = saml.Sign(etree.NewElement("noid"), k.idp.Signer(), nil, saml.SigAlgRSASHA256)
	assert.Error(t, err)
	_, err = saml.Sign(el, nil, nil, saml.SigAlgRSASHA256)
	assert.Error(t, err)
	_, err = saml.Sign(el, k.idp.Signer(), nil, saml.SigAlgRSASHA256)
	assert.NoError(t, err, "positive control")
}
