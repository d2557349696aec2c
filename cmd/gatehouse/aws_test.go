package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/awsapi"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

const (
	testAccount = "111111111111"
	testRole    = "ReadOnly"
)

// fakeGateway fakes the gateway's OAuth and AWS endpoints. Refresh tokens
// rotate; presenting a spent one revokes the family, as the gateway does.
type fakeGateway struct {
	t   *testing.T
	srv *httptest.Server

	mu sync.Mutex
	// calls counts requests by path.
	calls map[string]int
	// deviceForm is the last device authorization request.
	deviceForm url.Values
	// pending is the number of authorization_pending answers left.
	pending int
	deny    bool
	// tokenLifetime is the access tokens' expires_in.
	tokenLifetime time.Duration
	gen           int
	access        string
	refresh       string
	refreshed     []string
	revoked       []string
	revokeStatus  int
	// credLifetime is how long vended credentials last; keys counts them.
	credLifetime time.Duration
	keys         int
	entitled     map[string]bool
	credStatus   int
}

func newFakeGateway(t *testing.T) *fakeGateway {
	t.Helper()
	g := &fakeGateway{
		t: t, calls: map[string]int{}, tokenLifetime: time.Hour, credLifetime: time.Hour,
		entitled: map[string]bool{testAccount + "/" + testRole: true}, revokeStatus: http.StatusOK,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+oauth.PathDeviceAuthorization, g.deviceAuthorization)
	mux.HandleFunc("POST "+oauth.PathToken, g.token)
	mux.HandleFunc("POST "+oauth.PathRevoke, g.revoke)
	mux.HandleFunc("POST "+awsapi.PathCredentials, g.credentials)
	mux.HandleFunc("GET "+awsapi.PathAccounts, g.accounts)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.calls[r.URL.Path]++
		g.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGateway) count(path string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[path]
}

func (g *fakeGateway) total() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, c := range g.calls {
		n += c
	}
	return n
}

