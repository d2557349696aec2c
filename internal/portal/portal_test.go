package portal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testNow = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

var testUser = User{
	ID: "u-1", UserName: "ada", Email: "ada@example.com",
	DisplayName: "Ada Lovelace", Groups: []string{"engineering", "admins"},
}

type fakeSessions struct {
	user    User
	expires time.Time
	err     error
}

func (f *fakeSessions) Current(*http.Request) (User, time.Time, error) {
	return f.user, f.expires, f.err
}

func (*fakeSessions) LoginURL(returnTo string) string {
	return "/saml/sp/login?return_to=" + url.QueryEscape(returnTo)
}

type fakeApps struct {
	apps []App
	err  error
	got  []User
}

func (f *fakeApps) ApplicationsFor(_ context.Context, u User) ([]App, error) {
	f.got = append(f.got, u)
	return f.apps, f.err
}

type fakeAccounts struct {
	accounts []Account
	err      error
}

func (f *fakeAccounts) AccountsFor(context.Context, User) ([]Account, error) {
	return f.accounts, f.err
}

func signedIn() *fakeSessions {
	return &fakeSessions{user: testUser, expires: testNow.Add(8 * time.Hour)}
}

func numberedApps(n int) []App {
	apps := make([]App, n)
	for i := range apps {
		apps[i] = App{ID: fmt.Sprintf("app-%02d", i+1), Name: fmt.Sprintf("App %02d", i+1), LaunchURL: fmt.Sprintf("/saml/idp/launch/app-%02d", i+1)}
	}
	return apps
}

func newTestPortal(t *testing.T, s SessionSource, a AppLister, acc AccountLister) *Portal {
	t.Helper()
	p, err := New(Config{Sessions: s, Apps: a, Accounts: acc, Now: func() time.Time { return testNow }})
	require.NoError(t, err)
	return p
}

// get serves GET target from p and returns the response and its body.
func get(t *testing.T, p *Portal, target string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(body)
}

var (
	appLinkRE = regexp.MustCompile(`<a class="app" href="([^"]*)">([^<]*)</a>`)
	nonceRE   = regexp.MustCompile(`<(style|script) nonce="([^"]*)">`)
	cspRE     = regexp.MustCompile(`^default-src 'none'; style-src 'nonce-([A-Z2-7]{26})'; script-src 'nonce-([A-Z2-7]{26})'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$`)
)

func appLinks(body string) (names, hrefs []string) {
	for _, m := range appLinkRE.FindAllStringSubmatch(body, -1) {
		hrefs = append(hrefs, m[1])
		names = append(names, m[2])
	}
	return names, hrefs
}

func TestNewValidates(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no sessions", Config{Apps: &fakeApps{}}, "Sessions"},
		{"no apps", Config{Sessions: signedIn()}, "Apps"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := New(c.cfg)
			require.ErrorContains(t, err, c.want)
			assert.Nil(t, p)
		})
	}
	p, err := New(Config{Sessions: signedIn(), Apps: &fakeApps{}})
	require.NoError(t, err, "positive control: the minimal config")
	require.NotNil(t, p)
}

func TestPortalSession(t *testing.T) {
	login := "/saml/sp/login?return_to=%2Fportal"
	for _, c := range []struct {
		name     string
		sessions *fakeSessions
		status   int
		location string
	}{
		{"valid session", signedIn(), http.StatusOK, ""},
		{"no session", &fakeSessions{err: ErrNoSession}, http.StatusFound, login},
		{"wrapped no session", &fakeSessions{err: fmt.Errorf("cookie: %w", ErrNoSession)}, http.StatusFound, login},
		{"expired at now", &fakeSessions{user: testUser, expires: testNow}, http.StatusFound, login},
		{"expired before now", &fakeSessions{user: testUser, expires: testNow.Add(-time.Second)}, http.StatusFound, login},
		{"lookup fails", &fakeSessions{err: errors.New("store down")}, http.StatusServiceUnavailable, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			apps := &fakeApps{apps: numberedApps(2)}
			res, body := get(t, newTestPortal(t, c.sessions, apps, nil), "/portal")
			assert.Equal(t, c.status, res.StatusCode)
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			assert.Equal(t, c.location, res.Header.Get("Location"))
			switch c.status {
			case http.StatusOK:
				assert.Contains(t, body, `<h1>Access portal</h1>`)
				require.Len(t, apps.got, 1)
				assert.Equal(t, testUser, apps.got[0], "the lister is asked for the session's user")
			case http.StatusServiceUnavailable:
				assert.Contains(t, body, "temporarily unavailable")
				assert.NotContains(t, body, "store down", "the reason stays in the log")
				assert.Regexp(t, cspRE, res.Header.Get("Content-Security-Policy"))
				assert.Empty(t, apps.got, "no listing without a session")
			default:
				assert.Empty(t, apps.got, "no listing without a session")
			}
		})
	}
}

