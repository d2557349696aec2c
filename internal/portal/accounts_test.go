package portal

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/vend"
)

const testAssertion = `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1">signed &amp; sealed</samlp:Response>`

func testCredentials(expires time.Time) vend.Credentials {
	return vend.Credentials{
		AccessKeyID:     "ASIAEXAMPLEKEY000001",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		SessionToken:    "FwoGZXIvYXdzEXAMPLE+token/with+slashes==",
		Expiration:      expires,
		AccountID:       "111122223333",
		RoleARN:         "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/Admin",
	}
}

func roleWithLinks(accountID, role string) AccountRole {
	c, cr := RoleLinks(accountID, role)
	return AccountRole{Name: role, ConsoleURL: c, CredentialsURL: cr}
}

type consoleCall struct{ UserID, AccountID, Role string }

type fakeSigner struct {
	mu         sync.Mutex
	resp       []byte
	relayState string
	err        error
	got        []consoleCall
}

func (f *fakeSigner) ConsoleAssertion(_ context.Context, userID, accountID, role string) ([]byte, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, consoleCall{userID, accountID, role})
	if f.err != nil {
		return nil, "", f.err
	}
	return f.resp, f.relayState, nil
}

func (f *fakeSigner) calls() []consoleCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got
}

type vendCall = consoleCall

type fakeVendor struct {
	mu    sync.Mutex
	creds vend.Credentials
	err   error
	got   []vendCall
}

func (f *fakeVendor) Vend(_ context.Context, userID, accountID, role string) (vend.Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, vendCall{userID, accountID, role})
	if f.err != nil {
		return vend.Credentials{}, f.err
	}
	return f.creds, nil
}

func (f *fakeVendor) calls() []vendCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got
}

const (
	testConsoleTarget     = AWSConsolePath + "?account=111122223333&role=Admin"
	testCredentialsTarget = AWSCredentialsPath + "?account=111122223333&role=Admin"
)

type accountsFixture struct {
	sessions *fakeSessions
	signer   *fakeSigner
	vendor   *fakeVendor
	handler  http.Handler
}

func newAccountsFixture(t *testing.T) *accountsFixture {
	t.Helper()
	f := &accountsFixture{
		sessions: signedIn(),
		signer:   &fakeSigner{resp: []byte(testAssertion), relayState: "https://console.aws.amazon.com/ec2/home"},
		vendor:   &fakeVendor{creds: testCredentials(testNow.Add(59*time.Minute + 40*time.Second))},
	}
	p := newTestPortal(t, f.sessions, &fakeApps{}, nil)
	h, err := p.AccountsHandler(AccountsConfig{Console: f.signer, Credentials: f.vendor})
	require.NoError(t, err)
	f.handler = h
	return f
}

func (f *accountsFixture) do(t *testing.T, r *http.Request) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, r)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(body)
}

func (f *accountsFixture) get(t *testing.T, target string) (*http.Response, string) {
	t.Helper()
	return f.do(t, httptest.NewRequest(http.MethodGet, target, nil))
}

func TestAccountsHandlerValidates(t *testing.T) {
	p := newTestPortal(t, signedIn(), &fakeApps{}, nil)
	valid := AccountsConfig{Console: &fakeSigner{}, Credentials: &fakeVendor{}}
	_, err := p.AccountsHandler(valid)
	require.NoError(t, err, "the valid config")
	for _, c := range []struct {
		name   string
		change func(*AccountsConfig)
		want   string
	}{
		{"no console", func(c *AccountsConfig) { c.Console = nil }, "Console"},
		{"no credentials", func(c *AccountsConfig) { c.Credentials = nil }, "Credentials"},
		{"relative sign-in URL", func(c *AccountsConfig) { c.SignInURL = "/saml" }, "SignInURL"},
		{"ftp sign-in URL", func(c *AccountsConfig) { c.SignInURL = "ftp://signin.example/saml" }, "SignInURL"},
		{"sign-in URL with user info", func(c *AccountsConfig) { c.SignInURL = "https://u:p@signin.example/saml" }, "SignInURL"},
		{"sign-in URL with a fragment", func(c *AccountsConfig) { c.SignInURL = "https://signin.example/saml#x" }, "SignInURL"},
		{"sign-in URL with a quote in the host", func(c *AccountsConfig) { c.SignInURL = "https://signin.example';x/saml" }, "SignInURL"},
		{"wildcard sign-in URL", func(c *AccountsConfig) { c.SignInURL = "https://*.example/saml" }, "SignInURL"},
		{"redirect origin with a path", func(c *AccountsConfig) { c.RedirectOrigins = []string{"https://console.example/home"} }, "RedirectOrigins"},
		{"redirect origin with a directive", func(c *AccountsConfig) { c.RedirectOrigins = []string{"https://x.example; script-src *"} }, "RedirectOrigins"},
		{"redirect origin without a scheme", func(c *AccountsConfig) { c.RedirectOrigins = []string{"console.example"} }, "RedirectOrigins"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := valid
			c.change(&cfg)
			h, err := p.AccountsHandler(cfg)
			require.ErrorContains(t, err, c.want)
			assert.Nil(t, h)
		})
	}
}

