package samltest_test

import (
	"crypto"
	"crypto/x509"
	"net/url"
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
	testSLO    = "https://idp.example.com/slo"
	spSLO      = "https://app.example.com/slo"
	spSLOReply = "https://app.example.com/slo-reply"
)

func TestMetadataWithSLO(t *testing.T) {
	sp, err := samltest.NewSP("https://app.example.com/saml", "https://app.example.com/acs")
	require.NoError(t, err)
	md, err := sp.MetadataWithSLO(false, false,
		samltest.SLOEndpoint{Binding: saml.BindingHTTPRedirect, Location: spSLO, ResponseLocation: spSLOReply},
		samltest.SLOEndpoint{Binding: saml.BindingHTTPPost, Location: spSLO})
	require.NoError(t, err)
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(md))
	var tags []string
	sso := doc.Root().SelectElement("SPSSODescriptor")
	require.NotNil(t, sso)
	for _, c := range sso.ChildElements() {
		tags = append(tags, c.Tag)
	}
	assert.Equal(t, []string{"KeyDescriptor", "SingleLogoutService", "SingleLogoutService", "AssertionConsumerService"}, tags)
	slo := sso.SelectElements("SingleLogoutService")
	assert.Equal(t, string(saml.BindingHTTPRedirect), slo[0].SelectAttrValue("Binding", ""))
	assert.Equal(t, spSLOReply, slo[0].SelectAttrValue("ResponseLocation", ""))
	assert.Equal(t, spSLO, slo[1].SelectAttrValue("Location", ""))

	_, err = samltest.AddSingleLogoutServices(md, samltest.SLOEndpoint{Location: spSLO})
	assert.Error(t, err, "an endpoint needs a binding")
	_, err = samltest.AddSingleLogoutServices([]byte(`<x/>`), samltest.SLOEndpoint{Binding: saml.BindingHTTPPost, Location: spSLO})
	assert.Error(t, err)
}

func TestLogoutRequestSigning(t *testing.T) {
	sp, err := samltest.NewSP("https://app.example.com/saml", "https://app.example.com/acs")
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Second)
	req := sp.LogoutRequest(testSLO, "alice", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified", now)
	req.SessionIndexes = []string{"s1"}
	keys := []crypto.PublicKey{sp.Certificate().PublicKey}

	b, err := req.Marshal()
	require.NoError(t, err)
	doc, err := saml.ParseXML(b, saml.Limits{})
	require.NoError(t, err)
	root := doc.Root()
	assert.Equal(t, "LogoutRequest", root.Tag)
	assert.Equal(t, saml.NSProtocol, root.NamespaceURI())
	assert.Equal(t, testSLO, root.SelectAttrValue("Destination", ""))
	assert.Equal(t, saml.FormatTime(now.Add(5*time.Minute)), root.SelectAttrValue("NotOnOrAfter", ""))
	assert.Equal(t, "alice", root.SelectElement("NameID").Text())
	assert.Equal(t, "s1", root.SelectElement("SessionIndex").Text())

	u, err := sp.LogoutRedirectURL(testSLO, req, "rs", true)
	require.NoError(t, err)
	loc, err := url.Parse(u)
	require.NoError(t, err)
	require.NoError(t, saml.VerifyRedirectSignature(loc.RawQuery, "SAMLRequest", keys))

	u, err = sp.LogoutRedirectURL(testSLO, req, "rs", false)
	require.NoError(t, err)
	loc, err = url.Parse(u)
	require.NoError(t, err)
	assert.Error(t, saml.VerifyRedirectSignature(loc.RawQuery, "SAMLRequest", keys))

	u, err = samltest.LogoutRedirectURL(testSLO, req, "rs", sp.Key(), samltest.SigAlgRSASHA1)
	require.NoError(t, err)
	loc, err = url.Parse(u)
	require.NoError(t, err)
	assert.Equal(t, samltest.SigAlgRSASHA1, loc.Query().Get("SigAlg"))
	assert.Equal(t, saml.ReasonAlgorithm, saml.ReasonOf(saml.VerifyRedirectSignature(loc.RawQuery, "SAMLRequest", keys)))

	form, err := sp.LogoutPOSTForm(req, "rs", true)
	require.NoError(t, err)
	assert.Equal(t, "rs", form.Get("RelayState"))
	b, err = saml.DecodePOST(form.Get("SAMLRequest"), saml.Limits{})
	require.NoError(t, err)
	assert.Contains(t, string(b), "<ds:Signature")
	assert.Contains(t, string(b), saml.SigAlgRSASHA256)

	form, err = samltest.LogoutPOSTForm(req, "", sp.Key(), sp.Certificate(), samltest.SigAlgRSASHA1)
	require.NoError(t, err)
	b, err = saml.DecodePOST(form.Get("SAMLRequest"), saml.Limits{})
	require.NoError(t, err)
	assert.Contains(t, string(b), samltest.SigAlgRSASHA1)
}

