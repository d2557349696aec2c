package idp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

func TestSSOHappyPath(t *testing.T) {
	app := testApp()
	for _, tc := range []struct {
		name   string
		signed bool
		post   bool
	}{
		{"redirect unsigned", false, false},
		{"redirect signed", true, false},
		{"post unsigned", false, true},
		{"post signed", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.register("wiki", app, ServiceProviderOptions{
				Attributes: []AttributeMapping{{Name: "email", Field: "email"}, {Name: "groups", Field: "groups"}},
			}, tc.signed)
			p := alice()
			f.sessions.set(&p)
			req := f.authnRequest(app)
			var r *http.Request
			if tc.post {
				var key crypto.Signer
				if tc.signed {
					key = app.Key()
				}
				r = f.postRequest(req, "rs-123", key, app.Certificate(), saml.SigAlgRSASHA256)
			} else {
				r = f.redirectRequest(app, req, "rs-123", tc.signed)
			}
			w := f.do(r)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			action, resp, rs := posted(t, w)
			assert.Equal(t, appACS, action)
			assert.Equal(t, "rs-123", rs)
			a, err := f.verify(app, resp)
			require.NoError(t, err)
			assert.Equal(t, req.ID, a.InResponseTo())
			assert.Equal(t, "alice", a.NameID())
			assert.Equal(t, []string{"alice@example.com"}, a.Attribute("email"))
			assert.Equal(t, []string{"engineering", "admins"}, a.Attribute("groups"))
			assert.Equal(t, AuthnContextPasswordProtectedTransport, a.AuthnContextClassRef())

			h := w.Header()
			csp := h.Get("Content-Security-Policy")
			assert.Contains(t, csp, "default-src 'none'")
			assert.Contains(t, csp, "form-action https://app.example.com")
			assert.Contains(t, csp, "frame-ancestors 'none'")
			assert.Contains(t, csp, "base-uri 'none'")
			nonce := strings.TrimSuffix(strings.SplitN(strings.SplitN(csp, "'nonce-", 2)[1], "'", 2)[0], "'")
			assert.Contains(t, w.Body.String(), `<script nonce="`+nonce+`">`)
			assert.Equal(t, "no-store", h.Get("Cache-Control"))
			assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
			assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
			assert.Equal(t, 1.0, testutil.ToFloat64(f.idp.metrics.responses.WithLabelValues("wiki", outcomeIssued, string(ReasonOK))))
		})
	}
}

func TestNoncesDiffer(t *testing.T) {
	f := newFixture(t, idpECKey())
	app := testApp()
	f.register("wiki", app, ServiceProviderOptions{}, false)
	p := alice()
	f.sessions.set(&p)
	csp := map[string]bool{}
	for range 3 {
		w := f.do(f.redirectRequest(app, f.authnRequest(app), "", false))
		require.Equal(t, http.StatusOK, w.Code)
		csp[w.Header().Get("Content-Security-Policy")] = true
	}
	assert.Len(t, csp, 3)
}

// sha1RedirectQuery signs a redirect query with RSA-SHA1, which saml refuses
// to produce.
func sha1RedirectQuery(t *testing.T, app *samltest.SP, req *saml.AuthnRequest) string {
	b, err := req.Marshal()
	require.NoError(t, err)
	enc, err := saml.EncodeRedirect(b)
	require.NoError(t, err)
	q := "SAMLRequest=" + url.QueryEscape(enc) + "&SigAlg=" + url.QueryEscape(samltest.SigAlgRSASHA1)
	h := sha1.Sum([]byte(q))
	sig, err := rsa.SignPKCS1v15(rand.Reader, app.Key(), crypto.SHA1, h[:])
	require.NoError(t, err)
	return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

// sha1PostRequest is a POST AuthnRequest with an RSA-SHA1 enveloped signature.
func sha1PostRequest(t *testing.T, app *samltest.SP, req *saml.AuthnRequest) *http.Request {
	b, err := req.Marshal()
	require.NoError(t, err)
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(b))
	ctx, err := dsig.NewSigningContext(app.Key(), [][]byte{app.Certificate().Raw})
	require.NoError(t, err)
	require.NoError(t, ctx.SetSignatureMethod(dsig.RSASHA1SignatureMethod))
	signed, err := ctx.SignEnveloped(doc.Root())
	require.NoError(t, err)
	doc.SetRoot(signed)
	b, err = doc.WriteToBytes()
	require.NoError(t, err)
	return postForm(saml.EncodePOST(b), "")
}

