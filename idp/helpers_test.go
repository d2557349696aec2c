package idp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/metadata"
	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

const (
	testEntityID = "https://gw.example.com/saml/idp/metadata"
	testSSOURL   = "https://gw.example.com/saml/idp/sso"
	appEntityID  = "https://app.example.com/sp"
	appACS       = "https://app.example.com/acs"
	appACS2      = "https://app.example.com/acs2"
)

// Keys are expensive to generate; tests share them (read-only).
var (
	idpRSAKey = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	idpECKey  = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	testApp   = sync.OnceValue(func() *samltest.SP { return must(samltest.NewSP(appEntityID, appACS)) })
	otherApp  = sync.OnceValue(func() *samltest.SP {
		return must(samltest.NewSP("https://other.example.com/sp", "https://other.example.com/acs"))
	})
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func certFor(t testing.TB, s crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := samltest.SelfSignedCert("gatehouse idp", s, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

type fakeKeys struct {
	signer crypto.Signer
	cert   *x509.Certificate
}

func (k *fakeKeys) SigningKey(context.Context) (crypto.Signer, *x509.Certificate, error) {
	return k.signer, k.cert, nil
}

func (k *fakeKeys) Certificates(context.Context) ([]*x509.Certificate, error) {
	return []*x509.Certificate{k.cert}, nil
}

type fakeRegistry struct {
	mu   sync.Mutex
	byID map[string]*ServiceProvider
}

func (f *fakeRegistry) add(sp *ServiceProvider) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byID[sp.ID] = sp
}

func (f *fakeRegistry) ServiceProviderByEntityID(_ context.Context, entityID string) (*ServiceProvider, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, sp := range f.byID {
		if sp.EntityID == entityID {
			return sp, nil
		}
	}
	return nil, ErrUnknownServiceProvider
}

func (f *fakeRegistry) ServiceProviderByID(_ context.Context, id string) (*ServiceProvider, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sp, ok := f.byID[id]; ok {
		return sp, nil
	}
	return nil, ErrUnknownServiceProvider
}

// fakeSessions has a session when p is set.
type fakeSessions struct {
	mu       sync.Mutex
	p        *Principal
	returnTo []string
}

func (f *fakeSessions) set(p *Principal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.p = p
}

func (f *fakeSessions) Principal(*http.Request) (Principal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.p == nil {
		return Principal{}, ErrNoSession
	}
	return *f.p, nil
}

func (f *fakeSessions) StartLogin(w http.ResponseWriter, r *http.Request, returnTo string) {
	f.mu.Lock()
	f.returnTo = append(f.returnTo, returnTo)
	f.mu.Unlock()
	http.Redirect(w, r, "/login?return_to="+url.QueryEscape(returnTo), http.StatusFound)
}

// fakeAccess allows the users in allowed.
type fakeAccess struct{ allowed map[string]bool }

func (f fakeAccess) CanAccess(_ context.Context, _ *ServiceProvider, p Principal) (bool, error) {
	return f.allowed[p.UserID], nil
}

type fakeStates struct {
	mu sync.Mutex
	m  map[string]PendingSSO
}

func (f *fakeStates) SaveSSOState(_ context.Context, s PendingSSO) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[s.ID] = s
	return nil
}

func (f *fakeStates) ConsumeSSOState(_ context.Context, id string, now time.Time) (PendingSSO, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.m[id]
	delete(f.m, id)
	if !ok || !s.ExpiresAt.After(now) {
		return PendingSSO{}, ErrNotFound
	}
	return s, nil
}

type fixture struct {
	t        testing.TB
	idp      *IdP
	now      time.Time
	keys     *fakeKeys
	sps      *fakeRegistry
	sessions *fakeSessions
	mux      *http.ServeMux
	reg      *prometheus.Registry
}

func alice() Principal {
	return Principal{
		UserID: "u-alice", UserName: "alice", Email: "alice@example.com",
		GivenName: "Alice", FamilyName: "Liddell", DisplayName: "Alice Liddell",
		ExternalID: "ext-1", Groups: []string{"engineering", "admins"},
		Attributes:   map[string]string{"cost_center": "CC-42"},
		AuthnInstant: time.Now().Add(-time.Minute).UTC().Truncate(time.Second),
		ClientIP:     "192.0.2.7",
	}
}

func newFixture(t testing.TB, signer crypto.Signer) *fixture {
	t.Helper()
	if signer == nil {
		signer = idpRSAKey()
	}
	f := &fixture{
		t:        t,
		now:      time.Now().UTC().Truncate(time.Second),
		keys:     &fakeKeys{signer: signer, cert: certFor(t, signer)},
		sps:      &fakeRegistry{byID: map[string]*ServiceProvider{}},
		sessions: &fakeSessions{},
		reg:      prometheus.NewRegistry(),
	}
	i, err := New(Config{
		EntityID:         testEntityID,
		SSOURL:           testSSOURL,
		ServiceProviders: f.sps,
		Sessions:         f.sessions,
		Access:           fakeAccess{allowed: map[string]bool{"u-alice": true}},
		Keys:             f.keys,
		States:           &fakeStates{m: map[string]PendingSSO{}},
		PersistentIDKey:  []byte("0123456789abcdef0123456789abcdef"),
		Now:              func() time.Time { return f.now },
		Registry:         f.reg,
	})
	require.NoError(t, err)
	f.idp = i
	f.mux = http.NewServeMux()
	f.mux.Handle("GET /saml/idp/sso", i.SSOHandler())
	f.mux.Handle("POST /saml/idp/sso", i.SSOHandler())
	f.mux.Handle("GET /saml/idp/resume", i.ResumeHandler())
	f.mux.Handle("GET /saml/idp/launch/{app_id}", i.LaunchHandler())
	return f
}

// appMD is the test app's metadata with extra ACS locations.
func appMD(t testing.TB, app *samltest.SP, signed, encrypt bool, extraACS ...string) []byte {
	t.Helper()
	cfg := metadata.SPConfig{
		EntityID:            app.EntityID(),
		ACS:                 []metadata.ACSEndpoint{{URL: app.ACSURL()}},
		SigningCert:         app.Certificate(),
		AuthnRequestsSigned: signed,
	}
	for _, u := range extraACS {
		cfg.ACS = append(cfg.ACS, metadata.ACSEndpoint{URL: u})
	}
	if encrypt {
		cfg.EncryptionCert = app.Certificate()
	}
	b, err := metadata.BuildSP(cfg)
	require.NoError(t, err)
	return b
}

func (f *fixture) register(id string, app *samltest.SP, opts ServiceProviderOptions, signed bool, extraACS ...string) *ServiceProvider {
	f.t.Helper()
	sp, err := NewServiceProvider(id, appMD(f.t, app, signed, opts.EncryptAssertions, extraACS...), opts, f.now)
	require.NoError(f.t, err)
	f.sps.add(sp)
	return sp
}

func (f *fixture) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	return w
}

