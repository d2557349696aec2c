package sp_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
	"github.com/gatehouse-dev/gatehouse/sp"
)

const (
	spEntityID = "https://gw.example.com/saml/sp/metadata"
	acsEast    = "https://us-east-1.gw.example.com/saml/acs"
	acsWest    = "https://eu-west-1.gw.example.com/saml/acs"
	idpSSO     = "https://idp.example.com/sso"
)

var regions = []sp.Region{{Name: "us-east-1", ACSURL: acsEast}, {Name: "eu-west-1", ACSURL: acsWest}}

type env struct {
	t     *testing.T
	idp   *samltest.IdP
	store *memory.Store
	now   time.Time
	reg   *prometheus.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	idp, err := samltest.NewIdP("https://idp.example.com/metadata")
	require.NoError(t, err)
	e := &env{t: t, idp: idp, store: memory.New(), now: time.Now().UTC().Truncate(time.Second), reg: prometheus.NewRegistry()}
	_, err = e.store.CreateUser(context.Background(), sp.User{UserName: "alice@example.com", Email: "alice@example.com", Active: true})
	require.NoError(t, err)
	return e
}

type fixedHealth struct{}

func (fixedHealth) RegionReady(*http.Request, sp.Region) bool { return true }
func (fixedHealth) Reachable(*http.Request, string) bool      { return true }

func (e *env) config() sp.Config {
	return sp.Config{
		EntityID: spEntityID,
		Regions:  regions,
		IdP: sp.IdentityProvider{
			EntityID:     e.idp.EntityID(),
			Certificates: []*x509.Certificate{e.idp.Certificate()},
			SSOURLs:      []string{idpSSO},
		},
		Requests: e.store, Replay: e.store, Sessions: e.store, Users: e.store,
		Attributes: sp.AttributeMap{Email: "email", DisplayName: "displayName", Groups: "groups"},
		Health:     fixedHealth{},
		Now:        func() time.Time { return e.now },
		Registry:   e.reg,
	}
}

func (e *env) newSP(mutate ...func(*sp.Config)) *sp.SP {
	cfg := e.config()
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := sp.New(cfg)
	require.NoError(e.t, err)
	return s
}

// login runs GET /saml/sp/login on the given host and returns the pending
// AuthnRequest ID, RelayState and the browser's state cookie.
func login(t *testing.T, s *sp.SP, host, returnTo string) (id, relayState string, state *http.Cookie) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "https://"+host+"/saml/sp/login?return_to="+url.QueryEscape(returnTo), nil)
	w := httptest.NewRecorder()
	s.LoginHandler().ServeHTTP(w, r)
	require.Equal(t, http.StatusFound, w.Code, w.Body.String())
	loc, err := url.Parse(w.Header().Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "idp.example.com", loc.Host)
	req, rs, err := samltest.ParseAuthnRequestFromRedirect(loc)
	require.NoError(t, err)
	for _, c := range w.Result().Cookies() {
		if c.Name == sp.StateCookie {
			state = c
		}
	}
	require.NotNil(t, state)
	return req.ID, rs, state
}

func (e *env) response(dest, inResponseTo string, mutate ...func(*samltest.ResponseOptions)) string {
	o := samltest.ResponseOptions{
		Now:          e.now,
		Destination:  dest,
		Recipient:    dest,
		Audience:     spEntityID,
		InResponseTo: inResponseTo,
		NameID:       "alice@example.com",
		NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		Attributes: map[string][]string{
			"email":       {"alice@example.com"},
			"displayName": {"Alice Example"},
			"groups":      {"engineering", "admins"},
		},
		SessionIndex: "_sess1",
	}
	for _, m := range mutate {
		m(&o)
	}
	enc, err := e.idp.EncodedResponse(o)
	require.NoError(e.t, err)
	return enc
}