func replaceParam(t *testing.T, rawQuery, name, value string) string {
	parts := strings.Split(rawQuery, "&")
	found := false
	for k, p := range parts {
		if n, _, _ := strings.Cut(p, "="); n == name {
			parts[k] = name + "=" + url.QueryEscape(value)
			found = true
		}
	}
	require.True(t, found, "no %s in query", name)
	return strings.Join(parts, "&")
}

func TestSSONegatives(t *testing.T) {
	app := testApp()
	other := otherApp()
	type build func(t *testing.T, f *fixture) *http.Request
	// valid builds a valid request after mutate changes one thing.
	redirect := func(signed bool, mutate func(*saml.AuthnRequest)) build {
		return func(t *testing.T, f *fixture) *http.Request {
			req := f.authnRequest(app)
			if mutate != nil {
				mutate(req)
			}
			return f.redirectRequest(app, req, "rs", signed)
		}
	}
	tamper := func(name, value string) build {
		return func(t *testing.T, f *fixture) *http.Request {
			r := f.redirectRequest(app, f.authnRequest(app), "rs", true)
			if name == "SAMLRequest" {
				b, err := f.authnRequest(app).Marshal()
				require.NoError(t, err)
				value, err = saml.EncodeRedirect(b)
				require.NoError(t, err)
			}
			r.URL.RawQuery = replaceParam(t, r.URL.RawQuery, name, value)
			return r
		}
	}
	idx := func(i int) *int { return &i }
	for _, tc := range []struct {
		name          string
		requireSigned bool
		user          string
		build         build
		status        int
		reason        Reason
	}{
		{"control: valid unsigned", false, "u-alice", redirect(false, nil), http.StatusOK, ReasonOK},
		{"control: valid signed", true, "u-alice", redirect(true, nil), http.StatusOK, ReasonOK},
		{"control: second registered ACS by URL", false, "u-alice", redirect(false, func(r *saml.AuthnRequest) { r.AssertionConsumerServiceURL = appACS2 }), http.StatusOK, ReasonOK},
		{"control: ACS by index", false, "u-alice", redirect(false, func(r *saml.AuthnRequest) {
			r.AssertionConsumerServiceURL, r.AssertionConsumerServiceIndex = "", idx(1)
		}), http.StatusOK, ReasonOK},
		{"unknown issuer", false, "u-alice", redirect(false, func(r *saml.AuthnRequest) { r.Issuer = "https://evil.example.com/sp" }), http.StatusBadRequest, ReasonUnknownSP},
		{"escaped parameter name", true, "u-alice", func(t *testing.T, f *fixture) *http.Request {
			// The signature check reads names from the raw query: a name
			// that only decodes to SAMLRequest must not be accepted.
			r := f.redirectRequest(app, f.authnRequest(app), "rs", true)
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "SAMLRequest=", "SAML%52equest=", 1)
			return r
		}, http.StatusBadRequest, ReasonMalformed},
		{"issuer of another unregistered app", false, "u-alice", func(t *testing.T, f *fixture) *http.Request {
			return f.redirectRequest(other, f.authnRequest(other), "", false)
		}, http.StatusBadRequest, ReasonUnknownSP},
		{"unregistered ACS URL", false, "u-alice", redirect(false, func(r *saml.AuthnRequest) { r.AssertionConsumerServiceURL = "https://evil.example.com/acs" }), http.StatusBadRequest, ReasonACS},
		{"ACS URL differing in case", false, "u-alice", redirect(false, func(r *saml.AuthnRequest) { r.AssertionConsumerServiceURL = "https://app.example.com/ACS" }), http.StatusBadRequest, ReasonACS},
		{"javascript ACS", false, "u-alice", redirect(false, func(r *saml.AuthnRequest) { r.AssertionConsumerServiceURL = "javascript:alert(1)" }), http.StatusBadRequest, ReasonACS},
		{"data ACS", false, "u-alice", redirect(false, func(r *saml.AuthnRequest) { r.AssertionConsumerServiceURL = "data:text/html,x" }), http.StatusBadRequest, ReasonACS},
		{"out-of-range index", false, "u-alice", redirect(false, func(r *saml.AuthnRequest) {
			r.AssertionConsumerServiceURL, r.AssertionConsumerServiceIndex = "", idx(7)
		}), http.StatusBadRequest, ReasonACS},
		{"both index and URL", false, "u-alice", func(t *testing.T, f *fixture) *http.Request {
			req := f.authnRequest(app)
			b, err := req.Marshal()
			require.NoError(t, err)
			s := strings.Replace(string(b), `AssertionConsumerServiceURL=`, `AssertionConsumerServiceIndex="0" AssertionConsumerServiceURL=`, 1)
			enc, err := saml.EncodeRedirect([]byte(s))
			require.NoError(t, err)
			return httptest.NewRequest(http.MethodGet, testSSOURL+"?SAMLRequest="+url.QueryEscape(enc), nil)
		}, http.StatusBadRequest, ReasonACS},
		{"wrong Destination", false, "u-alice", redirect(false, func(r *saml.AuthnRequest) { r.Destination = "https://gw.example.com/other" }), http.StatusBadRequest, ReasonDestination},
		{"artifact ProtocolBinding", false, "u-alice", redirect(false, func(r *saml.AuthnRequest) {
			r.ProtocolBinding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"
		}), http.StatusBadRequest, ReasonBinding},
		{"stale IssueInstant", false, "u-alice", redirect(false, func(r *saml.AuthnRequest) { r.IssueInstant = r.IssueInstant.Add(-time.Hour) }), http.StatusBadRequest, ReasonRequestTime},
		{"future IssueInstant", false, "u-alice", redirect(false, func(r *saml.AuthnRequest) { r.IssueInstant = r.IssueInstant.Add(time.Hour) }), http.StatusBadRequest, ReasonRequestTime},
		{"unsigned redirect where signing is required", true, "u-alice", redirect(false, nil), http.StatusBadRequest, ReasonUnsigned},
		{"unsigned POST where signing is required", true, "u-alice", func(t *testing.T, f *fixture) *http.Request {
			return f.postRequest(f.authnRequest(app), "", nil, nil, "")
		}, http.StatusBadRequest, ReasonUnsigned},
		{"SHA-1 signed redirect", true, "u-alice", func(t *testing.T, f *fixture) *http.Request {
			return httptest.NewRequest(http.MethodGet, testSSOURL+"?"+sha1RedirectQuery(t, app, f.authnRequest(app)), nil)
		}, http.StatusBadRequest, ReasonSignature},
		{"SHA-1 signed POST", true, "u-alice", func(t *testing.T, f *fixture) *http.Request {
			return sha1PostRequest(t, app, f.authnRequest(app))
		}, http.StatusBadRequest, ReasonSignature},
		{"POST signed by another key", true, "u-alice", func(t *testing.T, f *fixture) *http.Request {
			return f.postRequest(f.authnRequest(app), "", other.Key(), other.Certificate(), saml.SigAlgRSASHA256)
		}, http.StatusBadRequest, ReasonSignature},
		{"bad signature on optional redirect signing", false, "u-alice", tamper("RelayState", "changed"), http.StatusBadRequest, ReasonSignature},
		{"tampered SAMLRequest", true, "u-alice", tamper("SAMLRequest", ""), http.StatusBadRequest, ReasonSignature},
		{"tampered RelayState", true, "u-alice", tamper("RelayState", "other"), http.StatusBadRequest, ReasonSignature},
		{"tampered SigAlg", true, "u-alice", tamper("SigAlg", saml.SigAlgRSASHA512), http.StatusBadRequest, ReasonSignature},
		{"duplicate SAMLRequest", false, "u-alice", func(t *testing.T, f *fixture) *http.Request {
			r := f.redirectRequest(app, f.authnRequest(app), "", false)
			r.URL.RawQuery += "&" + r.URL.RawQuery
			return r
		}, http.StatusBadRequest, ReasonMalformed},
		{"DOCTYPE in request", false, "u-alice", func(t *testing.T, f *fixture) *http.Request {
			b, err := f.authnRequest(app).Marshal()
			require.NoError(t, err)
			return postForm(saml.EncodePOST(append([]byte(`<!DOCTYPE x [<!ENTITY a "b">]>`), b...)), "")
		}, http.StatusBadRequest, ReasonMalformed},
		{"unassigned user", false, "u-bob", redirect(false, nil), http.StatusForbidden, ReasonUnassigned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.register("wiki", app, ServiceProviderOptions{}, tc.requireSigned, appACS2)
			p := alice()
			p.UserID = tc.user
			f.sessions.set(&p)
			w := f.do(tc.build(t, f))
			assert.Equal(t, tc.status, w.Code, w.Body.String())
			outcome := outcomeRejected
			if tc.reason == ReasonOK {
				outcome = outcomeIssued
			}
			count := testutil.ToFloat64(f.idp.metrics.responses.WithLabelValues("wiki", outcome, string(tc.reason))) +
				testutil.ToFloat64(f.idp.metrics.responses.WithLabelValues(appUnknown, outcome, string(tc.reason)))
			assert.Equal(t, 1.0, count, "reason %s", tc.reason)
			if tc.status == http.StatusOK {
				_, resp, _ := posted(t, w)
				root := decodeResponse(t, resp)
				assert.Contains(t, []string{appACS, appACS2}, root.SelectAttrValue("Destination", ""))
				return
			}
			assert.NotContains(t, w.Body.String(), "SAMLResponse")
			assert.NotContains(t, w.Body.String(), "<form")
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
		})
	}
}

