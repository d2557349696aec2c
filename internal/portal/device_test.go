package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/oauth"
)

const (
	testExternalURL = "https://gw.example.com"
	testOrigin      = "https://gw.example.com"
	testAddr        = "192.0.2.10:40000"
	// testCode is a pending authorization's user code, normalized.
	testCode = "BCDFGHJK"
	// unknownCode is well-formed but matches no authorization.
	unknownCode = "ZZZZXXXX"
)

var testCSRFKey = bytes.Repeat([]byte{0x5a}, MinCSRFKeySize)

// decision is one call of fakeApprover.Decide.
type decision struct {
	Code    string
	UserID  string
	Approve bool
}

// fakeApprover knows the pending authorizations in prompts, by normalized
// user code, and records every call. Safe for concurrent use (the browser
// test calls it from the server's goroutines).
type fakeApprover struct {
	mu        sync.Mutex
	prompts   map[string]oauth.DevicePrompt
	lookupErr error
	decideErr error
	lookups   []string
	decisions []decision
}

func newFakeApprover() *fakeApprover {
	return &fakeApprover{prompts: map[string]oauth.DevicePrompt{
		testCode: {
			UserCode:  "BCDF-GHJK",
			ClientID:  "cli-tool",
			Audience:  "https://data.example.com",
			Scopes:    []string{"reports:read", "notes:write"},
			ExpiresAt: testNow.Add(8 * time.Minute),
		},
	}}
}

func (f *fakeApprover) Lookup(_ context.Context, userCode string) (oauth.DevicePrompt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, userCode)
	if f.lookupErr != nil {
		return oauth.DevicePrompt{}, f.lookupErr
	}
	code, err := oauth.NormalizeUserCode(userCode)
	if err != nil {
		return oauth.DevicePrompt{}, err
	}
	p, ok := f.prompts[code]
	if !ok {
		return oauth.DevicePrompt{}, fmt.Errorf("fake: no pending authorization: %w", oauth.ErrNotFound)
	}
	return p, nil
}

func (f *fakeApprover) Decide(_ context.Context, userCode, userID string, approve bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decisions = append(f.decisions, decision{userCode, userID, approve})
	if f.decideErr != nil {
		return f.decideErr
	}
	if _, ok := f.prompts[userCode]; !ok {
		return fmt.Errorf("fake: no pending authorization: %w", oauth.ErrNotFound)
	}
	delete(f.prompts, userCode)
	return nil
}

func (f *fakeApprover) calls() (lookups []string, decisions []decision) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.lookups), slices.Clone(f.decisions)
}

// deviceFixture is a device page with a settable clock, a settable session
// and captured logs.
type deviceFixture struct {
	now      time.Time
	sessions *fakeSessions
	approver *fakeApprover
	logs     *bytes.Buffer
	h        *deviceHandler
}