func post(s *sp.SP, acsURL, samlResponse, relayState string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	form := url.Values{"SAMLResponse": {samlResponse}}
	if relayState != "" {
		form.Set("RelayState", relayState)
	}
	r := httptest.NewRequest(http.MethodPost, acsURL, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	s.ACSHandler().ServeHTTP(w, r)
	return w
}

func sessionCookie(w *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == sp.SessionCookie && c.Value != "" {
			return c
		}
	}
	return nil
}

func TestSPInitiatedSignIn(t *testing.T) {
	e := newEnv(t)
	s := e.newSP()
	id, rs, state := login(t, s, "us-east-1.gw.example.com", "/portal/apps?x=1")

	w := post(s, acsEast, e.response(acsEast, id), rs, state)
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	assert.Equal(t, "/portal/apps?x=1", w.Header().Get("Location"))
	c := sessionCookie(w)
	require.NotNil(t, c)
	assert.True(t, c.HttpOnly)
	assert.True(t, c.Secure)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)

	// The session answers /api/v1/session.
	r := httptest.NewRequest(http.MethodGet, "https://us-east-1.gw.example.com/api/v1/session", nil)
	r.AddCookie(c)
	sw := httptest.NewRecorder()
	s.SessionHandler().ServeHTTP(sw, r)
	require.Equal(t, http.StatusOK, sw.Code)
	assert.Contains(t, sw.Body.String(), `"user_name":"alice@example.com"`)
	assert.Equal(t, 1.0, testutil.ToFloat64(counter(t, e.reg, "accepted", "ok", "us-east-1")))

	// Logout ends it.
	lw := httptest.NewRecorder()
	lr := httptest.NewRequest(http.MethodPost, "https://us-east-1.gw.example.com/api/v1/logout", nil)
	lr.AddCookie(c)
	s.LogoutHandler().ServeHTTP(lw, lr)
	assert.Equal(t, http.StatusNoContent, lw.Code)
	assert.Equal(t, `"cache"`, lw.Header().Get("Clear-Site-Data"), "Back must not restore a signed-in page")
	sw = httptest.NewRecorder()
	s.SessionHandler().ServeHTTP(sw, r)
	assert.Equal(t, http.StatusUnauthorized, sw.Code)
}

func counter(t *testing.T, reg *prometheus.Registry, outcome, reason, region string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "gatehouse_sp_signins_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["outcome"] == outcome && labels["reason"] == reason && labels["region"] == region {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return 0 })
}

// TestLoginNamesRegion: the AuthnRequest names the ACS of the region the login
// arrived on, otherwise the first ready region.
func TestLoginNamesRegion(t *testing.T) {
	e := newEnv(t)
	s := e.newSP()
	for _, tc := range []struct{ host, want string }{
		{"us-east-1.gw.example.com", acsEast},
		{"eu-west-1.gw.example.com", acsWest},
		{"other.example.com", acsEast},
	} {
		r := httptest.NewRequest(http.MethodGet, "https://"+tc.host+"/saml/sp/login", nil)
		w := httptest.NewRecorder()
		s.LoginHandler().ServeHTTP(w, r)
		require.Equal(t, http.StatusFound, w.Code)
		loc, _ := url.Parse(w.Header().Get("Location"))
		req, _, err := samltest.ParseAuthnRequestFromRedirect(loc)
		require.NoError(t, err)
		assert.Equal(t, tc.want, req.AssertionConsumerServiceURL, tc.host)
		assert.Equal(t, spEntityID, req.Issuer)
	}
}

type downFirst struct{}

func (downFirst) RegionReady(_ *http.Request, r sp.Region) bool { return r.Name != "us-east-1" }
func (downFirst) Reachable(_ *http.Request, u string) bool      { return u != idpSSO }