func TestSPInitiatedLoginAndResume(t *testing.T) {
	app := testApp()
	f := newFixture(t, nil)
	f.register("wiki", app, ServiceProviderOptions{}, true)
	req := f.authnRequest(app)
	w := f.do(f.redirectRequest(app, req, "rs-1", true))
	require.Equal(t, http.StatusFound, w.Code)
	require.Len(t, f.sessions.returnTo, 1)
	returnTo := f.sessions.returnTo[0]
	require.True(t, strings.HasPrefix(returnTo, "/saml/idp/resume?state="), returnTo)

	// Still no session when the browser comes back: nothing is sent.
	w = f.do(httptest.NewRequest(http.MethodGet, returnTo, nil))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.NotContains(t, w.Body.String(), "SAMLResponse")

	// The state was consumed; start again and sign in.
	w = f.do(f.redirectRequest(app, req, "rs-1", true))
	require.Equal(t, http.StatusFound, w.Code)
	returnTo = f.sessions.returnTo[1]
	p := alice()
	f.sessions.set(&p)
	w = f.do(httptest.NewRequest(http.MethodGet, returnTo, nil))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	_, resp, rs := posted(t, w)
	assert.Equal(t, "rs-1", rs)
	a, err := f.verify(app, resp)
	require.NoError(t, err)
	assert.Equal(t, req.ID, a.InResponseTo())

	// Single use.
	w = f.do(httptest.NewRequest(http.MethodGet, returnTo, nil))
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.NotContains(t, w.Body.String(), "SAMLResponse")
	w = f.do(httptest.NewRequest(http.MethodGet, "/saml/idp/resume?state=_unknown", nil))
	assert.Equal(t, http.StatusBadRequest, w.Code)
}

