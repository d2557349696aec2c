package metadata

import (
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const baseIdPTemplate = `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.test/saml" validUntil="2030-01-01T00:00:00Z" cacheDuration="PT2H">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="true">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>CERT_SIGNING</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>CERT_ENC</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.test/slo"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
`

// baseIdP returns a valid IdP metadata document signed by "test-idp" and
// encrypting to "test-idp-next".
func baseIdP(t testing.TB) (string, map[string]*x509.Certificate) {
	certs := loadTestCerts(t)
	doc := strings.NewReplacer(
		"CERT_SIGNING", b64(certs["test-idp"]),
		"CERT_ENC", b64(certs["test-idp-next"]),
	).Replace(baseIdPTemplate)
	return doc, certs
}

// replaceOnce replaces old, which must occur exactly once, with new.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	require.Equal(t, 1, strings.Count(s, old), "mutation target %q must occur once", old)
	return strings.Replace(s, old, new, 1)
}

func TestParseIdPBase(t *testing.T) {
	doc, certs := baseIdP(t)
	md, err := ParseIdP([]byte(doc), testNow)
	require.NoError(t, err)
	assert.Equal(t, "https://idp.test/saml", md.EntityID)
	assert.Equal(t, []*x509.Certificate{certs["test-idp"]}, md.SigningCertificates)
	assert.Equal(t, []*x509.Certificate{certs["test-idp-next"]}, md.EncryptionCertificates)
	assert.Equal(t, []Endpoint{{Binding: BindingHTTPRedirect, Location: "https://idp.test/sso"}}, md.SSOServices)
	assert.Equal(t, []Endpoint{{Binding: BindingHTTPRedirect, Location: "https://idp.test/slo"}}, md.SLOServices)
	assert.Equal(t, []string{"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"}, md.NameIDFormats)
	assert.True(t, md.WantAuthnRequestsSigned)
	assert.Equal(t, date(2030, 1, 1), md.ValidUntil.UTC())
	assert.Equal(t, 2*time.Hour, md.CacheDuration)
	e, ok := md.SSOService(BindingHTTPRedirect)
	assert.True(t, ok)
	assert.Equal(t, "https://idp.test/sso", e.Location)
	_, ok = md.SSOService(BindingHTTPPost)
	assert.False(t, ok)
	assert.Equal(t, certs["test-idp"].NotAfter, md.NextCertificateExpiry())

	c := md.Clone()
	c.SSOServices[0].Location = "https://changed.test/"
	assert.Equal(t, "https://idp.test/sso", md.SSOServices[0].Location, "Clone must not share slices")
}