func TestPortalListsAppsInOrder(t *testing.T) {
	apps := []App{
		{ID: "wiki", Name: "Wiki", LaunchURL: "/saml/idp/launch/wiki"},
		{ID: "crm", Name: "CRM", LaunchURL: "https://crm.example.com/sso"},
		{ID: "noname", LaunchURL: "/saml/idp/launch/noname"},
		{ID: "aws", Name: "AWS Console", LaunchURL: "http://127.0.0.1:9000/launch?x=1&y=2"},
	}
	res, body := get(t, newTestPortal(t, signedIn(), &fakeApps{apps: apps}, nil), "/portal")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	names, hrefs := appLinks(body)
	assert.Equal(t, []string{"Wiki", "CRM", "noname", "AWS Console"}, names, "order as given; an empty name shows the ID")
	assert.Equal(t, []string{"/saml/idp/launch/wiki", "https://crm.example.com/sso", "/saml/idp/launch/noname", "http://127.0.0.1:9000/launch?x=1&amp;y=2"}, hrefs)

	assert.Contains(t, body, `<strong id="user">Ada Lovelace</strong>`)
	assert.Contains(t, body, `<dd id="user_name">ada</dd>`)
	assert.Contains(t, body, `<dd id="email">ada@example.com</dd>`)
	assert.Contains(t, body, `<dd id="groups">engineering, admins</dd>`)
	assert.Contains(t, body, `<time datetime="2026-03-14T17:30:00Z">2026-03-14 17:30 UTC</time> (in 8 hours)`)
	assert.Contains(t, body, `<form method="post" action="/logout"><button type="submit" id="signout">Sign out</button></form>`)
	assert.Contains(t, body, `<html lang="en">`)
	assert.Contains(t, body, `<a class="skip" href="#main">`)
	assert.Contains(t, body, `<main id="main" tabindex="-1">`)
	assert.NotContains(t, body, `id="q"`, "four apps: no search box")
	assert.NotContains(t, body, `<script`, "no search box, no script")
	assert.NotContains(t, body, `Accounts</h2>`, "no account lister: no accounts section")
	assert.NotContains(t, body, `apps-empty`)
}

func TestPortalEmptyStates(t *testing.T) {
	_, body := get(t, newTestPortal(t, signedIn(), &fakeApps{}, nil), "/portal")
	assert.Contains(t, body, `id="apps-empty"`)
	assert.NotContains(t, body, `id="no-match"`)

	_, body = get(t, newTestPortal(t, signedIn(), &fakeApps{}, &fakeAccounts{}), "/portal")
	assert.Contains(t, body, `id="apps-empty"`)
	assert.Contains(t, body, `id="accounts-empty"`)

	_, body = get(t, newTestPortal(t, signedIn(), &fakeApps{apps: numberedApps(1)}, nil), "/portal")
	assert.NotContains(t, body, `id="apps-empty"`, "positive control")
}

