package metadata

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var buildNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func validIdPConfig(t testing.TB) IdPConfig {
	certs := loadTestCerts(t)
	return IdPConfig{
		EntityID:            "https://gw.example.com/saml/idp/metadata",
		SigningCertificates: []*x509.Certificate{certs["test-idp"], certs["test-idp-next"]},
		SSOURL:              "https://gw.example.com/saml/idp/sso",
		SLOURL:              "https://gw.example.com/saml/idp/slo",
		NameIDFormats: []string{
			"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
			"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
			"urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
			"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
		},
		WantAuthnRequestsSigned: true,
		ValidUntil:              time.Date(2027, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)),
		CacheDuration:           time.Hour,
	}
}

// parseBuiltIdP checks the shape every BuildIdP output must have and
// returns the IDPSSODescriptor.
func parseBuiltIdP(t *testing.T, b []byte) (ed, sso *etree.Element) {
	t.Helper()
	require.NoError(t, checkXML(b, parseLimits()), "BuildIdP output must pass the hardened XML check")
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(b))
	ed = doc.Root()
	require.True(t, isMD(ed, "EntityDescriptor"))
	kids := mdChildren(ed)
	require.Len(t, kids, 1)
	require.True(t, isMD(kids[0], "IDPSSODescriptor"))
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		for _, a := range e.Attr {
			assert.NotEmpty(t, a.Value, "empty attribute %s on %s", a.FullKey(), e.Tag)
		}
		if len(e.ChildElements()) == 0 {
			assert.NotEmpty(t, strings.TrimSpace(e.Text())+attr(e, "Location"), "empty element %s", e.Tag)
		}
		for _, ch := range e.ChildElements() {
			walk(ch)
		}
	}
	walk(ed)
	return ed, kids[0]
}

// TestBuildIdPRoundTrip parses BuildIdP's output with the package's own
// ParseIdP.
func TestBuildIdPRoundTrip(t *testing.T) {
	cfg := validIdPConfig(t)
	b, err := BuildIdP(cfg)
	require.NoError(t, err)

	md, err := ParseIdP(b, buildNow)
	require.NoError(t, err)
	assert.Equal(t, cfg.EntityID, md.EntityID)
	require.Len(t, md.SigningCertificates, 2)
	assert.True(t, md.SigningCertificates[0].Equal(cfg.SigningCertificates[0]), "current first")
	assert.True(t, md.SigningCertificates[1].Equal(cfg.SigningCertificates[1]), "then next")
	assert.Empty(t, md.EncryptionCertificates, "signing keys only")
	assert.Equal(t, []Endpoint{
		{Binding: BindingHTTPRedirect, Location: cfg.SSOURL},
		{Binding: BindingHTTPPost, Location: cfg.SSOURL},
	}, md.SSOServices)
	assert.Equal(t, []Endpoint{
		{Binding: BindingHTTPRedirect, Location: cfg.SLOURL},
		{Binding: BindingHTTPPost, Location: cfg.SLOURL},
	}, md.SLOServices)
	assert.Equal(t, cfg.NameIDFormats, md.NameIDFormats)
	assert.True(t, md.WantAuthnRequestsSigned)
	assert.True(t, md.ValidUntil.Equal(cfg.ValidUntil))
	assert.Equal(t, time.Hour, md.CacheDuration)

	// ValidUntil is honoured by the parser.
	_, err = ParseIdP(b, cfg.ValidUntil)
	require.ErrorIs(t, err, ErrExpired)
}