// TestParseIdPMutations starts from the valid base document and changes one
// thing per case. Cases with a nil want are positive controls.
func TestParseIdPMutations(t *testing.T) {
	const sso = `Location="https://idp.test/sso"`
	const sigKD = `<md:KeyDescriptor use="signing">`
	tests := []struct {
		name   string
		mutate func(t *testing.T, doc string, certs map[string]*x509.Certificate) string
		want   error
		check  func(t *testing.T, md *IdPMetadata)
	}{
		{
			name:   "unchanged",
			mutate: func(_ *testing.T, doc string, _ map[string]*x509.Certificate) string { return doc },
		},
		{
			name: "validUntil in the past",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `validUntil="2030-01-01T00:00:00Z"`, `validUntil="2026-06-01T11:59:59Z"`)
			},
			want: ErrExpired,
		},
		{
			name: "validUntil equal to now",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `validUntil="2030-01-01T00:00:00Z"`, `validUntil="2026-06-01T12:00:00Z"`)
			},
			want: ErrExpired,
		},
		{
			name: "validUntil one second ahead",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `validUntil="2030-01-01T00:00:00Z"`, `validUntil="2026-06-01T12:00:01Z"`)
			},
			check: func(t *testing.T, md *IdPMetadata) {
				assert.Equal(t, testNow.Add(time.Second), md.ValidUntil.UTC())
			},
		},
		{
			name: "validUntil without time zone is UTC",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `validUntil="2030-01-01T00:00:00Z"`, `validUntil="2029-02-03T04:05:06.5"`)
			},
			check: func(t *testing.T, md *IdPMetadata) {
				assert.Equal(t, time.Date(2029, 2, 3, 4, 5, 6, 5e8, time.UTC), md.ValidUntil)
			},
		},
		{
			name: "expired validUntil on the IDPSSODescriptor",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `<md:IDPSSODescriptor `, `<md:IDPSSODescriptor validUntil="2020-01-01T00:00:00Z" `)
			},
			want: ErrExpired,
		},
		{
			name: "earlier validUntil on the IDPSSODescriptor wins",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `<md:IDPSSODescriptor `, `<md:IDPSSODescriptor validUntil="2027-01-01T00:00:00Z" cacheDuration="PT30M" `)
			},
			check: func(t *testing.T, md *IdPMetadata) {
				assert.Equal(t, date(2027, 1, 1), md.ValidUntil.UTC())
				assert.Equal(t, 30*time.Minute, md.CacheDuration)
			},
		},
		{
			name: "malformed validUntil",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `validUntil="2030-01-01T00:00:00Z"`, `validUntil="next year"`)
			},
			want: ErrInvalid,
		},
		{
			name: "malformed cacheDuration",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `cacheDuration="PT2H"`, `cacheDuration="2 hours"`)
			},
			want: ErrInvalid,
		},
		{
			name: "no signing certificate",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, sigKD, `<md:KeyDescriptor use="encryption">`)
			},
			want: ErrNoSigningKey,
		},
		{
			name: "KeyDescriptor without use signs and encrypts",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, sigKD, `<md:KeyDescriptor>`)
			},
			check: func(t *testing.T, md *IdPMetadata) {
				assert.Len(t, md.SigningCertificates, 1)
				assert.Len(t, md.EncryptionCertificates, 2)
			},
		},
		{
			name: "unknown KeyDescriptor use",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, sigKD, `<md:KeyDescriptor use="Signing">`)
			},
			want: ErrInvalid,
		},
		{
			name: "second signing certificate for rollover",
			mutate: func(t *testing.T, doc string, c map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, sigKD, `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>`+
					b64(c["okta"])+`</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`+sigKD)
			},
			check: func(t *testing.T, md *IdPMetadata) {
				require.Len(t, md.SigningCertificates, 2)
				assert.Equal(t, "okta.metadata.test", md.SigningCertificates[0].Subject.CommonName)
				assert.Equal(t, "test-idp.metadata.test", md.SigningCertificates[1].Subject.CommonName)
			},
		},
		{
			name: "duplicate signing certificate is deduplicated",
			mutate: func(t *testing.T, doc string, c map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, sigKD, `<md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>`+
					b64(c["test-idp"])+`</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`+sigKD)
			},
			check: func(t *testing.T, md *IdPMetadata) {
				assert.Len(t, md.SigningCertificates, 1)
				assert.Len(t, md.EncryptionCertificates, 2)
			},
		},
		{
			name: "two certificates in one KeyDescriptor",
			mutate: func(t *testing.T, doc string, c map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, b64(c["test-idp"])+`</ds:X509Certificate>`,
					b64(c["test-idp"])+`</ds:X509Certificate><ds:X509Certificate>`+b64(c["okta"])+`</ds:X509Certificate>`)
			},
			want: ErrInvalid,
		},
		{
			name: "unparseable certificate",
			mutate: func(t *testing.T, doc string, c map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, b64(c["test-idp"]), "MIIBAAAA")
			},
			want: ErrInvalid,
		},
		{
			name: "certificate is not base64",
			mutate: func(t *testing.T, doc string, c map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, b64(c["test-idp"]), "not*base64")
			},
			want: ErrInvalid,
		},
		{
			name: "certificate with trailing garbage",
			mutate: func(t *testing.T, doc string, c map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, b64(c["test-idp"]), b64(c["test-idp"])+"AAAA")
			},
			want: ErrInvalid,
		},
		{
			name: "wrapped base64 certificate",
			mutate: func(t *testing.T, doc string, c map[string]*x509.Certificate) string {
				s := b64(c["test-idp"])
				return replaceOnce(t, doc, s, "\n  "+s[:64]+"\r\n\t"+s[64:]+"\n")
			},
		},
		{
			name: "RSA-1024 signing key",
			mutate: func(t *testing.T, doc string, c map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, b64(c["test-idp"]), b64(c["weak-rsa1024"]))
			},
			want: ErrWeakKey,
		},
		{
			name: "P-224 signing key",
			mutate: func(t *testing.T, doc string, c map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, b64(c["test-idp"]), b64(c["weak-p224"]))
			},
			want: ErrWeakKey,
		},
		{
			name: "Ed25519 signing key",
			mutate: func(t *testing.T, doc string, c map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, b64(c["test-idp"]), b64(c["ed25519"]))
			},
			want: ErrWeakKey,
		},
		{
			name: "RSA-1024 encryption key",
			mutate: func(t *testing.T, doc string, c map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, b64(c["test-idp-next"]), b64(c["weak-rsa1024"]))
			},
			want: ErrWeakKey,
		},
		{
			name: "ECDSA P-256 signing key",
			mutate: func(t *testing.T, doc string, c map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, b64(c["test-idp"]), b64(c["shibboleth"]))
			},
		},
		{
			name: "no SingleSignOnService with a usable binding",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"`,
					`<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP"`)
			},
			want: ErrNoSSOService,
		},
		{
			name: "SingleSignOnService in another namespace",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `<md:SingleSignOnService `, `<SingleSignOnService xmlns="urn:example:other" `)
			},
			want: ErrNoSSOService,
		},
		{
			name: "SingleSignOnService without Binding",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `<md:SingleSignOnService Binding=`, `<md:SingleSignOnService Bind=`)
			},
			want: ErrInvalid,
		},
		{
			name: "http SSO location",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, sso, `Location="http://idp.test/sso"`)
			},
			want: ErrInsecureURL,
		},
		{
			name: "relative SSO location",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, sso, `Location="/sso"`)
			},
			want: ErrInsecureURL,
		},
		{
			name: "javascript SSO location",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, sso, `Location="javascript:alert(1)"`)
			},
			want: ErrInsecureURL,
		},
		{
			name: "missing SSO location",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, sso, `Place="https://idp.test/sso"`)
			},
			want: ErrInsecureURL,
		},
		{
			name: "http SSO location on a look-alike host",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, sso, `Location="http://127.0.0.1.evil.test/sso"`)
			},
			want: ErrInsecureURL,
		},
		{
			name: "http SSO location on 127.0.0.1",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, sso, `Location="http://127.0.0.1:8080/sso"`)
			},
			check: func(t *testing.T, md *IdPMetadata) {
				assert.Equal(t, "http://127.0.0.1:8080/sso", md.SSOServices[0].Location)
			},
		},
		{
			name: "http SSO location on localhost",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, sso, `Location="http://localhost/sso"`)
			},
		},
		{
			name: "http SSO location on ::1",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, sso, `Location="http://[::1]:9000/sso"`)
			},
		},
		{
			name: "http SLO location",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `Location="https://idp.test/slo"`, `Location="http://idp.test/slo"`)
			},
			want: ErrInsecureURL,
		},
		{
			name: "http SLO ResponseLocation",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `Location="https://idp.test/slo"`, `Location="https://idp.test/slo" ResponseLocation="http://idp.test/slo-r"`)
			},
			want: ErrInsecureURL,
		},
		{
			name: "empty entityID",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `entityID="https://idp.test/saml"`, `entityID=""`)
			},
			want: ErrInvalid,
		},
		{
			name: "entityID in another namespace only",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `entityID="https://idp.test/saml"`, `md:entityID="https://idp.test/saml"`)
			},
			want: ErrInvalid,
		},
		{
			name: "WantAuthnRequestsSigned not a boolean",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `WantAuthnRequestsSigned="true"`, `WantAuthnRequestsSigned="yes"`)
			},
			want: ErrInvalid,
		},
		{
			name: "WantAuthnRequestsSigned 0",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `WantAuthnRequestsSigned="true"`, `WantAuthnRequestsSigned="0"`)
			},
			check: func(t *testing.T, md *IdPMetadata) { assert.False(t, md.WantAuthnRequestsSigned) },
		},
		{
			name: "SAML 1.1 only IDPSSODescriptor",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"`,
					`protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol"`)
			},
			want: ErrEntityNotFound,
		},
		{
			name: "protocol listed among others",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"`,
					`protocolSupportEnumeration=" urn:oasis:names:tc:SAML:1.1:protocol  urn:oasis:names:tc:SAML:2.0:protocol "`)
			},
		},
		{
			name: "two SAML 2.0 IDPSSODescriptors",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				i := strings.Index(doc, "<md:IDPSSODescriptor")
				j := strings.Index(doc, "</md:IDPSSODescriptor>") + len("</md:IDPSSODescriptor>")
				return doc[:j] + doc[i:j] + doc[j:]
			},
			want: ErrAmbiguousEntity,
		},
		{
			name: "metadata prefix bound to another namespace",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"`, `xmlns:md="urn:oasis:names:tc:SAML:2.0:metadatA"`)
			},
			want: ErrInvalid,
		},
		{
			name: "xmldsig prefix bound to another namespace",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, `xmlns:ds="http://www.w3.org/2000/09/xmldsig#"`, `xmlns:ds="http://www.w3.org/2000/09/xmldsig"`)
			},
			want: ErrInvalid,
		},
		{
			name: "another metadata prefix",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				doc = strings.ReplaceAll(doc, "md:", "saml2md:")
				return replaceOnce(t, doc, "xmlns:md=", "xmlns:md=\"urn:example:decoy\" xmlns:saml2md=")
			},
		},
		{
			name: "default metadata namespace",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				doc = strings.ReplaceAll(doc, "md:", "")
				return replaceOnce(t, doc, "xmlns:md=", "xmlns=")
			},
		},
		{
			name: "DOCTYPE",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, "?>\n", "?>\n<!DOCTYPE md:EntityDescriptor [<!ENTITY e \"x\">]>\n")
			},
			want: ErrUnsafeXML,
		},
		{
			name: "comment in the certificate",
			mutate: func(t *testing.T, doc string, c map[string]*x509.Certificate) string {
				s := b64(c["test-idp"])
				return replaceOnce(t, doc, s, s[:40]+"<!-- x -->"+s[40:])
			},
			want: ErrInvalid,
		},
		{
			name: "element in the NameIDFormat",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, "nameid-format:emailAddress<", "nameid-format:emailAddress<b/><")
			},
			want: ErrInvalid,
		},
		{
			name: "empty NameIDFormat is dropped",
			mutate: func(t *testing.T, doc string, _ map[string]*x509.Certificate) string {
				return replaceOnce(t, doc, "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", "  ")
			},
			check: func(t *testing.T, md *IdPMetadata) { assert.Empty(t, md.NameIDFormats) },
		},
	}
	base, certs := baseIdP(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.mutate(t, base, certs)
			if tc.name != "unchanged" {
				require.NotEqual(t, base, doc, "mutation changed nothing")
			}
			md, err := ParseIdP([]byte(doc), testNow)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				assert.Nil(t, md)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, md)
			assert.Equal(t, "https://idp.test/saml", md.EntityID)
			assert.NotEmpty(t, md.SigningCertificates)
			if tc.check != nil {
				tc.check(t, md)
			}
		})
	}
}