func TestPortalUserLabelFallback(t *testing.T) {
	for _, c := range []struct {
		user User
		want string
	}{
		{User{ID: "u", UserName: "ada", Email: "a@x", DisplayName: "Ada"}, "Ada"},
		{User{ID: "u", UserName: "ada", Email: "a@x"}, "ada"},
		{User{ID: "u", Email: "a@x"}, "a@x"},
		{User{ID: "u"}, "u"},
	} {
		s := &fakeSessions{user: c.user, expires: testNow.Add(time.Hour)}
		_, body := get(t, newTestPortal(t, s, &fakeApps{}, nil), "/portal")
		assert.Contains(t, body, `<strong id="user">`+c.want+`</strong>`)
	}
}

func TestPortalSearch(t *testing.T) {
	apps := []App{
		{ID: "1", Name: "Salesforce", LaunchURL: "/l/1"},
		{ID: "2", Name: "Wiki", LaunchURL: "/l/2"},
		{ID: "3", Name: "Sales Dashboard", LaunchURL: "/l/3"},
		{ID: "4", Name: "Payroll", LaunchURL: "/l/4"},
		{ID: "5", Name: "GitHub", LaunchURL: "/l/5"},
		{ID: "6", Name: "Jira", LaunchURL: "/l/6"},
		{ID: "7", Name: "Grafana", LaunchURL: "/l/7"},
		{ID: "8", Name: "Ünïcode Äpp", LaunchURL: "/l/8"},
		{ID: "9", Name: "PagerDuty", LaunchURL: "/l/9"},
	}
	all := []string{"Salesforce", "Wiki", "Sales Dashboard", "Payroll", "GitHub", "Jira", "Grafana", "Ünïcode Äpp", "PagerDuty"}
	for _, c := range []struct {
		name, target string
		want         []string
		noMatch      bool
		status       string
	}{
		{"no query", "/portal", all, false, "Showing 9 items."},
		{"empty query", "/portal?q=", all, false, "Showing 9 items."},
		{"lower case", "/portal?q=sales", []string{"Salesforce", "Sales Dashboard"}, false, "Showing 2 of 9 for “sales”."},
		{"upper case", "/portal?q=SALES", []string{"Salesforce", "Sales Dashboard"}, false, "Showing 2 of 9 for “SALES”."},
		{"mixed case inside", "/portal?q=hUb", []string{"GitHub"}, false, "Showing 1 of 9 for “hUb”."},
		{"non-ASCII case", "/portal?q=%C3%84PP", []string{"Ünïcode Äpp"}, false, "Showing 1 of 9 for “ÄPP”."},
		{"trimmed", "/portal?q=%20%20wiki%20", []string{"Wiki"}, false, "Showing 1 of 9 for “wiki”."},
		{"no match", "/portal?q=zzz", nil, true, "Showing 0 of 9 for “zzz”."},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, body := get(t, newTestPortal(t, signedIn(), &fakeApps{apps: apps}, nil), c.target)
			require.Equal(t, http.StatusOK, res.StatusCode)
			names, _ := appLinks(body)
			assert.Equal(t, c.want, names)
			assert.Contains(t, body, `<p class="status" id="search-status" role="status">`+c.status+`</p>`)
			if c.noMatch {
				assert.Contains(t, body, `<p class="empty" id="no-match">`)
			} else {
				assert.Contains(t, body, `<p class="empty" id="no-match" hidden>`)
			}
		})
	}

	t.Run("box shown above eight entries", func(t *testing.T) {
		for _, c := range []struct {
			apps, accounts int
			target         string
			box            bool
		}{
			{8, 0, "/portal", false},
			{9, 0, "/portal", true},
			{20, 0, "/portal", true},
			{5, 4, "/portal", true},
			{5, 3, "/portal", false},
			{2, 0, "/portal?q=app", true}, // a query keeps the box, so it can be changed
		} {
			var acc AccountLister
			if c.accounts > 0 {
				accounts := make([]Account, c.accounts)
				for i := range accounts {
					accounts[i] = Account{ID: fmt.Sprint(100000000000 + i), Name: fmt.Sprint("Account ", i)}
				}
				acc = &fakeAccounts{accounts: accounts}
			}
			_, body := get(t, newTestPortal(t, signedIn(), &fakeApps{apps: numberedApps(c.apps)}, acc), c.target)
			if c.box {
				assert.Contains(t, body, `<label for="q">`, "%+v", c)
				assert.Contains(t, body, `<input type="search" id="q" name="q"`, "%+v", c)
				assert.Contains(t, body, `<form class="search" role="search" method="get" action="/portal">`, "%+v", c)
				assert.Equal(t, 1, strings.Count(body, "<script"), "%+v", c)
			} else {
				assert.NotContains(t, body, `id="q"`, "%+v", c)
				assert.NotContains(t, body, "<script", "%+v", c)
			}
		}
	})

	t.Run("long query bounded", func(t *testing.T) {
		q := strings.Repeat("é", 300)
		_, body := get(t, newTestPortal(t, signedIn(), &fakeApps{apps: apps}, nil), "/portal?q="+url.QueryEscape(q))
		assert.Contains(t, body, `value="`+strings.Repeat("é", maxQueryRunes)+`"`)
		assert.NotContains(t, body, strings.Repeat("é", maxQueryRunes+1))
	})
}

