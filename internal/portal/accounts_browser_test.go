package portal

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

// fakeAWS stands in for AWS's SAML sign-in endpoint: it records what the
// console page posted and redirects to a console on another origin, as
// AWS does.
type fakeAWS struct {
	mu    sync.Mutex
	posts []map[string][]string
	// referer is the Referer header of each post.
	referer []string
}

func (f *fakeAWS) handler(console string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/saml" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.posts = append(f.posts, r.PostForm)
		f.referer = append(f.referer, r.Header.Get("Referer"))
		f.mu.Unlock()
		http.Redirect(w, r, console+"/console/home", http.StatusFound)
	})
}

func (f *fakeAWS) recorded() ([]map[string][]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts, f.referer
}

// TestAccountsInBrowser drives the account role pages with headless
// Chromium: the portal lists two accounts with their roles beside the
// applications; "Command line access" shows the three blocks with the
// vended credentials and a copy button that copies; "Console" posts the
// SAML response to the (fake) AWS sign-in endpoint by itself, which
// redirects to the console. No CSP violation and no console error happen
// on the way.
func TestAccountsInBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	defer cancel()

	aws := &fakeAWS{}
	consoleSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>AWS console</title><h1 id="aws-console">Console Home</h1>`))
	}))
	defer consoleSrv.Close()
	awsSrv := httptest.NewServer(aws.handler(consoleSrv.URL))
	defer awsSrv.Close()

	accounts := []Account{
		{ID: "111122223333", Name: "Production", Roles: []AccountRole{roleWithLinks("111122223333", "ReadOnly"), roleWithLinks("111122223333", "Admin")}},
		{ID: "444455556666", Name: "Sandbox", Roles: []AccountRole{roleWithLinks("444455556666", "PowerUser")}},
	}
	p, err := New(Config{
		Sessions: &fakeSessions{user: testUser, expires: time.Now().Add(8 * time.Hour)},
		Apps:     &fakeApps{apps: []App{{ID: "wiki", Name: "Wiki", LaunchURL: "/saml/idp/launch/wiki"}, {ID: "crm", Name: "CRM", LaunchURL: "/saml/idp/launch/crm"}}},
		Accounts: &fakeAccounts{accounts: accounts},
	})
	require.NoError(t, err)
	signer := &fakeSigner{resp: []byte(testAssertion)}
	vendor := &fakeVendor{creds: testCredentials(time.Now().Add(59*time.Minute + 30*time.Second))}
	h, err := p.AccountsHandler(AccountsConfig{Console: signer, Credentials: vendor, SignInURL: awsSrv.URL + "/saml", RedirectOrigins: []string{consoleSrv.URL}})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("GET "+PortalPath, p.Handler())
	mux.Handle(AWSConsolePath, h)
	mux.Handle(AWSCredentialsPath, h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tab := testpeer.Chromium(t, ctx)
	_, err = chromedp.Call(tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
	require.NoError(t, err, "install the CSP violation recorder")
	console := collectConsole(tab)
	for _, name := range []string{"clipboard-write", "clipboard-read"} {
		_, err = chromedp.CallBrowser(tab, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: srv.URL,
		})
		require.NoError(t, err, "grant %s", name)
	}

	// The portal lists the accounts and their roles beside the
	// applications.
	resp, err := chromedp.Run(tab, chromedp.NavigateResponse(srv.URL+PortalPath))
	require.NoError(t, err, "open the portal")
	require.Equal(t, int64(200), resp.Status)
	apps, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#apps a.app")).map(a => a.textContent)`))
	require.NoError(t, err)
	assert.Equal(t, []string{"Wiki", "CRM"}, apps)
	listed, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#accounts > li")).map(li =>
		li.querySelector("h3").textContent + ": " + Array.from(li.querySelectorAll(".roles > li > span")).map(s => s.textContent).join(", "))`))
	require.NoError(t, err)
	assert.Equal(t, []string{"Production 111122223333: ReadOnly, Admin", "Sandbox 444455556666: PowerUser"}, listed)

	// Command line access for Admin in Production.
	credsLink := `#accounts a[href="` + AWSCredentialsPath + `?account=111122223333&role=Admin"]`
	require.NoError(t, chromedp.Do(tab,
		chromedp.Click(chromedp.CSS(credsLink)),
		chromedp.WaitVisible(chromedp.ID("env-sh")),
	), "open command line access")
	assert.Equal(t, []vendCall{{testUser.ID, "111122223333", "Admin"}}, vendor.calls())
	c := vendor.creds
	sh, err := chromedp.Run(tab, chromedp.TextContent(chromedp.ID("env-sh")))
	require.NoError(t, err)
	assert.Equal(t, `export AWS_ACCESS_KEY_ID="`+c.AccessKeyID+`"
export AWS_SECRET_ACCESS_KEY="`+c.SecretAccessKey+`"
export AWS_SESSION_TOKEN="`+c.SessionToken+`"
`, sh)
	ps, err := chromedp.Run(tab, chromedp.TextContent(chromedp.ID("env-ps")))
	require.NoError(t, err)
	assert.Contains(t, ps, `$Env:AWS_SESSION_TOKEN="`+c.SessionToken+`"`)
	file, err := chromedp.Run(tab, chromedp.TextContent(chromedp.ID("creds-file")))
	require.NoError(t, err)
	assert.Equal(t, "[111122223333_Admin]\naws_access_key_id = "+c.AccessKeyID+"\naws_secret_access_key = "+c.SecretAccessKey+"\naws_session_token = "+c.SessionToken+"\n", file)
	assertText(t, tab, "expires", c.Expiration.UTC().Format(time.RFC3339))
	assertText(t, tab, "expires-in", "59 minutes")
	referrer, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.referrer`))
	require.NoError(t, err)
	assert.Equal(t, srv.URL+PortalPath, referrer, "the portal (same-origin policy) sent its referrer")

	// The script showed the copy buttons; the first one copies the shell
	// lines.
	assert.Equal(t, 4, evalInt(t, tab, `Array.from(document.querySelectorAll("button.copy")).filter(b => b.checkVisibility()).length`), "copy buttons shown")
	require.NoError(t, chromedp.Do(tab, chromedp.Click(chromedp.CSS(`button.copy[data-copy="env-sh"]`))), "copy")
	status, err := chromedp.Run(tab, chromedp.Poll[string](`document.getElementById("copy-status").textContent || null`, chromedp.WithPollingTimeout(5*time.Second)))
	require.NoError(t, err, "the copy status appears")
	assert.Equal(t, "Copied.", status)
	clip, err := chromedp.Run(tab, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "read the clipboard")
	assert.Equal(t, sh, clip, "the clipboard holds the shell lines")

	violations, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.__cspViolations`))
	require.NoError(t, err)
	assert.Empty(t, violations, "CSP violations on the credentials page")

	// Console for ReadOnly in Production: the page posts to AWS by
	// itself, and AWS's redirect reaches the console.
	consoleCtx, cancelConsole := context.WithTimeout(tab, 10*time.Second)
	err = chromedp.Do(consoleCtx,
		chromedp.Navigate(srv.URL+PortalPath),
		chromedp.Click(chromedp.CSS(`#accounts a[href="`+AWSConsolePath+`?account=111122223333&role=ReadOnly"]`)),
		chromedp.WaitVisible(chromedp.ID("aws-console")),
	)
	cancelConsole()
	if err != nil {
		posts, _ := aws.recorded()
		t.Logf("posts %v console %v", posts, console.errors())
	}
	require.NoError(t, err, "open the console")
	loc, err := chromedp.Run(tab, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, consoleSrv.URL+"/console/home", loc)
	assert.Equal(t, []consoleCall{{testUser.ID, "111122223333", "ReadOnly"}}, signer.calls())
	posts, referers := aws.recorded()
	require.Len(t, posts, 1, "one post to AWS")
	assert.Equal(t, []string{base64.StdEncoding.EncodeToString([]byte(testAssertion))}, posts[0]["SAMLResponse"])
	assert.NotContains(t, posts[0], "RelayState", "none without a relay state")
	assert.Equal(t, []string{""}, referers, "no referrer reached AWS")
	assert.Empty(t, console.errors(), "console errors")

	// Without JavaScript the Continue button does the same.
	withoutJS(t, tab, func() {
		require.NoError(t, chromedp.Do(tab,
			chromedp.Navigate(srv.URL+AWSConsolePath+"?account=444455556666&role=PowerUser"),
			chromedp.WaitVisible(chromedp.ID("continue")),
		), "open the console page without JavaScript")
		posts, _ = aws.recorded()
		assert.Len(t, posts, 1, "nothing posted without the script")
		require.NoError(t, chromedp.Do(tab,
			chromedp.Click(chromedp.ID("continue")),
			chromedp.WaitVisible(chromedp.ID("aws-console")),
		), "continue")
	})
	posts, _ = aws.recorded()
	require.Len(t, posts, 2)
	assert.Equal(t, []string{base64.StdEncoding.EncodeToString([]byte(testAssertion))}, posts[1]["SAMLResponse"])
	assert.Empty(t, console.errors(), "console errors")

	// Positive control: the form-action directive is enforced. Without the
	// console's origin in it, the browser posts to the sign-in URL but
	// blocks its redirect to the console.
	strict, err := p.AccountsHandler(AccountsConfig{Console: signer, Credentials: vendor, SignInURL: awsSrv.URL + "/saml", RedirectOrigins: []string{}})
	require.NoError(t, err)
	strictSrv := httptest.NewServer(strict)
	defer strictSrv.Close()
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(strictSrv.URL+AWSConsolePath+"?account=444455556666&role=PowerUser")))
	require.Eventually(t, func() bool { return len(console.errors()) > 0 }, 5*time.Second, 50*time.Millisecond, "the blocked redirect is reported")
	assert.Contains(t, console.errors()[0], "form-action")
	posts, _ = aws.recorded()
	assert.Len(t, posts, 3, "the post itself was sent")
	loc, err = chromedp.Run(tab, chromedp.Location())
	require.NoError(t, err)
	assert.NotEqual(t, consoleSrv.URL+"/console/home", loc, "the console was not reached")
}

// withoutJS runs f with JavaScript disabled in tab.
func withoutJS(t *testing.T, tab context.Context, f func()) {
	t.Helper()
	_, err := chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	require.NoError(t, err)
	defer func() {
		_, err := chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false})
		require.NoError(t, err)
	}()
	f()
}
