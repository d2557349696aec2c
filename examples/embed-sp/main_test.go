package main

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/sp"
)

const testPassword = "correct horse battery staple"

func startServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	h, err := newServer(serverConfig{
		BaseURL:      "http://" + srv.Listener.Addr().String(),
		DemoPassword: testPassword,
		Logger:       slog.New(slog.DiscardHandler),
	})
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

// readForm returns the action and hidden fields of the page's first form.
func readForm(t *testing.T, resp *http.Response) (string, url.Values) {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	m := formAction.FindSubmatch(body)
	require.NotNil(t, m, "no form in %s", body)
	fields := url.Values{}
	for _, in := range hiddenInput.FindAllSubmatch(body, -1) {
		fields.Add(string(in[1]), html.UnescapeString(string(in[2])))
	}
	return html.UnescapeString(string(m[1])), fields
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestSignInFlow(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)

	// An unauthenticated visit to /me ends at the demo IdP's login form.
	resp, err := browser.Get(srv.URL + "/me")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "/idp/sso", resp.Request.URL.Path)
	loginAction, login := readForm(t, resp)
	require.NotEmpty(t, login.Get("SAMLRequest"))

	// A wrong password is refused and issues nothing.
	login.Set("username", demoUserName)
	login.Set("password", "wrong")
	resp, err = browser.PostForm(loginAction, login)
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.NotContains(t, readBody(t, resp), `name="SAMLResponse"`)

	// The right password yields the auto-submitting form to the ACS.
	login.Set("password", testPassword)
	resp, err = browser.PostForm(loginAction, login)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	acs, post := readForm(t, resp)
	require.Equal(t, srv.URL+"/saml/acs", acs)
	require.NotEmpty(t, post.Get("SAMLResponse"))

	// The ACS signs the user in (JIT) and sends them back to /me.
	resp, err = browser.PostForm(acs, post)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "/me", resp.Request.URL.Path)
	page := readBody(t, resp)
	assert.Contains(t, page, `<dd id="user_name">alice</dd>`)
	assert.Contains(t, page, `<dd id="email">alice@example.com</dd>`)
	assert.Contains(t, page, "engineering")

	resp, err = browser.Get(srv.URL + "/api/session")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var session struct {
		User struct {
			UserName    string   `json:"user_name"`
			DisplayName string   `json:"display_name"`
			Groups      []string `json:"groups"`
		} `json:"user"`
	}
	require.NoError(t, json.Unmarshal([]byte(readBody(t, resp)), &session))
	assert.Equal(t, "Alice Liddell", session.User.DisplayName)
	assert.Equal(t, []string{"engineering"}, session.User.Groups)

	// The same Response posted again is a replay.
	resp, err = browser.PostForm(acs, post)
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	_ = resp.Body.Close()

	// Signing out ends the session.
	resp, err = browser.PostForm(srv.URL+"/logout", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_ = resp.Body.Close()
	resp, err = browser.Get(srv.URL + "/api/session")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	_ = resp.Body.Close()
}

// idpResponse starts a sign-in in browser, signs in at the demo IdP and
// returns the ACS URL and the form the IdP's page would post there.
func idpResponse(t *testing.T, srv *httptest.Server, browser *http.Client) (string, url.Values) {
	t.Helper()
	resp, err := browser.Get(srv.URL + "/me")
	require.NoError(t, err)
	loginAction, login := readForm(t, resp)
	login.Set("username", demoUserName)
	login.Set("password", testPassword)
	resp, err = browser.PostForm(loginAction, login)
	require.NoError(t, err)
	return readForm(t, resp)
}

// A Response is accepted only in the browser that started the sign-in.
func TestResponseInAnotherBrowserIsRejected(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)

	acs, post := idpResponse(t, srv, browser)
	resp, err := newBrowser(t).PostForm(acs, post)
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	_ = resp.Body.Close()

	// Positive control: a fresh Response in the right browser is accepted.
	acs, post = idpResponse(t, srv, browser)
	resp, err = browser.PostForm(acs, post)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "/me", resp.Request.URL.Path)
	_ = resp.Body.Close()
}

func TestMemStoreAtomicity(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	m := newMemStore()
	require.NoError(t, m.SaveRequest(ctx, sp.PendingRequest{ID: "req", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}))

	var consumed, marked atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := m.ConsumeRequest(ctx, "req", now); err == nil {
				consumed.Add(1)
			} else {
				assert.ErrorIs(t, err, sp.ErrNotFound)
			}
			if err := m.MarkAssertionUsed(ctx, "idp", "a1", now.Add(time.Minute), now); err == nil {
				marked.Add(1)
			} else {
				assert.ErrorIs(t, err, sp.ErrReplay)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), consumed.Load())
	assert.Equal(t, int32(1), marked.Load())

	// Expired entries: a pending request past ExpiresAt is not returned; a
	// replay record past its expiry no longer blocks.
	require.NoError(t, m.SaveRequest(ctx, sp.PendingRequest{ID: "old", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}))
	_, err := m.ConsumeRequest(ctx, "old", now.Add(time.Minute))
	assert.ErrorIs(t, err, sp.ErrNotFound)
	assert.NoError(t, m.MarkAssertionUsed(ctx, "idp", "a1", now.Add(3*time.Minute), now.Add(2*time.Minute)))
}

func TestRequireUserRedirectsToLogin(t *testing.T) {
	srv := startServer(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(srv.URL + "/me?tab=groups&x=1")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "/login", loc.Path)
	assert.Equal(t, "/me?tab=groups&x=1", loc.Query().Get("return_to"))
	assert.True(t, strings.HasPrefix(loc.Query().Get("return_to"), "/"))
}