func TestRoleLinks(t *testing.T) {
	c, cr := RoleLinks("111122223333", "Admin")
	assert.Equal(t, testConsoleTarget, c)
	assert.Equal(t, testCredentialsTarget, cr)
	c, cr = RoleLinks("111122223333", "a+b=c,d.e@f_g-h")
	assert.Equal(t, AWSConsolePath+"?account=111122223333&role=a%2Bb%3Dc%2Cd.e%40f_g-h", c, "query-escaped")
	assert.Equal(t, AWSCredentialsPath+"?account=111122223333&role=a%2Bb%3Dc%2Cd.e%40f_g-h", cr)
	for _, in := range [][2]string{
		{"11112222333", "Admin"},
		{"1111222233334", "Admin"},
		{"11112222333x", "Admin"},
		{"111122223333", ""},
		{"111122223333", "Ad min"},
		{"111122223333", "Admin&x=1"},
		{"111122223333", strings.Repeat("a", 33)},
		{"111122223333", "Ädmin"},
	} {
		c, cr := RoleLinks(in[0], in[1])
		assert.Empty(t, c, "%q", in)
		assert.Empty(t, cr, "%q", in)
	}
	c, _ = RoleLinks("111122223333", strings.Repeat("a", 32))
	assert.NotEmpty(t, c, "32 characters is the longest name")
}

// TestPortalListsRoleLinks: the portal page links a role to the account
// pages built by RoleLinks.
func TestPortalListsRoleLinks(t *testing.T) {
	acc := &fakeAccounts{accounts: []Account{{ID: "111122223333", Name: "Production", Roles: []AccountRole{roleWithLinks("111122223333", "Admin")}}}}
	p := newTestPortal(t, signedIn(), &fakeApps{}, acc)
	res, body := get(t, p, PortalPath)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, `<a href="/portal/aws/console?account=111122223333&amp;role=Admin">Console<span class="vh"> for Admin in Production</span></a>`)
	assert.Contains(t, body, `<a href="/portal/aws/credentials?account=111122223333&amp;role=Admin">Command line access<span class="vh"> for Admin in Production</span></a>`)
}

var (
	consoleCSPRE = regexp.MustCompile(`^default-src 'none'; style-src 'nonce-([A-Z2-7]{26})'; script-src 'nonce-([A-Z2-7]{26})'; form-action https://signin\.aws\.amazon\.com https://console\.aws\.amazon\.com https://\*\.console\.aws\.amazon\.com; frame-ancestors 'none'; base-uri 'none'$`)
	samlInputRE  = regexp.MustCompile(`<input type="hidden" name="SAMLResponse" value="([^"]*)">`)
	relayInputRE = regexp.MustCompile(`<input type="hidden" name="RelayState" value="([^"]*)">`)
	formRE       = regexp.MustCompile(`<form id="aws-signin" method="post" action="([^"]*)">`)
)

// assertSecretPageHeaders checks the headers every account page sends.
func assertSecretPageHeaders(t *testing.T, res *http.Response) {
	t.Helper()
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	assert.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))
	assert.Equal(t, "DENY", res.Header.Get("X-Frame-Options"))
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	assert.Contains(t, res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
}