func TestPortalEscapesUserData(t *testing.T) {
	evil := `<script>alert(1)</script>`
	s := &fakeSessions{
		user: User{
			ID: "u", UserName: `"><img src=x onerror=alert(2)>`, Email: "e@x",
			DisplayName: `<b onmouseover=alert(3)>Mallory</b>`, Groups: []string{`</dd><script>alert(4)</script>`},
		},
		expires: testNow.Add(time.Hour),
	}
	apps := append(numberedApps(9), App{ID: "evil", Name: evil, LaunchURL: `/launch/"onclick="alert(5)`})
	accounts := &fakeAccounts{accounts: []Account{{
		ID: `"><svg onload=alert(6)>`, Name: `<i>acct</i>`,
		Roles: []AccountRole{{Name: `<u>Admin</u>`, ConsoleURL: "/console?r=<x>"}},
	}}}
	res, body := get(t, newTestPortal(t, s, &fakeApps{apps: apps}, accounts), "/portal?q="+url.QueryEscape(`"><script>alert(7)</script>`))
	require.Equal(t, http.StatusOK, res.StatusCode)

	assert.Equal(t, 1, strings.Count(body, "<script"), "only the portal's own script")
	for _, raw := range []string{"<img", "<b ", "<svg", "<i>", "<u>", `"onclick=`, "alert(7)</script>", "<x>"} {
		assert.NotContains(t, body, raw)
	}
	assert.Contains(t, body, `<strong id="user">&lt;b onmouseover=alert(3)&gt;Mallory&lt;/b&gt;</strong>`)
	assert.Contains(t, body, `<dd id="user_name">&#34;&gt;&lt;img src=x onerror=alert(2)&gt;</dd>`)
	assert.Contains(t, body, `&lt;/dd&gt;&lt;script&gt;alert(4)&lt;/script&gt;`)
	assert.Contains(t, body, `value="&#34;&gt;&lt;script&gt;alert(7)&lt;/script&gt;"`)
	assert.Contains(t, body, `for “&#34;&gt;&lt;script&gt;alert(7)&lt;/script&gt;”.`)

	// Without a query, the escaped app name and its link are on the page.
	_, body = get(t, newTestPortal(t, s, &fakeApps{apps: apps}, accounts), "/portal")
	assert.Equal(t, 1, strings.Count(body, "<script"))
	assert.Contains(t, body, `<a class="app" href="/launch/%22onclick=%22alert%285%29">&lt;script&gt;alert(1)&lt;/script&gt;</a>`)
	assert.Contains(t, body, `data-filter="&lt;script&gt;alert(1)&lt;/script&gt;"`)
	assert.Contains(t, body, `<h3>&lt;i&gt;acct&lt;/i&gt; <span class="id">&#34;&gt;&lt;svg onload=alert(6)&gt;</span></h3>`)
	assert.Contains(t, body, `<span>&lt;u&gt;Admin&lt;/u&gt;</span>`)
	assert.Contains(t, body, `href="/console?r=%3cx%3e"`)
}

