package idp

import (
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/saml"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

const (
	testSLOURL     = "https://gw.example.com/saml/idp/slo"
	appSLORedirect = "https://app.example.com/slo"
	appSLOPost     = "https://app.example.com/slo-post"
	testIDKey      = "0123456789abcdef0123456789abcdef"
)

var (
	sloRedirect = samltest.SLOEndpoint{Binding: saml.BindingHTTPRedirect, Location: appSLORedirect}
	sloPost     = samltest.SLOEndpoint{Binding: saml.BindingHTTPPost, Location: appSLOPost}
)

// fakeTerminator counts EndSession calls and clears a cookie, as
// sp.SP.EndSession does; err makes it fail after setting headers.
type fakeTerminator struct {
	mu    sync.Mutex
	calls int
	err   error
}

func (f *fakeTerminator) EndSession(w http.ResponseWriter, _ *http.Request) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	http.SetCookie(w, &http.Cookie{Name: "gatehouse_session", Value: "", Path: "/", MaxAge: -1})
	w.Header().Set("Clear-Site-Data", `"cache"`)
	return f.err
}

func (f *fakeTerminator) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

type sloFixture struct {
	*fixture
	term *fakeTerminator
}

// newSLOFixture is newFixture with an SLO URL, a terminator and the SLO
// handler, and alice signed in.
func newSLOFixture(t testing.TB) *sloFixture {
	t.Helper()
	f := newFixture(t, nil)
	term := &fakeTerminator{}
	f.reg = prometheus.NewRegistry()
	i, err := New(Config{
		EntityID:         testEntityID,
		SSOURL:           testSSOURL,
		SLOURL:           testSLOURL,
		ServiceProviders: f.sps,
		Sessions:         f.sessions,
		Access:           fakeAccess{allowed: map[string]bool{"u-alice": true}},
		Keys:             f.keys,
		States:           &fakeStates{m: map[string]PendingSSO{}},
		Terminator:       term,
		PersistentIDKey:  []byte(testIDKey),
		Now:              func() time.Time { return f.now },
		Registry:         f.reg,
	})
	require.NoError(t, err)
	f.idp = i
	f.mux = http.NewServeMux()
	f.mux.Handle("GET /saml/idp/slo", i.SLOHandler())
	f.mux.Handle("POST /saml/idp/slo", i.SLOHandler())
	f.mux.Handle("PUT /saml/idp/slo", i.SLOHandler())
	p := alice()
	f.sessions.set(&p)
	return &sloFixture{fixture: f, term: term}
}

// registerSLO registers app as "wiki" publishing eps as its SLO endpoints.
func (f *sloFixture) registerSLO(app *samltest.SP, opts ServiceProviderOptions, eps ...samltest.SLOEndpoint) *ServiceProvider {
	f.t.Helper()
	md, err := samltest.AddSingleLogoutServices(appMD(f.t, app, false, false), eps...)
	require.NoError(f.t, err)
	sp, err := NewServiceProvider("wiki", md, opts, f.now)
	require.NoError(f.t, err)
	f.sps.add(sp)
	return sp
}

// logoutRequest is a valid LogoutRequest from app for alice as the IdP
// names her with an unspecified NameID.
func (f *sloFixture) logoutRequest(app *samltest.SP) *samltest.LogoutRequest {
	return app.LogoutRequest(testSLOURL, "alice", NameIDFormatUnspecifiedURI, f.now)
}

func (f *sloFixture) redirect(app *samltest.SP, req *samltest.LogoutRequest, relayState string, sign bool) *http.Request {
	f.t.Helper()
	u, err := app.LogoutRedirectURL(testSLOURL, req, relayState, sign)
	require.NoError(f.t, err)
	return httptest.NewRequest(http.MethodGet, u, nil)
}

func (f *sloFixture) post(app *samltest.SP, req *samltest.LogoutRequest, relayState string, sign bool) *http.Request {
	f.t.Helper()
	form, err := app.LogoutPOSTForm(req, relayState, sign)
	require.NoError(f.t, err)
	return sloForm(form)
}

