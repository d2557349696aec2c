package saml_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/russellhaering/gosaml2/types"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// encAssertion returns a signed saml:Assertion inside a samlp:Response
// that alone declares the saml prefix, with an attribute value holding
// tab and LF and text holding CR and markup characters: all must survive
// encryption for the signature to verify after decryption.
func encAssertion(t *testing.T, k *keys) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	resp := doc.CreateElement("samlp:Response")
	resp.CreateAttr("xmlns:samlp", saml.NSProtocol)
	resp.CreateAttr("xmlns:saml", saml.NSAssertion)
	a := resp.CreateElement("saml:Assertion")
	a.CreateAttr("ID", saml.NewID())
	a.CreateAttr("Version", "2.0")
	a.CreateElement("saml:Issuer").SetText(idpEntityID)
	at := a.CreateElement("saml:AttributeStatement").CreateElement("saml:Attribute")
	at.CreateAttr("Name", "note\tline1\nline2")
	at.CreateElement("saml:AttributeValue").SetText("a\r\nb <c> & \"d\" 'e'")
	_, err := saml.Sign(a, k.idp.Signer(), [][]byte{k.idp.Certificate().Raw}, saml.SigAlgRSASHA256)
	require.NoError(t, err)
	return a
}

// decryptWithGosaml2 decrypts ea the way gosaml2 v0.12.0 (which Verifier
// relies on) does, as an independent consumer of the format.
func decryptWithGosaml2(t *testing.T, k *keys, ea *etree.Element) []byte {
	t.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(ea.Copy())
	b, err := doc.WriteToBytes()
	require.NoError(t, err)
	var parsed types.EncryptedAssertion
	require.NoError(t, xml.Unmarshal(b, &parsed))
	plain, err := parsed.DecryptBytes(&tls.Certificate{Certificate: [][]byte{k.spCert.Raw}, PrivateKey: k.spKey})
	require.NoError(t, err)
	return plain
}

// shape lists ea's elements with their attributes, one a line, indented
// by depth; CipherValue and X509Certificate texts are left out.
func shape(el *etree.Element, depth int, b *strings.Builder) {
	b.WriteString(strings.Repeat("  ", depth) + el.FullTag())
	for _, a := range el.Attr {
		fmt.Fprintf(b, " %s=%s", a.FullKey(), a.Value)
	}
	b.WriteString("\n")
	for _, c := range el.ChildElements() {
		shape(c, depth+1, b)
	}
}

// wantShape is the layout node-saml, pysaml2, Shibboleth and gosaml2 were
// tested with; digest is the DigestMethod line, absent for RSA-1_5.
func wantShape(keyTransport, data string, digest bool) string {
	s := "saml:EncryptedAssertion xmlns:saml=" + saml.NSAssertion + "\n" +
		"  xenc:EncryptedData xmlns:xenc=" + saml.NSXMLEnc + " Type=http://www.w3.org/2001/04/xmlenc#Element\n" +
		"    xenc:EncryptionMethod Algorithm=" + data + "\n" +
		"    ds:KeyInfo xmlns:ds=" + saml.NSDSig + "\n" +
		"      xenc:EncryptedKey\n" +
		"        xenc:EncryptionMethod Algorithm=" + keyTransport + "\n"
	if digest {
		s += "          ds:DigestMethod Algorithm=http://www.w3.org/2000/09/xmldsig#sha1\n"
	}
	return s + "        ds:KeyInfo\n" +
		"          ds:X509Data\n" +
		"            ds:X509Certificate\n" +
		"        xenc:CipherData\n" +
		"          xenc:CipherValue\n" +
		"    xenc:CipherData\n" +
		"      xenc:CipherValue\n"
}

// checkDecrypted decrypts ea with gosaml2 and checks that the plaintext is
// the assertion, namespaces in scope declared, values intact and its
// signature still valid.
func checkDecrypted(t *testing.T, k *keys, a, ea *etree.Element) {
	t.Helper()
	plain := decryptWithGosaml2(t, k, ea)
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(plain))
	root := doc.Root()
	require.NotNil(t, root)
	assert.Equal(t, "Assertion", root.Tag)
	assert.Equal(t, saml.NSAssertion, root.NamespaceURI())
	assert.Equal(t, a.SelectAttrValue("ID", ""), root.SelectAttrValue("ID", "x"))
	attr := root.FindElement("./AttributeStatement/Attribute")
	require.NotNil(t, attr)
	assert.Equal(t, "note\tline1\nline2", attr.SelectAttrValue("Name", ""))
	assert.Equal(t, "a\r\nb <c> & \"d\" 'e'", attr.SelectElement("AttributeValue").Text())

	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{k.idp.Certificate()}})
	vc.Clock = dsig.NewFakeClockAt(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	_, err := vc.Validate(root)
	assert.NoError(t, err, "signature must verify after decryption")
}

func TestEncryptAssertion(t *testing.T) {
	k := mustKeys(t)
	for _, kt := range []string{saml.KeyTransportRSAOAEPMGF1P, saml.KeyTransportRSAOAEP} {
		for _, data := range []string{saml.DataAES256GCM, saml.DataAES128GCM, saml.DataAES256CBC} {
			t.Run(kt[strings.LastIndex(kt, "#")+1:]+"/"+data[strings.LastIndex(data, "#")+1:], func(t *testing.T) {
				a := encAssertion(t, k)
				before, err := etree.NewDocumentWithRoot(a.Copy()).WriteToString()
				require.NoError(t, err)
				ea, err := saml.EncryptAssertion(a, k.spCert, kt, data)
				require.NoError(t, err)

				var b strings.Builder
				shape(ea, 0, &b)
				assert.Equal(t, wantShape(kt, data, true), b.String())
				assert.Equal(t, base64.StdEncoding.EncodeToString(k.spCert.Raw), ea.FindElement("//EncryptedKey/KeyInfo/X509Data/X509Certificate").Text())
				checkDecrypted(t, k, a, ea)

				after, err := etree.NewDocumentWithRoot(a.Copy()).WriteToString()
				require.NoError(t, err)
				assert.Equal(t, before, after, "the assertion must not be modified")
				assert.Equal(t, "Response", a.Parent().Tag, "the assertion must stay in place")
			})
		}
	}
}