func writeJSONAnswer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *fakeGateway) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	require.NoError(g.t, r.ParseForm())
	g.mu.Lock()
	g.deviceForm = r.PostForm
	g.mu.Unlock()
	if r.PostForm.Get("client_id") != cliClientID || r.PostForm.Get("audience") != g.srv.URL+"/api" || r.PostForm.Get("scope") != "credentials" {
		writeJSONAnswer(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	writeJSONAnswer(w, http.StatusOK, map[string]any{
		"device_code": "dev-code", "user_code": "BCDF-GHJK", "verification_uri": g.srv.URL + "/device",
		"verification_uri_complete": g.srv.URL + "/device?user_code=BCDF-GHJK", "expires_in": 60, "interval": 1,
	})
}

// issue mints the next token pair; the caller holds mu.
func (g *fakeGateway) issue(w http.ResponseWriter) {
	g.gen++
	g.access = fmt.Sprintf("at-%d", g.gen)
	g.refresh = fmt.Sprintf("rt-%d", g.gen)
	writeJSONAnswer(w, http.StatusOK, map[string]any{
		"access_token": g.access, "token_type": "Bearer", "refresh_token": g.refresh,
		"expires_in": int(g.tokenLifetime / time.Second), "scope": "credentials",
	})
}

func (g *fakeGateway) token(w http.ResponseWriter, r *http.Request) {
	require.NoError(g.t, r.ParseForm())
	g.mu.Lock()
	defer g.mu.Unlock()
	fail := func(code string) { writeJSONAnswer(w, http.StatusBadRequest, map[string]string{"error": code}) }
	if r.PostForm.Get("client_id") != cliClientID {
		fail("invalid_client")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "urn:ietf:params:oauth:grant-type:device_code":
		switch {
		case r.PostForm.Get("device_code") != "dev-code":
			fail("invalid_grant")
		case g.deny:
			fail("access_denied")
		case g.pending > 0:
			g.pending--
			fail("authorization_pending")
		default:
			g.issue(w)
		}
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		g.refreshed = append(g.refreshed, rt)
		if rt == "" || rt != g.refresh {
			g.access, g.refresh = "", "" // reuse revokes the family
			fail("invalid_grant")
			return
		}
		g.issue(w)
	default:
		fail("unsupported_grant_type")
	}
}

func (g *fakeGateway) revoke(w http.ResponseWriter, r *http.Request) {
	require.NoError(g.t, r.ParseForm())
	g.mu.Lock()
	defer g.mu.Unlock()
	assert.Equal(g.t, cliClientID, r.PostForm.Get("client_id"))
	g.revoked = append(g.revoked, r.PostForm.Get("token"))
	w.WriteHeader(g.revokeStatus)
}

func (g *fakeGateway) authorized(w http.ResponseWriter, r *http.Request) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.access == "" || r.Header.Get("Authorization") != "Bearer "+g.access {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSONAnswer(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return false
	}
	return true
}

func (g *fakeGateway) credentials(w http.ResponseWriter, r *http.Request) {
	if !g.authorized(w, r) {
		return
	}
	req, err := awsapi.DecodeCredentialsRequest(r.Body)
	if err != nil {
		writeJSONAnswer(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.credStatus != 0 {
		writeJSONAnswer(w, g.credStatus, map[string]string{"error": "unavailable"})
		return
	}
	if !g.entitled[req.AccountID+"/"+req.Role] {
		writeJSONAnswer(w, http.StatusForbidden, map[string]string{"error": "not_entitled"})
		return
	}
	g.keys++
	writeJSONAnswer(w, http.StatusOK, awsapi.ProcessCredentials{
		Version: 1, AccessKeyID: fmt.Sprintf("ASIAFAKE%04d", g.keys), SecretAccessKey: "secret", SessionToken: "session",
		Expiration: time.Now().Add(g.credLifetime).UTC().Format(time.RFC3339),
	})
}

func (g *fakeGateway) accounts(w http.ResponseWriter, r *http.Request) {
	if !g.authorized(w, r) {
		return
	}
	writeJSONAnswer(w, http.StatusOK, awsapi.AccountsJSON{Accounts: []awsapi.AccountJSON{
		{ID: testAccount, Name: "prod\x1b[31m", Roles: []string{"Admin", "ReadOnly"}},
		{ID: "222222222222", Name: "dev", Roles: []string{"ReadOnly"}},
	}})
}

// testCLI is an awsCLI on a temporary config folder with a settable clock.
type testCLI struct {
	*awsCLI
	out, errOut bytes.Buffer
	dir         string
	clock       time.Time
	opened      []string
	display     bool
}

func newTestCLI(t *testing.T) *testCLI {
	t.Helper()
	tc := &testCLI{dir: t.TempDir(), clock: time.Now(), display: true}
	tc.awsCLI = &awsCLI{
		stdout: &tc.out, stderr: &tc.errOut,
		configDir:      func() (string, error) { return tc.dir, nil },
		client:         newCLIClient(),
		now:            func() time.Time { return tc.clock },
		canOpenBrowser: func() bool { return tc.display },
		openBrowser:    func(u string) error { tc.opened = append(tc.opened, u); return nil },
	}
	return tc
}

func (tc *testCLI) cacheFolder() string { return filepath.Join(tc.dir, cacheDirName) }

func (tc *testCLI) reset() {
	tc.out.Reset()
	tc.errOut.Reset()
}

// seedSession writes a session as login would.
func (tc *testCLI) seedSession(t *testing.T, g *fakeGateway, lifetime time.Duration) {
	t.Helper()
	g.mu.Lock()
	g.gen++
	g.access, g.refresh = fmt.Sprintf("at-%d", g.gen), fmt.Sprintf("rt-%d", g.gen)
	s := session{URL: g.srv.URL, AccessToken: g.access, RefreshToken: g.refresh, Expiry: tc.clock.Add(lifetime).UTC()}
	g.mu.Unlock()
	d, err := tc.cacheDir()
	require.NoError(t, err)
	require.NoError(t, d.saveSession(s))
}

func (tc *testCLI) session(t *testing.T) session {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tc.cacheFolder(), sessionFile))
	require.NoError(t, err)
	s, err := parseSession(b)
	require.NoError(t, err)
	return s
}

func assertPerm(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, want, fi.Mode().Perm(), path)
}