func newDeviceFixture(t *testing.T) *deviceFixture {
	t.Helper()
	f := &deviceFixture{now: testNow, sessions: signedIn(), approver: newFakeApprover(), logs: &bytes.Buffer{}}
	p, err := New(Config{
		Sessions: f.sessions,
		Apps:     &fakeApps{},
		Now:      func() time.Time { return f.now },
		Logger:   slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	h, err := p.DeviceHandler(DeviceConfig{Approver: f.approver, ExternalURL: testExternalURL, CSRFKey: testCSRFKey})
	require.NoError(t, err)
	f.h = h.(*deviceHandler)
	return f
}

// serve serves req and returns the response and its body.
func (f *deviceFixture) serve(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(body)
}

// get serves GET target from testAddr, after mods.
func (f *deviceFixture) get(t *testing.T, target string, mods ...func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "https://gw.example.com"+target, nil)
	req.RemoteAddr = testAddr
	for _, m := range mods {
		m(req)
	}
	return f.serve(t, req)
}

// post serves a same-origin browser form post of form from testAddr,
// after mods.
func (f *deviceFixture) post(t *testing.T, form url.Values, mods ...func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "https://gw.example.com"+DevicePath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", testOrigin)
	req.RemoteAddr = testAddr
	for _, m := range mods {
		m(req)
	}
	return f.serve(t, req)
}

// validForm is the consent screen's form for testUser and testCode, with
// the Approve button pressed.
func (f *deviceFixture) validForm() url.Values {
	return url.Values{
		fieldUserCode: {"BCDF-GHJK"},
		fieldCSRF:     {f.h.csrfToken(testUser.ID, testCode)},
		fieldDecision: {"approve"},
	}
}

func header(name, value string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

func fromAddr(addr string) func(*http.Request) {
	return func(r *http.Request) { r.RemoteAddr = addr }
}

// assertDeviceHeaders checks the headers every device page carries. The
// referrer policy is no-referrer, except on the consent screen, whose
// decision form needs the browser to send its Origin.
func assertDeviceHeaders(t *testing.T, res *http.Response, body string) {
	t.Helper()
	referrer := "no-referrer"
	if strings.Contains(body, `id="consent-heading"`) {
		referrer = "same-origin"
	}
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	assert.Equal(t, referrer, res.Header.Get("Referrer-Policy"))
	assert.Equal(t, "DENY", res.Header.Get("X-Frame-Options"))
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	m := cspRE.FindStringSubmatch(res.Header.Get("Content-Security-Policy"))
	require.NotNil(t, m, "CSP: %s", res.Header.Get("Content-Security-Policy"))
	assert.Contains(t, body, `<style nonce="`+m[1]+`">`)
	assert.Contains(t, body, `<meta name="referrer" content="`+referrer+`">`)
	assert.NotContains(t, body, "<script", "the device pages need no script")
	assert.NotContains(t, body, ` style="`, "no inline style attributes")
}

func TestDeviceHandlerValidates(t *testing.T) {
	valid := func() DeviceConfig {
		return DeviceConfig{Approver: newFakeApprover(), ExternalURL: testExternalURL, CSRFKey: testCSRFKey}
	}
	for _, c := range []struct {
		name   string
		mutate func(*DeviceConfig)
		want   string
	}{
		{"no approver", func(c *DeviceConfig) { c.Approver = nil }, "DeviceConfig.Approver is required"},
		{"no external URL", func(c *DeviceConfig) { c.ExternalURL = "" }, `DeviceConfig.ExternalURL: "" is not an absolute http(s) URL`},
		{"relative external URL", func(c *DeviceConfig) { c.ExternalURL = "/gw" }, `"/gw" is not an absolute http(s) URL`},
		{"ftp external URL", func(c *DeviceConfig) { c.ExternalURL = "ftp://gw.example.com" }, "is not an absolute http(s) URL"},
		{"external URL with user", func(c *DeviceConfig) { c.ExternalURL = "https://u@gw.example.com" }, "is not an absolute http(s) URL"},
		{"unparsable external URL", func(c *DeviceConfig) { c.ExternalURL = "https://gw.example.com:x" }, "DeviceConfig.ExternalURL: parse"},
		{"no CSRF key", func(c *DeviceConfig) { c.CSRFKey = nil }, "CSRFKey has 0 bytes, at least 32 are required"},
		{"short CSRF key", func(c *DeviceConfig) { c.CSRFKey = testCSRFKey[:31] }, "CSRFKey has 31 bytes, at least 32 are required"},
		{"negative failures", func(c *DeviceConfig) { c.MaxFailures = -1 }, "must not be negative"},
		{"negative window", func(c *DeviceConfig) { c.FailureWindow = -time.Second }, "must not be negative"},
		{"window too short", func(c *DeviceConfig) { c.FailureWindow = time.Millisecond }, "too short"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := valid()
			c.mutate(&cfg)
			h, err := newTestPortal(t, signedIn(), &fakeApps{}, nil).DeviceHandler(cfg)
			require.ErrorContains(t, err, c.want)
			assert.Nil(t, h)
		})
	}
	h, err := newTestPortal(t, signedIn(), &fakeApps{}, nil).DeviceHandler(valid())
	require.NoError(t, err, "positive control")
	require.NotNil(t, h)
}

func TestDeviceKeepsACopyOfTheKey(t *testing.T) {
	key := bytes.Clone(testCSRFKey)
	p := newTestPortal(t, signedIn(), &fakeApps{}, nil)
	h, err := p.DeviceHandler(DeviceConfig{Approver: newFakeApprover(), ExternalURL: testExternalURL, CSRFKey: key})
	require.NoError(t, err)
	before := h.(*deviceHandler).csrfToken("u", testCode)
	key[0] ^= 1
	assert.Equal(t, before, h.(*deviceHandler).csrfToken("u", testCode))
}

func TestOriginOf(t *testing.T) {
	for in, want := range map[string]string{
		"https://gw.example.com":         "https://gw.example.com",
		"https://GW.Example.com/":        "https://gw.example.com",
		"https://gw.example.com:443":     "https://gw.example.com",
		"https://gw.example.com:8443/x":  "https://gw.example.com:8443",
		"http://127.0.0.1:80":            "http://127.0.0.1",
		"http://127.0.0.1:8080":          "http://127.0.0.1:8080",
		"HTTPS://gw.example.com/gateway": "https://gw.example.com",
		"http://[::1]:9000":              "http://[::1]:9000",
	} {
		got, err := originOf(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
}

func TestDeviceNoSession(t *testing.T) {
	login := func(returnTo string) string { return "/saml/sp/login?return_to=" + url.QueryEscape(returnTo) }
	withCode := login("/device?user_code=BCDF-GHJK")
	for _, c := range []struct {
		name, target string
		location     string
	}{
		{"no code", "/device", login("/device")},
		{"code as shown", "/device?user_code=BCDF-GHJK", withCode},
		{"code as typed", "/device?user_code=bcdf+ghjk", withCode},
		{"code without dash", "/device?user_code=bcdfghjk", withCode},
		{"markup", "/device?user_code=" + url.QueryEscape(`"><script>alert(1)</script>`), login("/device")},
		{"URL", "/device?user_code=" + url.QueryEscape("https://evil.example/"), login("/device")},
		{"vowels", "/device?user_code=AEIOUAEI", login("/device")},
		{"too long", "/device?user_code=BCDFGHJKB", login("/device")},
		{"repeated", "/device?user_code=BCDFGHJK&user_code=BCDFGHJK", login("/device")},
		{"other parameters dropped", "/device?user_code=BCDFGHJK&next=https://evil.example/", withCode},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newDeviceFixture(t)
			f.sessions.err = ErrNoSession
			res, _ := f.get(t, c.target)
			assert.Equal(t, http.StatusFound, res.StatusCode)
			assert.Equal(t, c.location, res.Header.Get("Location"))
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			assert.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))
			lookups, _ := f.approver.calls()
			assert.Empty(t, lookups, "no lookup without a session")
		})
	}

	t.Run("expired session", func(t *testing.T) {
		f := newDeviceFixture(t)
		f.sessions.expires = testNow
		res, _ := f.get(t, "/device?user_code=BCDFGHJK")
		assert.Equal(t, http.StatusFound, res.StatusCode)
		assert.Equal(t, withCode, res.Header.Get("Location"))
	})

	t.Run("decision without a session", func(t *testing.T) {
		f := newDeviceFixture(t)
		form := f.validForm()
		f.sessions.err = fmt.Errorf("cookie: %w", ErrNoSession)
		res, _ := f.post(t, form)
		assert.Equal(t, http.StatusSeeOther, res.StatusCode, "the browser follows a form post with a GET")
		assert.Equal(t, withCode, res.Header.Get("Location"))
		_, decisions := f.approver.calls()
		assert.Empty(t, decisions)
	})

	t.Run("session lookup fails", func(t *testing.T) {
		f := newDeviceFixture(t)
		f.sessions.err = errors.New("store down")
		res, body := f.get(t, "/device?user_code=BCDFGHJK")
		assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		assertDeviceHeaders(t, res, body)
		assert.Contains(t, body, "temporarily unavailable")
		assert.NotContains(t, body, "store down")
		lookups, _ := f.approver.calls()
		assert.Empty(t, lookups)
	})

	t.Run("user without ID", func(t *testing.T) {
		f := newDeviceFixture(t)
		f.sessions.user.ID = ""
		res, _ := f.get(t, "/device?user_code=BCDFGHJK")
		assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		lookups, _ := f.approver.calls()
		assert.Empty(t, lookups)
	})
}

