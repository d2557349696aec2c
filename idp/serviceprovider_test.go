package idp

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// spMetadataXML is a hand-written SP metadata document in the shape real
// SPs publish: two POST ACS endpoints (the second default), an Artifact
// ACS that is ignored, SLO, a signing and an encryption key.
func spMetadataXML(t testing.TB) string {
	app := testApp()
	c := base64.StdEncoding.EncodeToString(app.Certificate().Raw)
	return `<?xml version="1.0" encoding="UTF-8"?>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://app.example.com/sp" validUntil="2999-01-01T00:00:00Z">
  <SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="true" WantAssertionsSigned="1">
    <KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + c + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>
    <KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + c + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
      <EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>
      <EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>
    </KeyDescriptor>
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://app.example.com/slo"/>
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://app.example.com/soap"/>
    <NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>
    <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://app.example.com/acs" index="0"/>
    <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://app.example.com/artifact" index="1"/>
    <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://127.0.0.1:8080/acs" index="2" isDefault="true"/>
  </SPSSODescriptor>
</EntityDescriptor>`
}

func TestParseServiceProviderMetadata(t *testing.T) {
	now := time.Now()
	m, err := ParseServiceProviderMetadata([]byte(spMetadataXML(t)), now)
	require.NoError(t, err)
	assert.Equal(t, "https://app.example.com/sp", m.EntityID)
	assert.Equal(t, []Endpoint{
		{Index: 0, Location: "https://app.example.com/acs", Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"},
		{Index: 2, Location: "http://127.0.0.1:8080/acs", Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", IsDefault: true},
	}, m.ACS)
	assert.Equal(t, []Endpoint{{Location: "https://app.example.com/slo", Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"}}, m.SLO)
	assert.Len(t, m.SigningCertificates, 1)
	assert.Len(t, m.EncryptionCertificates, 1)
	assert.Equal(t, []string{EncAES256GCM, KeyRSAOAEPMGF1}, m.EncryptionMethods)
	assert.True(t, m.AuthnRequestsSigned)
	assert.True(t, m.WantAssertionsSigned)
	assert.Equal(t, []string{NameIDFormatEmailURI}, m.NameIDFormats)
	assert.Equal(t, 2999, m.ValidUntil.Year())

	sp, err := NewServiceProvider("app", []byte(spMetadataXML(t)), ServiceProviderOptions{}, now)
	require.NoError(t, err)
	assert.Equal(t, 2, sp.DefaultACS().Index)
	assert.True(t, sp.WantAuthnRequestsSigned)

	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	weakDER, err := samltest.SelfSignedCert("weak", weak, now.Add(-time.Hour), now.Add(time.Hour))
	require.NoError(t, err)

	for _, tc := range []struct{ name, old, new string }{
		{"DOCTYPE", `<?xml version="1.0" encoding="UTF-8"?>`, `<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE x [<!ENTITY e "x">]>`},
		{"wrong namespace", `xmlns="urn:oasis:names:tc:SAML:2.0:metadata"`, `xmlns="urn:example:metadata"`},
		{"javascript ACS", `Location="https://app.example.com/acs"`, `Location="javascript:alert(1)//https://app.example.com/acs"`},
		{"data ACS", `Location="https://app.example.com/acs"`, `Location="data:text/html,hi"`},
		{"http ACS on a public host", `Location="https://app.example.com/acs"`, `Location="http://app.example.com/acs"`},
		{"ACS with user info", `Location="https://app.example.com/acs"`, `Location="https://u:p@app.example.com/acs"`},
		{"ACS host with CSP syntax", `Location="https://app.example.com/acs"`, `Location="https://app.example.com;script-src/acs"`},
		{"javascript SLO", `Location="https://app.example.com/slo"`, `Location="javascript:x"`},
		{"duplicate index", `index="2"`, `index="0"`},
		{"missing index", ` index="2"`, ``},
		{"bad index", `index="2"`, `index="-1"`},
		{"two defaults", `index="0"/>`, `index="0" isDefault="true"/>`},
		{"bad boolean", `WantAssertionsSigned="1"`, `WantAssertionsSigned="yes"`},
		{"expired", `validUntil="2999-01-01T00:00:00Z"`, `validUntil="2000-01-01T00:00:00Z"`},
		{"no POST ACS", `bindings:HTTP-POST"`, `bindings:HTTP-Artifact"`},
		{"bad key use", `use="signing"`, `use="both"`},
		{"weak key", base64.StdEncoding.EncodeToString(testApp().Certificate().Raw), base64.StdEncoding.EncodeToString(weakDER)},
		{"certificate with markup", `<ds:X509Certificate>`, `<ds:X509Certificate><!-- c -->`},
		{"no SP descriptor", `SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"`, `SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := spMetadataXML(t)
			require.Contains(t, doc, tc.old)
			n := 1
			if tc.name == "no POST ACS" {
				n = -1
			}
			_, err := ParseServiceProviderMetadata([]byte(strings.Replace(doc, tc.old, tc.new, n)), now)
			require.ErrorIs(t, err, ErrInvalidMetadata)
		})
	}
}

func TestParseServiceProviderMetadataAggregate(t *testing.T) {
	one := strings.TrimPrefix(spMetadataXML(t), `<?xml version="1.0" encoding="UTF-8"?>`)
	agg := `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` + one + `</EntitiesDescriptor>`
	m, err := ParseServiceProviderMetadata([]byte(agg), time.Now())
	require.NoError(t, err)
	assert.Equal(t, "https://app.example.com/sp", m.EntityID)
	two := `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` + one + one + `</EntitiesDescriptor>`
	_, err = ParseServiceProviderMetadata([]byte(two), time.Now())
	require.ErrorIs(t, err, ErrInvalidMetadata)
}

func TestNewServiceProviderValidation(t *testing.T) {
	now := time.Now()
	app := testApp()
	plain := appMD(t, app, false, false)
	for _, tc := range []struct {
		name  string
		id    string
		md    []byte
		opts  ServiceProviderOptions
		field string
	}{
		{"control", "wiki", plain, ServiceProviderOptions{NameIDFormat: NameIDPersistent, Sign: SignBoth, DefaultRelayState: "/start",
			Attributes: []AttributeMapping{{Name: "https://aws.amazon.com/SAML/Attributes/AccessControl:CostCenter", Field: "attributes.cost_center"}}}, ""},
		{"empty id", "", plain, ServiceProviderOptions{}, "id"},
		{"id with slash", "a/b", plain, ServiceProviderOptions{}, "id"},
		{"invalid metadata", "wiki", []byte("<x/>"), ServiceProviderOptions{}, "metadata"},
		{"unknown NameID format", "wiki", plain, ServiceProviderOptions{NameIDFormat: "kerberos"}, "name_id_format"},
		{"unknown sign mode", "wiki", plain, ServiceProviderOptions{Sign: SignMode(9)}, "sign"},
		{"encryption without certificate", "wiki", plain, ServiceProviderOptions{EncryptAssertions: true}, "encrypt_assertions"},
		{"relay state too long", "wiki", plain, ServiceProviderOptions{DefaultRelayState: strings.Repeat("x", 81)}, "default_relay_state"},
		{"relay state with control chars", "wiki", plain, ServiceProviderOptions{DefaultRelayState: "a\nb"}, "default_relay_state"},
		{"empty attribute name", "wiki", plain, ServiceProviderOptions{Attributes: []AttributeMapping{{Field: "email"}}}, "attributes[0].name"},
		{"duplicate attribute name", "wiki", plain, ServiceProviderOptions{Attributes: []AttributeMapping{{Name: "a", Field: "email"}, {Name: "a", Field: "groups"}}}, "attributes[1].name"},
		{"unknown field", "wiki", plain, ServiceProviderOptions{Attributes: []AttributeMapping{{Name: "a", Field: "password"}}}, "attributes[0].field"},
		{"empty custom key", "wiki", plain, ServiceProviderOptions{Attributes: []AttributeMapping{{Name: "a", Field: "attributes."}}}, "attributes[0].field"},
		{"bad name format", "wiki", plain, ServiceProviderOptions{Attributes: []AttributeMapping{{Name: "a", Field: "email", NameFormat: "x"}}}, "attributes[0].name_format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := NewServiceProvider(tc.id, tc.md, tc.opts, now)
			if tc.field == "" {
				require.NoError(t, err)
				assert.Equal(t, AttrNameFormatURI, sp.Attributes[0].NameFormat)
				return
			}
			require.ErrorIs(t, err, ErrInvalidServiceProvider)
			assert.Contains(t, err.Error(), ": "+tc.field+": ")
		})
	}
	// The AuthnRequestsSigned flag needs a signing key.
	noKey := strings.Replace(string(appMD(t, app, true, false)), "<md:KeyDescriptor", "<md:Extensions", 1)
	_, err := NewServiceProvider("wiki", []byte(noKey), ServiceProviderOptions{}, now)
	require.Error(t, err)
	sp, err := NewServiceProvider("wiki", plain, ServiceProviderOptions{RequireSignedRequests: true, Attributes: []AttributeMapping{{Name: "mail", Field: "email"}}}, now)
	require.NoError(t, err)
	assert.True(t, sp.WantAuthnRequestsSigned)
	assert.Equal(t, AttrNameFormatBasic, sp.Attributes[0].NameFormat)
}

func TestNewConfig(t *testing.T) {
	f := newFixture(t, nil)
	valid := func() Config {
		return Config{
			EntityID: testEntityID, SSOURL: testSSOURL, ServiceProviders: f.sps, Sessions: f.sessions,
			Access: fakeAccess{}, Keys: f.keys, States: &fakeStates{m: map[string]PendingSSO{}},
			PersistentIDKey: make([]byte, 32),
		}
	}
	_, err := New(valid())
	require.NoError(t, err)
	for name, edit := range map[string]func(*Config){
		"no entity ID":        func(c *Config) { c.EntityID = "" },
		"relative SSO URL":    func(c *Config) { c.SSOURL = "/sso" },
		"http SSO URL":        func(c *Config) { c.SSOURL = "http://gw.example.com/sso" },
		"bad SLO URL":         func(c *Config) { c.SLOURL = "javascript:x" },
		"resume not local":    func(c *Config) { c.ResumePath = "//evil.example.com/x" },
		"no registry":         func(c *Config) { c.ServiceProviders = nil },
		"no states":           func(c *Config) { c.States = nil },
		"short HMAC key":      func(c *Config) { c.PersistentIDKey = make([]byte, 16) },
		"lifetime over 5m":    func(c *Config) { c.AssertionLifetime = 6 * time.Minute },
		"negative skew":       func(c *Config) { c.ClockSkew = -time.Second },
		"huge request age":    func(c *Config) { c.MaxRequestAge = 2 * time.Hour },
		"negative body limit": func(c *Config) { c.MaxBodyBytes = -1 },
	} {
		c := valid()
		edit(&c)
		_, err := New(c)
		assert.Error(t, err, name)
	}
}

func TestIsLocalPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/saml/idp/launch/wiki": true, "/a?b=c": true,
		"": false, "a": false, "//evil.example.com": false, "/\\evil.example.com": false,
		"https://evil.example.com/": false, "/a\nb": false,
	} {
		assert.Equal(t, want, isLocalPath(p), p)
	}
}