func TestLoginDeviceFlow(t *testing.T) {
	g := newFakeGateway(t)
	g.pending = 1
	tc := newTestCLI(t)
	require.NoError(t, tc.login(t.Context(), []string{"--url", g.srv.URL + "/"}))

	assert.Equal(t, cliClientID, g.deviceForm.Get("client_id"))
	assert.Equal(t, g.srv.URL+"/api", g.deviceForm.Get("audience"), "the trailing slash of --url is dropped")
	assert.Equal(t, "credentials", g.deviceForm.Get("scope"))
	assert.Equal(t, 2, g.count(oauth.PathToken), "polled while pending, then redeemed")
	assert.Contains(t, tc.errOut.String(), "BCDF-GHJK")
	assert.Contains(t, tc.errOut.String(), g.srv.URL+"/device")
	assert.Empty(t, tc.out.String(), "login prints nothing on stdout")
	assert.Equal(t, []string{g.srv.URL + "/device?user_code=BCDF-GHJK"}, tc.opened)

	s := tc.session(t)
	assert.Equal(t, session{URL: g.srv.URL, AccessToken: "at-1", RefreshToken: "rt-1", Expiry: s.Expiry}, s)
	assert.WithinDuration(t, time.Now().Add(time.Hour), s.Expiry, time.Minute)
	assertPerm(t, filepath.Join(tc.cacheFolder(), sessionFile), 0o600)
	assertPerm(t, tc.cacheFolder(), 0o700)

	// Signing in again replaces the session, drops the cached credentials
	// and revokes the previous refresh token.
	require.NoError(t, tc.credentials(t.Context(), []string{"--account", testAccount, "--role", testRole}))
	tc.display = false
	require.NoError(t, tc.login(t.Context(), []string{"--url", g.srv.URL, "--no-browser"}))
	assert.Len(t, tc.opened, 1, "no browser the second time")
	assert.Equal(t, "rt-2", tc.session(t).RefreshToken)
	assert.Equal(t, []string{"rt-1"}, g.revoked)
	entries, err := os.ReadDir(tc.cacheFolder())
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), credentialsPrefix), "credentials cache %s left", e.Name())
	}
}

func TestLoginNoBrowserFlagOrDisplay(t *testing.T) {
	for name, tt := range map[string]struct {
		flag    bool
		display bool
	}{"flag": {flag: true, display: true}, "no display": {display: false}} {
		t.Run(name, func(t *testing.T) {
			g := newFakeGateway(t)
			tc := newTestCLI(t)
			tc.display = tt.display
			args := []string{"--url", g.srv.URL}
			if tt.flag {
				args = append(args, "--no-browser")
			}
			require.NoError(t, tc.login(t.Context(), args))
			assert.Empty(t, tc.opened)
			assert.Contains(t, tc.errOut.String(), "BCDF-GHJK")
		})
	}
}