func TestDeviceEntryForm(t *testing.T) {
	f := newDeviceFixture(t)
	res, body := f.get(t, "/device")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assertDeviceHeaders(t, res, body)
	assert.Contains(t, body, `<h1>Connect a device</h1>`)
	assert.Contains(t, body, `<form class="codeform" method="get" action="/device">`)
	assert.Contains(t, body, `<label for="user_code">Code from your device</label>`)
	assert.Contains(t, body, `<input type="text" id="user_code" name="user_code" required maxlength="20" autocomplete="off" autocapitalize="characters" autocorrect="off" spellcheck="false" inputmode="text" placeholder="XXXX-XXXX" aria-describedby="code-hint">`)
	assert.Contains(t, body, `<p class="hint" id="code-hint">8 letters, shown as XXXX-XXXX.`)
	assert.Contains(t, body, `<strong id="user">Ada Lovelace</strong>`, "who is signed in")
	assert.Contains(t, body, `<a class="skip" href="#main">`)
	assert.Contains(t, body, `<title>Connect a device – Gatehouse</title>`)
	assert.NotContains(t, body, `code-error`)
	assert.NotContains(t, body, `csrf_token`)
	lookups, _ := f.approver.calls()
	assert.Empty(t, lookups)
}

func TestDeviceConsent(t *testing.T) {
	for _, typed := range []string{"BCDF-GHJK", "bcdfghjk", "bcdf ghjk", " B-C-D-F-G-H-J-K "} {
		t.Run(typed, func(t *testing.T) {
			f := newDeviceFixture(t)
			res, body := f.get(t, "/device?user_code="+url.QueryEscape(typed))
			require.Equal(t, http.StatusOK, res.StatusCode)
			assertDeviceHeaders(t, res, body)
			lookups, _ := f.approver.calls()
			assert.Equal(t, []string{testCode}, lookups, "looked up normalized")

			assert.Contains(t, body, `<h1 id="consent-heading">Approve access for a device?</h1>`)
			assert.Contains(t, body, `<dd id="code" class="usercode">BCDF-GHJK</dd>`)
			assert.Contains(t, body, `<dd id="client">cli-tool</dd>`)
			assert.Contains(t, body, `<dd id="audience">https://data.example.com</dd>`)
			assert.Contains(t, body, `<dd id="scopes"><ul class="scopes"><li>reports:read</li><li>notes:write</li></ul></dd>`)
			assert.Contains(t, body, `<dd id="expires"><time datetime="2026-03-14T09:38:00Z">2026-03-14 09:38:00 UTC</time> (in 8 minutes)</dd>`)
			assert.Contains(t, body, `<form class="decide" method="post" action="/device">`)
			assert.Contains(t, body, `<input type="hidden" name="user_code" value="BCDF-GHJK">`)
			assert.Contains(t, body, `<input type="hidden" name="csrf_token" value="`+f.h.csrfToken(testUser.ID, testCode)+`">`)
			assert.Contains(t, body, `<button type="submit" class="primary" id="approve" name="decision" value="approve">Approve</button>`)
			assert.Contains(t, body, `<button type="submit" id="deny" name="decision" value="deny">Deny</button>`)
			assert.NotContains(t, body, `id="user_code"`, "no entry form on the consent screen")
		})
	}

	t.Run("no audience, no scopes", func(t *testing.T) {
		f := newDeviceFixture(t)
		f.approver.prompts[testCode] = oauth.DevicePrompt{UserCode: "BCDF-GHJK", ClientID: "c", ExpiresAt: testNow.Add(30 * time.Second)}
		_, body := f.get(t, "/device?user_code=BCDFGHJK")
		assert.Contains(t, body, `<dd id="audience">not specified</dd>`)
		assert.Contains(t, body, `<dd id="scopes">none requested</dd>`)
		assert.Contains(t, body, `(in less than a minute)`)
	})

	t.Run("escaped", func(t *testing.T) {
		f := newDeviceFixture(t)
		f.approver.prompts[testCode] = oauth.DevicePrompt{
			UserCode:  "BCDF-GHJK",
			ClientID:  `<script>alert(1)</script>`,
			Audience:  `"><img src=x onerror=alert(2)>`,
			Scopes:    []string{`</li><svg onload=alert(3)>`},
			ExpiresAt: testNow.Add(time.Minute),
		}
		f.sessions.user.DisplayName = `<b>Mallory</b>`
		res, body := f.get(t, "/device?user_code=BCDFGHJK")
		require.Equal(t, http.StatusOK, res.StatusCode)
		for _, raw := range []string{"<script", "<img", "<svg", "<b>"} {
			assert.NotContains(t, body, raw)
		}
		assert.Contains(t, body, `<dd id="client">&lt;script&gt;alert(1)&lt;/script&gt;</dd>`)
		assert.Contains(t, body, `<dd id="audience">&#34;&gt;&lt;img src=x onerror=alert(2)&gt;</dd>`)
		assert.Contains(t, body, `<li>&lt;/li&gt;&lt;svg onload=alert(3)&gt;</li>`)
		assert.Contains(t, body, `<strong id="user">&lt;b&gt;Mallory&lt;/b&gt;</strong>`)
	})
}

