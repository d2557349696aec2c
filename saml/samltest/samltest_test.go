package samltest_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

const (
	idpID  = "https://idp.example.com/metadata"
	spID   = "https://sp.example.com/metadata"
	acs    = "https://sp.example.com/saml/acs"
	ssoURL = "https://idp.example.com/sso"
)

func newIdP(t *testing.T) *samltest.IdP {
	t.Helper()
	idp, err := samltest.NewIdP(idpID)
	require.NoError(t, err)
	return idp
}

func TestNewIdP(t *testing.T) {
	idp := newIdP(t)
	assert.Equal(t, idpID, idp.EntityID())
	require.NoError(t, saml.CheckKey(idp.Certificate().PublicKey))
	assert.True(t, idp.Certificate().NotBefore.Before(time.Now()))
	assert.True(t, idp.Certificate().NotAfter.After(time.Now().Add(9*365*24*time.Hour)))

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, err = samltest.NewIdPWithKey(idpID, other, idp.Certificate().Raw)
	assert.Error(t, err, "certificate must match the key")
	_, err = samltest.NewIdPWithKey(idpID, idp.Signer(), idp.Certificate().Raw)
	assert.NoError(t, err)
}

func TestMetadata(t *testing.T) {
	idp := newIdP(t)
	md := idp.Metadata(ssoURL)
	doc, err := saml.ParseXML(md, saml.Limits{})
	require.NoError(t, err)
	root := doc.Root()
	assert.Equal(t, idpID, root.SelectAttrValue("entityID", ""))
	sso := root.FindElements("//SingleSignOnService")
	require.Len(t, sso, 2)
	assert.Equal(t, string(saml.BindingHTTPRedirect), sso[0].SelectAttrValue("Binding", ""))
	assert.Equal(t, string(saml.BindingHTTPPost), sso[1].SelectAttrValue("Binding", ""))
	assert.Equal(t, ssoURL, sso[1].SelectAttrValue("Location", ""))
	kd := root.FindElement("//KeyDescriptor")
	require.NotNil(t, kd)
	assert.Equal(t, "signing", kd.SelectAttrValue("use", ""))
	assert.NotEmpty(t, kd.FindElement(".//X509Certificate").Text())
}

func TestResponseRequiresFields(t *testing.T) {
	idp := newIdP(t)
	_, err := idp.Response(samltest.ResponseOptions{Destination: acs, Audience: spID})
	assert.Error(t, err)
	b, err := idp.Response(samltest.ResponseOptions{Destination: acs, Audience: spID, NameID: "a",
		Attributes: map[string][]string{"b": {"2"}, "a": {"1"}}})
	require.NoError(t, err)
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(b))
	attrs := doc.FindElements("//Attribute")
	require.Len(t, attrs, 2)
	assert.Equal(t, "a", attrs[0].SelectAttrValue("Name", ""), "sorted attributes")
}

func TestSignModes(t *testing.T) {
	idp := newIdP(t)
	count := func(mode samltest.SignMode) (resp, assertion int) {
		b, err := idp.Response(samltest.ResponseOptions{Destination: acs, Audience: spID, NameID: "a", Sign: mode})
		require.NoError(t, err)
		doc := etree.NewDocument()
		require.NoError(t, doc.ReadFromBytes(b))
		for _, c := range doc.Root().ChildElements() {
			if c.Tag == "Signature" {
				resp++
			}
			if c.Tag == "Assertion" {
				for _, cc := range c.ChildElements() {
					if cc.Tag == "Signature" {
						assertion++
					}
				}
			}
		}
		return
	}
	for mode, want := range map[samltest.SignMode][2]int{
		samltest.SignAssertion: {0, 1}, samltest.SignResponse: {1, 0}, samltest.SignBoth: {1, 1}, samltest.SignNone: {0, 0},
	} {
		r, a := count(mode)
		assert.Equal(t, want, [2]int{r, a}, "mode %d", mode)
	}
}

func authnRequestURL(t *testing.T, req saml.AuthnRequest, relayState string) *url.URL {
	t.Helper()
	b, err := req.Marshal()
	require.NoError(t, err)
	q, err := saml.RedirectQuery("SAMLRequest", b, relayState, nil, "")
	require.NoError(t, err)
	u, err := url.Parse(ssoURL + "?" + q)
	require.NoError(t, err)
	return u
}

func TestParseAuthnRequestFromRedirect(t *testing.T) {
	req := saml.AuthnRequest{ID: saml.NewID(), Issuer: spID, AssertionConsumerServiceURL: acs, IssueInstant: time.Now().UTC().Truncate(time.Second)}
	got, rs, err := samltest.ParseAuthnRequestFromRedirect(authnRequestURL(t, req, "rs"))
	require.NoError(t, err)
	assert.Equal(t, req, *got)
	assert.Equal(t, "rs", rs)
	_, _, err = samltest.ParseAuthnRequestFromRedirect(&url.URL{RawQuery: "SAMLRequest=a&SAMLRequest=b"})
	assert.Error(t, err)
	_, _, err = samltest.ParseAuthnRequestFromRedirect(&url.URL{})
	assert.Error(t, err)
}