func sloForm(form url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, testSLOURL, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func (f *sloFixture) expect(dest, inResponseTo string) samltest.ExpectedLogoutResponse {
	return samltest.ExpectedLogoutResponse{
		IdPEntityID:  testEntityID,
		Certificates: []*x509.Certificate{f.keys.cert},
		Destination:  dest,
		InResponseTo: inResponseTo,
		Now:          f.now,
	}
}

// logoutResponse verifies the LogoutResponse in w, whichever binding it
// was sent with, and returns it with the RelayState and where it went.
func (f *sloFixture) logoutResponse(w *httptest.ResponseRecorder, dest, inResponseTo string) (*samltest.LogoutResponse, string) {
	f.t.Helper()
	switch w.Code {
	case http.StatusSeeOther:
		u, err := url.Parse(w.Header().Get("Location"))
		require.NoError(f.t, err)
		require.Equal(f.t, dest, u.Scheme+"://"+u.Host+u.Path)
		assert.Equal(f.t, "no-store", w.Header().Get("Cache-Control"))
		resp, rs, err := samltest.VerifyLogoutResponseRedirect(u, f.expect(dest, inResponseTo))
		require.NoError(f.t, err)
		return resp, rs
	case http.StatusOK:
		action, samlResponse, rs := posted(f.t, w)
		require.Equal(f.t, dest, action)
		resp, err := samltest.VerifyLogoutResponsePOST(samlResponse, f.expect(dest, inResponseTo))
		require.NoError(f.t, err)
		return resp, rs
	}
	require.FailNow(f.t, "no LogoutResponse", "status %d: %s", w.Code, w.Body.String())
	return nil, ""
}

func (f *sloFixture) logouts(outcome string, reason Reason) float64 {
	return testutil.ToFloat64(f.idp.metrics.logouts.WithLabelValues("wiki", outcome, string(reason))) +
		testutil.ToFloat64(f.idp.metrics.logouts.WithLabelValues(appUnknown, outcome, string(reason)))
}

// assertNothingSent: an error page, no LogoutResponse, the session kept.
func (f *sloFixture) assertNothingSent(w *httptest.ResponseRecorder) {
	f.t.Helper()
	assert.Empty(f.t, w.Header().Get("Location"))
	assert.Empty(f.t, w.Header().Values("Set-Cookie"))
	assert.Empty(f.t, w.Header().Get("Clear-Site-Data"))
	assert.NotContains(f.t, w.Body.String(), "SAMLResponse")
	assert.NotContains(f.t, w.Body.String(), "<form")
	assert.Equal(f.t, "no-store", w.Header().Get("Cache-Control"))
	assert.Equal(f.t, 0, f.term.count(), "the session must not be ended")
}

func TestSLOHappyPath(t *testing.T) {
	app := testApp()
	for _, tc := range []struct {
		name     string
		eps      []samltest.SLOEndpoint
		post     bool
		dest     string
		wantCode int
	}{
		{"redirect in, redirect out", []samltest.SLOEndpoint{sloRedirect, sloPost}, false, appSLORedirect, http.StatusSeeOther},
		{"post in, post out", []samltest.SLOEndpoint{sloRedirect, sloPost}, true, appSLOPost, http.StatusOK},
		{"redirect in, only a POST endpoint", []samltest.SLOEndpoint{sloPost}, false, appSLOPost, http.StatusOK},
		{"post in, only a redirect endpoint", []samltest.SLOEndpoint{sloRedirect}, true, appSLORedirect, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSLOFixture(t)
			f.registerSLO(app, ServiceProviderOptions{}, tc.eps...)
			req := f.logoutRequest(app)
			var r *http.Request
			if tc.post {
				r = f.post(app, req, "rs-42", true)
			} else {
				r = f.redirect(app, req, "rs-42", true)
			}
			w := f.do(r)
			require.Equal(t, tc.wantCode, w.Code, w.Body.String())
			resp, rs := f.logoutResponse(w, tc.dest, req.ID)
			assert.Equal(t, StatusSuccess, resp.Status)
			assert.Equal(t, req.ID, resp.InResponseTo)
			assert.Equal(t, testEntityID, resp.Issuer)
			assert.Equal(t, tc.dest, resp.Destination)
			assert.Equal(t, "rs-42", rs)
			assert.Equal(t, 1, f.term.count(), "the session must be ended")
			assert.NotEmpty(t, w.Header().Values("Set-Cookie"), "the terminator's headers are kept")
			assert.Equal(t, 1.0, f.logouts(outcomeLoggedOut, ReasonOK))

			// Another key does not verify the response.
			exp := f.expect(tc.dest, req.ID)
			exp.Certificates = []*x509.Certificate{testApp().Certificate()}
			if w.Code == http.StatusOK {
				_, samlResponse, _ := posted(t, w)
				_, err := samltest.VerifyLogoutResponsePOST(samlResponse, exp)
				assert.Error(t, err)
				csp := w.Header().Get("Content-Security-Policy")
				assert.Contains(t, csp, "default-src 'none'")
				assert.Contains(t, csp, "form-action https://app.example.com")
				assert.Contains(t, csp, "frame-ancestors 'none'")
				nonce := strings.SplitN(strings.SplitN(csp, "'nonce-", 2)[1], "'", 2)[0]
				assert.Contains(t, w.Body.String(), `<script nonce="`+nonce+`">`)
			} else {
				u, err := url.Parse(w.Header().Get("Location"))
				require.NoError(t, err)
				_, _, err = samltest.VerifyLogoutResponseRedirect(u, exp)
				assert.Error(t, err)
			}
		})
	}
}