func TestLoginDenied(t *testing.T) {
	g := newFakeGateway(t)
	g.deny = true
	tc := newTestCLI(t)
	err := tc.login(t.Context(), []string{"--url", g.srv.URL, "--no-browser"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "login: the sign-in was denied")
	assert.NoFileExists(t, filepath.Join(tc.cacheFolder(), sessionFile))
}

func TestLoginUsage(t *testing.T) {
	for name, tt := range map[string]struct {
		args []string
		want string
	}{
		"no url":          {nil, "--url is required"},
		"http non-local":  {[]string{"--url", "http://gw.example.com"}, "use https"},
		"query":           {[]string{"--url", "https://gw.example.com/?x=1"}, "query"},
		"extra argument":  {[]string{"--url", "https://gw.example.com", "x"}, "unexpected argument"},
		"credentials":     {[]string{"--url", "https://u:p@gw.example.com"}, "credentials"},
		"unknown flag":    {[]string{"--bogus"}, "bogus"},
		"scheme not http": {[]string{"--url", "ftp://gw.example.com"}, "scheme"},
	} {
		t.Run(name, func(t *testing.T) {
			tc := newTestCLI(t)
			err := tc.login(t.Context(), tt.args)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NoDirExists(t, tc.cacheFolder())
		})
	}
}

func credentialsArgs() []string { return []string{"--account", testAccount, "--role", testRole} }

func TestCredentialsCachedUntilNearExpiry(t *testing.T) {
	g := newFakeGateway(t)
	tc := newTestCLI(t)
	tc.seedSession(t, g, time.Hour)

	require.NoError(t, tc.credentials(t.Context(), credentialsArgs()))
	var first map[string]any
	require.NoError(t, json.Unmarshal(tc.out.Bytes(), &first))
	assert.Equal(t, float64(1), first["Version"])
	assert.Equal(t, "ASIAFAKE0001", first["AccessKeyId"])
	assert.Equal(t, "secret", first["SecretAccessKey"])
	assert.Equal(t, "session", first["SessionToken"])
	exp, err := time.Parse(time.RFC3339, first["Expiration"].(string))
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(first["Expiration"].(string), "Z"), "UTC")
	assert.Len(t, first, 5)
	key := credentialsKey{URL: g.srv.URL, AccountID: testAccount, Role: testRole}
	assertPerm(t, filepath.Join(tc.cacheFolder(), key.file()), 0o600)

	// Served from the cache without any request, byte for byte.
	requests := g.total()
	firstOut := tc.out.String()
	for _, advance := range []time.Duration{0, 50 * time.Minute} {
		tc.reset()
		tc.clock = time.Now().Add(advance)
		require.NoError(t, tc.credentials(t.Context(), credentialsArgs()))
		assert.Equal(t, firstOut, tc.out.String())
		assert.Equal(t, requests, g.total(), "no request after %s", advance)
	}

	// Within 5 minutes of the expiration, new credentials are vended
	// (the access token being refreshed first).
	tc.reset()
	tc.clock = exp.Add(-credentialsLeeway)
	require.NoError(t, tc.credentials(t.Context(), credentialsArgs()))
	assert.Contains(t, tc.out.String(), "ASIAFAKE0002")
	assert.Equal(t, 2, g.count(awsapi.PathCredentials))

	// Another role is another cache entry.
	g.entitled[testAccount+"/Admin"] = true
	tc.reset()
	require.NoError(t, tc.credentials(t.Context(), []string{"--account", testAccount, "--role", "Admin"}))
	assert.Contains(t, tc.out.String(), "ASIAFAKE0003")
}

func TestCredentialsRefreshRotation(t *testing.T) {
	g := newFakeGateway(t)
	tc := newTestCLI(t)
	tc.seedSession(t, g, 50*time.Second) // within a minute of expiry
	require.NoError(t, tc.credentials(t.Context(), credentialsArgs()))
	assert.Equal(t, []string{"rt-1"}, g.refreshed)
	s := tc.session(t)
	assert.Equal(t, "at-2", s.AccessToken)
	assert.Equal(t, "rt-2", s.RefreshToken, "the rotated refresh token is stored")
	assertPerm(t, filepath.Join(tc.cacheFolder(), sessionFile), 0o600)
	leftovers, err := filepath.Glob(filepath.Join(tc.cacheFolder(), ".*.tmp"))
	require.NoError(t, err)
	assert.Empty(t, leftovers)

	// A fresh token is used as is.
	tc.reset()
	require.NoError(t, tc.accounts(t.Context(), nil))
	assert.Len(t, g.refreshed, 1)

	// Near its expiry again, the stored (second) refresh token is used.
	tc.clock = s.Expiry.Add(-30 * time.Second)
	tc.reset()
	require.NoError(t, tc.accounts(t.Context(), nil))
	assert.Equal(t, []string{"rt-1", "rt-2"}, g.refreshed)
	assert.Equal(t, "rt-3", tc.session(t).RefreshToken)
}