func TestBuildIdPStructure(t *testing.T) {
	cfg := validIdPConfig(t)
	b, err := BuildIdP(cfg)
	require.NoError(t, err)
	ed, sso := parseBuiltIdP(t, b)
	assert.Equal(t, cfg.EntityID, attr(ed, "entityID"))
	assert.Equal(t, "2027-01-02T02:04:05Z", attr(ed, "validUntil"))
	assert.Equal(t, "PT3600S", attr(ed, "cacheDuration"))
	assert.Equal(t, protocolSAML2, attr(sso, "protocolSupportEnumeration"))
	assert.Equal(t, "true", attr(sso, "WantAuthnRequestsSigned"))

	var order []string
	var kds []*etree.Element
	for _, ch := range mdChildren(sso) {
		order = append(order, ch.Tag)
		if ch.Tag == "KeyDescriptor" {
			kds = append(kds, ch)
		}
	}
	// SAML Metadata schema order: KeyDescriptor*, SingleLogoutService*,
	// NameIDFormat*, SingleSignOnService+.
	assert.Equal(t, []string{"KeyDescriptor", "KeyDescriptor",
		"SingleLogoutService", "SingleLogoutService",
		"NameIDFormat", "NameIDFormat", "NameIDFormat", "NameIDFormat",
		"SingleSignOnService", "SingleSignOnService"}, order)
	require.Len(t, kds, 2)
	for i, kd := range kds {
		assert.Equal(t, "signing", attr(kd, "use"))
		xc := kd.FindElement("./KeyInfo/X509Data/X509Certificate")
		require.NotNil(t, xc)
		assert.Equal(t, nsDS, xc.NamespaceURI())
		der, err := base64.StdEncoding.DecodeString(xc.Text())
		require.NoError(t, err)
		assert.Equal(t, cfg.SigningCertificates[i].Raw, der)
	}
}

func TestBuildIdPMinimal(t *testing.T) {
	certs := loadTestCerts(t)
	cfg := IdPConfig{
		EntityID:            "urn:gatehouse:idp",
		SigningCertificates: []*x509.Certificate{certs["test-idp"]},
		SSOURL:              "http://127.0.0.1:8080/saml/idp/sso",
	}
	b, err := BuildIdP(cfg)
	require.NoError(t, err)
	ed, sso := parseBuiltIdP(t, b)
	for _, a := range []string{"validUntil", "cacheDuration"} {
		_, ok := attrOK(ed, a)
		assert.False(t, ok, a)
	}
	assert.Equal(t, "false", attr(sso, "WantAuthnRequestsSigned"))
	var order []string
	for _, ch := range mdChildren(sso) {
		order = append(order, ch.Tag)
	}
	assert.Equal(t, []string{"KeyDescriptor", "SingleSignOnService", "SingleSignOnService"}, order)

	md, err := ParseIdP(b, buildNow)
	require.NoError(t, err)
	assert.Len(t, md.SigningCertificates, 1)
	assert.Empty(t, md.SLOServices)
	assert.Empty(t, md.NameIDFormats)
	assert.True(t, md.ValidUntil.IsZero())
}

func TestBuildIdPEscaping(t *testing.T) {
	cfg := validIdPConfig(t)
	cfg.EntityID = `https://idp.test/?a=1&b="<x>"`
	cfg.SSOURL = "https://idp.test/sso?x=1&y=<2>"
	b, err := BuildIdP(cfg)
	require.NoError(t, err)
	md, err := ParseIdP(b, buildNow)
	require.NoError(t, err)
	assert.Equal(t, cfg.EntityID, md.EntityID)
	assert.Equal(t, cfg.SSOURL, md.SSOServices[0].Location)
}

