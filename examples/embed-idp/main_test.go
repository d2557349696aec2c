package main

import (
	"context"
	"encoding/base64"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/metadata"
)

func startServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	h, err := newServer("http://"+srv.Listener.Addr().String(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar}
}

var (
	formAction  = regexp.MustCompile(`<form[^>]*\saction="([^"]*)"`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
)

// page is a fetched page: its status, final URL and body.
type page struct {
	status int
	url    *url.URL
	body   string
}

func load(t *testing.T, resp *http.Response, err error) page {
	t.Helper()
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return page{resp.StatusCode, resp.Request.URL, string(b)}
}

func get(t *testing.T, browser *http.Client, rawURL string) page {
	t.Helper()
	resp, err := browser.Get(rawURL)
	return load(t, resp, err)
}

// form returns the absolute action and the hidden fields of the page's form.
func (p page) form(t *testing.T) (string, url.Values) {
	t.Helper()
	m := formAction.FindStringSubmatch(p.body)
	require.NotNil(t, m, "no form in %s", p.body)
	action, err := p.url.Parse(html.UnescapeString(m[1]))
	require.NoError(t, err)
	fields := url.Values{}
	for _, in := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
		fields.Add(in[1], html.UnescapeString(in[2]))
	}
	return action.String(), fields
}

// submit posts the page's form with the hidden fields plus extra.
func (p page) submit(t *testing.T, browser *http.Client, extra url.Values) page {
	t.Helper()
	action, fields := p.form(t)
	for k, v := range extra {
		fields[k] = v
	}
	resp, err := browser.PostForm(action, fields)
	return load(t, resp, err)
}

func credentials(user, password string) url.Values {
	return url.Values{"username": {user}, "password": {password}}
}

func TestSPInitiatedSignIn(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)

	login := get(t, browser, srv.URL+"/app/login")
	require.Equal(t, http.StatusOK, login.status)
	require.Equal(t, "/login", login.url.Path)

	// A wrong password: the form again, no session.
	again := login.submit(t, browser, credentials("alice", "wrong"))
	assert.Equal(t, http.StatusUnauthorized, again.status)
	assert.NotContains(t, again.body, "SAMLResponse")

	post := login.submit(t, browser, credentials("alice", "alice-password"))
	require.Equal(t, http.StatusOK, post.status)
	require.Equal(t, "/saml/idp/resume", post.url.Path)
	acs, fields := post.form(t)
	require.Equal(t, srv.URL+"/app/acs", acs)
	require.NotEmpty(t, fields.Get("RelayState"))
	// The assertion is encrypted to the application: no user data in clear.
	xml, err := base64.StdEncoding.DecodeString(fields.Get("SAMLResponse"))
	require.NoError(t, err)
	assert.Contains(t, string(xml), "EncryptedAssertion")
	assert.NotContains(t, string(xml), "alice@example.com")

	shown := post.submit(t, browser, nil)
	require.Equal(t, http.StatusOK, shown.status, shown.body)
	assert.Contains(t, shown.body, "Signed in (SP-initiated)")
	assert.Contains(t, shown.body, `<code id="nameid">alice@example.com</code>`)
	assert.Contains(t, shown.body, "<th>displayName</th><td><code>Alice Liddell</code>")
	assert.Contains(t, shown.body, "<th>groups</th><td><code>staff</code> <code>engineering</code>")

	// The resume state is single-use.
	used := get(t, browser, post.url.String())
	assert.Equal(t, http.StatusBadRequest, used.status)

	// With a session the IdP answers at once, SP- and IdP-initiated.
	post = get(t, browser, srv.URL+"/app/login")
	require.Equal(t, "/saml/idp/sso", post.url.Path)
	assert.Contains(t, post.submit(t, browser, nil).body, "Signed in (SP-initiated)")
	post = get(t, browser, srv.URL+"/saml/idp/launch/"+appID)
	require.Equal(t, http.StatusOK, post.status)
	assert.Contains(t, post.submit(t, browser, nil).body, "Signed in (IdP-initiated)")
}

// bob is not in the staff group: the IdP sends no assertion.
func TestUnassignedUserGetsNoAssertion(t *testing.T) {
	srv := startServer(t)
	for _, tc := range []struct {
		user, password string
		status         int
	}{
		{"bob", "bob-password", http.StatusForbidden},
		{"alice", "alice-password", http.StatusOK}, // positive control
	} {
		t.Run(tc.user, func(t *testing.T) {
			browser := newBrowser(t)
			login := get(t, browser, srv.URL+"/app/login")
			got := login.submit(t, browser, credentials(tc.user, tc.password))
			assert.Equal(t, tc.status, got.status)
			assert.Equal(t, tc.status == http.StatusOK, hiddenInput.MatchString(got.body))
		})
	}
}

// A solicited Response is accepted only in the browser that asked for it.
func TestAppRejectsResponseInAnotherBrowser(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	login := get(t, browser, srv.URL+"/app/login")
	post := login.submit(t, browser, credentials("alice", "alice-password"))

	assert.Equal(t, http.StatusForbidden, post.submit(t, newBrowser(t), nil).status)
	assert.Equal(t, http.StatusOK, post.submit(t, browser, nil).status) // positive control
}

func TestIdPMetadata(t *testing.T) {
	srv := startServer(t)
	p := get(t, http.DefaultClient, srv.URL+"/saml/idp/metadata")
	require.Equal(t, http.StatusOK, p.status)
	md, err := metadata.ParseIdP([]byte(p.body), time.Now())
	require.NoError(t, err)
	assert.Equal(t, srv.URL+"/saml/idp/metadata", md.EntityID)
	assert.Len(t, md.SigningCertificates, 1)
	sso, ok := md.SSOService(metadata.BindingHTTPRedirect)
	require.True(t, ok)
	assert.Equal(t, srv.URL+"/saml/idp/sso", sso.Location)
}

func TestCheckPassword(t *testing.T) {
	u := newUserSource(demoUsers())
	for _, tc := range []struct {
		name, user, password string
		ok                   bool
	}{
		{"right", "alice", "alice-password", true},
		{"wrong", "alice", "alice-passworD", false},
		{"prefix", "alice", "alice", false},
		{"other user's", "alice", "bob-password", false},
		{"unknown user", "carol", "", false},
		{"empty", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.ok, u.checkPassword(tc.user, tc.password))
		})
	}
}

func TestStateStoreSingleUse(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := newStateStore()
	require.NoError(t, s.SaveSSOState(ctx, idp.PendingSSO{ID: "st", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}))
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := s.ConsumeSSOState(ctx, "st", now); err == nil {
				won.Add(1)
			} else {
				assert.ErrorIs(t, err, idp.ErrNotFound)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), won.Load())

	require.NoError(t, s.SaveSSOState(ctx, idp.PendingSSO{ID: "old", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}))
	_, err := s.ConsumeSSOState(ctx, "old", now.Add(time.Minute))
	assert.ErrorIs(t, err, idp.ErrNotFound)
}
