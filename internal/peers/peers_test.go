package peers

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	saml2 "github.com/russellhaering/gosaml2"
	"github.com/russellhaering/gosaml2/types"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

type peerStarter struct {
	name  string
	start func(testing.TB, IdPOptions) IdP
}

var allPeers = []peerStarter{
	{NameSimpleSAMLphp, StartSimpleSAMLphp},
	{NamePySAML2, StartPySAML2},
}

var (
	alice = User{UserName: "alice", Password: "correct horse", Email: "alice@example.com",
		DisplayName: "Alice Example", Groups: []string{"engineering", "admins"}}
	bob = User{UserName: "bob", Password: "hunter2 & <friends>", Email: "bob@example.org",
		DisplayName: "Bob", Groups: []string{"sales"}}
)

// testSP is a hand-written SP: metadata with two HTTP-POST ACS endpoints and
// a signing key for HTTP-Redirect request signatures. Nothing listens on its
// port; the tests stop at the form the IdP returns.
type testSP struct {
	entityID    string
	acsDefault  string
	acsRegion2  string
	metadata    []byte
	key         *rsa.PrivateKey
	certificate []byte // DER
}

func newTestSP(t testing.TB) *testSP {
	t.Helper()
	port, err := testpeer.FreePort()
	require.NoError(t, err)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	key, der := testCert(t, "Gatehouse test SP")
	sp := &testSP{
		entityID:    base + "/saml/sp/metadata",
		acsDefault:  base + "/saml/acs",
		acsRegion2:  base + "/region2/saml/acs",
		key:         key,
		certificate: der,
	}
	sp.metadata = fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="%s">
  <md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="%s" index="0" isDefault="true"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="%s" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
`, sp.entityID, base64.StdEncoding.EncodeToString(der), sp.acsDefault, sp.acsRegion2)
	return sp
}

func testCert(t testing.TB, cn string) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, cert, err := testpeer.SelfSigned(cn, x509.KeyUsageDigitalSignature)
	require.NoError(t, err)
	return key, cert.Raw
}

// authnRequest describes one AuthnRequest; acsURL and acsIndex are
// alternatives (both empty: the IdP picks the default ACS).
type authnRequest struct {
	id          string
	destination string
	issuer      string
	acsURL      string
	acsIndex    string
	relayState  string
	signWith    *rsa.PrivateKey // nil: unsigned
}

func (sp *testSP) request(idp IdP) authnRequest {
	return authnRequest{
		id:          "_" + randomHex(16),
		destination: idp.SSOURL(),
		issuer:      sp.entityID,
		acsURL:      sp.acsRegion2,
		relayState:  "rs-" + randomHex(8),
	}
}

// redirectURL encodes the request with the HTTP-Redirect binding (SAML
// bindings 3.4.4): raw DEFLATE, base64, URL encoding; when signWith is set,
// RSA-SHA256 over SAMLRequest, RelayState and SigAlg in that order.
func (r authnRequest) redirectURL(t testing.TB) string {
	t.Helper()
	acs := ""
	switch {
	case r.acsURL != "":
		acs = fmt.Sprintf(` AssertionConsumerServiceURL="%s"`, xmlEscape(r.acsURL))
	case r.acsIndex != "":
		acs = fmt.Sprintf(` AssertionConsumerServiceIndex="%s"`, xmlEscape(r.acsIndex))
	}
	doc := fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s" Destination="%s"%s ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>%s</saml:Issuer><samlp:NameIDPolicy AllowCreate="true"/></samlp:AuthnRequest>`,
		r.id, time.Now().UTC().Format("2006-01-02T15:04:05Z"), xmlEscape(r.destination), acs, xmlEscape(r.issuer))
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	require.NoError(t, err)
	_, err = w.Write([]byte(doc))
	require.NoError(t, err)
	require.NoError(t, w.Close())

	q := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if r.relayState != "" {
		q += "&RelayState=" + url.QueryEscape(r.relayState)
	}
	if r.signWith != nil {
		q += "&SigAlg=" + url.QueryEscape(rsaSHA256)
		sum := sha256.Sum256([]byte(q))
		sig, err := rsa.SignPKCS1v15(rand.Reader, r.signWith, crypto.SHA256, sum[:])
		require.NoError(t, err)
		q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	return r.destination + "?" + q
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func newBrowser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// idpMetadata is the part of the IdP's published metadata the SP needs.
type idpMetadata struct {
	EntityID string `xml:"entityID,attr"`
	IDP      struct {
		Keys []struct {
			Use  string `xml:"use,attr"`
			Cert string `xml:"KeyInfo>X509Data>X509Certificate"`
		} `xml:"KeyDescriptor"`
		SSO []struct {
			Binding  string `xml:"Binding,attr"`
			Location string `xml:"Location,attr"`
		} `xml:"SingleSignOnService"`
	} `xml:"IDPSSODescriptor"`
}

// trustIdP reads the IdP's published metadata, checks that it names the
// certificate and SSO endpoint the harness reports, and returns the signing
// certificate.
func trustIdP(t testing.TB, idp IdP) *x509.Certificate {
	t.Helper()
	var md idpMetadata
	require.NoError(t, xml.Unmarshal(idp.Metadata(), &md))
	assert.Equal(t, idp.EntityID(), md.EntityID)
	redirect := ""
	for _, s := range md.IDP.SSO {
		if s.Binding == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" {
			redirect = s.Location
		}
	}
	assert.Equal(t, idp.SSOURL(), redirect, "HTTP-Redirect SSO location in the IdP metadata")
	var cert *x509.Certificate
	for _, k := range md.IDP.Keys {
		if k.Use != "" && k.Use != "signing" {
			continue
		}
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(k.Cert), ""))
		require.NoError(t, err)
		cert, err = x509.ParseCertificate(der)
		require.NoError(t, err)
		break
	}
	require.NotNil(t, cert, "no signing certificate in the IdP metadata")
	block, _ := pem.Decode(idp.CertificatePEM())
	require.NotNil(t, block)
	assert.Equal(t, block.Bytes, cert.Raw, "metadata certificate is the harness's key")
	return cert
}