// TestEncryptAssertionFresh: every call draws a new content key and IV or
// nonce.
func TestEncryptAssertionFresh(t *testing.T) {
	k := mustKeys(t)
	a := encAssertion(t, k)
	seen := map[string]bool{}
	for range 3 {
		ea, err := saml.EncryptAssertion(a, k.spCert, saml.KeyTransportRSAOAEPMGF1P, saml.DataAES256GCM)
		require.NoError(t, err)
		for _, cv := range ea.FindElements("//CipherValue") {
			assert.False(t, seen[cv.Text()], "repeated CipherValue")
			seen[cv.Text()] = true
		}
	}
	assert.Len(t, seen, 6)
}

func TestEncryptAssertionRejects(t *testing.T) {
	k := mustKeys(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecDER, err := samltest.SelfSignedCert("ec", ecKey, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	require.NoError(t, err)
	ecCert, err := x509.ParseCertificate(ecDER)
	require.NoError(t, err)

	type args struct {
		a              *etree.Element
		to             *x509.Certificate
		kt, data       string
		insecureAllows bool // InsecureEncryptAssertion accepts this change
	}
	cases := []struct {
		name    string
		change  func(*args)
		ok      bool // positive control
		wantAlg bool // error is ErrEncryptionAlgorithm
	}{
		{name: "valid (positive control)", change: func(*args) {}, ok: true},
		{name: "AES-256-CBC (positive control)", change: func(a *args) { a.data = saml.DataAES256CBC }, ok: true},
		{name: "xmlenc11 RSA-OAEP, AES-128-GCM (positive control)", change: func(a *args) {
			a.kt, a.data = saml.KeyTransportRSAOAEP, saml.DataAES128GCM
		}, ok: true},
		{name: "RSA-1_5 key transport", change: func(a *args) { a.kt, a.insecureAllows = saml.KeyTransportRSA15, true }, wantAlg: true},
		{name: "AES-128-CBC", change: func(a *args) { a.data = "http://www.w3.org/2001/04/xmlenc#aes128-cbc" }, wantAlg: true},
		{name: "AES-192-GCM", change: func(a *args) { a.data = "http://www.w3.org/2009/xmlenc11#aes192-gcm" }, wantAlg: true},
		{name: "triple DES", change: func(a *args) { a.data = "http://www.w3.org/2001/04/xmlenc#tripledes-cbc" }, wantAlg: true},
		{name: "AES key wrap", change: func(a *args) { a.kt = "http://www.w3.org/2001/04/xmlenc#kw-aes256" }, wantAlg: true},
		{name: "empty key transport", change: func(a *args) { a.kt = "" }, wantAlg: true},
		{name: "empty data encryption", change: func(a *args) { a.data = "" }, wantAlg: true},
		{name: "no certificate", change: func(a *args) { a.to = nil }},
		{name: "ECDSA certificate", change: func(a *args) { a.to = ecCert }},
		{name: "no assertion", change: func(a *args) { a.a = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := args{a: encAssertion(t, k), to: k.spCert, kt: saml.KeyTransportRSAOAEPMGF1P, data: saml.DataAES256GCM}
			tc.change(&in)
			ea, err := saml.EncryptAssertion(in.a, in.to, in.kt, in.data)
			iea, ierr := saml.InsecureEncryptAssertion(in.a, in.to, in.kt, in.data)
			if tc.ok {
				require.NoError(t, err)
				require.NoError(t, ierr)
				assert.NotNil(t, ea)
				assert.NotNil(t, iea)
				return
			}
			require.Error(t, err)
			assert.Nil(t, ea)
			assert.Equal(t, tc.wantAlg, errors.Is(err, saml.ErrEncryptionAlgorithm), "%v", err)
			if in.insecureAllows {
				require.NoError(t, ierr)
				return
			}
			require.Error(t, ierr)
			assert.Nil(t, iea)
			assert.Equal(t, tc.wantAlg, errors.Is(ierr, saml.ErrEncryptionAlgorithm), "%v", ierr)
		})
	}
}

// TestInsecureEncryptAssertionRSA15: the weak form a test IdP sends to
// prove that verifiers reject it is genuine RSA-1_5 (without the OAEP
// DigestMethod) that gosaml2 would decrypt, and Verifier's allow-list is
// what stops it.
func TestInsecureEncryptAssertionRSA15(t *testing.T) {
	k := mustKeys(t)
	for _, data := range []string{saml.DataAES256GCM, saml.DataAES256CBC} {
		t.Run(data[strings.LastIndex(data, "#")+1:], func(t *testing.T) {
			a := encAssertion(t, k)
			ea, err := saml.InsecureEncryptAssertion(a, k.spCert, saml.KeyTransportRSA15, data)
			require.NoError(t, err)
			var b strings.Builder
			shape(ea, 0, &b)
			assert.Equal(t, wantShape(saml.KeyTransportRSA15, data, false), b.String())
			wrapped, err := base64.StdEncoding.DecodeString(ea.FindElement("//EncryptedKey/CipherData/CipherValue").Text())
			require.NoError(t, err)
			key, err := rsa.DecryptPKCS1v15(nil, k.spKey, wrapped)
			require.NoError(t, err)
			assert.Len(t, key, 32)
			checkDecrypted(t, k, a, ea)
		})
	}
}