func TestCredentialsRetryAfter401(t *testing.T) {
	g := newFakeGateway(t)
	tc := newTestCLI(t)
	tc.seedSession(t, g, time.Hour)
	g.mu.Lock()
	g.access = "at-revoked-elsewhere"
	g.mu.Unlock()
	require.NoError(t, tc.credentials(t.Context(), credentialsArgs()))
	assert.Equal(t, []string{"rt-1"}, g.refreshed)
	assert.Equal(t, 2, g.count(awsapi.PathCredentials))
	assert.Contains(t, tc.out.String(), "ASIAFAKE0001")
}

func TestConcurrentRefreshIsSerialized(t *testing.T) {
	g := newFakeGateway(t)
	tc := newTestCLI(t)
	tc.seedSession(t, g, 10*time.Second)
	d, err := tc.cacheDir()
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = tc.token(t.Context(), d, "", false) })
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
	assert.Equal(t, []string{"rt-1"}, g.refreshed, "one refresh; the others read the stored result")
}

func TestCredentialsErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		setup func(t *testing.T, g *fakeGateway, tc *testCLI)
		want  string
	}{
		{name: "not signed in", args: credentialsArgs(), setup: func(*testing.T, *fakeGateway, *testCLI) {}, want: "credentials: not signed in; run: gatehouse login --url URL"},
		{name: "not entitled", args: []string{"--account", testAccount, "--role", "Admin"}, want: "not entitled to role Admin in account 111111111111"},
		{name: "unavailable", args: credentialsArgs(), setup: func(t *testing.T, g *fakeGateway, tc *testCLI) {
			tc.seedSession(t, g, time.Hour)
			g.credStatus = http.StatusServiceUnavailable
		}, want: "try again"},
		{name: "refresh token revoked", args: credentialsArgs(), setup: func(t *testing.T, g *fakeGateway, tc *testCLI) {
			tc.seedSession(t, g, 30*time.Second)
			g.refresh = "rt-other"
		}, want: "has expired or was revoked; run: gatehouse login --url http://127.0.0.1"},
		{name: "other gateway", args: append(credentialsArgs(), "--url", "https://other.example.com"), want: "not https://other.example.com; run: gatehouse login --url https://other.example.com"},
		{name: "missing role", args: []string{"--account", testAccount}, want: "--account and --role are required"},
		{name: "bad account", args: []string{"--account", "12345", "--role", testRole}, want: "12-digit"},
		{name: "bad role", args: []string{"--account", testAccount, "--role", "a/b"}, want: "not a role name"},
		{name: "session file too open", args: credentialsArgs(), setup: func(t *testing.T, g *fakeGateway, tc *testCLI) {
			tc.seedSession(t, g, time.Hour)
			require.NoError(t, os.Chmod(filepath.Join(tc.cacheFolder(), sessionFile), 0o644))
		}, want: "has permissions 0644; it must be 0600"},
		{name: "folder too open", args: credentialsArgs(), setup: func(t *testing.T, g *fakeGateway, tc *testCLI) {
			tc.seedSession(t, g, time.Hour)
			require.NoError(t, os.Chmod(tc.cacheFolder(), 0o755))
		}, want: "has permissions 0755; it must be 0700"},
		{name: "session is a symlink", args: credentialsArgs(), setup: func(t *testing.T, g *fakeGateway, tc *testCLI) {
			tc.seedSession(t, g, time.Hour)
			p := filepath.Join(tc.cacheFolder(), sessionFile)
			require.NoError(t, os.Rename(p, p+".real"))
			require.NoError(t, os.Symlink(p+".real", p))
		}, want: "reading the session cache"},
		{name: "damaged session", args: credentialsArgs(), setup: func(t *testing.T, g *fakeGateway, tc *testCLI) {
			tc.seedSession(t, g, time.Hour)
			require.NoError(t, os.WriteFile(filepath.Join(tc.cacheFolder(), sessionFile), []byte(`{"url":"`+g.srv.URL+`","access_token":"x","extra":1}`), 0o600))
		}, want: "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGateway(t)
			tc := newTestCLI(t)
			if tt.setup != nil {
				tt.setup(t, g, tc)
			} else {
				tc.seedSession(t, g, time.Hour)
			}
			err := tc.credentials(t.Context(), tt.args)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Empty(t, tc.out.String(), "nothing on stdout")
			assert.Zero(t, g.keys)
		})
	}
}

