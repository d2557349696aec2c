package portal

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

// browserTestTimeout bounds the whole browser test, the browser's start
// included.
const browserTestTimeout = 60 * time.Second

// browserApps are the 20 applications the browser test lists; two of them
// match "sales".
var browserApps = []string{
	"Salesforce", "Workday", "GitHub", "Jira", "Confluence", "Slack", "Zoom",
	"Grafana", "PagerDuty", "Datadog", "Sales Analytics", "Okta Admin",
	"Google Workspace", "Dropbox", "Figma", "Notion", "ServiceNow",
	"Tableau", "Zendesk", "Internal Wiki",
}

// cspRecorder runs before any page script and records every CSP violation
// the page reports.
const cspRecorder = `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});`

// TestPortalInBrowser serves the portal with 20 applications and drives it
// with headless Chromium: the page renders with its nonce'd style and
// script and no CSP violation, the keyboard reaches the skip link and then
// the search box, typing filters the list, without JavaScript the search
// form filters on the server, every input is labelled, a screenshot shows a
// rendered page, and the sign-out button reaches the signed-out page.
func TestPortalInBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	defer cancel()

	apps := make([]App, len(browserApps))
	for i, name := range browserApps {
		apps[i] = App{ID: name, Name: name, LaunchURL: "/saml/idp/launch/" + strings.ToLower(strings.ReplaceAll(name, " ", "-"))}
	}
	p, err := New(Config{
		Sessions: &fakeSessions{user: testUser, expires: time.Now().Add(8 * time.Hour)},
		Apps:     &fakeApps{apps: apps},
	})
	require.NoError(t, err)
	var signedOut atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("GET /portal", p.Handler())
	mux.Handle("POST /logout", p.SignOutHandler(func(http.ResponseWriter, *http.Request) error {
		signedOut.Store(true)
		return nil
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tab := testpeer.Chromium(t, ctx)

	// Before the first navigation: record CSP violations in the page and
	// collect the console.
	_, err = chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
	require.NoError(t, err, "install the CSP violation recorder")
	console := collectConsole(tab)

	resp, err := chromedp.Run(tab, chromedp.NavigateResponse(srv.URL+"/portal"))
	require.NoError(t, err, "open /portal")
	require.Equal(t, int64(200), resp.Status)

	heading, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("main h1")))
	require.NoError(t, err)
	assert.Equal(t, "Access portal", heading)
	title, err := chromedp.Run(tab, chromedp.Title())
	require.NoError(t, err)
	assert.Equal(t, "Access portal – Gatehouse", title)
	assert.Equal(t, len(browserApps), evalInt(t, tab, `document.querySelectorAll("#apps a.app[href]").length`), "one launch link per application")
	assert.Equal(t, len(browserApps), visibleApps(t, tab))

	// The nonce'd style sheet applied (the header is dark) and the
	// nonce'd script ran (below): the CSP let both through.
	bar, err := chromedp.Run(tab, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("header")).backgroundColor`))
	require.NoError(t, err)
	assert.Equal(t, "rgb(13, 27, 42)", bar, "the portal's style sheet applied")

	// Keyboard: the first Tab reaches the skip link, shown while focused;
	// Enter on it moves focus to main, and the next Tab reaches the search
	// box, whose focus is visible.
	require.NoError(t, chromedp.Do(tab, chromedp.KeyEvent(kb.Tab)))
	assert.Equal(t, "a.skip #main", activeElement(t, tab), "first Tab: the skip link")
	skipTop := evalInt(t, tab, `Math.round(document.activeElement.getBoundingClientRect().top)`)
	assert.GreaterOrEqual(t, skipTop, 0, "the focused skip link is on screen")
	require.NoError(t, chromedp.Do(tab, chromedp.KeyEvent(kb.Enter)))
	assert.Equal(t, "main#main", activeElement(t, tab), "the skip link moves focus to main")
	require.NoError(t, chromedp.Do(tab, chromedp.KeyEvent(kb.Tab)))
	assert.Equal(t, "input#q", activeElement(t, tab), "next Tab: the search box")
	outline, err := chromedp.Run(tab, chromedp.Evaluate[string](`(function(s){return s.outlineStyle+" "+s.outlineWidth})(getComputedStyle(document.activeElement))`))
	require.NoError(t, err)
	assert.Equal(t, "solid 3px", outline, "keyboard focus is visible")

	// Every input has a label; every link has a name.
	unlabelled, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("input, select, textarea"))
		.filter(el => el.type !== "hidden" && el.labels.length === 0 && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
		.map(el => el.outerHTML)`))
	require.NoError(t, err)
	assert.Empty(t, unlabelled, "inputs without a label")
	assert.Equal(t, 1, evalInt(t, tab, `document.querySelectorAll("input").length`), "positive control: the search box is counted")
	label, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById("q").labels[0].textContent`))
	require.NoError(t, err)
	assert.Equal(t, "Search applications", label)
	assert.Zero(t, evalInt(t, tab, `Array.from(document.querySelectorAll("a")).filter(a => a.textContent.trim() === "").length`), "links without text")

	// JavaScript path: typing filters as you type.
	require.NoError(t, chromedp.Do(tab, chromedp.SendKeys(chromedp.ID("q"), "SALES")))
	assert.Equal(t, 2, visibleApps(t, tab), "Salesforce and Sales Analytics")
	assertText(t, tab, "search-status", "Showing 2 of 20.")
	assert.False(t, isVisible(t, tab, "no-match"))
	require.NoError(t, chromedp.Do(tab, chromedp.SendKeys(chromedp.ID("q"), "force")))
	assert.Equal(t, 1, visibleApps(t, tab), "salesforce")
	require.NoError(t, chromedp.Do(tab, chromedp.SendKeys(chromedp.ID("q"), "zzz")))
	assert.Zero(t, visibleApps(t, tab))
	assert.True(t, isVisible(t, tab, "no-match"), "the no-match message shows")
	_, err = chromedp.Run(tab, chromedp.Evaluate[bool](`(function(q){q.value="";q.dispatchEvent(new Event("input"));return true})(document.getElementById("q"))`))
	require.NoError(t, err)
	assert.Equal(t, len(browserApps), visibleApps(t, tab), "clearing the box shows everything")
	assertText(t, tab, "search-status", "Showing 20 items.")

	// A screenshot shows a rendered page: a PNG whose pixels are not all
	// the background colour.
	shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot")
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err, "the screenshot is a PNG")
	b := img.Bounds()
	require.Positive(t, b.Dx()*b.Dy())
	bg, share := dominantColour(img)
	t.Logf("screenshot %dx%d, background %v covers %.1f%%", b.Dx(), b.Dy(), bg, 100*share)
	assert.Less(t, share, 0.99, "more than 1%% of the pixels differ from the background")
	assert.Equal(t, color.RGBA{255, 255, 255, 255}, bg, "the page background is white")
	shotPath := filepath.Join(t.ArtifactDir(), "portal.png") // kept with go test -artifacts
	require.NoError(t, os.WriteFile(shotPath, shot, 0o600))
	t.Logf("portal screenshot: %s", shotPath)

	// No CSP violation so far, and nothing on the console.
	violations, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.__cspViolations`))
	require.NoError(t, err)
	assert.Empty(t, violations, "CSP violations")
	assert.Empty(t, console.errors(), "console errors")

	// Positive control: a script without the nonce is blocked, and the
	// recorder sees it, so an empty list above means something.
	_, err = chromedp.Run(tab, chromedp.Evaluate[bool](`(function(){var s=document.createElement("script");s.textContent="window.__injected=1";document.body.appendChild(s);return true})()`))
	require.NoError(t, err)
	n, err := chromedp.Run(tab, chromedp.Poll[int](`window.__cspViolations.length`, chromedp.WithPollingTimeout(5*time.Second)))
	require.NoError(t, err, "the injected script is reported")
	assert.Equal(t, 1, n)
	injected, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.__injected === 1`))
	require.NoError(t, err)
	assert.False(t, injected, "the CSP blocked the script without the nonce")

	// Without JavaScript, the search form filters on the server.
	_, err = chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(srv.URL+"/portal"),
		chromedp.SendKeys(chromedp.ID("q"), "sales"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/portal"]`)), // "Show all" appears once filtered
	), "search without JavaScript")
	loc, err := chromedp.Run(tab, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, srv.URL+"/portal?q=sales", loc)
	_, err = chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false})
	require.NoError(t, err)
	names, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#apps a.app")).map(a => a.textContent)`))
	require.NoError(t, err)
	assert.Equal(t, []string{"Salesforce", "Sales Analytics"}, names, "filtered on the server")
	assertText(t, tab, "search-status", "Showing 2 of 20 for “sales”.")

	// Sign out with the button.
	require.NoError(t, chromedp.Do(tab,
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.ID("signed-out")),
	), "sign out")
	assertText(t, tab, "signed-out", "You are signed out")
	assert.True(t, signedOut.Load(), "the end function ran")
}