func TestDeviceLookupFailures(t *testing.T) {
	for _, c := range []struct {
		name      string
		target    string
		lookupErr error
		status    int
		message   string
		lookedUp  bool
	}{
		{"positive control", "/device?user_code=BCDFGHJK", nil, http.StatusOK, "", true},
		{"invalid syntax", "/device?user_code=ABCD-EFGH", nil, http.StatusBadRequest, msgInvalidCode, false},
		{"empty", "/device?user_code=", nil, http.StatusBadRequest, msgInvalidCode, false},
		{"too short", "/device?user_code=BCDF", nil, http.StatusBadRequest, msgInvalidCode, false},
		{"non-ASCII", "/device?user_code=" + url.QueryEscape("BCDFGHJ\u212a"), nil, http.StatusBadRequest, msgInvalidCode, false},
		{"unknown", "/device?user_code=" + unknownCode, nil, http.StatusNotFound, msgUnknownCode, true},
		{"expired or decided", "/device?user_code=BCDFGHJK", fmt.Errorf("oauth: device verifier: authorization is approved: %w", oauth.ErrNotFound), http.StatusNotFound, msgUnknownCode, true},
		{"approver disagrees on syntax", "/device?user_code=BCDFGHJK", oauth.ErrInvalidUserCode, http.StatusBadRequest, msgInvalidCode, true},
		{"store down", "/device?user_code=BCDFGHJK", errors.New("connection refused"), http.StatusServiceUnavailable, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newDeviceFixture(t)
			f.approver.lookupErr = c.lookupErr
			res, body := f.get(t, c.target)
			assert.Equal(t, c.status, res.StatusCode)
			assertDeviceHeaders(t, res, body)
			lookups, _ := f.approver.calls()
			assert.Equal(t, c.lookedUp, len(lookups) == 1, "lookups: %q", lookups)
			switch {
			case c.status == http.StatusOK:
				assert.Contains(t, body, `id="consent-heading"`)
			case c.message != "":
				assert.Contains(t, body, `<p class="error" id="code-error" role="alert">`+c.message+`</p>`)
				assert.Contains(t, body, `aria-describedby="code-hint code-error" aria-invalid="true">`)
				assert.Contains(t, body, `<input type="text" id="user_code"`, "the form is there to try again")
				assert.NotContains(t, body, `csrf_token`)
			default:
				assert.Contains(t, body, "<h1>Temporarily unavailable</h1>")
				assert.NotContains(t, body, "connection refused")
			}
		})
	}
}