func TestCredentialsCacheFileTooOpenIsNotUsed(t *testing.T) {
	g := newFakeGateway(t)
	tc := newTestCLI(t)
	tc.seedSession(t, g, time.Hour)
	require.NoError(t, tc.credentials(t.Context(), credentialsArgs()))
	key := credentialsKey{URL: g.srv.URL, AccountID: testAccount, Role: testRole}
	require.NoError(t, os.Chmod(filepath.Join(tc.cacheFolder(), key.file()), 0o640))
	tc.reset()
	require.NoError(t, tc.credentials(t.Context(), credentialsArgs()))
	assert.Contains(t, tc.errOut.String(), "must be 0600")
	assert.Contains(t, tc.out.String(), "ASIAFAKE0002", "vended again")
	assertPerm(t, filepath.Join(tc.cacheFolder(), key.file()), 0o600)
}

func TestAccountsTable(t *testing.T) {
	g := newFakeGateway(t)
	tc := newTestCLI(t)
	tc.seedSession(t, g, time.Hour)
	require.NoError(t, tc.accounts(t.Context(), nil))
	lines := strings.Split(strings.TrimSpace(tc.out.String()), "\n")
	require.Len(t, lines, 3, tc.out.String())
	assert.Regexp(t, `^ACCOUNT\s+NAME\s+ROLES$`, lines[0])
	assert.Regexp(t, `^111111111111\s+prod\[31m\s+Admin, ReadOnly$`, lines[1], "control characters dropped")
	assert.Regexp(t, `^222222222222\s+dev\s+ReadOnly$`, lines[2])

	tc2 := newTestCLI(t)
	err := tc2.accounts(t.Context(), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "accounts: not signed in; run: gatehouse login")
}

func TestLogout(t *testing.T) {
	g := newFakeGateway(t)
	tc := newTestCLI(t)
	tc.seedSession(t, g, time.Hour)
	require.NoError(t, tc.credentials(t.Context(), credentialsArgs()))
	require.NoError(t, tc.logout(t.Context(), nil))
	assert.Equal(t, []string{"rt-1"}, g.revoked)
	entries, err := os.ReadDir(tc.cacheFolder())
	require.NoError(t, err)
	for _, e := range entries {
		assert.Equal(t, lockFile, e.Name(), "only the lock file is left")
	}
	err = tc.credentials(t.Context(), credentialsArgs())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not signed in")
	err = tc.logout(t.Context(), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "logout: not signed in")
}

func TestLogoutRevocationFailureStillSignsOut(t *testing.T) {
	g := newFakeGateway(t)
	g.revokeStatus = http.StatusInternalServerError
	tc := newTestCLI(t)
	tc.seedSession(t, g, time.Hour)
	require.NoError(t, tc.logout(t.Context(), nil))
	assert.Contains(t, tc.errOut.String(), "warning: revoking the sign-in")
	assert.NoFileExists(t, filepath.Join(tc.cacheFolder(), sessionFile))

	// A gateway that is down: the same.
	tc.seedSession(t, g, time.Hour)
	g.srv.Close()
	tc.reset()
	require.NoError(t, tc.logout(t.Context(), nil))
	assert.Contains(t, tc.errOut.String(), "warning: revoking the sign-in")
	assert.NoFileExists(t, filepath.Join(tc.cacheFolder(), sessionFile))
}