// TestDeviceInBrowser drives the device verification page with headless
// Chromium: the user opens /device, types the code in lower case without
// the dash, sees the consent screen, approves, and sees the success page;
// the approver recorded the approval for the session's user, the browser's
// own Sec-Fetch-Site and Origin passed the checks, no referrer was sent
// and no CSP violation happened.
func TestDeviceInBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	defer cancel()

	approver := newFakeApprover()
	prompt := approver.prompts[testCode]
	prompt.ExpiresAt = time.Now().Add(10 * time.Minute)
	approver.prompts[testCode] = prompt
	p, err := New(Config{
		Sessions: &fakeSessions{user: testUser, expires: time.Now().Add(8 * time.Hour)},
		Apps:     &fakeApps{},
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	device, err := p.DeviceHandler(DeviceConfig{Approver: approver, ExternalURL: srv.URL, CSRFKey: testCSRFKey})
	require.NoError(t, err)
	mux.Handle("GET "+DevicePath, device)
	var postHeaders atomic.Value
	mux.Handle("POST "+DevicePath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		postHeaders.Store([2]string{r.Header.Get("Sec-Fetch-Site"), r.Header.Get("Origin")})
		device.ServeHTTP(w, r)
	}))

	tab := testpeer.Chromium(t, ctx)
	_, err = chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
	require.NoError(t, err, "install the CSP violation recorder")
	console := collectConsole(tab)

	resp, err := chromedp.Run(tab, chromedp.NavigateResponse(srv.URL+DevicePath))
	require.NoError(t, err, "open /device")
	require.Equal(t, int64(200), resp.Status)
	heading, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("main h1")))
	require.NoError(t, err)
	assert.Equal(t, "Connect a device", heading)
	bar, err := chromedp.Run(tab, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("header")).backgroundColor`))
	require.NoError(t, err)
	assert.Equal(t, "rgb(13, 27, 42)", bar, "the portal's style sheet applied")
	label, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById("user_code").labels[0].textContent`))
	require.NoError(t, err)
	assert.Equal(t, "Code from your device", label)
	unlabelled, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("input, select, textarea"))
		.filter(el => el.type !== "hidden" && el.labels.length === 0 && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
		.map(el => el.outerHTML)`))
	require.NoError(t, err)
	assert.Empty(t, unlabelled, "inputs without a label")

	// Type the code as a person might, and submit with Enter.
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.ID("user_code"), "bcdfghjk"+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("consent-heading")),
	), "enter the code")
	loc, err := chromedp.Run(tab, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, srv.URL+"/device?user_code=bcdfghjk", loc)
	assertText(t, tab, "code", "BCDF-GHJK")
	assertText(t, tab, "client", "cli-tool")
	assertText(t, tab, "audience", "https://data.example.com")
	scopes, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#scopes li")).map(li => li.textContent)`))
	require.NoError(t, err)
	assert.Equal(t, []string{"reports:read", "notes:write"}, scopes)
	referrer, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.referrer`))
	require.NoError(t, err)
	assert.Empty(t, referrer, "the entry page sent no referrer")
	_, decisions := approver.calls()
	assert.Empty(t, decisions, "nothing decided before the click")

	require.NoError(t, chromedp.Do(tab,
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.ID("device-approved")),
	), "approve")
	msg, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("main p")))
	require.NoError(t, err)
	assert.Equal(t, "Device approved. You can return to your device.", msg)
	_, decisions = approver.calls()
	assert.Equal(t, []decision{{testCode, testUser.ID, true}}, decisions, "the approval, for the session's user")
	assert.Equal(t, [2]string{"same-origin", srv.URL}, postHeaders.Load(), "the browser's Sec-Fetch-Site and Origin with the decision")

	violations, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.__cspViolations`))
	require.NoError(t, err)
	assert.Empty(t, violations, "CSP violations")
	assert.Empty(t, console.errors(), "console errors")

	// Positive control: the recorder sees a blocked script on this page.
	_, err = chromedp.Run(tab, chromedp.Evaluate[bool](`(function(){var s=document.createElement("script");s.textContent="window.__injected=1";document.body.appendChild(s);return true})()`))
	require.NoError(t, err)
	n, err := chromedp.Run(tab, chromedp.Poll[int](`window.__cspViolations.length`, chromedp.WithPollingTimeout(5*time.Second)))
	require.NoError(t, err, "the injected script is reported")
	assert.Equal(t, 1, n)
}