func TestParseIdPTestdata(t *testing.T) {
	certs := loadTestCerts(t)
	const saml2 = "urn:oasis:names:tc:SAML:2.0:bindings:"
	tests := []struct {
		file          string
		entityID      string
		signing       []string
		encryption    []string
		sso           []string // bindings in order
		slo           int
		formats       int
		wantSigned    bool
		validUntil    time.Time
		cacheDuration time.Duration
	}{
		{
			file: "okta.xml", entityID: "http://www.okta.com/exk1fcia6d6EOsf8T0h8",
			signing: []string{"okta"}, sso: []string{BindingHTTPPost, BindingHTTPRedirect}, formats: 2,
		},
		{
			file: "entra.xml", entityID: "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
			signing: []string{"entra-current", "entra-next"}, sso: []string{BindingHTTPRedirect, BindingHTTPPost}, slo: 1,
		},
		{
			file: "adfs.xml", entityID: "http://adfs.corp.example.com/adfs/services/trust",
			signing: []string{"adfs-signing", "adfs-signing-next"}, encryption: []string{"adfs-encryption"},
			sso: []string{BindingHTTPRedirect, BindingHTTPPost}, slo: 2, formats: 3,
		},
		{
			file: "keycloak.xml", entityID: "https://sso.example.com/realms/corp",
			signing: []string{"keycloak"}, sso: []string{BindingHTTPPost, BindingHTTPRedirect, saml2 + "SOAP", saml2 + "HTTP-Artifact"},
			slo: 3, formats: 4, wantSigned: true,
		},
		{
			file: "shibboleth.xml", entityID: "https://idp.example.org/idp/shibboleth",
			signing: []string{"shibboleth"}, encryption: []string{"shibboleth"},
			sso:     []string{"urn:mace:shibboleth:1.0:profiles:AuthnRequest", BindingHTTPPost, saml2 + "HTTP-POST-SimpleSign", BindingHTTPRedirect},
			formats: 2, validUntil: date(2099, 1, 1), cacheDuration: time.Hour,
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile("testdata/" + tc.file)
			require.NoError(t, err)
			md, err := ParseIdP(b, testNow)
			require.NoError(t, err)
			assert.Equal(t, tc.entityID, md.EntityID)
			names := func(cs []*x509.Certificate) []string {
				var out []string
				for _, c := range cs {
					out = append(out, strings.TrimSuffix(c.Subject.CommonName, ".metadata.test"))
				}
				return out
			}
			assert.Equal(t, tc.signing, names(md.SigningCertificates))
			assert.Equal(t, tc.encryption, names(md.EncryptionCertificates))
			var bindings []string
			for _, e := range md.SSOServices {
				bindings = append(bindings, e.Binding)
				assert.True(t, strings.HasPrefix(e.Location, "https://"), e.Location)
			}
			assert.Equal(t, tc.sso, bindings)
			assert.Len(t, md.SLOServices, tc.slo)
			assert.Len(t, md.NameIDFormats, tc.formats)
			assert.Equal(t, tc.wantSigned, md.WantAuthnRequestsSigned)
			assert.True(t, tc.validUntil.Equal(md.ValidUntil), "validUntil %s", md.ValidUntil)
			assert.Equal(t, tc.cacheDuration, md.CacheDuration)
			for _, name := range tc.signing {
				assert.Contains(t, md.SigningCertificates, certs[name])
			}
		})
	}
}