func TestCommandsDispatched(t *testing.T) {
	for _, c := range []string{"login", "credentials", "accounts", "logout"} {
		_, stderr, err := runCLI(t, context.Background(), c, "-h")
		require.NoError(t, err, c)
		assert.Contains(t, stderr, "Usage: gatehouse "+c)
	}
}

func TestSameOrigin(t *testing.T) {
	assert.True(t, sameOrigin("https://gw.example.com/device?user_code=X", "https://gw.example.com"))
	assert.False(t, sameOrigin("https://evil.example.com/device", "https://gw.example.com"))
	assert.False(t, sameOrigin("http://gw.example.com/device", "https://gw.example.com"))
	assert.False(t, sameOrigin("javascript:alert(1)", "https://gw.example.com"))
	assert.False(t, sameOrigin("https://x@gw.example.com/device", "https://gw.example.com"))
}

func TestHasDisplay(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	if hasDisplay(env(nil)) {
		t.Skip("this platform always has a browser")
	}
	assert.True(t, hasDisplay(env(map[string]string{"DISPLAY": ":0"})))
	assert.True(t, hasDisplay(env(map[string]string{"WAYLAND_DISPLAY": "wayland-0"})))
	assert.False(t, hasDisplay(env(map[string]string{"DISPLAY": ""})))
}

func TestParseProcessCredentials(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	valid := `{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T","Expiration":"2030-01-01T02:00:00+01:00"}`
	pc, err := parseProcessCredentials([]byte(valid), now)
	require.NoError(t, err)
	assert.Equal(t, "2030-01-01T01:00:00Z", pc.Expiration)
	for name, bad := range map[string]string{
		"version 2":  strings.Replace(valid, `"Version":1`, `"Version":2`, 1),
		"no key":     strings.Replace(valid, `"A"`, `""`, 1),
		"no token":   strings.Replace(valid, `"T"`, `""`, 1),
		"bad time":   strings.Replace(valid, `2030-01-01T02:00:00+01:00`, `tomorrow`, 1),
		"expired":    strings.Replace(valid, `2030-01-01T02:00:00+01:00`, `2029-12-31T23:00:00Z`, 1),
		"not JSON":   `<html>`,
		"no secrets": strings.Replace(valid, `"S"`, `""`, 1),
	} {
		_, err := parseProcessCredentials([]byte(bad), now)
		assert.Error(t, err, name)
	}
}

func FuzzParseSession(f *testing.F) {
	f.Add([]byte(`{"url":"https://gw.example.com","access_token":"a","refresh_token":"r","expiry":"2030-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"url":"http://gw.example.com","access_token":"a"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSession(b)
		if err != nil {
			return
		}
		if s.AccessToken == "" {
			t.Fatalf("accepted a session without an access token: %q", b)
		}
		if _, err := gatewayURL(s.URL); err != nil {
			t.Fatalf("accepted a session with URL %q", s.URL)
		}
	})
}

func FuzzParseCachedCredentials(f *testing.F) {
	f.Add([]byte(`{"url":"https://gw","account_id":"111111111111","role":"R","credentials":{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T","Expiration":"2030-01-01T00:00:00Z"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCachedCredentials(b)
		if err != nil {
			return
		}
		if c.Credentials.Version != 1 || c.Credentials.AccessKeyID == "" {
			t.Fatalf("accepted %q", b)
		}
	})
}

func FuzzParseProcessCredentials(f *testing.F) {
	f.Add([]byte(`{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T","Expiration":"2030-01-01T02:00:00Z"}`))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		pc, err := parseProcessCredentials(b, now)
		if err != nil {
			return
		}
		exp, err := time.Parse(time.RFC3339, pc.Expiration)
		if err != nil || !exp.After(now) || pc.Version != 1 {
			t.Fatalf("accepted %q", b)
		}
	})
}