func statusCodes(t *testing.T, samlResponse string) []string {
	root := decodeResponse(t, samlResponse)
	var out []string
	for sc := root.FindElement("./Status/StatusCode"); sc != nil; sc = sc.SelectElement("StatusCode") {
		out = append(out, sc.SelectAttrValue("Value", ""))
	}
	assert.Nil(t, root.FindElement(".//Assertion"))
	return out
}

func TestNoPassive(t *testing.T) {
	app := testApp()
	f := newFixture(t, nil)
	f.register("wiki", app, ServiceProviderOptions{}, false)
	req := f.authnRequest(app)
	req.IsPassive = true

	w := f.do(f.redirectRequest(app, req, "", false))
	require.Equal(t, http.StatusOK, w.Code)
	action, resp, _ := posted(t, w)
	assert.Equal(t, appACS, action)
	assert.Equal(t, []string{StatusResponder, StatusNoPassive}, statusCodes(t, resp))
	_, err := f.verify(app, resp)
	require.Error(t, err)
	assert.Empty(t, f.sessions.returnTo)

	// Control: with a session IsPassive succeeds.
	p := alice()
	f.sessions.set(&p)
	w = f.do(f.redirectRequest(app, f.authnRequest(app), "", false))
	_, resp, _ = posted(t, w)
	_, err = f.verify(app, resp)
	require.NoError(t, err)
}