func (f *fixture) authnRequest(app *samltest.SP) *saml.AuthnRequest {
	return app.AuthnRequest(testSSOURL, f.now)
}

// redirectRequest is a GET to the SSO URL for req (HTTP-Redirect binding).
func (f *fixture) redirectRequest(app *samltest.SP, req *saml.AuthnRequest, relayState string, sign bool) *http.Request {
	f.t.Helper()
	u, err := app.RedirectURL(testSSOURL, req, relayState, sign)
	require.NoError(f.t, err)
	return httptest.NewRequest(http.MethodGet, u, nil)
}

// postRequest is a POST of req (HTTP-POST binding), signed by key when not nil.
func (f *fixture) postRequest(req *saml.AuthnRequest, relayState string, key crypto.Signer, cert *x509.Certificate, sigAlg string) *http.Request {
	f.t.Helper()
	b, err := req.Marshal()
	require.NoError(f.t, err)
	if key != nil {
		doc := etree.NewDocument()
		require.NoError(f.t, doc.ReadFromBytes(b))
		_, err := saml.Sign(doc.Root(), key, [][]byte{cert.Raw}, sigAlg)
		require.NoError(f.t, err)
		b, err = doc.WriteToBytes()
		require.NoError(f.t, err)
	}
	return postForm(saml.EncodePOST(b), relayState)
}

func postForm(samlRequest, relayState string) *http.Request {
	form := url.Values{"SAMLRequest": {samlRequest}}
	if relayState != "" {
		form.Set("RelayState", relayState)
	}
	r := httptest.NewRequest(http.MethodPost, testSSOURL, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

var (
	reSAMLResponse = regexp.MustCompile(`name="SAMLResponse" value="([^"]*)"`)
	reRelayState   = regexp.MustCompile(`name="RelayState" value="([^"]*)"`)
	reAction       = regexp.MustCompile(`action="([^"]*)"`)
)

// posted extracts the auto-submit form's fields.
func posted(t testing.TB, w *httptest.ResponseRecorder) (action, samlResponse, relayState string) {
	t.Helper()
	body := w.Body.String()
	m := reSAMLResponse.FindStringSubmatch(body)
	require.NotNil(t, m, "no SAMLResponse in page (status %d): %s", w.Code, body)
	a := reAction.FindStringSubmatch(body)
	require.NotNil(t, a)
	if rs := reRelayState.FindStringSubmatch(body); rs != nil {
		relayState = html.UnescapeString(rs[1])
	}
	return html.UnescapeString(a[1]), html.UnescapeString(m[1]), relayState
}

func (f *fixture) verify(app *samltest.SP, samlResponse string) (*saml.Assertion, error) {
	return app.Verify(testEntityID, []*x509.Certificate{f.keys.cert}, samlResponse, f.now)
}

// decodeResponse parses a posted SAMLResponse.
func decodeResponse(t testing.TB, samlResponse string) *etree.Element {
	t.Helper()
	b, err := saml.DecodePOST(samlResponse, saml.Limits{})
	require.NoError(t, err)
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(b))
	return doc.Root()
}