func TestLoginFailsOverToReadyRegionAndReachableIdP(t *testing.T) {
	e := newEnv(t)
	s := e.newSP(func(c *sp.Config) {
		c.Health = downFirst{}
		c.IdP.SSOURLs = []string{idpSSO, "https://idp-backup.example.com/sso"}
	})
	r := httptest.NewRequest(http.MethodGet, "https://lb.gw.example.com/saml/sp/login", nil)
	w := httptest.NewRecorder()
	s.LoginHandler().ServeHTTP(w, r)
	require.Equal(t, http.StatusFound, w.Code)
	loc, _ := url.Parse(w.Header().Get("Location"))
	assert.Equal(t, "idp-backup.example.com", loc.Host)
	req, _, err := samltest.ParseAuthnRequestFromRedirect(loc)
	require.NoError(t, err)
	assert.Equal(t, acsWest, req.AssertionConsumerServiceURL)
}

func TestLoginRejectsNonLocalReturnTo(t *testing.T) {
	e := newEnv(t)
	s := e.newSP()
	for _, rt := range []string{"https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)", "/a\nb", "portal"} {
		r := httptest.NewRequest(http.MethodGet, "https://us-east-1.gw.example.com/saml/sp/login?return_to="+url.QueryEscape(rt), nil)
		w := httptest.NewRecorder()
		s.LoginHandler().ServeHTTP(w, r)
		assert.Equal(t, http.StatusBadRequest, w.Code, rt)
	}
}

// TestCrossRegionSignIn: a sign-in started at one region completes at the
// other, because pending requests live in the shared store.
func TestCrossRegionSignIn(t *testing.T) {
	e := newEnv(t)
	east := e.newSP()
	west := e.newSP()
	id, rs, state := login(t, east, "us-east-1.gw.example.com", "/portal")
	w := post(west, acsWest, e.response(acsWest, id), rs, state)
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	require.NotNil(t, sessionCookie(w))
}

// TestReplayAtSecondRegion: a response accepted by one instance is rejected
// when replayed through another instance sharing the store.
func TestReplayAtSecondRegion(t *testing.T) {
	e := newEnv(t)
	// Unsolicited responses are allowed on both instances so that only the
	// replay check can reject the second POST.
	first := e.newSP(func(c *sp.Config) { c.AllowIdPInitiated = true })
	second := e.newSP(func(c *sp.Config) { c.AllowIdPInitiated = true })
	resp := e.response(acsEast, "")
	w := post(first, acsEast, resp, "")
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	w = post(second, acsEast, resp, "")
	assertGenericRejection(t, w)
	assert.Equal(t, 1.0, testutil.ToFloat64(counter(t, e.reg, "rejected", "replay", "us-east-1")))
}

func assertGenericRejection(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	assert.Equal(t, http.StatusForbidden, w.Code)
	body, _ := io.ReadAll(w.Result().Body)
	assert.Equal(t, "Sign-in failed. Please return to the application and try again.\n", string(body))
	assert.Nil(t, sessionCookie(w), "no session on rejection")
}