// verified is what the tests read from a response gosaml2 accepted.
type verified struct {
	response          *types.Response
	info              *saml2.AssertionInfo
	responseSigned    bool
	assertionSigned   bool // read from the unverified XML
	attributeFormats  map[string]string
	subjectInResponse string
	recipient         string
}

// verify checks form with gosaml2 exactly as an SP listening at acs would.
func verify(t testing.TB, idp IdP, sp *testSP, acs string, form PostForm) verified {
	t.Helper()
	cert := trustIdP(t, idp)
	gsp := &saml2.SAMLServiceProvider{
		IdentityProviderIssuer:      idp.EntityID(),
		IdentityProviderSSOURL:      idp.SSOURL(),
		AssertionConsumerServiceURL: acs,
		AudienceURI:                 sp.entityID,
		ServiceProviderIssuer:       sp.entityID,
		IDPCertificateStore:         &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}},
		Clock:                       dsig.NewRealClock(),
	}
	resp, err := gsp.ValidateEncodedResponse(form.SAMLResponse)
	require.NoError(t, err, "gosaml2 rejected the response")
	info, err := gsp.RetrieveAssertionInfo(form.SAMLResponse)
	require.NoError(t, err)
	require.NotNil(t, info.WarningInfo)
	assert.False(t, info.WarningInfo.NotInAudience, "audience")
	assert.False(t, info.WarningInfo.InvalidTime, "time window")
	require.Len(t, info.Assertions, 1)
	a := info.Assertions[0]
	require.NotNil(t, a.Subject)
	require.NotNil(t, a.Subject.SubjectConfirmation)
	require.NotNil(t, a.Subject.SubjectConfirmation.SubjectConfirmationData)
	v := verified{
		response:          resp,
		info:              info,
		responseSigned:    info.ResponseSignatureValidated,
		attributeFormats:  map[string]string{},
		subjectInResponse: a.Subject.SubjectConfirmation.SubjectConfirmationData.InResponseTo,
		recipient:         a.Subject.SubjectConfirmation.SubjectConfirmationData.Recipient,
	}
	raw, err := base64.StdEncoding.DecodeString(form.SAMLResponse)
	require.NoError(t, err)
	var unverified types.Response
	require.NoError(t, xml.Unmarshal(raw, &unverified))
	require.Len(t, unverified.Assertions, 1)
	v.assertionSigned = unverified.Assertions[0].Signature != nil
	if a.AttributeStatement != nil {
		for _, at := range a.AttributeStatement.Attributes {
			v.attributeFormats[at.Name] = at.NameFormat
		}
	}
	return v
}