func TestPortalLaunchURLs(t *testing.T) {
	for _, c := range []struct {
		url  string
		link bool
	}{
		{"/saml/idp/launch/app", true},
		{"https://app.example.com/sso?a=b", true},
		{"http://127.0.0.1:8080/x", true},
		{"", false},
		{"javascript:alert(1)", false},
		{"JavaScript:alert(1)", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"vbscript:msgbox(1)", false},
		{"//evil.example.com/x", false},
		{"/\\evil.example.com", false},
		{"relative/path", false},
		{"https:///nohost", false},
		{"https:opaque", false},
		{"/launch\nx", false},
		{"ftp://files.example.com/", false},
	} {
		t.Run(c.url, func(t *testing.T) {
			apps := []App{{ID: "x", Name: "Target", LaunchURL: c.url}, {ID: "ok", Name: "Control", LaunchURL: "/ok"}}
			_, body := get(t, newTestPortal(t, signedIn(), &fakeApps{apps: apps}, nil), "/portal")
			names, _ := appLinks(body)
			if c.link {
				assert.Equal(t, []string{"Target", "Control"}, names)
			} else {
				assert.Equal(t, []string{"Control"}, names, "positive control keeps its link")
				assert.Contains(t, body, `<span class="app nolink">Target <small>(not available)</small></span>`)
				assert.NotContains(t, body, "ZgotmplZ", "rejected before html/template has to")
			}
		})
	}
}

func TestPortalAccounts(t *testing.T) {
	accounts := &fakeAccounts{accounts: []Account{
		{ID: "111111111111", Name: "Production", Roles: []AccountRole{
			{Name: "ReadOnly", ConsoleURL: "/accounts/111111111111/ReadOnly/console", CredentialsURL: "/accounts/111111111111/ReadOnly/credentials"},
			{Name: "Admin", ConsoleURL: "javascript:alert(1)"},
		}},
		{ID: "222222222222", Name: "Staging"},
	}}
	_, body := get(t, newTestPortal(t, signedIn(), &fakeApps{apps: numberedApps(1)}, accounts), "/portal")
	assert.Contains(t, body, `<h2 id="accounts-heading">Accounts</h2>`)
	assert.Contains(t, body, `<h3>Production <span class="id">111111111111</span></h3>`)
	assert.Contains(t, body, `<a href="/accounts/111111111111/ReadOnly/console">Console<span class="vh"> for ReadOnly in Production</span></a>`)
	assert.Contains(t, body, `<a href="/accounts/111111111111/ReadOnly/credentials">Command line access<span class="vh"> for ReadOnly in Production</span></a>`)
	assert.Contains(t, body, `<li><span>Admin</span></li>`, "an unsafe console URL gives no link")
	assert.Contains(t, body, `<h3>Staging <span class="id">222222222222</span></h3>`)
	assert.Contains(t, body, `<p>No roles.</p>`)

	// The search matches account IDs as well as names.
	_, body = get(t, newTestPortal(t, signedIn(), &fakeApps{apps: numberedApps(1)}, accounts), "/portal?q=2222")
	assert.Contains(t, body, `Staging`)
	assert.NotContains(t, body, `Production`)
	assert.NotContains(t, body, `App 01`)
	assert.Contains(t, body, "Showing 1 of 3 for “2222”.")
}