// TestBuildIdPInvalid starts from a valid config and changes one field; the
// error names that field.
func TestBuildIdPInvalid(t *testing.T) {
	certs := loadTestCerts(t)
	tests := []struct {
		name   string
		mutate func(c *IdPConfig)
		want   error  // nil: must succeed
		field  string // named in the error
	}{
		{"unchanged", func(*IdPConfig) {}, nil, ""},
		{"empty entity ID", func(c *IdPConfig) { c.EntityID = "" }, ErrInvalidConfig, "EntityID"},
		{"entity ID with surrounding space", func(c *IdPConfig) { c.EntityID = " urn:x " }, ErrInvalidConfig, "EntityID"},
		{"entity ID with control character", func(c *IdPConfig) { c.EntityID = "urn:x\x00" }, ErrInvalidConfig, "EntityID"},
		{"entity ID of 1025 bytes", func(c *IdPConfig) { c.EntityID = "urn:" + strings.Repeat("x", 1021) }, ErrInvalidConfig, "EntityID"},
		{"entity ID of 1024 bytes", func(c *IdPConfig) { c.EntityID = "urn:" + strings.Repeat("x", 1020) }, nil, ""},
		{"no signing certificate", func(c *IdPConfig) { c.SigningCertificates = nil }, ErrInvalidConfig, "SigningCertificates"},
		{"nil signing certificate", func(c *IdPConfig) { c.SigningCertificates[1] = nil }, ErrInvalidConfig, "SigningCertificates[1]"},
		{"RSA-1024 next certificate", func(c *IdPConfig) { c.SigningCertificates[1] = certs["weak-rsa1024"] }, ErrWeakKey, "SigningCertificates[1]"},
		{"P-224 current certificate", func(c *IdPConfig) { c.SigningCertificates[0] = certs["weak-p224"] }, ErrWeakKey, "SigningCertificates[0]"},
		{"Ed25519 certificate", func(c *IdPConfig) { c.SigningCertificates[0] = certs["ed25519"] }, ErrWeakKey, "SigningCertificates[0]"},
		{"duplicate certificate", func(c *IdPConfig) { c.SigningCertificates[1] = c.SigningCertificates[0] }, ErrInvalidConfig, "SigningCertificates[1]"},
		{"three certificates", func(c *IdPConfig) {
			c.SigningCertificates = append(c.SigningCertificates, certs["okta"])
		}, nil, ""},
		{"empty SSO URL", func(c *IdPConfig) { c.SSOURL = "" }, ErrInvalidConfig, "SSOURL"},
		{"http SSO URL", func(c *IdPConfig) { c.SSOURL = "http://gw.example.com/saml/idp/sso" }, ErrInsecureURL, "SSOURL"},
		{"http SSO URL on loopback", func(c *IdPConfig) { c.SSOURL = "http://[::1]:8080/saml/idp/sso" }, nil, ""},
		{"relative SSO URL", func(c *IdPConfig) { c.SSOURL = "/saml/idp/sso" }, ErrInsecureURL, "SSOURL"},
		{"javascript SSO URL", func(c *IdPConfig) { c.SSOURL = "javascript:alert(1)" }, ErrInsecureURL, "SSOURL"},
		{"SSO URL with fragment", func(c *IdPConfig) { c.SSOURL = "https://gw.example.com/sso#x" }, ErrInsecureURL, "SSOURL"},
		{"SSO URL with user info", func(c *IdPConfig) { c.SSOURL = "https://u:p@gw.example.com/sso" }, ErrInsecureURL, "SSOURL"},
		{"no SLO URL", func(c *IdPConfig) { c.SLOURL = "" }, nil, ""},
		{"http SLO URL", func(c *IdPConfig) { c.SLOURL = "http://gw.example.com/saml/idp/slo" }, ErrInsecureURL, "SLOURL"},
		{"SLO URL with white space", func(c *IdPConfig) { c.SLOURL = " https://gw.example.com/slo" }, ErrInvalidConfig, "SLOURL"},
		{"empty NameID format", func(c *IdPConfig) { c.NameIDFormats[2] = "" }, ErrInvalidConfig, "NameIDFormats[2]"},
		{"duplicate NameID format", func(c *IdPConfig) { c.NameIDFormats[1] = c.NameIDFormats[0] }, ErrInvalidConfig, "NameIDFormats[1]"},
		{"no NameID formats", func(c *IdPConfig) { c.NameIDFormats = nil }, nil, ""},
		{"negative cache duration", func(c *IdPConfig) { c.CacheDuration = -time.Hour }, ErrInvalidConfig, "CacheDuration"},
		{"fractional cache duration", func(c *IdPConfig) { c.CacheDuration = 1500 * time.Millisecond }, ErrInvalidConfig, "CacheDuration"},
		{"cache duration of 31 days", func(c *IdPConfig) { c.CacheDuration = 31 * 24 * time.Hour }, ErrInvalidConfig, "CacheDuration"},
		{"no cache duration", func(c *IdPConfig) { c.CacheDuration = 0 }, nil, ""},
		{"no validUntil", func(c *IdPConfig) { c.ValidUntil = time.Time{} }, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validIdPConfig(t)
			tc.mutate(&cfg)
			b, err := BuildIdP(cfg)
			if tc.want == nil {
				require.NoError(t, err)
				_, err = ParseIdP(b, buildNow)
				require.NoError(t, err, "valid output parses")
				return
			}
			require.Error(t, err)
			assert.Nil(t, b)
			assert.ErrorIs(t, err, tc.want)
			assert.ErrorIs(t, err, ErrInvalidConfig)
			if !strings.Contains(err.Error(), tc.field+":") && !strings.Contains(err.Error(), tc.field+" ") {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
			assert.False(t, errors.Is(err, ErrInvalid), "a config error, not a parse error")
		})
	}
}
