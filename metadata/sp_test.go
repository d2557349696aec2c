package metadata

import (
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func validSPConfig(t testing.TB) SPConfig {
	certs := loadTestCerts(t)
	return SPConfig{
		EntityID: "https://gw.example.com/saml/sp/metadata",
		ACS: []ACSEndpoint{
			{URL: "https://us-east-1.gw.example.com/saml/acs"},
			{URL: "https://eu-west-1.gw.example.com/saml/acs"},
		},
		SigningCert:          certs["test-idp"],
		EncryptionCert:       certs["adfs-encryption"],
		AuthnRequestsSigned:  true,
		WantAssertionsSigned: true,
		NameIDFormats: []string{
			"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
			"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
		},
		ValidUntil: time.Date(2027, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)),
	}
}

// mdChildren returns el's child elements in the metadata namespace, by local
// name.
func mdChildren(el *etree.Element) []*etree.Element {
	var out []*etree.Element
	for _, ch := range el.ChildElements() {
		if ch.NamespaceURI() == nsMD {
			out = append(out, ch)
		}
	}
	return out
}

func parseSP(t *testing.T, b []byte) (ed, sso *etree.Element) {
	t.Helper()
	require.NoError(t, checkXML(b, parseLimits()), "BuildSP output must pass the hardened XML check")
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(b))
	ed = doc.Root()
	require.True(t, isMD(ed, "EntityDescriptor"))
	kids := mdChildren(ed)
	require.Len(t, kids, 1)
	require.True(t, isMD(kids[0], "SPSSODescriptor"))
	// Never an empty attribute, never a text element without text.
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		for _, a := range e.Attr {
			assert.NotEmpty(t, a.Value, "empty attribute %s on %s", a.FullKey(), e.Tag)
		}
		switch e.Tag {
		case "NameIDFormat", "X509Certificate":
			assert.NotEmpty(t, strings.TrimSpace(e.Text()), "empty %s", e.Tag)
		}
		for _, ch := range e.ChildElements() {
			walk(ch)
		}
	}
	walk(ed)
	return ed, kids[0]
}

func TestBuildSP(t *testing.T) {
	cfg := validSPConfig(t)
	b, err := BuildSP(cfg)
	require.NoError(t, err)
	ed, sso := parseSP(t, b)

	assert.Equal(t, cfg.EntityID, attr(ed, "entityID"))
	assert.Equal(t, "2027-01-02T02:04:05Z", attr(ed, "validUntil"))
	assert.Equal(t, protocolSAML2, attr(sso, "protocolSupportEnumeration"))
	assert.Equal(t, "true", attr(sso, "AuthnRequestsSigned"))
	assert.Equal(t, "true", attr(sso, "WantAssertionsSigned"))

	var order []string
	var kds, acs []*etree.Element
	var formats []string
	for _, ch := range mdChildren(sso) {
		order = append(order, ch.Tag)
		switch ch.Tag {
		case "KeyDescriptor":
			kds = append(kds, ch)
		case "NameIDFormat":
			formats = append(formats, ch.Text())
		case "AssertionConsumerService":
			acs = append(acs, ch)
		}
	}
	// SAML Metadata schema order: KeyDescriptor*, NameIDFormat*, ACS+.
	assert.Equal(t, []string{"KeyDescriptor", "KeyDescriptor", "NameIDFormat", "NameIDFormat",
		"AssertionConsumerService", "AssertionConsumerService"}, order)
	assert.Equal(t, cfg.NameIDFormats, formats)

	require.Len(t, kds, 2)
	for i, want := range []struct {
		use  string
		cert *x509.Certificate
	}{{"signing", cfg.SigningCert}, {"encryption", cfg.EncryptionCert}} {
		assert.Equal(t, want.use, attr(kds[i], "use"))
		xc := kds[i].FindElement("./KeyInfo/X509Data/X509Certificate")
		require.NotNil(t, xc)
		assert.Equal(t, nsDS, xc.NamespaceURI())
		der, err := base64.StdEncoding.DecodeString(xc.Text())
		require.NoError(t, err)
		assert.Equal(t, want.cert.Raw, der)
	}
	var algs []string
	for _, em := range kds[1].SelectElements("EncryptionMethod") {
		algs = append(algs, attr(em, "Algorithm"))
	}
	assert.Equal(t, []string{algAES256GCM, algAES128GCM, algRSAOAEP11, algRSAOAEPMGF}, algs)
	assert.Empty(t, kds[0].SelectElements("EncryptionMethod"))

	require.Len(t, acs, 2)
	for i, a := range acs {
		assert.Equal(t, BindingHTTPPost, attr(a, "Binding"))
		assert.Equal(t, cfg.ACS[i].URL, attr(a, "Location"))
		assert.Equal(t, []string{"0", "1"}[i], attr(a, "index"))
		v, ok := attrOK(a, "isDefault")
		if i == 0 {
			assert.True(t, ok)
			assert.Equal(t, "true", v)
		} else {
			assert.False(t, ok, "isDefault only on the first ACS")
		}
	}
}