func TestSLOSubjectMatching(t *testing.T) {
	app := testApp()
	persistent := PersistentNameID([]byte(testIDKey), appEntityID, "u-alice")
	for _, tc := range []struct {
		name         string
		format       NameIDFormat
		sessionIndex string // the portal session's
		noSession    bool
		nameID       string
		reqFormat    string
		reqIndexes   []string
		ended        bool
	}{
		{"control: unspecified", NameIDUnspecified, "", false, "alice", "", nil, true},
		{"control: email", NameIDEmail, "", false, "alice@example.com", NameIDFormatEmailURI, nil, true},
		{"control: persistent", NameIDPersistent, "", false, persistent, NameIDFormatPersistentURI, nil, true},
		{"control: persistent with session index", NameIDPersistent, "sess-1", false, persistent, "", []string{"other", "sess-1"}, true},
		{"control: transient by session index", NameIDTransient, "sess-1", false, "_random", NameIDFormatTransientURI, []string{"sess-1"}, true},
		{"control: transient without recorded index", NameIDTransient, "", false, "_random", NameIDFormatTransientURI, nil, true},
		{"control: no session", NameIDUnspecified, "", true, "bob", "", nil, true},
		{"other user name", NameIDUnspecified, "", false, "bob", "", nil, false},
		{"other email", NameIDEmail, "", false, "bob@example.com", NameIDFormatEmailURI, nil, false},
		{"persistent ID of another application", NameIDPersistent, "", false, PersistentNameID([]byte(testIDKey), "https://other.example.com/sp", "u-alice"), "", nil, false},
		{"another format", NameIDUnspecified, "", false, "alice", NameIDFormatEmailURI, nil, false},
		{"other session index", NameIDUnspecified, "sess-1", false, "alice", "", []string{"sess-2"}, false},
		{"transient with other session index", NameIDTransient, "sess-1", false, "_random", "", []string{"sess-2"}, false},
		{"transient without session index", NameIDTransient, "sess-1", false, "_random", "", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSLOFixture(t)
			f.registerSLO(app, ServiceProviderOptions{NameIDFormat: tc.format}, sloRedirect)
			if tc.noSession {
				f.sessions.set(nil)
			} else {
				p := alice()
				p.SessionIndex = tc.sessionIndex
				f.sessions.set(&p)
			}
			req := app.LogoutRequest(testSLOURL, tc.nameID, tc.reqFormat, f.now)
			req.SessionIndexes = tc.reqIndexes
			w := f.do(f.redirect(app, req, "", true))
			require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
			resp, _ := f.logoutResponse(w, appSLORedirect, req.ID)
			if tc.ended {
				assert.Equal(t, StatusSuccess, resp.Status)
				assert.Equal(t, 1, f.term.count())
				assert.Equal(t, 1.0, f.logouts(outcomeLoggedOut, ReasonOK))
				return
			}
			assert.Equal(t, StatusRequester, resp.Status)
			assert.Equal(t, StatusUnknownPrincipal, resp.SubStatus)
			assert.Equal(t, 0, f.term.count(), "the session must not be ended")
			assert.Equal(t, 1.0, f.logouts(outcomeErrorResponse, ReasonUnknownSubject))
		})
	}
}