func evalInt(t *testing.T, tab context.Context, js string) int {
	t.Helper()
	n, err := chromedp.Run(tab, chromedp.Evaluate[int](js))
	require.NoError(t, err, js)
	return n
}

// visibleApps counts the application links the user can see.
func visibleApps(t *testing.T, tab context.Context) int {
	t.Helper()
	return evalInt(t, tab, `Array.from(document.querySelectorAll("#apps a.app")).filter(a => a.checkVisibility()).length`)
}

func isVisible(t *testing.T, tab context.Context, id string) bool {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.getElementById("`+id+`").checkVisibility()`))
	require.NoError(t, err)
	return v
}

// activeElement describes document.activeElement as "tag#id" or, for a
// link with a class, "a.class href".
func activeElement(t *testing.T, tab context.Context) string {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Evaluate[string](`(function(e){
		if (!e) { return "none"; }
		var tag = e.tagName.toLowerCase();
		if (tag === "a" && e.className) { return "a." + e.className + " " + e.getAttribute("href"); }
		return tag + (e.id ? "#" + e.id : "");
	})(document.activeElement)`))
	require.NoError(t, err)
	return s
}

func assertText(t *testing.T, tab context.Context, id, want string) {
	t.Helper()
	got, err := chromedp.Run(tab, chromedp.Text(chromedp.ID(id)))
	require.NoError(t, err, "#%s", id)
	assert.Equal(t, want, got, "#%s", id)
}

// dominantColour returns the most common colour of img and the share of
// the pixels that have it.
func dominantColour(img image.Image) (color.RGBA, float64) {
	b := img.Bounds()
	counts := map[color.RGBA]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	var best color.RGBA
	for c, n := range counts {
		if n > counts[best] {
			best = c
		}
	}
	return best, float64(counts[best]) / float64(b.Dx()*b.Dy())
}

// consoleLog collects the tab's console messages in the background.
type consoleLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

// collectConsole subscribes to tab's console now and collects until the
// tab's context ends.
func collectConsole(tab context.Context) *consoleLog {
	c := &consoleLog{}
	messages := chromedp.Console(tab)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	return c
}

// errors returns the warnings, errors and exceptions seen so far.
func (c *consoleLog) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleException, chromedp.ConsoleWarning:
			out = append(out, m.String())
		}
	}
	return out
}
