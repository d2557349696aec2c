package speers

import (
	"context"
	"crypto"
	"encoding/pem"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

var alice = samltest.DemoUser{
	Password:    "correct horse",
	Email:       "alice@example.com",
	DisplayName: `Alice <b>"Example"</b> & Co; Ltd`,
	Groups:      []string{"engineering", "admins"},
}

// wantAlice is what every SP must report for alice signed in by samltest.
func wantAlice() Result {
	return Result{
		NameID:       "alice",
		NameIDFormat: NameIDFormatPersistent,
		Attributes: map[string][]string{
			"email":       {alice.Email},
			"displayName": {alice.DisplayName},
			"groups":      alice.Groups,
		},
	}
}

func aliceAttributes() map[string][]string {
	return map[string][]string{"email": {alice.Email}, "displayName": {alice.DisplayName}, "groups": alice.Groups}
}

// testIdP is samltest's IdP behind an httptest server: LoginHandler at /sso,
// answering for the one SP set with serve.
type testIdP struct {
	idp     *samltest.IdP
	ssoURL  string
	handler atomic.Pointer[http.Handler]
}

func newTestIdP(t *testing.T) *testIdP {
	t.Helper()
	tp := &testIdP{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := tp.handler.Load()
		if h == nil || r.URL.Path != "/sso" {
			http.NotFound(w, r)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tp.ssoURL = srv.URL + "/sso"
	var err error
	tp.idp, err = samltest.NewIdP(srv.URL + "/metadata")
	require.NoError(t, err)
	return tp
}

func (tp *testIdP) metadata() []byte { return tp.idp.Metadata(tp.ssoURL) }

func (tp *testIdP) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tp.idp.Certificate().Raw})
}

// serve makes LoginHandler answer sp's requests.
func (tp *testIdP) serve(t *testing.T, sp SP) {
	t.Helper()
	h, err := samltest.LoginHandler(samltest.IdPHandlerConfig{
		IdP:        tp.idp,
		SSOURL:     tp.ssoURL,
		Users:      map[string]samltest.DemoUser{"alice": alice},
		AllowedACS: []string{sp.ACSURL()},
		Audience:   sp.EntityID(),
	})
	require.NoError(t, err)
	tp.handler.Store(&h)
}

func newClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, Timeout: 15 * time.Second}
}

// startLogin GETs the SP's protected page and returns the IdP URL it
// redirected to (with the HTTP-Redirect AuthnRequest) and that request.
func startLogin(t *testing.T, tp *testIdP, sp SP, client *http.Client) (*url.URL, *saml.AuthnRequest, string) {
	t.Helper()
	resp, err := client.Get(sp.LoginURL())
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	at := resp.Request.URL
	require.Equal(t, tp.ssoURL, at.Scheme+"://"+at.Host+at.Path, "the SP did not redirect to the IdP: %s", body)
	req, relayState, err := samltest.ParseAuthnRequestFromRedirect(at)
	require.NoError(t, err)
	assert.Equal(t, sp.EntityID(), req.Issuer)
	assert.Equal(t, tp.ssoURL, req.Destination)
	return at, req, relayState
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	formInput  = regexp.MustCompile(`name="(SAMLResponse|RelayState)" value="([^"]*)"`)
)

// loginForm submits alice's credentials to the login page the IdP showed at
// ssoURL and returns the auto-submit form it answers with.
func loginForm(t *testing.T, client *http.Client, at *url.URL) (action, samlResponse, relayState string) {
	t.Helper()
	q := at.Query()
	resp, err := client.PostForm(at.Scheme+"://"+at.Host+at.Path, url.Values{
		"SAMLRequest": {q.Get("SAMLRequest")},
		"RelayState":  {q.Get("RelayState")},
		"username":    {"alice"},
		"password":    {alice.Password},
	})
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	m := formAction.FindSubmatch(body)
	require.NotNil(t, m, "no form in %s", body)
	fields := map[string]string{}
	for _, f := range formInput.FindAllSubmatch(body, -1) {
		fields[string(f[1])] = html.UnescapeString(string(f[2]))
	}
	return html.UnescapeString(string(m[1])), fields["SAMLResponse"], fields["RelayState"]
}

// response builds a response for sp as samltest's IdP would, answering req
// (nil: unsolicited).
func response(t *testing.T, idp *samltest.IdP, sp SP, req *saml.AuthnRequest, change func(*samltest.ResponseOptions)) string {
	t.Helper()
	o := samltest.ResponseOptions{
		Destination:  sp.ACSURL(),
		Audience:     sp.EntityID(),
		NameID:       "alice",
		NameIDFormat: NameIDFormatPersistent,
		Attributes:   aliceAttributes(),
		Sign:         samltest.SignAssertion,
	}
	if req != nil {
		o.InResponseTo = req.ID
	}
	if change != nil {
		change(&o)
	}
	s, err := idp.EncodedResponse(o)
	require.NoError(t, err)
	return s
}