// sloTamper changes one raw query parameter of a validly signed redirect.
func sloTamper(name, value string) func(t *testing.T, f *sloFixture) *http.Request {
	return func(t *testing.T, f *sloFixture) *http.Request {
		app := testApp()
		r := f.redirect(app, f.logoutRequest(app), "rs", true)
		if name == "SAMLRequest" {
			other := f.logoutRequest(app)
			other.NameID = "bob"
			b, err := other.Marshal()
			require.NoError(t, err)
			value, err = saml.EncodeRedirect(b)
			require.NoError(t, err)
		}
		r.URL.RawQuery = replaceParam(t, r.URL.RawQuery, name, value)
		return r
	}
}

func TestSLONegatives(t *testing.T) {
	app := testApp()
	other := otherApp()
	type build func(t *testing.T, f *sloFixture) *http.Request
	redirect := func(mutate func(*samltest.LogoutRequest)) build {
		return func(t *testing.T, f *sloFixture) *http.Request {
			req := f.logoutRequest(app)
			if mutate != nil {
				mutate(req)
			}
			return f.redirect(app, req, "rs", true)
		}
	}
	post := func(mutate func(*samltest.LogoutRequest)) build {
		return func(t *testing.T, f *sloFixture) *http.Request {
			req := f.logoutRequest(app)
			if mutate != nil {
				mutate(req)
			}
			return f.post(app, req, "rs", true)
		}
	}
	for _, tc := range []struct {
		name   string
		noSLO  bool
		build  build
		status int
		reason Reason
	}{
		{"control: valid redirect", false, redirect(nil), http.StatusSeeOther, ReasonOK},
		{"control: valid POST", false, post(nil), http.StatusOK, ReasonOK},
		{"unsigned redirect", false, func(t *testing.T, f *sloFixture) *http.Request {
			return f.redirect(app, f.logoutRequest(app), "rs", false)
		}, http.StatusBadRequest, ReasonUnsigned},
		{"unsigned POST", false, func(t *testing.T, f *sloFixture) *http.Request {
			return f.post(app, f.logoutRequest(app), "rs", false)
		}, http.StatusBadRequest, ReasonUnsigned},
		{"redirect signed by another key", false, func(t *testing.T, f *sloFixture) *http.Request {
			u, err := samltest.LogoutRedirectURL(testSLOURL, f.logoutRequest(app), "rs", other.Key(), saml.SigAlgRSASHA256)
			require.NoError(t, err)
			return httptest.NewRequest(http.MethodGet, u, nil)
		}, http.StatusBadRequest, ReasonSignature},
		{"POST signed by another key", false, func(t *testing.T, f *sloFixture) *http.Request {
			form, err := samltest.LogoutPOSTForm(f.logoutRequest(app), "rs", other.Key(), other.Certificate(), saml.SigAlgRSASHA256)
			require.NoError(t, err)
			return sloForm(form)
		}, http.StatusBadRequest, ReasonSignature},
		{"SHA-1 signed redirect", false, func(t *testing.T, f *sloFixture) *http.Request {
			u, err := samltest.LogoutRedirectURL(testSLOURL, f.logoutRequest(app), "rs", app.Key(), samltest.SigAlgRSASHA1)
			require.NoError(t, err)
			return httptest.NewRequest(http.MethodGet, u, nil)
		}, http.StatusBadRequest, ReasonSignature},
		{"SHA-1 signed POST", false, func(t *testing.T, f *sloFixture) *http.Request {
			form, err := samltest.LogoutPOSTForm(f.logoutRequest(app), "rs", app.Key(), app.Certificate(), samltest.SigAlgRSASHA1)
			require.NoError(t, err)
			return sloForm(form)
		}, http.StatusBadRequest, ReasonSignature},
		{"tampered SAMLRequest", false, sloTamper("SAMLRequest", ""), http.StatusBadRequest, ReasonSignature},
		{"tampered RelayState", false, sloTamper("RelayState", "other"), http.StatusBadRequest, ReasonSignature},
		{"tampered SigAlg", false, sloTamper("SigAlg", saml.SigAlgRSASHA512), http.StatusBadRequest, ReasonSignature},
		{"tampered Signature", false, sloTamper("Signature", "AAAA"), http.StatusBadRequest, ReasonSignature},
		{"POST changed after signing", false, func(t *testing.T, f *sloFixture) *http.Request {
			form, err := app.LogoutPOSTForm(f.logoutRequest(app), "rs", true)
			require.NoError(t, err)
			b, err := saml.DecodePOST(form.Get("SAMLRequest"), saml.Limits{})
			require.NoError(t, err)
			changed := strings.Replace(string(b), ">alice<", ">bob<", 1)
			require.NotEqual(t, string(b), changed)
			form.Set("SAMLRequest", saml.EncodePOST([]byte(changed)))
			return sloForm(form)
		}, http.StatusBadRequest, ReasonSignature},
		{"escaped parameter name", false, func(t *testing.T, f *sloFixture) *http.Request {
			r := f.redirect(app, f.logoutRequest(app), "rs", true)
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "RelayState=", "Relay%53tate=", 1)
			return r
		}, http.StatusBadRequest, ReasonMalformed},
		{"unknown issuer", false, redirect(func(r *samltest.LogoutRequest) { r.Issuer = "https://evil.example.com/sp" }), http.StatusBadRequest, ReasonUnknownSP},
		{"application without SLO endpoint", true, redirect(nil), http.StatusBadRequest, ReasonNoSLOEndpoint},
		{"wrong Destination", false, redirect(func(r *samltest.LogoutRequest) { r.Destination = "https://gw.example.com/saml/idp/sso" }), http.StatusBadRequest, ReasonDestination},
		{"wrong Destination over POST", false, post(func(r *samltest.LogoutRequest) { r.Destination = "https://gw.example.com/other" }), http.StatusBadRequest, ReasonDestination},
		{"expired IssueInstant", false, redirect(func(r *samltest.LogoutRequest) {
			r.IssueInstant = r.IssueInstant.Add(-time.Hour)
			r.NotOnOrAfter = time.Time{}
		}), http.StatusBadRequest, ReasonRequestTime},
		{"future IssueInstant", false, redirect(func(r *samltest.LogoutRequest) { r.IssueInstant = r.IssueInstant.Add(time.Hour) }), http.StatusBadRequest, ReasonRequestTime},
		{"NotOnOrAfter passed", false, redirect(func(r *samltest.LogoutRequest) { r.NotOnOrAfter = r.IssueInstant.Add(-5 * time.Minute) }), http.StatusBadRequest, ReasonRequestTime},
		{"no NameID", false, redirect(func(r *samltest.LogoutRequest) { r.NameID = "" }), http.StatusBadRequest, ReasonMalformed},
		{"no Issuer", false, redirect(func(r *samltest.LogoutRequest) { r.Issuer = "" }), http.StatusBadRequest, ReasonMalformed},
		{"too many session indexes", false, redirect(func(r *samltest.LogoutRequest) {
			for k := range maxSessionIndexes + 1 {
				r.SessionIndexes = append(r.SessionIndexes, "s"+string(rune('a'+k)))
			}
		}), http.StatusBadRequest, ReasonMalformed},
		{"DOCTYPE", false, func(t *testing.T, f *sloFixture) *http.Request {
			b, err := f.logoutRequest(app).Marshal()
			require.NoError(t, err)
			return sloForm(url.Values{"SAMLRequest": {saml.EncodePOST(append([]byte(`<!DOCTYPE x [<!ENTITY a "b">]>`), b...))}})
		}, http.StatusBadRequest, ReasonMalformed},
		{"AuthnRequest instead", false, func(t *testing.T, f *sloFixture) *http.Request {
			u, err := app.RedirectURL(testSLOURL, app.AuthnRequest(testSLOURL, f.now), "", true)
			require.NoError(t, err)
			return httptest.NewRequest(http.MethodGet, u, nil)
		}, http.StatusBadRequest, ReasonMalformed},
		{"LogoutResponse from an application", false, func(t *testing.T, f *sloFixture) *http.Request {
			r := f.redirect(app, f.logoutRequest(app), "rs", true)
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "SAMLRequest=", "SAMLResponse=", 1)
			return r
		}, http.StatusBadRequest, ReasonLogoutResponse},
		{"RelayState with control characters", false, func(t *testing.T, f *sloFixture) *http.Request {
			return f.redirect(app, f.logoutRequest(app), "a\x00b", true)
		}, http.StatusBadRequest, ReasonRelayState},
		{"method", false, func(t *testing.T, f *sloFixture) *http.Request {
			return httptest.NewRequest(http.MethodPut, testSLOURL, nil)
		}, http.StatusMethodNotAllowed, ReasonMethod},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSLOFixture(t)
			if tc.noSLO {
				f.registerSLO(app, ServiceProviderOptions{})
			} else {
				f.registerSLO(app, ServiceProviderOptions{}, sloRedirect, sloPost)
			}
			w := f.do(tc.build(t, f))
			require.Equal(t, tc.status, w.Code, w.Body.String())
			if tc.reason == ReasonOK {
				assert.Equal(t, 1, f.term.count())
				assert.Equal(t, 1.0, f.logouts(outcomeLoggedOut, ReasonOK))
				return
			}
			assert.Equal(t, 1.0, f.logouts(outcomeRejected, tc.reason), "reason %s", tc.reason)
			f.assertNothingSent(w)
		})
	}
}