func TestConsolePage(t *testing.T) {
	f := newAccountsFixture(t)
	res, body := f.get(t, testConsoleTarget)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	assertSecretPageHeaders(t, res)
	assert.Equal(t, "same-origin", res.Header.Get("Cross-Origin-Opener-Policy"))
	m := consoleCSPRE.FindStringSubmatch(res.Header.Get("Content-Security-Policy"))
	require.NotNil(t, m, "CSP: %s", res.Header.Get("Content-Security-Policy"))
	assert.Equal(t, m[1], m[2])
	assert.Contains(t, body, `<script nonce="`+m[1]+`">document.getElementById("aws-signin").submit();</script>`)
	assert.Contains(t, body, `<meta name="referrer" content="no-referrer">`)
	assert.Contains(t, body, `<button type="submit" class="primary" id="continue">Continue</button>`, "a button for browsers without JavaScript")
	assert.NotContains(t, body, `action="`+SignOutPath+`"`, "no form the CSP would block")
	assert.Equal(t, 1, strings.Count(body, "<form"), "one form")

	fm := formRE.FindStringSubmatch(body)
	require.NotNil(t, fm)
	assert.Equal(t, vend.AWSSignInURL, html.UnescapeString(fm[1]))
	sm := samlInputRE.FindStringSubmatch(body)
	require.NotNil(t, sm)
	decoded, err := base64.StdEncoding.DecodeString(html.UnescapeString(sm[1]))
	require.NoError(t, err)
	assert.Equal(t, testAssertion, string(decoded), "the SAML response round-trips")
	rm := relayInputRE.FindStringSubmatch(body)
	require.NotNil(t, rm)
	assert.Equal(t, "https://console.aws.amazon.com/ec2/home", html.UnescapeString(rm[1]))
	assert.Equal(t, []consoleCall{{testUser.ID, "111122223333", "Admin"}}, f.signer.calls())
	assert.Empty(t, f.vendor.calls())

	// Without a relay state there is no RelayState field.
	f.signer.relayState = ""
	_, body = f.get(t, testConsoleTarget)
	assert.NotRegexp(t, relayInputRE, body)
	assert.Regexp(t, samlInputRE, body)

	// A relay state is text in an attribute, never markup.
	f.signer.relayState = `https://x.example/"><script>alert(1)</script>`
	_, body = f.get(t, testConsoleTarget)
	rm = relayInputRE.FindStringSubmatch(body)
	require.NotNil(t, rm)
	assert.Equal(t, f.signer.relayState, html.UnescapeString(rm[1]))
	assert.NotContains(t, body, "<script>alert(1)")
}

func TestConsolePageSignInURL(t *testing.T) {
	f := newAccountsFixture(t)
	p := newTestPortal(t, f.sessions, &fakeApps{}, nil)
	f.signer.relayState = ""
	h, err := p.AccountsHandler(AccountsConfig{Console: f.signer, Credentials: f.vendor, SignInURL: "http://127.0.0.1:8443/saml?x=1", RedirectOrigins: []string{}})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, testConsoleTarget, nil))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "; form-action http://127.0.0.1:8443; ", "the configured origin replaces 'self', and no redirect origin")
	assert.NotContains(t, rec.Header().Get("Content-Security-Policy"), "'self'")
	fm := formRE.FindStringSubmatch(rec.Body.String())
	require.NotNil(t, fm)
	assert.Equal(t, "http://127.0.0.1:8443/saml?x=1", html.UnescapeString(fm[1]))
}

var preRE = regexp.MustCompile(`(?s)<pre class="code" id="([^"]+)">(.*?)</pre>`)