// TestACSRejections: each case starts from the valid SP-initiated response and
// changes one thing; every rejection looks the same from outside.
func TestACSRejections(t *testing.T) {
	type tc struct {
		name   string
		reason string
		// mutate may change the response options, the posted URL, the
		// RelayState, or the cookie.
		opts      func(*samltest.ResponseOptions)
		postURL   string
		relay     func(string) string
		cookie    func(*http.Cookie) *http.Cookie
		spOptions func(*sp.Config)
		before    func(e *env)
	}
	cases := []tc{
		{name: "control", reason: ""},
		{name: "wrong destination", reason: "destination", opts: func(o *samltest.ResponseOptions) { o.Destination = acsWest; o.Recipient = acsWest }},
		{name: "destination with trailing slash", reason: "destination", opts: func(o *samltest.ResponseOptions) { o.Destination = acsEast + "/" }},
		{name: "wrong recipient", reason: "recipient", opts: func(o *samltest.ResponseOptions) { o.Recipient = acsWest }},
		{name: "posted to unknown path", reason: "unknown_endpoint", postURL: "https://us-east-1.gw.example.com/other/acs"},
		{name: "posted to other region", reason: "destination", postURL: acsWest},
		{name: "wrong audience", reason: "audience", opts: func(o *samltest.ResponseOptions) { o.Audience = "https://other.example.com" }},
		{name: "expired", reason: "expired", opts: func(o *samltest.ResponseOptions) {
			o.Now = o.Now.Add(-30 * time.Minute)
			o.IssueInstant = o.Now
			o.NotOnOrAfter = o.Now.Add(5 * time.Minute)
		}},
		{name: "unknown InResponseTo", reason: "unknown_request", opts: func(o *samltest.ResponseOptions) { o.InResponseTo = "_0123456789abcdef0123456789abcdef" }},
		{name: "other browser", reason: "browser_mismatch", cookie: func(c *http.Cookie) *http.Cookie {
			return &http.Cookie{Name: sp.StateCookie, Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
		}},
		{name: "no state cookie", reason: "browser_mismatch", cookie: func(*http.Cookie) *http.Cookie { return nil }},
		{name: "wrong RelayState", reason: "relay_state", relay: func(string) string { return "tampered" }},
		{name: "unsolicited", reason: "unsolicited", opts: func(o *samltest.ResponseOptions) { o.InResponseTo = "" }},
		{name: "unknown user", reason: "unknown_user", opts: func(o *samltest.ResponseOptions) { o.NameID = "mallory@example.com" }},
		{name: "wrong issuer", reason: "issuer", opts: func(o *samltest.ResponseOptions) { o.Issuer = "https://evil.example.com" }},
		{name: "unsigned", reason: "signature", opts: func(o *samltest.ResponseOptions) { o.Sign = samltest.SignNone }},
		{name: "tampered after signing", reason: "signature", opts: func(o *samltest.ResponseOptions) {
			o.AfterSign = func(doc *etree.Document) {
				for _, el := range doc.FindElements("//AttributeValue") {
					el.SetText("root")
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.newSP()
			id, rs, state := login(t, s, "us-east-1.gw.example.com", "/portal")
			opts := func(o *samltest.ResponseOptions) {
				if c.opts != nil {
					c.opts(o)
				}
			}
			resp := e.response(acsEast, id, opts)
			target := acsEast
			if c.postURL != "" {
				target = c.postURL
			}
			if c.relay != nil {
				rs = c.relay(rs)
			}
			var cookies []*http.Cookie
			ck := state
			if c.cookie != nil {
				ck = c.cookie(state)
			}
			if ck != nil {
				cookies = append(cookies, ck)
			}
			w := post(s, target, resp, rs, cookies...)
			if c.reason == "" {
				require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
				require.NotNil(t, sessionCookie(w))
				return
			}
			assertGenericRejection(t, w)
			region := "us-east-1"
			if target == acsWest {
				region = "eu-west-1"
			}
			if c.reason == "unknown_endpoint" {
				region = ""
			}
			assert.Equal(t, 1.0, testutil.ToFloat64(counter(t, e.reg, "rejected", c.reason, region)), "reason label %s", c.reason)
		})
	}
}

func TestPendingRequestIsSingleUse(t *testing.T) {
	e := newEnv(t)
	s := e.newSP()
	id, rs, state := login(t, s, "us-east-1.gw.example.com", "/portal")
	w := post(s, acsEast, e.response(acsEast, id), rs, state)
	require.Equal(t, http.StatusSeeOther, w.Code)
	// A second, distinct, validly signed response to the same request.
	w = post(s, acsEast, e.response(acsEast, id), rs, state)
	assertGenericRejection(t, w)
}

func TestUnsolicitedWhenAllowed(t *testing.T) {
	e := newEnv(t)
	s := e.newSP(func(c *sp.Config) { c.AllowIdPInitiated = true })
	w := post(s, acsEast, e.response(acsEast, ""), "https://evil.example")
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	assert.Equal(t, "/portal", w.Header().Get("Location"), "RelayState is never a redirect target")
}

func TestJITProvisioning(t *testing.T) {
	e := newEnv(t)
	s := e.newSP(func(c *sp.Config) { c.JITProvisioning = true; c.AllowIdPInitiated = true })
	w := post(s, acsEast, e.response(acsEast, "", func(o *samltest.ResponseOptions) {
		o.NameID = "bob@example.com"
		o.Attributes = map[string][]string{"email": {"bob@example.com"}, "displayName": {"Bob <b>"}, "groups": {"data"}}
	}), "")
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	r := httptest.NewRequest(http.MethodGet, "https://us-east-1.gw.example.com/api/v1/session", nil)
	r.AddCookie(sessionCookie(w))
	sess, user, err := s.Authenticate(r)
	require.NoError(t, err)
	assert.Equal(t, "bob@example.com", user.UserName)
	assert.Equal(t, "Bob <b>", user.DisplayName)
	assert.Equal(t, []string{"data"}, user.Groups)
	assert.Equal(t, e.now.Add(8*time.Hour), sess.ExpiresAt)
}

// TestJITInvalidAttributesRejected: attributes the store refuses (a
// e-mail over the length limit) reject the sign-in like an unknown
// user (403, the generic body), never as an unavailable store.
func TestJITInvalidAttributesRejected(t *testing.T) {
	e := newEnv(t)
	s := e.newSP(func(c *sp.Config) { c.JITProvisioning = true; c.AllowIdPInitiated = true })
	w := post(s, acsEast, e.response(acsEast, "", func(o *samltest.ResponseOptions) {
		o.NameID = "bob@example.com"
		o.Attributes = map[string][]string{"email": {strings.Repeat("b", 400) + "@example.com"}, "displayName": {"Bob"}}
	}), "")
	assertGenericRejection(t, w)
}

func TestInactiveUserRejected(t *testing.T) {
	e := newEnv(t)
	_, err := e.store.CreateUser(context.Background(), sp.User{UserName: "carol@example.com", Active: false})
	require.NoError(t, err)
	s := e.newSP(func(c *sp.Config) { c.AllowIdPInitiated = true })
	w := post(s, acsEast, e.response(acsEast, "", func(o *samltest.ResponseOptions) { o.NameID = "carol@example.com" }), "")
	assertGenericRejection(t, w)
}

// failingStore fails every call, as an unreachable database does.
type failingStore struct{ *memory.Store }

var errDown = errors.New("database is down")

func (failingStore) MarkAssertionUsed(context.Context, string, string, time.Time, time.Time) error {
	return errDown
}
func (failingStore) SaveRequest(context.Context, sp.PendingRequest) error { return errDown }

// countingStarter is a SignInStarter that counts its calls.
type countingStarter struct {
	sp.SignInStarter
	calls atomic.Int32
}

func (c *countingStarter) StartSignIn(ctx context.Context, st sp.SignInStart) (sp.SignInStarted, error) {
	c.calls.Add(1)
	return c.SignInStarter.StartSignIn(ctx, st)
}

func TestStoreUnavailable(t *testing.T) {
	e := newEnv(t)
	s := e.newSP(func(c *sp.Config) {
		fs := failingStore{e.store}
		c.Replay = fs
		c.Requests = fs
		c.AllowIdPInitiated = true
	})
	w := post(s, acsEast, e.response(acsEast, ""), "")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Nil(t, sessionCookie(w))

	r := httptest.NewRequest(http.MethodGet, "https://us-east-1.gw.example.com/saml/sp/login", nil)
	lw := httptest.NewRecorder()
	s.LoginHandler().ServeHTTP(lw, r)
	assert.Equal(t, http.StatusServiceUnavailable, lw.Code)
}

func TestOversizedBody(t *testing.T) {
	e := newEnv(t)
	s := e.newSP(func(c *sp.Config) { c.AllowIdPInitiated = true })
	w := post(s, acsEast, strings.Repeat("A", 300<<10), "")
	assertGenericRejection(t, w)
}

func TestMetadataListsEveryRegion(t *testing.T) {
	e := newEnv(t)
	s := e.newSP()
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(s.Metadata()))
	acs := doc.FindElements("//AssertionConsumerService")
	require.Len(t, acs, 2)
	assert.Equal(t, acsEast, acs[0].SelectAttrValue("Location", ""))
	assert.Equal(t, "0", acs[0].SelectAttrValue("index", ""))
	assert.Equal(t, "true", acs[0].SelectAttrValue("isDefault", ""))
	assert.Equal(t, acsWest, acs[1].SelectAttrValue("Location", ""))
	assert.Equal(t, "1", acs[1].SelectAttrValue("index", ""))
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t)
	for name, m := range map[string]func(*sp.Config){
		"no entity id":       func(c *sp.Config) { c.EntityID = "" },
		"no regions":         func(c *sp.Config) { c.Regions = nil },
		"http non-loopback":  func(c *sp.Config) { c.Regions = []sp.Region{{Name: "a", ACSURL: "http://gw.example.com/acs"}} },
		"duplicate region":   func(c *sp.Config) { c.Regions = []sp.Region{regions[0], regions[0]} },
		"no stores":          func(c *sp.Config) { c.Sessions = nil },
		"no idp certs":       func(c *sp.Config) { c.IdP.Certificates = nil },
		"no sso":             func(c *sp.Config) { c.IdP.SSOURLs = nil },
		"javascript sso":     func(c *sp.Config) { c.IdP.SSOURLs = []string{"javascript:alert(1)"} },
		"bad default return": func(c *sp.Config) { c.DefaultReturnTo = "https://evil" },
		"negative skew":      func(c *sp.Config) { c.ClockSkew = -5 * time.Second },
	} {
		cfg := e.config()
		m(&cfg)
		_, err := sp.New(cfg)
		assert.Error(t, err, name)
	}
}

func TestIsLocalPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/portal": true, "/a/b?c=d": true, "": false, "portal": false, "//evil": false,
		"/\\evil": false, "https://evil": false, "/a b": false, "/a\tb": false,
	} {
		assert.Equal(t, want, sp.IsLocalPath(p), p)
	}
}