func TestPortalListerErrors(t *testing.T) {
	for _, c := range []struct {
		name     string
		apps     *fakeApps
		accounts AccountLister
		status   int
	}{
		{"both fine", &fakeApps{apps: numberedApps(1)}, &fakeAccounts{}, http.StatusOK},
		{"apps fail", &fakeApps{err: errors.New("db gone")}, &fakeAccounts{}, http.StatusServiceUnavailable},
		{"accounts fail", &fakeApps{apps: numberedApps(1)}, &fakeAccounts{err: errors.New("db gone")}, http.StatusServiceUnavailable},
		{"apps fail, no account lister", &fakeApps{err: errors.New("db gone")}, nil, http.StatusServiceUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, body := get(t, newTestPortal(t, signedIn(), c.apps, c.accounts), "/portal")
			assert.Equal(t, c.status, res.StatusCode)
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			if c.status == http.StatusOK {
				assert.Contains(t, body, "App 01")
				return
			}
			assert.Contains(t, body, "<h1>Temporarily unavailable</h1>")
			assert.NotContains(t, body, "db gone")
			assert.NotContains(t, body, "App 01")
			assert.NotContains(t, body, "Ada Lovelace", "nothing of the user on the error page")
		})
	}
}

func TestPortalHeadersAndNonce(t *testing.T) {
	p := newTestPortal(t, signedIn(), &fakeApps{apps: numberedApps(20)}, nil)
	seen := map[string]bool{}
	for range 3 {
		res, body := get(t, p, "/portal")
		require.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
		assert.Equal(t, "same-origin", res.Header.Get("Referrer-Policy"))
		m := cspRE.FindStringSubmatch(res.Header.Get("Content-Security-Policy"))
		require.NotNil(t, m, "CSP: %s", res.Header.Get("Content-Security-Policy"))
		nonce := m[1]
		assert.Equal(t, nonce, m[2], "one nonce for style and script")

		tags := nonceRE.FindAllStringSubmatch(body, -1)
		require.Len(t, tags, 2, "one style and one script, both nonce'd")
		assert.Equal(t, "style", tags[0][1])
		assert.Equal(t, "script", tags[1][1])
		for _, tag := range tags {
			assert.Equal(t, nonce, tag[2], "<%s> carries the response's nonce", tag[1])
		}
		assert.Equal(t, 2, strings.Count(body, "nonce="), "no other element carries a nonce")
		assert.Equal(t, 1, strings.Count(body, "<script"))
		assert.Equal(t, 1, strings.Count(body, "<style"))
		assert.NotRegexp(t, `(?i)(src|href)="(https?:)?//`, body, "no external resources")
		assert.NotContains(t, body, ` style="`, "no inline style attributes (the CSP would block them)")
		assert.False(t, seen[nonce], "nonce %s reused", nonce)
		seen[nonce] = true
	}
}

func TestPortalMethods(t *testing.T) {
	p := newTestPortal(t, signedIn(), &fakeApps{apps: numberedApps(1)}, nil)
	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/portal", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, rec.Body.String(), "HEAD has no body")
	assert.NotEmpty(t, rec.Header().Get("Content-Security-Policy"))

	rec = httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/portal", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
}