func TestLoginHandler(t *testing.T) {
	idp := newIdP(t)
	now := time.Now().UTC().Truncate(time.Second)
	h, err := samltest.LoginHandler(samltest.IdPHandlerConfig{
		IdP:        idp,
		SSOURL:     ssoURL,
		Users:      map[string]samltest.DemoUser{"alice": {Password: "s3cret", Email: "alice@example.com", DisplayName: "<b>Alice</b>", Groups: []string{"admins"}}},
		AllowedACS: []string{acs},
		Audience:   spID,
		Now:        func() time.Time { return now },
	})
	require.NoError(t, err)
	v, err := saml.NewVerifier(saml.VerifierConfig{IdPEntityID: idpID, Audience: spID, Certificates: []*x509.Certificate{idp.Certificate()}})
	require.NoError(t, err)

	req := saml.AuthnRequest{ID: saml.NewID(), Issuer: spID, AssertionConsumerServiceURL: acs, IssueInstant: now}
	const relayState = `"><script>alert(1)</script>`
	u := authnRequestURL(t, req, relayState)

	// GET shows the escaped login form.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u.String(), nil))
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	assert.NotContains(t, body, "<script>alert(1)")
	assert.Contains(t, body, `name="password"`)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))

	post := func(form url.Values) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, ssoURL, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	form := func(u *url.URL, user, pass string) url.Values {
		q := u.Query()
		return url.Values{"SAMLRequest": {q.Get("SAMLRequest")}, "RelayState": {q.Get("RelayState")}, "username": {user}, "password": {pass}}
	}

	// Wrong password.
	rec = post(form(u, "alice", "wrong"))
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.NotContains(t, rec.Body.String(), "SAMLResponse")
	rec = post(form(u, "bob", "s3cret"))
	assert.Equal(t, http.StatusUnauthorized, rec.Code)

	// ACS URL not allow-listed.
	evil := req
	evil.AssertionConsumerServiceURL = "https://evil.example.com/acs"
	rec = post(form(authnRequestURL(t, evil, ""), "alice", "s3cret"))
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.NotContains(t, rec.Body.String(), "SAMLResponse")

	// Unknown Issuer.
	unknown := req
	unknown.Issuer = "https://unknown.example.com"
	rec = post(form(authnRequestURL(t, unknown, ""), "alice", "s3cret"))
	assert.Equal(t, http.StatusForbidden, rec.Code)

	// Success: an auto-submitting form to the ACS with a verifiable response.
	rec = post(form(u, "alice", "s3cret"))
	require.Equal(t, http.StatusOK, rec.Code)
	body = rec.Body.String()
	assert.Contains(t, body, `action="`+acs+`"`)
	assert.NotContains(t, body, "<script>alert(1)")
	assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "nonce-")
	m := regexp.MustCompile(`name="SAMLResponse" value="([^"]+)"`).FindStringSubmatch(body)
	require.Len(t, m, 2)
	rs := regexp.MustCompile(`name="RelayState" value="([^"]+)"`).FindStringSubmatch(body)
	require.Len(t, rs, 2)
	assert.Equal(t, relayState, html.UnescapeString(rs[1]))
	a, err := v.VerifyResponse(html.UnescapeString(m[1]), saml.Expected{Destination: acs, Now: now})
	require.NoError(t, err)
	assert.Equal(t, "alice", a.NameID())
	assert.Equal(t, req.ID, a.InResponseTo())
	assert.Equal(t, []string{"<b>Alice</b>"}, a.Attribute("displayName"))
	assert.Equal(t, []string{"admins"}, a.Attribute("groups"))

	// Other methods.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, ssoURL, io.NopCloser(strings.NewReader(""))))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, ssoURL, nil))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
}

func TestLoginHandlerConfig(t *testing.T) {
	idp := newIdP(t)
	good := samltest.IdPHandlerConfig{IdP: idp, SSOURL: ssoURL, AllowedACS: []string{acs}, Audience: spID}
	_, err := samltest.LoginHandler(good)
	require.NoError(t, err, "positive control")
	for name, mutate := range map[string]func(c *samltest.IdPHandlerConfig){
		"no IdP":      func(c *samltest.IdPHandlerConfig) { c.IdP = nil },
		"no SSO URL":  func(c *samltest.IdPHandlerConfig) { c.SSOURL = "" },
		"no ACS":      func(c *samltest.IdPHandlerConfig) { c.AllowedACS = nil },
		"no audience": func(c *samltest.IdPHandlerConfig) { c.Audience = "" },
	} {
		c := good
		mutate(&c)
		_, err := samltest.LoginHandler(c)
		assert.Error(t, err, name)
	}
}