// logoutResponse builds a LogoutResponse as an IdP sends it.
func logoutResponse(t *testing.T, idp *samltest.IdP, inResponseTo string, now time.Time) (*etree.Document, *etree.Element) {
	doc := etree.NewDocument()
	r := doc.CreateElement("samlp:LogoutResponse")
	r.CreateAttr("xmlns:samlp", saml.NSProtocol)
	r.CreateAttr("xmlns:saml", saml.NSAssertion)
	r.CreateAttr("ID", saml.NewID())
	r.CreateAttr("Version", "2.0")
	r.CreateAttr("IssueInstant", saml.FormatTime(now))
	r.CreateAttr("Destination", spSLO)
	r.CreateAttr("InResponseTo", inResponseTo)
	r.CreateElement("saml:Issuer").SetText(idp.EntityID())
	r.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Success")
	return doc, r
}

func TestVerifyLogoutResponse(t *testing.T) {
	idp, err := samltest.NewIdP("https://idp.example.com/metadata")
	require.NoError(t, err)
	other, err := samltest.NewIdP("https://idp.example.com/metadata")
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Second)
	exp := samltest.ExpectedLogoutResponse{
		IdPEntityID: idp.EntityID(), Certificates: []*x509.Certificate{idp.Certificate()},
		Destination: spSLO, InResponseTo: "_req1", Now: now,
	}
	post := func(signer *samltest.IdP, mutate func(*etree.Element)) string {
		doc, r := logoutResponse(t, idp, "_req1", now)
		if mutate != nil {
			mutate(r)
		}
		_, err := saml.Sign(r, signer.Signer(), [][]byte{signer.Certificate().Raw}, saml.SigAlgRSASHA256)
		require.NoError(t, err)
		b, err := doc.WriteToBytes()
		require.NoError(t, err)
		return saml.EncodePOST(b)
	}
	redirect := func(signer *samltest.IdP, mutate func(*etree.Element)) *url.URL {
		doc, r := logoutResponse(t, idp, "_req1", now)
		if mutate != nil {
			mutate(r)
		}
		b, err := doc.WriteToBytes()
		require.NoError(t, err)
		q, err := saml.RedirectQuery("SAMLResponse", b, "rs", signer.Signer(), saml.SigAlgRSASHA256)
		require.NoError(t, err)
		u, err := url.Parse(spSLO + "?" + q)
		require.NoError(t, err)
		return u
	}
	set := func(name, value string) func(*etree.Element) {
		return func(r *etree.Element) { r.CreateAttr(name, value) }
	}
	for _, tc := range []struct {
		name   string
		signer *samltest.IdP
		mutate func(*etree.Element)
		ok     bool
	}{
		{"control", idp, nil, true},
		{"other key", other, nil, false},
		{"wrong InResponseTo", idp, set("InResponseTo", "_req2"), false},
		{"wrong Destination", idp, set("Destination", "https://evil.example.com/slo"), false},
		{"old IssueInstant", idp, set("IssueInstant", saml.FormatTime(now.Add(-time.Hour))), false},
		{"wrong Issuer", idp, func(r *etree.Element) { r.SelectElement("Issuer").SetText("https://evil.example.com") }, false},
		{"LogoutRequest root", idp, func(r *etree.Element) { r.Tag = "LogoutRequest" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := samltest.VerifyLogoutResponsePOST(post(tc.signer, tc.mutate), exp)
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, "_req1", resp.InResponseTo)
				assert.Equal(t, "urn:oasis:names:tc:SAML:2.0:status:Success", resp.Status)
			} else {
				assert.Error(t, err)
			}
			resp, rs, err := samltest.VerifyLogoutResponseRedirect(redirect(tc.signer, tc.mutate), exp)
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, "rs", rs)
				assert.Equal(t, idp.EntityID(), resp.Issuer)
			} else {
				assert.Error(t, err)
			}
		})
	}
	t.Run("tampered POST", func(t *testing.T) {
		b, err := saml.DecodePOST(post(idp, nil), saml.Limits{})
		require.NoError(t, err)
		changed := strings.Replace(string(b), "_req1", "_req2", 1)
		_, err = samltest.VerifyLogoutResponsePOST(saml.EncodePOST([]byte(changed)), exp)
		assert.Error(t, err)
	})
	t.Run("unsigned redirect", func(t *testing.T) {
		doc, _ := logoutResponse(t, idp, "_req1", now)
		b, err := doc.WriteToBytes()
		require.NoError(t, err)
		q, err := saml.RedirectQuery("SAMLResponse", b, "", nil, "")
		require.NoError(t, err)
		u, err := url.Parse(spSLO + "?" + q)
		require.NoError(t, err)
		_, _, err = samltest.VerifyLogoutResponseRedirect(u, exp)
		assert.Error(t, err)
	})
}