// signIn runs the whole browser flow for req and verifies the result.
func signIn(t *testing.T, idp IdP, sp *testSP, req authnRequest, user User, acs string) verified {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	form, err := idp.Login(ctx, newBrowser(t), req.redirectURL(t), user.UserName, user.Password)
	require.NoError(t, err)
	assert.Equal(t, acs, form.Action, "form target")
	assert.Equal(t, req.relayState, form.RelayState)
	v := verify(t, idp, sp, acs, form)
	assert.Equal(t, req.id, v.response.InResponseTo, "Response InResponseTo")
	assert.Equal(t, req.id, v.subjectInResponse, "SubjectConfirmationData InResponseTo")
	assert.Equal(t, acs, v.response.Destination, "Destination")
	assert.Equal(t, acs, v.recipient, "Recipient")
	return v
}

// rejection is the text each peer shows when it refuses a request, so that
// the negative tests fail when a request is refused for another reason.
func rejection(peer, what string) string {
	texts := map[string]map[string]string{
		NameSimpleSAMLphp: {
			"unsigned":      "no signature found on message",
			"bad signature": "Unable to validate signature on query string",
			"unknown SP":    "Unable to locate metadata for",
		},
		NamePySAML2: {
			"unsigned":      "the AuthnRequest is not signed",
			"bad signature": "bad AuthnRequest signature",
			"unknown SP":    "unknown SP http://",
			"unknown ACS":   "Unknown entity or unsupported bindings",
		},
	}
	text, ok := texts[peer][what]
	if !ok {
		panic("no rejection text for " + peer + " " + what)
	}
	return text
}

