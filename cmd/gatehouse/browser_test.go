package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// browserTestTimeout bounds the whole browser test: the demo's start, the
// browser's start and every wait.
const browserTestTimeout = 90 * time.Second

// TestDemoSignInInBrowser drives the one-command demo with headless
// Chromium through the whole SP-initiated flow: /portal redirects to the
// demo IdP's login form, a wrong password is refused there without a
// session, the right one (typed into the re-rendered form) goes through the
// auto-submitting POST to the ACS and lands on the portal, and sign-out
// through the session API ends the session.
func TestDemoSignInInBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	defer cancel()

	dataDir := t.TempDir()
	base, password := startDemo(t, ctx, dataDir)

	tab := testpeer.Chromium(t, ctx)

	// Unauthenticated: /portal -> /saml/sp/login -> the IdP's login form.
	resp, err := chromedp.Run(tab, chromedp.NavigateResponse(base+"/portal"))
	require.NoError(t, err, "open /portal")
	assert.Equal(t, int64(200), resp.Status, "login form status")
	assertAtLoginForm(t, tab, base)
	state := cookieNamed(t, tab, base, sp.StateCookie)
	require.NotNil(t, state, "sign-in sets the browser binding cookie")
	assert.True(t, state.HTTPOnly, "%s is HttpOnly", sp.StateCookie)
	assert.Nil(t, cookieNamed(t, tab, base, sp.SessionCookie), "no session before sign-in")

	// Negative: the demo user with a wrong password. The IdP shows its
	// error and nothing reaches the ACS, so there is no session.
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), demoUser),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password+"x"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p[role="alert"]`)),
	), "submit a wrong password")
	alert, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`p[role="alert"]`)))
	require.NoError(t, err)
	assert.Equal(t, "Invalid username or password.", alert)
	loc, err := chromedp.Run(tab, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, base+"/demo-idp/sso", loc, "the form was re-rendered by the IdP, not posted on")
	assert.Nil(t, cookieNamed(t, tab, base, sp.SessionCookie), "a wrong password gives no session cookie")
	assert.Equal(t, int64(401), sessionStatusInNewTab(t, tab, base), "a wrong password gives no session")

	// Positive control, in the re-rendered form (it carries the same
	// AuthnRequest): the right password signs in.
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), demoUser),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("user")),
	), "sign in with the right password")
	loc, err = chromedp.Run(tab, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, base+"/portal", loc, "the ACS returns the browser to return_to")
	for _, c := range []struct{ id, want string }{
		{"user", "Demo User"},
		{"user_name", demoUser}, // the demo IdP asserts the username as NameID
		{"email", "demo@example.com"},
	} {
		got, err := chromedp.Run(tab, chromedp.Text(chromedp.ID(c.id)))
		require.NoError(t, err, "#%s", c.id)
		assert.Equal(t, c.want, got, "#%s", c.id)
	}
	groups, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("groups")))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"engineering", "demo"}, strings.Split(groups, ", "), "#groups is %q", groups)

	session := cookieNamed(t, tab, base, sp.SessionCookie)
	require.NotNil(t, session, "signed in: %s cookie", sp.SessionCookie)
	assert.True(t, session.HTTPOnly, "%s is HttpOnly", sp.SessionCookie)
	assert.Equal(t, network.CookieSameSiteLax, session.SameSite)
	assert.Equal(t, "/", session.Path)
	assert.False(t, session.Session, "the session cookie has an expiry")
	docCookie, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.cookie`))
	require.NoError(t, err)
	assert.NotContains(t, docCookie, sp.SessionCookie, "page script cannot read the session cookie")

	// The portal's CSP (default-src 'none') stops page script from
	// calling out, even to its own origin; the same fetch works below
	// from a page without that policy.
	blocked, err := chromedp.Run(tab, chromedp.Evaluate[string](
		`fetch("/api/v1/session").then(() => "allowed", () => "blocked")`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	assert.Equal(t, "blocked", blocked, "portal CSP blocks connect-src")

	shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot")
	cfg, err := png.DecodeConfig(bytes.NewReader(shot))
	require.NoError(t, err, "the screenshot is a PNG")
	assert.Positive(t, cfg.Width*cfg.Height)
	shotPath := filepath.Join(t.TempDir(), "portal.png")
	require.NoError(t, os.WriteFile(shotPath, shot, 0o600))
	t.Logf("portal screenshot (%dx%d): %s", cfg.Width, cfg.Height, shotPath)

	// The portal lists the demo application; launching it signs in to the
	// application through the app-facing IdP (IdP-initiated), and the
	// application shows the verified assertion.
	appLink, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`#apps a.app`)))
	require.NoError(t, err)
	assert.Equal(t, "Demo application", appLink)
	require.NoError(t, chromedp.Do(tab,
		chromedp.Click(chromedp.CSS(`#apps a.app`)),
		chromedp.WaitVisible(chromedp.ID("nameid")),
	), "launch the demo application")
	nameID, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("nameid")))
	require.NoError(t, err)
	assert.Equal(t, "demo@example.com", nameID)
	table, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("table")))
	require.NoError(t, err)
	assert.Contains(t, table, "Demo User")
	assert.Contains(t, table, "engineering")

	// SP-initiated from the application: with the portal session, no
	// second password prompt.
	_, err = chromedp.Run(tab, chromedp.NavigateResponse(base+"/demo-app/"))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(tab,
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("nameid")),
	), "SP-initiated sign-in at the demo application")
	_, err = chromedp.Run(tab, chromedp.NavigateResponse(base+"/portal"))
	require.NoError(t, err)

	// The session API, seen from a page of the gateway's origin.
	resp, err = chromedp.Run(tab, chromedp.NavigateResponse(base+"/api/v1/session"))
	require.NoError(t, err)
	require.Equal(t, int64(200), resp.Status, "session API while signed in")
	status, body := fetchFromPage(t, tab, "GET", "/api/v1/session")
	require.Equal(t, 200, status, "session API via fetch: %s", body)
	var got struct {
		User struct {
			UserName    string   `json:"user_name"`
			Email       string   `json:"email"`
			DisplayName string   `json:"display_name"`
			Groups      []string `json:"groups"`
		} `json:"user"`
		ExpiresAt string `json:"expires_at"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &got), "session JSON: %s", body)
	assert.Equal(t, demoUser, got.User.UserName)
	assert.Equal(t, "demo@example.com", got.User.Email)
	assert.Equal(t, "Demo User", got.User.DisplayName)
	assert.ElementsMatch(t, []string{"engineering", "demo"}, got.User.Groups)
	_, err = time.Parse(time.RFC3339, got.ExpiresAt)
	assert.NoError(t, err, "expires_at is RFC 3339")

	// Sign out through the session API from that page, then go Back: the
	// signed-in portal must not come out of the back/forward cache (the
	// logout response carries Clear-Site-Data: "cache"); it is fetched
	// again and, without a session, sends the browser to the IdP.
	status, body = fetchFromPage(t, tab, "POST", "/api/v1/logout")
	assert.Equal(t, 204, status, "logout: %s", body)
	status, body = fetchFromPage(t, tab, "GET", "/api/v1/session")
	assert.Equal(t, 401, status, "session API after logout: %s", body)
	assert.Nil(t, cookieNamed(t, tab, base, sp.SessionCookie), "logout clears the session cookie")
	goBack(t, tab, base+"/portal")
	assertAtLoginForm(t, tab, base)

	// Sign in again from there, and sign out with the portal's button.
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), demoUser),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("signout")),
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.ID("signed-out")),
	), "sign in again, then sign out with the portal's button")
	heading, err := chromedp.Run(tab, chromedp.Text(chromedp.ID("signed-out")))
	require.NoError(t, err)
	assert.Equal(t, "You are signed out", heading)
	assert.Nil(t, cookieNamed(t, tab, base, sp.SessionCookie), "sign-out clears the session cookie")
	assert.Equal(t, int64(401), sessionStatusInNewTab(t, tab, base), "session API after sign-out")
}

// goBack navigates the tab to the previous history entry, which must be
// wantURL, without waiting for a load event (a back/forward cache restore
// fires none).
func goBack(t *testing.T, tab context.Context, wantURL string) {
	t.Helper()
	hist, err := chromedp.Call(tab, page.GetNavigationHistory, cdp.Empty{})
	require.NoError(t, err)
	require.Positive(t, hist.CurrentIndex)
	prev := hist.Entries[hist.CurrentIndex-1]
	require.Equal(t, wantURL, prev.URL)
	_, err = chromedp.Call(tab, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: prev.ID})
	require.NoError(t, err)
}

// assertAtLoginForm checks that the tab shows the demo IdP's login form,
// reached with an HTTP-Redirect AuthnRequest.
func assertAtLoginForm(t *testing.T, tab context.Context, base string) {
	t.Helper()
	require.NoError(t, chromedp.Do(tab,
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[type="submit"]`)),
	), "the IdP login form")
	loc, err := chromedp.Run(tab, chromedp.Location())
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(loc, base+"/demo-idp/sso?SAMLRequest="), "at the IdP: %s", loc)
}