func TestSignOut(t *testing.T) {
	for _, c := range []struct {
		name       string
		method     string
		header     map[string]string
		endErr     error
		status     int
		wantCalled bool
	}{
		{"signed out", http.MethodPost, nil, nil, http.StatusOK, true},
		{"same-origin fetch metadata", http.MethodPost, map[string]string{"Sec-Fetch-Site": "same-origin"}, nil, http.StatusOK, true},
		{"end fails", http.MethodPost, nil, errors.New("store down"), http.StatusServiceUnavailable, true},
		{"cross-site", http.MethodPost, map[string]string{"Sec-Fetch-Site": "cross-site"}, nil, http.StatusForbidden, false},
		{"foreign origin", http.MethodPost, map[string]string{"Origin": "https://evil.example"}, nil, http.StatusForbidden, false},
		{"GET", http.MethodGet, nil, nil, http.StatusMethodNotAllowed, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newTestPortal(t, signedIn(), &fakeApps{}, nil)
			called := false
			h := p.SignOutHandler(func(w http.ResponseWriter, _ *http.Request) error {
				called = true
				w.Header().Add("Set-Cookie", "gatehouse_session=; Max-Age=0")
				w.Header().Set("Clear-Site-Data", `"cache"`)
				return c.endErr
			})
			req := httptest.NewRequest(c.method, "http://gw.example.com/logout", nil)
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			body := rec.Body.String()

			assert.Equal(t, c.status, res.StatusCode)
			assert.Equal(t, c.wantCalled, called, "end called")
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			assert.Regexp(t, cspRE, res.Header.Get("Content-Security-Policy"))
			assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
			switch c.status {
			case http.StatusOK:
				assert.Contains(t, body, `<h1 id="signed-out">You are signed out</h1>`)
				assert.Contains(t, body, `<a href="/portal">Sign in again</a>`)
				assert.Equal(t, []string{"gatehouse_session=; Max-Age=0"}, res.Header.Values("Set-Cookie"), "end's cookie clearing is kept")
				m := cspRE.FindStringSubmatch(res.Header.Get("Content-Security-Policy"))
				require.NotNil(t, m)
				assert.Contains(t, body, `<style nonce="`+m[1]+`">`)
			case http.StatusServiceUnavailable:
				assert.Contains(t, body, "You are still signed in")
				assert.NotContains(t, body, "signed-out")
				assert.NotContains(t, body, "store down")
				assert.Empty(t, res.Header.Values("Set-Cookie"), "a failed sign-out keeps the cookie")
				assert.Empty(t, res.Header.Get("Clear-Site-Data"))
			case http.StatusMethodNotAllowed:
				assert.Equal(t, http.MethodPost, res.Header.Get("Allow"))
				assert.NotContains(t, body, "signed-out")
			default:
				assert.NotContains(t, body, "signed-out")
				assert.Empty(t, res.Header.Values("Set-Cookie"))
			}
		})
	}
}

// allowedTag matches the start of every tag the portal's templates write.
var allowedTag = regexp.MustCompile(`^<(!doctype html|/?(html|head|meta|title|style|body|a|header|p|div|span|strong|form|button|main|h1|h2|h3|label|input|section|ul|li|small|dl|dt|dd|time|script))[\s>]`)

// FuzzPortalRender renders the portal with arbitrary user-controlled text
// (names, e-mail, groups, application and account names, the query) and
// checks that none of it becomes markup: every tag on the page is one the
// templates write, there is exactly one script and one style, and only they
// carry a nonce.
func FuzzPortalRender(f *testing.F) {
	for _, s := range []string{
		"", "plain", `<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`,
		`'; alert(1); '`, "</style><script>x</script>", "<!--", "]]>", "\x00\xff", "javascript:alert(1)",
		strings.Repeat("<a>", 50), "é\u2028\u2029",
	} {
		f.Add(s, "sales")
		f.Add("Salesforce", s)
	}
	f.Fuzz(func(t *testing.T, name, query string) {
		s := &fakeSessions{
			user:    User{ID: name, UserName: name, Email: name, DisplayName: name, Groups: []string{name, name}},
			expires: testNow.Add(time.Hour),
		}
		apps := numberedApps(10)
		for i := range apps {
			apps[i].Name += name
			if i%2 == 0 {
				apps[i].LaunchURL = name
			}
		}
		acc := &fakeAccounts{accounts: []Account{{ID: name, Name: name, Roles: []AccountRole{{Name: name, ConsoleURL: name, CredentialsURL: "/c?" + name}}}}}
		p := newTestPortal(t, s, &fakeApps{apps: apps}, acc)
		res, body := get(t, p, "/portal?q="+url.QueryEscape(query))
		require.Equal(t, http.StatusOK, res.StatusCode)
		for i := 0; i < len(body); i++ {
			if body[i] == '<' {
				require.Regexp(t, allowedTag, body[i:min(len(body), i+20)], "unexpected markup at %d: %q", i, body[i:min(len(body), i+60)])
			}
		}
		require.Equal(t, 1, strings.Count(body, "<script"))
		require.Equal(t, 1, strings.Count(body, "</script>"))
		require.Equal(t, 1, strings.Count(body, "<style"))
		require.Equal(t, 1, strings.Count(body, "</style>"))
		require.Equal(t, 2, strings.Count(body, "nonce="))
	})
}