func TestNameIDPolicy(t *testing.T) {
	app := testApp()
	f := newFixture(t, nil)
	f.register("wiki", app, ServiceProviderOptions{NameIDFormat: NameIDEmail}, false)
	p := alice()
	f.sessions.set(&p)
	for _, tc := range []struct {
		format string
		ok     bool
	}{
		{"", true},
		{NameIDFormatUnspecifiedURI, true},
		{NameIDFormatEmailURI, true},
		{NameIDFormatPersistentURI, false},
	} {
		req := f.authnRequest(app)
		req.NameIDPolicyFormat = tc.format
		w := f.do(f.redirectRequest(app, req, "", false))
		require.Equal(t, http.StatusOK, w.Code)
		_, resp, _ := posted(t, w)
		a, err := f.verify(app, resp)
		if tc.ok {
			require.NoError(t, err, tc.format)
			assert.Equal(t, "alice@example.com", a.NameID())
			assert.Equal(t, NameIDFormatEmailURI, a.NameIDFormat())
			continue
		}
		assert.Equal(t, []string{StatusRequester, StatusInvalidNameIDPolicy}, statusCodes(t, resp))
	}
}

func TestForceAuthn(t *testing.T) {
	app := testApp()
	f := newFixture(t, nil)
	f.register("wiki", app, ServiceProviderOptions{}, false)
	p := alice()
	p.AuthnInstant = f.now.Add(-time.Hour)
	f.sessions.set(&p)
	req := f.authnRequest(app)
	req.ForceAuthn = true

	// A session is not enough: the user is sent to sign in again.
	w := f.do(f.redirectRequest(app, req, "", false))
	require.Equal(t, http.StatusFound, w.Code)
	// The identity source kept the old sign-in: AuthnFailed.
	w = f.do(httptest.NewRequest(http.MethodGet, f.sessions.returnTo[0], nil))
	require.Equal(t, http.StatusOK, w.Code)
	_, resp, _ := posted(t, w)
	assert.Equal(t, []string{StatusResponder, StatusAuthnFailed}, statusCodes(t, resp))

	// Control: a fresh sign-in succeeds.
	w = f.do(f.redirectRequest(app, req, "", false))
	require.Equal(t, http.StatusFound, w.Code)
	p.AuthnInstant = f.now
	f.sessions.set(&p)
	w = f.do(httptest.NewRequest(http.MethodGet, f.sessions.returnTo[1], nil))
	_, resp, _ = posted(t, w)
	a, err := f.verify(app, resp)
	require.NoError(t, err)
	assert.Equal(t, f.now, a.AuthnInstant())
}