func TestSignedAuthnRequest(t *testing.T) {
	e := newEnv(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	s := e.newSP(func(c *sp.Config) { c.Signer = key })
	r := httptest.NewRequest(http.MethodGet, "https://us-east-1.gw.example.com/saml/sp/login", nil)
	w := httptest.NewRecorder()
	s.LoginHandler().ServeHTTP(w, r)
	require.Equal(t, http.StatusFound, w.Code)
	loc, err := url.Parse(w.Header().Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, saml.SigAlgRSASHA256, loc.Query().Get("SigAlg"))
	require.NoError(t, saml.VerifyRedirectSignature(loc.RawQuery, "SAMLRequest", []crypto.PublicKey{key.Public()}))

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	assert.Error(t, saml.VerifyRedirectSignature(loc.RawQuery, "SAMLRequest", []crypto.PublicKey{other.Public()}))
}

func TestCookieDomain(t *testing.T) {
	e := newEnv(t)
	s := e.newSP(func(c *sp.Config) { c.CookieDomain = "gw.example.com" })
	_, _, state := login(t, s, "us-east-1.gw.example.com", "/portal")
	assert.Equal(t, "gw.example.com", state.Domain)
	assert.Equal(t, http.SameSiteNoneMode, state.SameSite, "the state cookie must survive the cross-site ACS POST")
	assert.True(t, state.Secure)
}

// countingDirectory counts attribute writes.
type countingDirectory struct {
	*memory.Store
	updates int
}

func (c *countingDirectory) UpdateAttributes(ctx context.Context, id string, a sp.UserAttributes, now time.Time) (sp.User, error) {
	c.updates++
	return c.Store.UpdateAttributes(ctx, id, a, now)
}

func TestJITUpdatesOnlyWhenAttributesChange(t *testing.T) {
	e := newEnv(t)
	dir := &countingDirectory{Store: e.store}
	s := e.newSP(func(c *sp.Config) { c.JITProvisioning = true; c.AllowIdPInitiated = true; c.Users = dir })
	signIn := func(groups ...string) {
		t.Helper()
		w := post(s, acsEast, e.response(acsEast, "", func(o *samltest.ResponseOptions) {
			o.Attributes["groups"] = groups
		}), "")
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	}
	signIn("engineering", "admins") // the existing user gets e-mail, name and groups
	require.Equal(t, 1, dir.updates)
	signIn("admins", "engineering") // same set, other order: no write
	assert.Equal(t, 1, dir.updates)
	signIn("engineering") // a group removed: written
	assert.Equal(t, 2, dir.updates)
	u, err := e.store.LinkByUserName(context.Background(), sp.ExternalIdentity{Issuer: e.idp.EntityID(), NameID: "alice@example.com"})
	require.NoError(t, err)
	assert.Equal(t, []string{"engineering"}, u.Groups)
}

// TestNoClockSkew: with saml.NoClockSkew an assertion that expired 10s ago
// is rejected; the default skew accepts it.
func TestNoClockSkew(t *testing.T) {
	e := newEnv(t)
	expired := func(o *samltest.ResponseOptions) {
		o.IssueInstant = e.now.Add(-4 * time.Minute)
		o.NotBefore = e.now.Add(-4 * time.Minute)
		o.NotOnOrAfter = e.now.Add(-10 * time.Second)
		o.SubjectNotOnOrAfter = e.now.Add(-10 * time.Second)
	}
	lenient := e.newSP(func(c *sp.Config) { c.AllowIdPInitiated = true })
	w := post(lenient, acsEast, e.response(acsEast, "", expired), "")
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())

	strict := e.newSP(func(c *sp.Config) { c.AllowIdPInitiated = true; c.ClockSkew = saml.NoClockSkew })
	w = post(strict, acsEast, e.response(acsEast, "", expired), "")
	assertGenericRejection(t, w)
}