func TestSLOFailuresSendNothing(t *testing.T) {
	app := testApp()
	t.Run("terminator fails", func(t *testing.T) {
		f := newSLOFixture(t)
		f.registerSLO(app, ServiceProviderOptions{}, sloRedirect)
		f.term.err = errors.New("store down")
		w := f.do(f.redirect(app, f.logoutRequest(app), "", true))
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		assert.Empty(t, w.Header().Get("Location"))
		assert.Empty(t, w.Header().Values("Set-Cookie"))
		assert.Empty(t, w.Header().Get("Clear-Site-Data"))
		assert.Equal(t, 1.0, f.logouts(outcomeRejected, ReasonStoreUnavailable))
	})
	t.Run("signing key unusable", func(t *testing.T) {
		f := newSLOFixture(t)
		f.registerSLO(app, ServiceProviderOptions{}, sloPost)
		f.keys.cert = certFor(t, idpECKey())
		w := f.do(f.post(app, f.logoutRequest(app), "", true))
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		assert.Equal(t, 0, f.term.count(), "the session must not be ended without an answer")
		assert.NotContains(t, w.Body.String(), "SAMLResponse")
		assert.Equal(t, 1.0, f.logouts(outcomeRejected, ReasonKeys))
	})
	t.Run("session store unavailable", func(t *testing.T) {
		f := newSLOFixture(t)
		f.registerSLO(app, ServiceProviderOptions{}, sloPost)
		f.fixture.idp.sessions = failingSessions{&fakeSessions{}}
		w := f.do(f.post(app, f.logoutRequest(app), "", true))
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		f.assertNothingSent(w)
	})
	t.Run("SLO not configured", func(t *testing.T) {
		f := newFixture(t, nil)
		md, err := samltest.AddSingleLogoutServices(appMD(t, app, false, false), sloRedirect)
		require.NoError(t, err)
		sp, err := NewServiceProvider("wiki", md, ServiceProviderOptions{}, f.now)
		require.NoError(t, err)
		f.sps.add(sp)
		u, err := app.LogoutRedirectURL(testSLOURL, app.LogoutRequest(testSLOURL, "alice", "", f.now), "", true)
		require.NoError(t, err)
		w := httptest.NewRecorder()
		f.idp.SLOHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, u, nil))
		assert.Equal(t, http.StatusNotFound, w.Code)
		assert.Empty(t, w.Header().Get("Location"))
	})
}