func TestDeviceDecide(t *testing.T) {
	for _, c := range []struct {
		name      string
		typed     string
		choice    string
		decideErr error
		status    int
		headID    string
		text      string
	}{
		{"approve", "BCDF-GHJK", "approve", nil, http.StatusOK, "device-approved", "Device approved. You can return to your device."},
		{"deny", "BCDF-GHJK", "deny", nil, http.StatusOK, "device-denied", "Request denied."},
		{"approve, typed loosely", "bcdf ghjk", "approve", nil, http.StatusOK, "device-approved", "Device approved."},
		{"already used", "BCDF-GHJK", "approve", fmt.Errorf("sqlstore: decide device: not pending: %w", oauth.ErrConflict), http.StatusConflict, "device-used", "This code has already been used"},
		{"expired meanwhile", "BCDF-GHJK", "deny", fmt.Errorf("oauth: device verifier: authorization is pending: %w", oauth.ErrNotFound), http.StatusNotFound, "device-expired", "This code has expired or was already used."},
		{"store down", "BCDF-GHJK", "approve", errors.New("connection refused"), http.StatusServiceUnavailable, "", "temporarily unavailable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newDeviceFixture(t)
			f.approver.decideErr = c.decideErr
			form := f.validForm()
			form.Set(fieldUserCode, c.typed)
			form.Set(fieldDecision, c.choice)
			res, body := f.post(t, form)
			assert.Equal(t, c.status, res.StatusCode)
			assertDeviceHeaders(t, res, body)
			_, decisions := f.approver.calls()
			assert.Equal(t, []decision{{testCode, testUser.ID, c.choice == "approve"}}, decisions)
			if c.headID != "" {
				assert.Contains(t, body, `<h1 id="`+c.headID+`">`)
			}
			assert.Contains(t, body, c.text)
			assert.NotContains(t, body, "connection refused")
		})
	}
}

// TestDeviceDecideWithThePageToken approves with the token the consent
// screen handed out, as a browser would.
func TestDeviceDecideWithThePageToken(t *testing.T) {
	f := newDeviceFixture(t)
	_, body := f.get(t, "/device?user_code=bcdfghjk")
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
	require.NotNil(t, m)
	res, body := f.post(t, url.Values{fieldUserCode: {"BCDF-GHJK"}, fieldCSRF: {m[1]}, fieldDecision: {"approve"}})
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	_, decisions := f.approver.calls()
	assert.Equal(t, []decision{{testCode, testUser.ID, true}}, decisions)
}