// cookieNamed returns the browser's cookie called name for base, or nil.
func cookieNamed(t *testing.T, tab context.Context, base, name string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(tab, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	require.NoError(t, err, "Network.getCookies")
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// sessionStatusInNewTab opens GET /api/v1/session in a new tab of the same
// browser (same cookies) and returns the HTTP status.
func sessionStatusInNewTab(t *testing.T, tab context.Context, base string) int64 {
	t.Helper()
	other, cancel := chromedp.NewContext(tab)
	defer cancel()
	resp, err := chromedp.Run(other, chromedp.NavigateResponse(base+"/api/v1/session"))
	require.NoError(t, err, "open /api/v1/session")
	return resp.Status
}

// fetchFromPage runs fetch(path) with the page's cookies from the current
// document and returns the status and the body.
func fetchFromPage(t *testing.T, tab context.Context, method, path string) (int, string) {
	t.Helper()
	m, err := json.Marshal(method)
	require.NoError(t, err)
	p, err := json.Marshal(path)
	require.NoError(t, err)
	js := `fetch(` + string(p) + `, {method: ` + string(m) + `, credentials: "same-origin"})` +
		`.then(async r => ({status: r.status, body: await r.text()}))`
	res, err := chromedp.Run(tab, chromedp.Evaluate[struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}](js, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "fetch %s %s", method, path)
	return res.Status, res.Body
}

// startDemo runs demo on a free loopback port until the test ends and
// returns its base URL and the demo user's password, read from its output
// and checked against the password file.
func startDemo(t *testing.T, ctx context.Context, dataDir string) (base, password string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	out := newSignalBuffer()
	demoCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- demo(demoCtx, addr, dataDir, out) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			assert.NoError(t, err, "demo shut down")
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop within 30s of cancellation")
		}
	})
	select {
	case <-out.written:
	case err := <-done:
		t.Fatalf("demo stopped before serving: %v", err)
	case <-ctx.Done():
		t.Fatalf("demo did not start: %v", ctx.Err())
	}

	m := regexp.MustCompile(`(?m)^\s*Password:\s+(\S+)\s*$`).FindStringSubmatch(out.String())
	require.NotNil(t, m, "demo output names the password:\n%s", out.String())
	file, err := os.ReadFile(filepath.Join(dataDir, "demo-password"))
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(file)), m[1], "printed password matches demo-password")
	return "http://" + addr, m[1]
}

// signalBuffer is an io.Writer safe for concurrent use that closes written
// after its first write.
type signalBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	once    sync.Once
	written chan struct{}
}

func newSignalBuffer() *signalBuffer { return &signalBuffer{written: make(chan struct{})} }

func (b *signalBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	b.mu.Unlock()
	b.once.Do(func() { close(b.written) })
	return n, err
}

func (b *signalBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