type failingSessions struct{ *fakeSessions }

func (failingSessions) Principal(*http.Request) (Principal, error) {
	return Principal{}, errors.New("session store down")
}

func TestNewTerminatorRequiresSLOURL(t *testing.T) {
	cfg := func(slo string) Config {
		return Config{
			EntityID: testEntityID, SSOURL: testSSOURL, SLOURL: slo,
			ServiceProviders: &fakeRegistry{byID: map[string]*ServiceProvider{}},
			Sessions:         &fakeSessions{}, Access: fakeAccess{}, Keys: &fakeKeys{},
			States: &fakeStates{m: map[string]PendingSSO{}}, Terminator: &fakeTerminator{},
			PersistentIDKey: []byte(testIDKey),
		}
	}
	_, err := New(cfg(testSLOURL))
	require.NoError(t, err)
	_, err = New(cfg(""))
	require.ErrorContains(t, err, "Terminator requires SLOURL")
}

func TestParseLogoutRequest(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	valid := func() *samltest.LogoutRequest {
		r := testApp().LogoutRequest(testSLOURL, "alice", NameIDFormatUnspecifiedURI, now)
		r.SessionIndexes = []string{"s1", "s2"}
		return r
	}
	b, err := valid().Marshal()
	require.NoError(t, err)
	got, err := parseLogoutRequest(b, saml.Limits{})
	require.NoError(t, err)
	assert.Equal(t, appEntityID, got.Issuer)
	assert.Equal(t, "alice", got.NameID)
	assert.Equal(t, NameIDFormatUnspecifiedURI, got.NameIDFormat)
	assert.Equal(t, []string{"s1", "s2"}, got.SessionIndexes)
	assert.Equal(t, testSLOURL, got.Destination)
	assert.True(t, got.IssueInstant.Equal(now))
	assert.True(t, got.NotOnOrAfter.Equal(now.Add(5*time.Minute)))

	for _, tc := range []struct{ name, old, new string }{
		{"comment in NameID", ">alice<", ">al<!---->ice<"},
		{"comment in Issuer", ">" + appEntityID + "<", ">https://app.example.com<!---->/sp<"},
		{"element in NameID", ">alice<", "><x/>alice<"},
		{"second Issuer", "<saml:NameID", "<saml:Issuer>x</saml:Issuer><saml:NameID"},
		{"EncryptedID", "<saml:NameID", "<saml:EncryptedID/><saml:NameID"},
		{"version", `Version="2.0"`, `Version="1.1"`},
		{"bad ID", `ID="_`, `ID="1`},
		{"bad IssueInstant", `IssueInstant="`, `IssueInstant="x`},
		{"bad NotOnOrAfter", `NotOnOrAfter="`, `NotOnOrAfter="x`},
		{"wrong namespace", saml.NSProtocol, "urn:example"},
		{"empty SessionIndex", ">s1<", "><"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed := strings.Replace(string(b), tc.old, tc.new, 1)
			require.NotEqual(t, string(b), changed)
			_, err := parseLogoutRequest([]byte(changed), saml.Limits{})
			assert.ErrorIs(t, err, saml.ErrMalformed)
		})
	}
}