func TestLaunch(t *testing.T) {
	app := testApp()
	f := newFixture(t, nil)
	f.register("wiki", app, ServiceProviderOptions{DefaultRelayState: "/home"}, true, appACS2)

	// No session: to the identity source and back to the same path.
	w := f.do(httptest.NewRequest(http.MethodGet, "/saml/idp/launch/wiki", nil))
	require.Equal(t, http.StatusFound, w.Code)
	assert.Equal(t, []string{"/saml/idp/launch/wiki"}, f.sessions.returnTo)

	p := alice()
	f.sessions.set(&p)
	w = f.do(httptest.NewRequest(http.MethodGet, "/saml/idp/launch/wiki", nil))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	action, resp, rs := posted(t, w)
	assert.Equal(t, appACS, action)
	assert.Equal(t, "/home", rs)
	a, err := f.verify(app, resp)
	require.NoError(t, err)
	assert.Empty(t, a.InResponseTo())
	assert.Empty(t, decodeResponse(t, resp).SelectAttrValue("InResponseTo", ""))

	w = f.do(httptest.NewRequest(http.MethodGet, "/saml/idp/launch/nope", nil))
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.NotContains(t, w.Body.String(), "SAMLResponse")

	bob := alice()
	bob.UserID = "u-bob"
	f.sessions.set(&bob)
	w = f.do(httptest.NewRequest(http.MethodGet, "/saml/idp/launch/wiki", nil))
	assert.Equal(t, http.StatusForbidden, w.Code)
	assert.NotContains(t, w.Body.String(), "SAMLResponse")
	assert.Equal(t, 1.0, testutil.ToFloat64(f.idp.metrics.responses.WithLabelValues("wiki", outcomeRejected, string(ReasonUnassigned))))
}

func TestMarkupIsEscaped(t *testing.T) {
	app := testApp()
	f := newFixture(t, nil)
	f.register("wiki", app, ServiceProviderOptions{Attributes: []AttributeMapping{
		{Name: "displayName", Field: "display_name"},
		{Name: "groups", Field: "groups"},
		{Name: "cc", Field: "attributes.cost_center"},
	}}, false)
	p := alice()
	p.DisplayName = `<script>alert(1)</script> & "q" 'a'`
	p.Groups = []string{`</saml:AttributeValue><saml:AttributeValue>admin`, "tab\tand\r\nbreak"}
	p.Attributes = map[string]string{"cost_center": `]]><!-- x -->`}
	f.sessions.set(&p)
	relay := `"><script>alert(2)</script>`
	w := f.do(f.redirectRequest(app, f.authnRequest(app), relay, false))
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	assert.NotContains(t, body, "<script>alert")
	assert.NotContains(t, body, `"><script>`)
	_, resp, rs := posted(t, w)
	assert.Equal(t, relay, rs)
	a, err := f.verify(app, resp)
	require.NoError(t, err)
	assert.Equal(t, []string{p.DisplayName}, a.Attribute("displayName"))
	// The signature covers CR (written as &#xD;); the verifier's XML
	// decoding then normalises CRLF.
	assert.Equal(t, []string{p.Groups[0], "tab\tand\nbreak"}, a.Attribute("groups"))
	assert.Equal(t, []string{`]]><!-- x -->`}, a.Attribute("cc"))
	raw, err := base64.StdEncoding.DecodeString(resp)
	require.NoError(t, err)
	assert.Contains(t, string(raw), "&lt;script&gt;alert(1)&lt;/script&gt;")
	assert.NotContains(t, string(raw), "<saml:AttributeValue>admin")
	assert.Contains(t, string(raw), "tab\tand&#xD;\nbreak")

	// Text XML cannot carry is refused, not altered.
	p.DisplayName = "bell\x07"
	f.sessions.set(&p)
	w = f.do(f.redirectRequest(app, f.authnRequest(app), "", false))
	assert.Equal(t, http.StatusForbidden, w.Code)
	assert.NotContains(t, w.Body.String(), "SAMLResponse")
}

func TestMethodAndBodyLimits(t *testing.T) {
	app := testApp()
	f := newFixture(t, nil)
	f.register("wiki", app, ServiceProviderOptions{}, false)
	w := httptest.NewRecorder()
	f.idp.SSOHandler().ServeHTTP(w, httptest.NewRequest(http.MethodPut, testSSOURL, nil))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	big := postForm(strings.Repeat("A", DefaultMaxBodyBytes+10), "")
	w = f.do(big)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.NotContains(t, w.Body.String(), "SAMLResponse")
}