func TestDeviceCSRF(t *testing.T) {
	for _, c := range []struct {
		name   string
		form   func(f *deviceFixture, v url.Values)
		mods   []func(*http.Request)
		status int
	}{
		{"positive control", nil, nil, http.StatusOK},
		{"positive control: no fetch metadata, no Origin", nil, []func(*http.Request){
			func(r *http.Request) { r.Header.Del("Sec-Fetch-Site"); r.Header.Del("Origin") },
		}, http.StatusOK},
		{"missing token", func(_ *deviceFixture, v url.Values) { v.Del(fieldCSRF) }, nil, http.StatusForbidden},
		{"empty token", func(_ *deviceFixture, v url.Values) { v.Set(fieldCSRF, "") }, nil, http.StatusForbidden},
		{"token for another user", func(f *deviceFixture, v url.Values) { v.Set(fieldCSRF, f.h.csrfToken("u-2", testCode)) }, nil, http.StatusForbidden},
		{"token for another code", func(f *deviceFixture, v url.Values) { v.Set(fieldCSRF, f.h.csrfToken(testUser.ID, unknownCode)) }, nil, http.StatusForbidden},
		{"token with another key", func(_ *deviceFixture, v url.Values) {
			other := &deviceHandler{csrfKey: bytes.Repeat([]byte{1}, MinCSRFKeySize)}
			v.Set(fieldCSRF, other.csrfToken(testUser.ID, testCode))
		}, nil, http.StatusForbidden},
		{"token truncated", func(_ *deviceFixture, v url.Values) { v.Set(fieldCSRF, v.Get(fieldCSRF)[:42]) }, nil, http.StatusForbidden},
		{"token padded", func(_ *deviceFixture, v url.Values) { v.Set(fieldCSRF, v.Get(fieldCSRF)+"=") }, nil, http.StatusForbidden},
		{"token given twice", func(_ *deviceFixture, v url.Values) { v.Add(fieldCSRF, v.Get(fieldCSRF)) }, nil, http.StatusForbidden},
		{"token in the query only", func(_ *deviceFixture, v url.Values) { v.Del(fieldCSRF) }, []func(*http.Request){
			func(r *http.Request) {
				r.URL.RawQuery = url.Values{fieldCSRF: {(&deviceHandler{csrfKey: testCSRFKey}).csrfToken(testUser.ID, testCode)}}.Encode()
			},
		}, http.StatusForbidden},
		{"cross-site", nil, []func(*http.Request){header("Sec-Fetch-Site", "cross-site")}, http.StatusForbidden},
		{"same-site", nil, []func(*http.Request){header("Sec-Fetch-Site", "same-site")}, http.StatusForbidden},
		{"fetch metadata none", nil, []func(*http.Request){header("Sec-Fetch-Site", "none")}, http.StatusForbidden},
		{"fetch metadata twice", nil, []func(*http.Request){func(r *http.Request) { r.Header.Add("Sec-Fetch-Site", "same-origin") }}, http.StatusForbidden},
		{"foreign origin", nil, []func(*http.Request){header("Origin", "https://evil.example")}, http.StatusForbidden},
		{"sibling origin", nil, []func(*http.Request){header("Origin", "https://app.gw.example.com")}, http.StatusForbidden},
		{"plain http origin", nil, []func(*http.Request){header("Origin", "http://gw.example.com")}, http.StatusForbidden},
		{"null origin", nil, []func(*http.Request){header("Origin", "null")}, http.StatusForbidden},
		{"foreign origin without fetch metadata", nil, []func(*http.Request){
			func(r *http.Request) { r.Header.Del("Sec-Fetch-Site"); r.Header.Set("Origin", "https://evil.example") },
		}, http.StatusForbidden},
		{"unknown decision", func(_ *deviceFixture, v url.Values) { v.Set(fieldDecision, "yes") }, nil, http.StatusBadRequest},
		{"no decision", func(_ *deviceFixture, v url.Values) { v.Del(fieldDecision) }, nil, http.StatusBadRequest},
		{"two decisions", func(_ *deviceFixture, v url.Values) { v.Add(fieldDecision, "deny") }, nil, http.StatusBadRequest},
		{"invalid code", func(_ *deviceFixture, v url.Values) { v.Set(fieldUserCode, "ABCD-EFGH") }, nil, http.StatusBadRequest},
		{"oversized body", func(_ *deviceFixture, v url.Values) { v.Set("pad", strings.Repeat("x", deviceMaxBody)) }, nil, http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newDeviceFixture(t)
			form := f.validForm()
			if c.form != nil {
				c.form(f, form)
			}
			res, body := f.post(t, form, c.mods...)
			assert.Equal(t, c.status, res.StatusCode)
			assertDeviceHeaders(t, res, body)
			_, decisions := f.approver.calls()
			if c.status == http.StatusOK {
				assert.Equal(t, []decision{{testCode, testUser.ID, true}}, decisions)
				return
			}
			assert.Empty(t, decisions, "Decide not called")
			if c.status == http.StatusForbidden {
				assert.Contains(t, body, `<h1 id="device-refused">Request refused</h1>`)
			}
		})
	}
}