func TestAddSingleLogoutServicesParses(t *testing.T) {
	md, err := samltest.AddSingleLogoutServices(appMD(t, testApp(), false, false, appACS2), sloRedirect, sloPost)
	require.NoError(t, err)
	m, err := ParseServiceProviderMetadata(md, time.Now())
	require.NoError(t, err)
	assert.Equal(t, []Endpoint{
		{Location: appSLORedirect, Binding: string(saml.BindingHTTPRedirect)},
		{Location: appSLOPost, Binding: string(saml.BindingHTTPPost)},
	}, m.SLO)
	assert.Len(t, m.ACS, 2)
	// Schema order: SingleLogoutService before AssertionConsumerService.
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(md))
	var tags []string
	for _, c := range doc.Root().SelectElement("SPSSODescriptor").ChildElements() {
		tags = append(tags, c.Tag)
	}
	assert.Equal(t, []string{"KeyDescriptor", "SingleLogoutService", "SingleLogoutService", "AssertionConsumerService", "AssertionConsumerService"}, tags)
}

func FuzzParseLogoutRequest(f *testing.F) {
	now := time.Now().UTC().Truncate(time.Second)
	req := testApp().LogoutRequest(testSLOURL, "alice", NameIDFormatUnspecifiedURI, now)
	req.SessionIndexes = []string{"s1"}
	b, err := req.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	form, err := testApp().LogoutPOSTForm(req, "", true)
	if err != nil {
		f.Fatal(err)
	}
	signed, err := saml.DecodePOST(form.Get("SAMLRequest"), saml.Limits{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(signed)
	f.Add([]byte(strings.Replace(string(b), ">alice<", ">al<!---->ice<", 1)))
	f.Add([]byte(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`))
	f.Add([]byte(`<!DOCTYPE x><x/>`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseLogoutRequest(b, saml.Limits{})
		if err != nil {
			if !errors.Is(err, saml.ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if !isSAMLID(r.ID) || r.Issuer == "" || r.NameID == "" || r.IssueInstant.IsZero() || len(r.SessionIndexes) > maxSessionIndexes {
			t.Fatalf("accepted an incomplete request: %+v", r)
		}
		for _, s := range append([]string{r.Issuer, r.NameID}, r.SessionIndexes...) {
			if s != strings.TrimSpace(s) || !isXMLText(s) {
				t.Fatalf("accepted text %q", s)
			}
		}
	})
}

// FuzzSLORequest feeds arbitrary unsigned SAMLRequest, SAMLResponse and
// RelayState values through both bindings of the SLO handler, with a
// session: nobody but the application can sign, so the session is never
// ended and nothing is sent.
func FuzzSLORequest(f *testing.F) {
	fx := newSLOFixture(f)
	app := testApp()
	fx.registerSLO(app, ServiceProviderOptions{}, sloRedirect, sloPost)
	b, err := fx.logoutRequest(app).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	enc, err := saml.EncodeRedirect(b)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc, "rs", false, false)
	f.Add(saml.EncodePOST(b), "", true, false)
	f.Add(saml.EncodePOST(b), "", true, true)
	f.Add("", "", false, false)
	f.Add("!!!", "<script>", true, false)
	f.Fuzz(func(t *testing.T, msg, relayState string, post, response bool) {
		param := "SAMLRequest"
		if response {
			param = "SAMLResponse"
		}
		v := url.Values{param: {msg}}
		if relayState != "" {
			v.Set("RelayState", relayState)
		}
		var r *http.Request
		if post {
			r = sloForm(v)
		} else {
			r = httptest.NewRequest(http.MethodGet, testSLOURL+"?"+v.Encode(), nil)
		}
		w := fx.do(r)
		if w.Code != http.StatusBadRequest || fx.term.count() != 0 || w.Header().Get("Location") != "" || strings.Contains(w.Body.String(), "SAMLResponse") {
			t.Fatalf("status %d, terminator called %d times, Location %q", w.Code, fx.term.count(), w.Header().Get("Location"))
		}
	})
}