func TestPeerIdPDefaults(t *testing.T) {
	for _, peer := range allPeers {
		t.Run(peer.name, func(t *testing.T) {
			sp := newTestSP(t)
			idp := peer.start(t, IdPOptions{SPMetadata: sp.metadata, Users: []User{alice, bob}})
			require.Equal(t, peer.name, idp.Name())

			t.Run("sign-in at the second ACS", func(t *testing.T) {
				v := signIn(t, idp, sp, sp.request(idp), alice, sp.acsRegion2)
				assert.Equal(t, NameIDFormatEmail, v.info.NameIDFormat)
				assert.Equal(t, alice.Email, v.info.NameID)
				assert.Equal(t, []string{alice.UserName}, v.info.Values.GetAll("uid"))
				assert.Equal(t, []string{alice.Email}, v.info.Values.GetAll("email"))
				assert.Equal(t, []string{alice.DisplayName}, v.info.Values.GetAll("displayName"))
				assert.ElementsMatch(t, alice.Groups, v.info.Values.GetAll("groups"))
				assert.Len(t, v.attributeFormats, 4, "no attribute beyond the four released")
				for name, format := range v.attributeFormats {
					assert.Equal(t, AttrNameFormatBasic, format, name)
				}
				wantResponseSigned := peer.name == NameSimpleSAMLphp // the peers' own defaults
				assert.Equal(t, wantResponseSigned, v.responseSigned)
				assert.True(t, v.assertionSigned)
			})
			t.Run("second user, special characters in the password", func(t *testing.T) {
				v := signIn(t, idp, sp, sp.request(idp), bob, sp.acsRegion2)
				assert.Equal(t, bob.Email, v.info.NameID)
				assert.Equal(t, []string{"sales"}, v.info.Values.GetAll("groups"))
			})
			t.Run("ACS chosen by index", func(t *testing.T) {
				req := sp.request(idp)
				req.acsURL, req.acsIndex = "", "1"
				signIn(t, idp, sp, req, alice, sp.acsRegion2)
			})
			t.Run("default ACS", func(t *testing.T) {
				req := sp.request(idp)
				req.acsURL = ""
				signIn(t, idp, sp, req, alice, sp.acsDefault)
			})
			if peer.name == NameSimpleSAMLphp { // pysaml2 (this script) serves no IdP-initiated sign-in
				t.Run("IdP-initiated", func(t *testing.T) {
					u := idp.SSOURL() + "?spentityid=" + url.QueryEscape(sp.entityID) + "&RelayState=%2Fapps"
					form, err := idp.Login(context.Background(), newBrowser(t), u, alice.UserName, alice.Password)
					require.NoError(t, err)
					assert.Equal(t, sp.acsDefault, form.Action)
					assert.Equal(t, "/apps", form.RelayState)
					v := verify(t, idp, sp, sp.acsDefault, form)
					assert.Empty(t, v.response.InResponseTo)
					assert.Empty(t, v.subjectInResponse)
					assert.Equal(t, alice.Email, v.info.NameID)
				})
				t.Run("existing IdP session", func(t *testing.T) {
					browser := newBrowser(t)
					_, err := idp.Login(context.Background(), browser, sp.request(idp).redirectURL(t), alice.UserName, alice.Password)
					require.NoError(t, err)
					// Same browser, wrong password: the session answers, the form is never shown.
					req := sp.request(idp)
					form, err := idp.Login(context.Background(), browser, req.redirectURL(t), alice.UserName, "wrong")
					require.NoError(t, err)
					v := verify(t, idp, sp, sp.acsRegion2, form)
					assert.Equal(t, req.id, v.response.InResponseTo)
					assert.Equal(t, alice.Email, v.info.NameID)
				})
			}
			t.Run("wrong password", func(t *testing.T) {
				_, err := idp.Login(context.Background(), newBrowser(t), sp.request(idp).redirectURL(t), alice.UserName, alice.Password+"x")
				require.ErrorIs(t, err, ErrLoginRejected)
			})
			t.Run("unknown user", func(t *testing.T) {
				_, err := idp.Login(context.Background(), newBrowser(t), sp.request(idp).redirectURL(t), "mallory", alice.Password)
				require.ErrorIs(t, err, ErrLoginRejected)
			})
			t.Run("ACS not in the SP metadata", func(t *testing.T) {
				req := sp.request(idp)
				req.acsURL = sp.acsRegion2 + "x"
				form, err := idp.Login(context.Background(), newBrowser(t), req.redirectURL(t), alice.UserName, alice.Password)
				if peer.name == NameSimpleSAMLphp {
					// SimpleSAMLphp logs a warning and falls back to the default ACS.
					require.NoError(t, err)
					assert.Equal(t, sp.acsDefault, form.Action)
					verify(t, idp, sp, sp.acsDefault, form)
					return
				}
				require.ErrorIs(t, err, ErrUnexpectedPage)
				assert.Contains(t, err.Error(), rejection(peer.name, "unknown ACS"))
			})
			t.Run("unknown SP", func(t *testing.T) {
				req := sp.request(idp)
				req.issuer = sp.entityID + "x"
				_, err := idp.Login(context.Background(), newBrowser(t), req.redirectURL(t), alice.UserName, alice.Password)
				require.ErrorIs(t, err, ErrUnexpectedPage)
				assert.Contains(t, err.Error(), rejection(peer.name, "unknown SP"))
			})
		})
	}
}