func TestDeviceRateLimit(t *testing.T) {
	// fail makes one failed lookup of an unknown code.
	fail := func(t *testing.T, f *deviceFixture, mods ...func(*http.Request)) {
		t.Helper()
		res, _ := f.get(t, "/device?user_code="+unknownCode, mods...)
		require.Equal(t, http.StatusNotFound, res.StatusCode)
	}
	// assertLimited checks that a lookup of the known code is refused with
	// 429 without asking the approver.
	assertLimited := func(t *testing.T, f *deviceFixture, retryAfter string, mods ...func(*http.Request)) {
		t.Helper()
		before, _ := f.approver.calls()
		res, body := f.get(t, "/device?user_code="+testCode, mods...)
		assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		assert.Equal(t, retryAfter, res.Header.Get("Retry-After"))
		assertDeviceHeaders(t, res, body)
		assert.Contains(t, body, `<h1 id="device-limited">Too many attempts</h1>`)
		assert.NotContains(t, body, "cli-tool", "nothing about the code")
		assert.NotContains(t, body, "expired")
		after, _ := f.approver.calls()
		assert.Equal(t, before, after, "Lookup not called")
	}
	assertAllowed := func(t *testing.T, f *deviceFixture, mods ...func(*http.Request)) {
		t.Helper()
		res, _ := f.get(t, "/device?user_code="+testCode, mods...)
		assert.Equal(t, http.StatusOK, res.StatusCode)
	}

	t.Run("per user, across addresses", func(t *testing.T) {
		f := newDeviceFixture(t)
		for i := range DefaultDeviceMaxFailures {
			fail(t, f, fromAddr(fmt.Sprintf("198.51.100.%d:1", i)))
		}
		lookups, _ := f.approver.calls()
		require.Len(t, lookups, DefaultDeviceMaxFailures)
		assertLimited(t, f, "60", fromAddr("203.0.113.1:1"))

		// Another user at an unused address is not limited.
		f.sessions.user = User{ID: "u-2", UserName: "bob"}
		assertAllowed(t, f, fromAddr("203.0.113.1:1"))
	})

	t.Run("per address, across users", func(t *testing.T) {
		f := newDeviceFixture(t)
		for i := range DefaultDeviceMaxFailures {
			f.sessions.user = User{ID: fmt.Sprint("u-", i)}
			fail(t, f)
		}
		f.sessions.user = User{ID: "u-fresh"}
		assertLimited(t, f, "60")
		// The same user elsewhere is not limited.
		assertAllowed(t, f, fromAddr("203.0.113.1:1"))
	})

	t.Run("one IPv6 /64 is one address", func(t *testing.T) {
		f := newDeviceFixture(t)
		for i := range DefaultDeviceMaxFailures {
			f.sessions.user = User{ID: fmt.Sprint("u-", i)}
			fail(t, f, fromAddr(fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1)))
		}
		f.sessions.user = User{ID: "u-fresh"}
		assertLimited(t, f, "60", fromAddr("[2001:db8:1:2:ffff::1]:443"))
		assertAllowed(t, f, fromAddr("[2001:db8:1:3::1]:443"))
	})

	t.Run("recovers", func(t *testing.T) {
		f := newDeviceFixture(t)
		for range DefaultDeviceMaxFailures {
			fail(t, f)
		}
		assertLimited(t, f, "60")
		f.now = f.now.Add(59 * time.Second)
		assertLimited(t, f, "1")
		// One failure per window/max is allowed again...
		f.now = f.now.Add(time.Second)
		fail(t, f)
		assertLimited(t, f, "60")
		// ...and a window after the last failure all are.
		f.now = f.now.Add(DefaultDeviceFailureWindow)
		for range DefaultDeviceMaxFailures {
			fail(t, f)
		}
		assertLimited(t, f, "60")
		f.now = f.now.Add(DefaultDeviceFailureWindow)
		assertAllowed(t, f)
		assert.Zero(t, f.h.limit.Size(), "recovered keys are dropped")
	})

	t.Run("successful lookups and other errors do not count", func(t *testing.T) {
		f := newDeviceFixture(t)
		for range 3 * DefaultDeviceMaxFailures {
			assertAllowed(t, f)
			res, _ := f.get(t, "/device?user_code=AEIOU")
			require.Equal(t, http.StatusBadRequest, res.StatusCode, "syntax errors reveal nothing")
		}
		f.approver.lookupErr = errors.New("store down")
		for range 3 * DefaultDeviceMaxFailures {
			res, _ := f.get(t, "/device?user_code="+testCode)
			require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		}
		f.approver.lookupErr = nil
		assertAllowed(t, f)
		assert.Zero(t, f.h.limit.Size())
	})

	t.Run("failed decisions count, and decisions are limited", func(t *testing.T) {
		f := newDeviceFixture(t)
		for range DefaultDeviceMaxFailures - 1 {
			fail(t, f)
		}
		f.approver.decideErr = fmt.Errorf("fake: %w", oauth.ErrNotFound)
		res, _ := f.post(t, f.validForm())
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		assertLimited(t, f, "60")

		f.approver.decideErr = nil
		res, body := f.post(t, f.validForm())
		assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		assert.Contains(t, body, "Too many attempts")
		_, decisions := f.approver.calls()
		assert.Len(t, decisions, 1, "Decide not called when limited")
	})
}

func TestDeviceLogsNoCode(t *testing.T) {
	f := newDeviceFixture(t)
	res, _ := f.get(t, "/device?user_code="+unknownCode)
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	logs := f.logs.String()
	assert.Contains(t, logs, `"msg":"portal: device code lookup failed"`)
	assert.Contains(t, logs, `"level":"INFO"`)
	assert.Contains(t, logs, `"user_id":"u-1"`)
	assert.Contains(t, logs, `"code_prefix":"ZZ"`)
	for _, secret := range []string{unknownCode, "ZZZZ-XXXX", "ZZZZX", testCode} {
		assert.NotContains(t, logs, secret)
	}

	f.approver.decideErr = fmt.Errorf("fake: %w", oauth.ErrNotFound)
	res, _ = f.post(t, f.validForm())
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	logs = f.logs.String()
	assert.Contains(t, logs, `"msg":"portal: device decision failed"`)
	assert.Contains(t, logs, `"code_prefix":"BC"`)
	for _, secret := range []string{testCode, "BCDF-GHJK", "BCDFG", f.h.csrfToken(testUser.ID, testCode)} {
		assert.NotContains(t, logs, secret)
	}
}

func TestDeviceMethods(t *testing.T) {
	f := newDeviceFixture(t)
	req := httptest.NewRequest(http.MethodHead, "/device?user_code="+testCode, nil)
	res, body := f.serve(t, req)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Empty(t, body, "HEAD has no body")
	assert.Equal(t, "same-origin", res.Header.Get("Referrer-Policy"), "the consent screen's headers")
	assert.NotEmpty(t, res.Header.Get("Content-Security-Policy"))

	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
		res, body := f.serve(t, httptest.NewRequest(m, "/device", nil))
		assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode, m)
		assert.Equal(t, "GET, HEAD, POST", res.Header.Get("Allow"), m)
		assertDeviceHeaders(t, res, body)
	}
	_, decisions := f.approver.calls()
	assert.Empty(t, decisions)
}