func TestBuildSPMinimal(t *testing.T) {
	b, err := BuildSP(SPConfig{
		EntityID: "urn:gatehouse:sp",
		ACS:      []ACSEndpoint{{URL: "http://127.0.0.1:8080/saml/acs"}},
	})
	require.NoError(t, err)
	ed, sso := parseSP(t, b)
	_, ok := attrOK(ed, "validUntil")
	assert.False(t, ok)
	assert.NotContains(t, string(b), "xmlns:ds")
	assert.Equal(t, "false", attr(sso, "AuthnRequestsSigned"))
	assert.Equal(t, "false", attr(sso, "WantAssertionsSigned"))
	kids := mdChildren(sso)
	require.Len(t, kids, 1, "no KeyDescriptor, no NameIDFormat")
	assert.Equal(t, "AssertionConsumerService", kids[0].Tag)
	assert.Equal(t, "0", attr(kids[0], "index"))
	assert.Equal(t, "true", attr(kids[0], "isDefault"))
}

func TestBuildSPEscaping(t *testing.T) {
	cfg := validSPConfig(t)
	cfg.EntityID = `https://sp.test/?a=1&b="<x>"`
	cfg.ACS[0].URL = "https://sp.test/acs?x=1&y=2"
	b, err := BuildSP(cfg)
	require.NoError(t, err)
	ed, sso := parseSP(t, b)
	assert.Equal(t, cfg.EntityID, attr(ed, "entityID"))
	assert.Equal(t, cfg.ACS[0].URL, attr(sso.SelectElement("AssertionConsumerService"), "Location"))
}

// TestBuildSPInvalid starts from a valid config and changes one field.
func TestBuildSPInvalid(t *testing.T) {
	certs := loadTestCerts(t)
	tests := []struct {
		name   string
		mutate func(c *SPConfig)
		want   error // nil: must succeed
	}{
		{"unchanged", func(*SPConfig) {}, nil},
		{"empty entity ID", func(c *SPConfig) { c.EntityID = "" }, ErrInvalidConfig},
		{"entity ID with surrounding space", func(c *SPConfig) { c.EntityID = " https://gw.example.com " }, ErrInvalidConfig},
		{"entity ID with control character", func(c *SPConfig) { c.EntityID = "https://gw.example.com/\x01" }, ErrInvalidConfig},
		{"entity ID with invalid UTF-8", func(c *SPConfig) { c.EntityID = "https://gw.example.com/\xff" }, ErrInvalidConfig},
		{"entity ID of 1025 bytes", func(c *SPConfig) { c.EntityID = "urn:" + strings.Repeat("x", 1021) }, ErrInvalidConfig},
		{"entity ID of 1024 bytes", func(c *SPConfig) { c.EntityID = "urn:" + strings.Repeat("x", 1020) }, nil},
		{"no ACS", func(c *SPConfig) { c.ACS = nil }, ErrInvalidConfig},
		{"http ACS", func(c *SPConfig) { c.ACS[1].URL = "http://eu-west-1.gw.example.com/saml/acs" }, ErrInsecureURL},
		{"http ACS on loopback", func(c *SPConfig) { c.ACS[1].URL = "http://localhost:8080/saml/acs" }, nil},
		{"relative ACS", func(c *SPConfig) { c.ACS[1].URL = "/saml/acs" }, ErrInsecureURL},
		{"ACS with fragment", func(c *SPConfig) { c.ACS[1].URL = "https://eu-west-1.gw.example.com/saml/acs#x" }, ErrInsecureURL},
		{"ACS with user info", func(c *SPConfig) { c.ACS[1].URL = "https://u:p@eu-west-1.gw.example.com/saml/acs" }, ErrInsecureURL},
		{"ACS with empty URL", func(c *SPConfig) { c.ACS[1].URL = "" }, ErrInvalidConfig},
		{"duplicate ACS", func(c *SPConfig) { c.ACS[1].URL = c.ACS[0].URL }, ErrInvalidConfig},
		{"RSA-1024 signing certificate", func(c *SPConfig) { c.SigningCert = certs["weak-rsa1024"] }, ErrWeakKey},
		{"ECDSA signing certificate", func(c *SPConfig) { c.SigningCert = certs["test-idp-next"] }, nil},
		{"ECDSA encryption certificate", func(c *SPConfig) { c.EncryptionCert = certs["test-idp-next"] }, ErrWeakKey},
		{"RSA-1024 encryption certificate", func(c *SPConfig) { c.EncryptionCert = certs["weak-rsa1024"] }, ErrWeakKey},
		{"empty NameID format", func(c *SPConfig) { c.NameIDFormats[1] = "" }, ErrInvalidConfig},
		{"duplicate NameID format", func(c *SPConfig) { c.NameIDFormats[1] = c.NameIDFormats[0] }, ErrInvalidConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validSPConfig(t)
			tc.mutate(&cfg)
			b, err := BuildSP(cfg)
			if tc.want == nil {
				require.NoError(t, err)
				parseSP(t, b)
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Nil(t, b)
		})
	}
}