// capabilities says where an SP departs from the strict default.
type capabilities struct {
	acceptsUnknownInResponseTo bool // with AllowUnsolicited, any InResponseTo passes
	acceptsPlaintext           bool // cannot be told to require encryption
	refusesCBC                 bool // refuses AES-CBC when encrypting
}

func TestShibboleth(t *testing.T) {
	runSuite(t, StartShibboleth, capabilities{acceptsPlaintext: true, refusesCBC: true, acceptsUnknownInResponseTo: true})
}

func TestNodeSAML(t *testing.T) {
	runSuite(t, StartNodeSAML, capabilities{})
}

func TestPySAML2(t *testing.T) {
	runSuite(t, StartPySAML2, capabilities{acceptsUnknownInResponseTo: true})
}

func runSuite(t *testing.T, start func(testing.TB, SPOptions) SP, caps capabilities) {
	ctx := context.Background()
	tp := newTestIdP(t)
	forged, err := samltest.NewIdP(tp.idp.EntityID()) // same entity ID, another key
	require.NoError(t, err)

	strict := start(t, SPOptions{IdPMetadata: tp.metadata(), SignAuthnRequests: true})
	tp.serve(t, strict)

	t.Run("metadata", func(t *testing.T) {
		md := strict.Metadata()
		doc := etree.NewDocument()
		require.NoError(t, doc.ReadFromBytes(md))
		assert.Equal(t, strict.EntityID(), doc.Root().SelectAttrValue("entityID", ""))
		acs := doc.FindElement("//AssertionConsumerService")
		require.NotNil(t, acs)
		assert.Equal(t, strict.ACSURL(), acs.SelectAttrValue("Location", ""))
		assert.Equal(t, "0", acs.SelectAttrValue("index", ""))
		assert.Equal(t, "true", acs.SelectAttrValue("isDefault", ""))
		assert.Len(t, doc.FindElements("//KeyDescriptor"), 1, "signing only")
		assert.Nil(t, strict.EncryptionCertificate())
		for _, e := range doc.FindElements("//*") {
			assert.False(t, len(e.ChildElements()) == 0 && e.Text() == "" && len(e.Attr) == 0, "empty element %s", e.Tag)
		}
	})

	t.Run("SP-initiated sign-in through samltest's login page", func(t *testing.T) {
		client := newClient(t)
		at, _, _ := startLogin(t, tp, strict, client)
		action, samlResponse, relayState := loginForm(t, client, at)
		assert.Equal(t, strict.ACSURL(), action)

		xml, err := saml.DecodePOST(samlResponse, saml.Limits{})
		require.NoError(t, err)
		require.NoError(t, XMLSecVerify(t, xml, tp.certPEM()))

		got, err := strict.Complete(ctx, client, action, samlResponse, relayState)
		require.NoError(t, err)
		assert.Equal(t, wantAlice(), got)

		// The session is there: the protected page answers without the IdP.
		resp, err := client.Get(strict.LoginURL())
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, strict.LoginURL(), resp.Request.URL.String())
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})

	t.Run("signed AuthnRequest", func(t *testing.T) {
		at, _, _ := startLogin(t, tp, strict, newClient(t))
		assert.Equal(t, saml.SigAlgRSASHA256, at.Query().Get("SigAlg"))
		require.NoError(t, saml.VerifyRedirectSignature(at.RawQuery, "SAMLRequest",
			[]crypto.PublicKey{strict.SigningCertificate().PublicKey}))
		// Another key does not verify it: the signature is the SP's.
		require.Error(t, saml.VerifyRedirectSignature(at.RawQuery, "SAMLRequest",
			[]crypto.PublicKey{tp.idp.Certificate().PublicKey}))
	})

	for _, tc := range []struct {
		name    string
		idp     *samltest.IdP
		change  func(*samltest.ResponseOptions)
		wantErr bool
	}{
		{name: "built response, IdP's key (control)", idp: tp.idp},
		{name: "response and assertion signed", idp: tp.idp, change: func(o *samltest.ResponseOptions) { o.Sign = samltest.SignBoth }},
		{name: "signed by another key", idp: forged, wantErr: true},
		{name: "both signed by another key", idp: forged, change: func(o *samltest.ResponseOptions) { o.Sign = samltest.SignBoth }, wantErr: true},
		{name: "unsigned", idp: tp.idp, change: func(o *samltest.ResponseOptions) { o.Sign = samltest.SignNone }, wantErr: true},
		{name: "another audience", idp: tp.idp, change: func(o *samltest.ResponseOptions) { o.Audience = "https://other.example/sp" }, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := newClient(t)
			_, req, relayState := startLogin(t, tp, strict, client)
			got, err := strict.Complete(ctx, client, strict.ACSURL(), response(t, tc.idp, strict, req, tc.change), relayState)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrRejected)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, wantAlice(), got)
		})
	}

	t.Run("InResponseTo of no request", func(t *testing.T) {
		client := newClient(t)
		startLogin(t, tp, strict, client)
		_, err := strict.Complete(ctx, client, strict.ACSURL(), response(t, tp.idp, strict, &saml.AuthnRequest{ID: saml.NewID()}, nil), "")
		require.ErrorIs(t, err, ErrRejected)
	})

	t.Run("replayed response", func(t *testing.T) {
		client := newClient(t)
		_, req, relayState := startLogin(t, tp, strict, client)
		resp := response(t, tp.idp, strict, req, nil)
		_, err := strict.Complete(ctx, client, strict.ACSURL(), resp, relayState)
		require.NoError(t, err)
		_, err = strict.Complete(ctx, newClient(t), strict.ACSURL(), resp, relayState)
		require.ErrorIs(t, err, ErrRejected)
	})

	t.Run("IdP-initiated, strict SP", func(t *testing.T) {
		client := newClient(t)
		got, err := strict.Complete(ctx, client, strict.ACSURL(), response(t, tp.idp, strict, nil, nil), "")
		require.ErrorIs(t, err, ErrRejected)
		assert.Empty(t, got)
	})

	// A second SP: encrypted assertions, IdP-initiated allowed.
	enc := start(t, SPOptions{IdPMetadata: tp.metadata(), EncryptAssertions: true, AllowUnsolicited: true})
	tp.serve(t, enc)
	require.NotNil(t, enc.EncryptionCertificate())

	encrypted := func(o *samltest.ResponseOptions) { o.EncryptTo = enc.EncryptionCertificate() }
	for _, tc := range []struct {
		name        string
		unsolicited bool
		idp         *samltest.IdP
		change      func(*samltest.ResponseOptions)
		wantErr     bool
	}{
		{name: "encrypted assertion", idp: tp.idp, change: encrypted},
		{name: "encrypted, AES-128-GCM, response signed too", idp: tp.idp, change: func(o *samltest.ResponseOptions) {
			encrypted(o)
			o.DataEncryption = samltest.DataAES128GCM
			o.Sign = samltest.SignBoth
		}},
		{name: "encrypted, IdP-initiated", unsolicited: true, idp: tp.idp, change: encrypted},
		{name: "encrypted, signed by another key", idp: forged, change: encrypted, wantErr: true},
		{name: "encrypted to another SP's key", idp: tp.idp, change: func(o *samltest.ResponseOptions) { o.EncryptTo = strict.SigningCertificate() }, wantErr: true},
		{name: "plaintext assertion", idp: tp.idp, wantErr: !caps.acceptsPlaintext},
		{name: "encrypted with AES-256-CBC", idp: tp.idp, change: func(o *samltest.ResponseOptions) {
			encrypted(o)
			o.DataEncryption = samltest.DataAES256CBC
		}, wantErr: caps.refusesCBC},
		{name: "IdP-initiated, signed by another key", unsolicited: true, idp: forged, change: encrypted, wantErr: true},
		{name: "InResponseTo of no request", unsolicited: true, idp: tp.idp, change: func(o *samltest.ResponseOptions) {
			encrypted(o)
			o.InResponseTo = saml.NewID()
		}, wantErr: !caps.acceptsUnknownInResponseTo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := newClient(t)
			var req *saml.AuthnRequest
			relayState := ""
			if !tc.unsolicited {
				_, req, relayState = startLogin(t, tp, enc, client)
			}
			got, err := enc.Complete(ctx, client, enc.ACSURL(), response(t, tc.idp, enc, req, tc.change), relayState)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrRejected)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, wantAlice(), got)
		})
	}

	t.Run("SP-initiated through samltest's login page, encrypting SP", func(t *testing.T) {
		client := newClient(t)
		at, _, _ := startLogin(t, tp, enc, client)
		assert.Empty(t, at.Query().Get("Signature"), "this SP does not sign its requests")
		action, samlResponse, relayState := loginForm(t, client, at)
		_, err := enc.Complete(ctx, client, action, samlResponse, relayState)
		if caps.acceptsPlaintext {
			require.NoError(t, err) // LoginHandler does not encrypt
			return
		}
		require.ErrorIs(t, err, ErrRejected)
	})

	t.Run("a form action off the SP is refused", func(t *testing.T) {
		_, err := enc.Complete(ctx, newClient(t), tp.ssoURL, response(t, tp.idp, enc, nil, encrypted), "")
		require.Error(t, err)
		require.NotErrorIs(t, err, ErrRejected)
	})
}