func TestDeviceReferrerPolicy(t *testing.T) {
	f := newDeviceFixture(t)
	for target, want := range map[string]string{
		"/device":                          "no-referrer",
		"/device?user_code=BCDF-GHJK":      "same-origin", // the consent screen
		"/device?user_code=ABCD":           "no-referrer",
		"/device?user_code=" + unknownCode: "no-referrer",
	} {
		res, body := f.get(t, target)
		assert.Equal(t, want, res.Header.Get("Referrer-Policy"), target)
		assert.Contains(t, body, `<meta name="referrer" content="`+want+`">`, target)
	}
	res, _ := f.post(t, f.validForm())
	assert.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"), "the result page")
}

func TestDeviceNoncePerResponse(t *testing.T) {
	f := newDeviceFixture(t)
	seen := map[string]bool{}
	for range 3 {
		res, _ := f.get(t, "/device?user_code="+testCode)
		m := cspRE.FindStringSubmatch(res.Header.Get("Content-Security-Policy"))
		require.NotNil(t, m)
		assert.False(t, seen[m[1]], "nonce reused")
		seen[m[1]] = true
	}
}

func TestPortalPagesKeepTheirReferrerPolicy(t *testing.T) {
	res, body := get(t, newTestPortal(t, signedIn(), &fakeApps{}, nil), "/portal")
	assert.Equal(t, "same-origin", res.Header.Get("Referrer-Policy"))
	assert.Contains(t, body, `<meta name="referrer" content="same-origin">`)
	assert.Equal(t, "DENY", res.Header.Get("X-Frame-Options"))
}

func TestUserCodeParam(t *testing.T) {
	for _, c := range []struct {
		query string
		code  string
		given bool
	}{
		{"", "", false},
		{"other=1", "", false},
		{"user_code=BCDF-GHJK", testCode, true},
		{"user_code=bcdfghjk", testCode, true},
		{"user_code=", "", true},
		{"user_code", "", true},
		{"user_code=BCDF-GHJK&user_code=BCDF-GHJK", "", true},
		{"user_code=" + url.QueryEscape(`<x>`), "", true},
		{"user_code=" + strings.Repeat("-", 60) + "BCDFGHJK", "", true},
	} {
		v, _ := url.ParseQuery(c.query)
		code, given := userCodeParam(v)
		assert.Equal(t, c.code, code, c.query)
		assert.Equal(t, c.given, given, c.query)
	}
}

// deviceAllowedTag matches the start of every tag the device and message
// templates write.
var deviceAllowedTag = regexp.MustCompile(`^<(!doctype html|/?(html|head|meta|title|style|body|a|header|p|div|span|strong|form|button|main|h1|label|input|ul|li|dl|dt|dd|time))[\s>]`)

var returnToRE = regexp.MustCompile(`^/saml/sp/login\?return_to=(%2Fdevice|%2Fdevice%3Fuser_code%3D[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4})$`)

// FuzzDeviceUserCodeQuery feeds arbitrary query strings to the device page:
// without a session the login redirect carries only DevicePath or a
// normalized code; with one, the page is the entry form or the consent
// screen, any input stays text, and Lookup only ever sees normalized
// codes.
func FuzzDeviceUserCodeQuery(f *testing.F) {
	for _, s := range []string{
		"", "user_code=BCDF-GHJK", "user_code=bcdfghjk", "user_code=ZZZZXXXX", "user_code=%3Cscript%3E",
		"user_code=BCDF-GHJK&user_code=x", "user_code=%E2%84%AA", "user_code=%00", "user_code=;x", "%zz",
		"user_code=" + strings.Repeat("B", 64), "user_code=b+c+d+f+g+h+j+k", "user_code=https://evil.example/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		code, _ := userCodeParam(func() url.Values { v, _ := url.ParseQuery(raw); return v }())
		if code != "" {
			n, err := oauth.NormalizeUserCode(code)
			require.NoError(t, err)
			require.Equal(t, code, n, "the code is normalized")
		}

		fx := newDeviceFixture(t)
		fx.sessions.err = ErrNoSession
		req := httptest.NewRequest(http.MethodGet, DevicePath, nil)
		req.URL.RawQuery = raw
		res, _ := fx.serve(t, req)
		require.Equal(t, http.StatusFound, res.StatusCode)
		require.Regexp(t, returnToRE, res.Header.Get("Location"))

		fx.sessions.err = nil
		req = httptest.NewRequest(http.MethodGet, DevicePath, nil)
		req.URL.RawQuery = raw
		res, body := fx.serve(t, req)
		require.Contains(t, []int{http.StatusOK, http.StatusBadRequest, http.StatusNotFound}, res.StatusCode)
		for i := 0; i < len(body); i++ {
			if body[i] == '<' {
				require.Regexp(t, deviceAllowedTag, body[i:min(len(body), i+20)], "unexpected markup at %d: %q", i, body[i:min(len(body), i+60)])
			}
		}
		require.Equal(t, 1, strings.Count(body, "nonce="))
		lookups, _ := fx.approver.calls()
		for _, l := range lookups {
			n, err := oauth.NormalizeUserCode(l)
			require.NoError(t, err)
			require.Equal(t, l, n, "Lookup gets normalized codes")
		}
	})
}