func preBlocks(body string) map[string]string {
	out := map[string]string{}
	for _, m := range preRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

func TestCredentialsPage(t *testing.T) {
	f := newAccountsFixture(t)
	f.sessions.user.DisplayName = `Ada <b>"Lovelace"</b>`
	res, body := f.get(t, testCredentialsTarget)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	assertSecretPageHeaders(t, res)
	assert.Equal(t, "same-origin", res.Header.Get("Cross-Origin-Resource-Policy"))
	m := cspRE.FindStringSubmatch(res.Header.Get("Content-Security-Policy"))
	require.NotNil(t, m, "the portal's CSP, form-action 'self' for the sign-out form: %s", res.Header.Get("Content-Security-Policy"))
	assert.Contains(t, body, `<script nonce="`+m[1]+`">`)
	assert.NotContains(t, body, " onclick=", "no inline handlers")
	assert.Contains(t, body, `Ada &lt;b&gt;&#34;Lovelace&#34;&lt;/b&gt;`, "the user's name is text")
	assert.Equal(t, []vendCall{{testUser.ID, "111122223333", "Admin"}}, f.vendor.calls())
	assert.Empty(t, f.signer.calls())

	c := f.vendor.creds
	assert.Equal(t, map[string]string{
		"env-sh": "export AWS_ACCESS_KEY_ID=\"" + c.AccessKeyID + "\"\nexport AWS_SECRET_ACCESS_KEY=\"" + c.SecretAccessKey +
			"\"\nexport AWS_SESSION_TOKEN=\"" + c.SessionToken + "\"\n",
		"env-ps": "$Env:AWS_ACCESS_KEY_ID=\"" + c.AccessKeyID + "\"\n$Env:AWS_SECRET_ACCESS_KEY=\"" + c.SecretAccessKey +
			"\"\n$Env:AWS_SESSION_TOKEN=\"" + c.SessionToken + "\"\n",
		"creds-file": "[111122223333_Admin]\naws_access_key_id = " + c.AccessKeyID + "\naws_secret_access_key = " + c.SecretAccessKey +
			"\naws_session_token = " + c.SessionToken + "\n",
		"process": "[profile 111122223333_Admin]\ncredential_process = gatehouse credentials --account 111122223333 --role Admin",
	}, preBlocks(body))
	assert.Contains(t, body, `<time id="expires" datetime="2026-03-14T10:29:40Z">2026-03-14T10:29:40Z</time> (in <span id="expires-in">59 minutes</span>)`)
	assert.Contains(t, body, `<code id="command">gatehouse credentials --account 111122223333 --role Admin</code>`)
	assert.Equal(t, 4, strings.Count(body, `<button type="button" class="copy" data-copy=`), "a copy button per block")
	for id := range preBlocks(body) {
		assert.Contains(t, body, `data-copy="`+id+`" hidden>`, "the script shows the button")
	}
}

// TestAccountPagesStatus starts from a request that succeeds and changes
// one thing.
func TestAccountPagesStatus(t *testing.T) {
	for _, target := range []string{testConsoleTarget, testCredentialsTarget} {
		path := strings.Split(target, "?")[0]
		for _, c := range []struct {
			name   string
			change func(*accountsFixture, *http.Request)
			status int
			// issued: whether the signer or the vendor was called.
			issued bool
			body   string
		}{
			{"valid", func(*accountsFixture, *http.Request) {}, http.StatusOK, true, ""},
			{"same-origin", func(_ *accountsFixture, r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-origin") }, http.StatusOK, true, ""},
			{"typed in", func(_ *accountsFixture, r *http.Request) { r.Header.Set("Sec-Fetch-Site", "none") }, http.StatusOK, true, ""},
			{"cross-site", func(_ *accountsFixture, r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, http.StatusOK, false,
				`<a href="` + html.EscapeString(target) + `">Continue</a>`},
			{"same-site", func(_ *accountsFixture, r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-site") }, http.StatusOK, false, ">Continue</a>"},
			{"not entitled", func(f *accountsFixture, _ *http.Request) {
				f.signer.err = fmt.Errorf("adapter: %w", vend.ErrNotEntitled)
				f.vendor.err = fmt.Errorf("adapter: %w", vend.ErrNotEntitled)
			}, http.StatusForbidden, true, "You do not have access to this role"},
			{"unavailable", func(f *accountsFixture, _ *http.Request) {
				f.signer.err = fmt.Errorf("%w: db down", vend.ErrUnavailable)
				f.vendor.err = fmt.Errorf("%w: db down", vend.ErrUnavailable)
			}, http.StatusServiceUnavailable, true, "temporarily unavailable"},
			{"session lookup fails", func(f *accountsFixture, _ *http.Request) { f.sessions.err = errors.New("db down") }, http.StatusServiceUnavailable, false, ""},
			{"no account", func(_ *accountsFixture, r *http.Request) { setQuery(r, "role", "Admin") }, http.StatusBadRequest, false, ""},
			{"no role", func(_ *accountsFixture, r *http.Request) { setQuery(r, "account", "111122223333") }, http.StatusBadRequest, false, ""},
			{"short account", func(_ *accountsFixture, r *http.Request) { setQuery(r, "account", "11112222333", "role", "Admin") }, http.StatusBadRequest, false, ""},
			{"account with a letter", func(_ *accountsFixture, r *http.Request) { setQuery(r, "account", "11112222333a", "role", "Admin") }, http.StatusBadRequest, false, ""},
			{"role with a space", func(_ *accountsFixture, r *http.Request) { setQuery(r, "account", "111122223333", "role", "Ad min") }, http.StatusBadRequest, false, ""},
			{"role too long", func(_ *accountsFixture, r *http.Request) {
				setQuery(r, "account", "111122223333", "role", strings.Repeat("a", 33))
			}, http.StatusBadRequest, false, ""},
			{"role with markup", func(_ *accountsFixture, r *http.Request) { setQuery(r, "account", "111122223333", "role", "<b>") }, http.StatusBadRequest, false, ""},
			{"account twice", func(_ *accountsFixture, r *http.Request) {
				setQuery(r, "account", "111122223333", "account", "444455556666", "role", "Admin")
			}, http.StatusBadRequest, false, ""},
			{"POST", func(_ *accountsFixture, r *http.Request) { r.Method = http.MethodPost }, http.StatusMethodNotAllowed, false, ""},
			{"HEAD", func(_ *accountsFixture, r *http.Request) { r.Method = http.MethodHead }, http.StatusMethodNotAllowed, false, ""},
			{"unknown path", func(_ *accountsFixture, r *http.Request) { r.URL.Path = path + "/x" }, http.StatusNotFound, false, ""},
		} {
			t.Run(path+"/"+c.name, func(t *testing.T) {
				f := newAccountsFixture(t)
				r := httptest.NewRequest(http.MethodGet, target, nil)
				c.change(f, r)
				res, body := f.do(t, r)
				assert.Equal(t, c.status, res.StatusCode, body)
				assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
				assert.Equal(t, "DENY", res.Header.Get("X-Frame-Options"))
				assert.Equal(t, c.issued, len(f.signer.calls())+len(f.vendor.calls()) == 1, "issued")
				if c.body != "" {
					assert.Contains(t, body, c.body)
				}
				switch c.status {
				case http.StatusMethodNotAllowed:
					assert.Equal(t, http.MethodGet, res.Header.Get("Allow"))
				case http.StatusForbidden:
					assert.NotContains(t, body, "adapter", "no detail")
					assert.NotContains(t, body, "not entitled", "no detail")
				case http.StatusServiceUnavailable:
					assert.NotContains(t, body, "db down", "no detail")
				}
			})
		}
	}
}

func setQuery(r *http.Request, kv ...string) {
	q := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	r.URL.RawQuery = q.Encode()
}

func TestAccountPagesLogin(t *testing.T) {
	for _, c := range []struct {
		name, target, returnTo string
	}{
		{"console", testConsoleTarget, testConsoleTarget},
		{"credentials", testCredentialsTarget, testCredentialsTarget},
		{"extra parameters are dropped", testCredentialsTarget + "&x=%3Cb%3E", testCredentialsTarget},
		{"invalid parameters return to the portal", AWSCredentialsPath + "?account=1&role=Admin", PortalPath},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newAccountsFixture(t)
			f.sessions.err = fmt.Errorf("cookie: %w", ErrNoSession)
			res, _ := f.get(t, c.target)
			assert.Equal(t, http.StatusFound, res.StatusCode)
			assert.Equal(t, "/saml/sp/login?return_to="+url.QueryEscape(c.returnTo), res.Header.Get("Location"))
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			assert.Empty(t, f.signer.calls())
			assert.Empty(t, f.vendor.calls())
		})
	}
	// An expired session counts as none.
	f := newAccountsFixture(t)
	f.sessions.expires = testNow
	res, _ := f.get(t, testCredentialsTarget)
	assert.Equal(t, http.StatusFound, res.StatusCode)
	assert.Empty(t, f.vendor.calls())
}

// TestCredentialsRefused: credentials that could break out of a shell line
// or have expired are not shown.
func TestCredentialsRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*vend.Credentials)
	}{
		{"quote in the secret", func(c *vend.Credentials) { c.SecretAccessKey += `";rm -rf ~;"` }},
		{"markup in the token", func(c *vend.Credentials) { c.SessionToken += "<script>" }},
		{"dollar in the key", func(c *vend.Credentials) { c.AccessKeyID += "$(id)" }},
		{"no session token", func(c *vend.Credentials) { c.SessionToken = "" }},
		{"expired", func(c *vend.Credentials) { c.Expiration = testNow }},
		{"no expiry", func(c *vend.Credentials) { c.Expiration = time.Time{} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newAccountsFixture(t)
			res, _ := f.get(t, testCredentialsTarget)
			require.Equal(t, http.StatusOK, res.StatusCode, "the unchanged credentials are shown")
			c.change(&f.vendor.creds)
			res, body := f.get(t, testCredentialsTarget)
			assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
			assert.NotContains(t, body, f.vendor.creds.AccessKeyID[:12])
		})
	}
}

func TestConsoleEmptyAssertion(t *testing.T) {
	f := newAccountsFixture(t)
	f.signer.resp = nil
	res, body := f.get(t, testConsoleTarget)
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.NotContains(t, body, "SAMLResponse")
}

// TestConsoleRelayStateOrigin: the relay state's origin joins form-action
// (the sign-in redirects there); a relay state that is not an https URL
// is dropped.
func TestConsoleRelayStateOrigin(t *testing.T) {
	for _, c := range []struct {
		relay, formAction string
		kept              bool
	}{
		{"https://console.aws.amazon.com/ec2/home", "https://signin.aws.amazon.com https://console.aws.amazon.com https://*.console.aws.amazon.com", true},
		{"https://eu-west-1.console.aws.amazon.com/s3", "https://signin.aws.amazon.com https://console.aws.amazon.com https://*.console.aws.amazon.com https://eu-west-1.console.aws.amazon.com", true},
		{"https://Apps.Example.com:8443/x?y=1", "https://signin.aws.amazon.com https://console.aws.amazon.com https://*.console.aws.amazon.com https://apps.example.com:8443", true},
		{"http://apps.example.com/x", "https://signin.aws.amazon.com https://console.aws.amazon.com https://*.console.aws.amazon.com", false},
		{"javascript:alert(1)", "https://signin.aws.amazon.com https://console.aws.amazon.com https://*.console.aws.amazon.com", false},
		{"https://a.example';script-src*/x", "https://signin.aws.amazon.com https://console.aws.amazon.com https://*.console.aws.amazon.com", false},
		{"/relative", "https://signin.aws.amazon.com https://console.aws.amazon.com https://*.console.aws.amazon.com", false},
	} {
		t.Run(c.relay, func(t *testing.T) {
			f := newAccountsFixture(t)
			f.signer.relayState = c.relay
			res, body := f.get(t, testConsoleTarget)
			require.Equal(t, http.StatusOK, res.StatusCode)
			assert.Contains(t, res.Header.Get("Content-Security-Policy"), "; form-action "+c.formAction+"; frame-ancestors")
			rm := relayInputRE.FindStringSubmatch(body)
			if !c.kept {
				assert.Nil(t, rm, "dropped")
				return
			}
			require.NotNil(t, rm)
			assert.Equal(t, c.relay, html.UnescapeString(rm[1]))
		})
	}
}

// FuzzRoleParams: whatever the query, roleParams accepts only well-formed
// values, and the links RoleLinks builds from them read back the same.
func FuzzRoleParams(f *testing.F) {
	for _, s := range []string{"account=111122223333&role=Admin", "account=1&role=x", "role=a%2Bb&account=111122223333", "account=111122223333&account=111122223333&role=A", "%zz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		account, role, valid := roleParams(q)
		if !valid {
			assert.Empty(t, account+role)
			return
		}
		require.Regexp(t, `^[0-9]{12}$`, account)
		require.Regexp(t, `^[A-Za-z0-9_+=,.@-]{1,32}$`, role)
		c, cr := RoleLinks(account, role)
		for _, link := range []string{c, cr} {
			u, err := url.Parse(link)
			require.NoError(t, err)
			a2, r2, ok := roleParams(u.Query())
			require.True(t, ok, link)
			assert.Equal(t, [2]string{account, role}, [2]string{a2, r2})
		}
	})
}