func TestPeerIdPOptions(t *testing.T) {
	for _, peer := range allPeers {
		t.Run(peer.name, func(t *testing.T) {
			sp := newTestSP(t)
			idp := peer.start(t, IdPOptions{
				SPMetadata:              sp.metadata,
				Users:                   []User{alice},
				NameIDFormat:            NameIDFormatPersistent,
				Attributes:              OIDAttributeNames(),
				Signing:                 SignResponse,
				WantAuthnRequestsSigned: true,
			})
			otherKey, _ := testCert(t, "not the SP")

			t.Run("signed request", func(t *testing.T) {
				req := sp.request(idp)
				req.signWith = sp.key
				v := signIn(t, idp, sp, req, alice, sp.acsRegion2)
				assert.Equal(t, NameIDFormatPersistent, v.info.NameIDFormat)
				assert.Equal(t, alice.UserName, v.info.NameID)
				names := OIDAttributeNames()
				assert.Equal(t, []string{alice.UserName}, v.info.Values.GetAll(names.UserName))
				assert.Equal(t, []string{alice.Email}, v.info.Values.GetAll(names.Email))
				assert.Equal(t, []string{alice.DisplayName}, v.info.Values.GetAll(names.DisplayName))
				assert.ElementsMatch(t, alice.Groups, v.info.Values.GetAll(names.Groups))
				assert.Len(t, v.attributeFormats, 4)
				for name, format := range v.attributeFormats {
					assert.Equal(t, AttrNameFormatURI, format, name)
				}
				assert.True(t, v.responseSigned)
				assert.False(t, v.assertionSigned)
			})
			t.Run("unsigned request", func(t *testing.T) {
				req := sp.request(idp)
				_, err := idp.Login(context.Background(), newBrowser(t), req.redirectURL(t), alice.UserName, alice.Password)
				require.ErrorIs(t, err, ErrUnexpectedPage)
				assert.Contains(t, err.Error(), rejection(peer.name, "unsigned"))
			})
			t.Run("request signed by another key", func(t *testing.T) {
				req := sp.request(idp)
				req.signWith = otherKey
				_, err := idp.Login(context.Background(), newBrowser(t), req.redirectURL(t), alice.UserName, alice.Password)
				require.ErrorIs(t, err, ErrUnexpectedPage)
				assert.Contains(t, err.Error(), rejection(peer.name, "bad signature"))
			})
		})
	}
}

// TestPeerIdPSigning covers the signing mode each peer does not use by
// default and that TestPeerIdPOptions does not ask for.
func TestPeerIdPSigning(t *testing.T) {
	for _, tc := range []struct {
		peer           peerStarter
		signing        Signing
		responseSigned bool
	}{
		{allPeers[0], SignAssertion, false},
		{allPeers[1], SignBoth, true},
	} {
		t.Run(tc.peer.name, func(t *testing.T) {
			sp := newTestSP(t)
			idp := tc.peer.start(t, IdPOptions{SPMetadata: sp.metadata, Users: []User{alice}, Signing: tc.signing})
			v := signIn(t, idp, sp, sp.request(idp), alice, sp.acsRegion2)
			assert.Equal(t, tc.responseSigned, v.responseSigned)
			assert.True(t, v.assertionSigned)
		})
	}
}

func TestIdPOptionsValidation(t *testing.T) {
	valid := IdPOptions{SPMetadata: []byte("<x/>"), Users: []User{alice}}
	_, err := valid.normalized()
	require.NoError(t, err, "positive control")

	tests := []struct {
		name   string
		change func(*IdPOptions)
	}{
		{"no SP metadata", func(o *IdPOptions) { o.SPMetadata = nil }},
		{"no users", func(o *IdPOptions) { o.Users = nil }},
		{"colon in user name", func(o *IdPOptions) { o.Users = []User{{UserName: "a:b", Password: "p", Email: "e@x"}} }},
		{"duplicate user", func(o *IdPOptions) { o.Users = []User{alice, alice} }},
		{"empty password", func(o *IdPOptions) { o.Users = []User{{UserName: "a", Email: "e@x"}} }},
		{"no e-mail for an emailAddress NameID", func(o *IdPOptions) { o.Users = []User{{UserName: "a", Password: "p"}} }},
		{"unknown NameID format", func(o *IdPOptions) { o.NameIDFormat = "urn:x" }},
		{"unknown attribute NameFormat", func(o *IdPOptions) { o.Attributes = AttributeNames{NameFormat: "urn:x", Email: "mail"} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.change(&o)
			_, err := o.normalized()
			require.Error(t, err)
		})
	}
}

func TestAvailable(t *testing.T) {
	ok, hint := Available("no-such-peer")
	assert.False(t, ok)
	assert.Contains(t, hint, "unknown peer")
	for _, name := range []string{NameSimpleSAMLphp, NamePySAML2} {
		_, hint := Available(name)
		assert.Contains(t, hint, "apt-get install", name)
	}
}