// Both ways of starting an ACS (the store's StartSignIn, and the three
// single calls for a store without it) decide alike: an SP-initiated
// sign-in succeeds once, its replay is rejected, a response to an unknown
// request is rejected, an unknown user is rejected.
func TestStartSignInPaths(t *testing.T) {
	for _, tc := range []struct {
		name    string
		starter bool
	}{
		{"store_starter", true},
		{"single_calls", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			starter := &countingStarter{SignInStarter: e.store}
			s := e.newSP(func(c *sp.Config) {
				if tc.starter {
					c.Starter = starter
				}
			})
			id, rs, state := login(t, s, "us-east-1.gw.example.com", "/portal")
			resp := e.response(acsEast, id)
			w := post(s, acsEast, resp, rs, state)
			require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
			require.NotNil(t, sessionCookie(w))

			w = post(s, acsEast, resp, rs, state)
			assertGenericRejection(t, w)
			assert.Equal(t, 1.0, testutil.ToFloat64(counter(t, e.reg, "rejected", "replay", "us-east-1")))

			w = post(s, acsEast, e.response(acsEast, "_never-requested"), rs, state)
			assertGenericRejection(t, w)
			assert.Equal(t, 1.0, testutil.ToFloat64(counter(t, e.reg, "rejected", "unknown_request", "us-east-1")))

			id, rs, state = login(t, s, "us-east-1.gw.example.com", "/portal")
			w = post(s, acsEast, e.response(acsEast, id, func(o *samltest.ResponseOptions) { o.NameID = "nobody@example.com" }), rs, state)
			assertGenericRejection(t, w)
			assert.Equal(t, 1.0, testutil.ToFloat64(counter(t, e.reg, "rejected", "unknown_user", "us-east-1")))
			if tc.starter {
				assert.Equal(t, int32(4), starter.calls.Load(), "every ACS went through the starter")
			} else {
				assert.Zero(t, starter.calls.Load())
			}
		})
	}
}