func TestParseIdPAdfsRollover(t *testing.T) {
	b, err := os.ReadFile("testdata/adfs.xml")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "\uFEFF"), "fixture keeps AD FS's byte order mark")
	md, err := ParseIdP(b, testNow)
	require.NoError(t, err)
	assert.Equal(t, date(2027, 6, 1), md.NextCertificateExpiry())
}

func TestParseIdPEntity(t *testing.T) {
	agg, err := os.ReadFile("testdata/aggregate.xml")
	require.NoError(t, err)
	keycloak, err := os.ReadFile("testdata/keycloak.xml")
	require.NoError(t, err)
	okta, err := os.ReadFile("testdata/okta.xml")
	require.NoError(t, err)

	tests := []struct {
		name       string
		doc        []byte
		entityID   string // "" calls ParseIdP
		now        time.Time
		want       error
		validUntil time.Time
		cache      time.Duration
	}{
		{name: "aggregate without selector", doc: agg, want: ErrAmbiguousEntity},
		{name: "aggregate select a", doc: agg, entityID: "https://idp-a.example.net/saml",
			validUntil: date(2099, 6, 1), cache: 24 * time.Hour},
		{name: "aggregate select b inherits the earlier validUntil", doc: agg, entityID: "https://idp-b.example.net/saml",
			validUntil: date(2098, 1, 1), cache: 24 * time.Hour},
		{name: "aggregate select b after its validUntil", doc: agg, entityID: "https://idp-b.example.net/saml",
			now: date(2098, 1, 2), want: ErrExpired},
		{name: "aggregate select a after the aggregate's validUntil", doc: agg, entityID: "https://idp-a.example.net/saml",
			now: date(2099, 7, 1), want: ErrExpired},
		{name: "aggregate select an SP", doc: agg, entityID: "https://sp.example.net/saml", want: ErrEntityNotFound},
		{name: "aggregate select unknown", doc: agg, entityID: "https://idp-c.example.net/saml", want: ErrEntityNotFound},
		{name: "aggregate selector differs in case", doc: agg, entityID: "https://IDP-A.example.net/saml", want: ErrEntityNotFound},
		{name: "single-entity EntitiesDescriptor", doc: keycloak},
		{name: "EntityDescriptor with matching selector", doc: okta, entityID: "http://www.okta.com/exk1fcia6d6EOsf8T0h8"},
		{name: "EntityDescriptor with other selector", doc: okta, entityID: "http://www.okta.com/other", want: ErrEntityNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = testNow
			}
			var md *IdPMetadata
			var err error
			if tc.entityID == "" {
				md, err = ParseIdP(tc.doc, now)
			} else {
				md, err = ParseIdPEntity(tc.doc, tc.entityID, now)
			}
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			if tc.entityID != "" {
				assert.Equal(t, tc.entityID, md.EntityID)
			}
			assert.True(t, tc.validUntil.Equal(md.ValidUntil), "validUntil %s", md.ValidUntil)
			assert.Equal(t, tc.cache, md.CacheDuration)
		})
	}
	_, err = ParseIdPEntity(okta, "", testNow)
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func TestParseXSDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT1H", time.Hour, true},
		{"PT90M", 90 * time.Minute, true},
		{"P1D", 24 * time.Hour, true},
		{"P7DT12H", 7*24*time.Hour + 12*time.Hour, true},
		{"PT1.5S", 1500 * time.Millisecond, true},
		{"P1Y", 365 * 24 * time.Hour, true},
		{"P1M", 30 * 24 * time.Hour, true},
		{"PT0S", 0, true},
		{" PT6H ", 6 * time.Hour, true},
		{"P", 0, false},
		{"PT", 0, false},
		{"P1DT", 0, false},
		{"-PT1H", 0, false},
		{"PT1H30", 0, false},
		{"1H", 0, false},
		{"P1H", 0, false},
		{"P101Y", 0, false},
		{"PT99999999999999999999H", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseXSDuration(tc.in)
			if !tc.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
