package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

const testAdminToken = "test-admin-token-0123456789abcdef-xyz"

// adminCall is what the fake admin API received.
type adminCall struct {
	method, path, query, contentType, body string
}

// fakeAdminAPI answers every request with status and body once it has
// checked the bearer token (401 otherwise), recording what it received.
func fakeAdminAPI(t *testing.T, status int, body string) (*httptest.Server, *[]adminCall) {
	t.Helper()
	var calls []adminCall
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+testAdminToken {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"unauthorized","message":"a valid admin bearer token is required"}`)
			return
		}
		calls = append(calls, adminCall{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Content-Type"), string(b)})
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// writeTokenFile writes content to a new token file.
func writeTokenFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "admin.token")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// exitCode is the exit status main would use for err.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var re *reportedError
	require.ErrorAs(t, err, &re)
	return re.code
}

func TestAdminCommands(t *testing.T) {
	const user = `{"id":"u1","user_name":"alice"}`
	tests := []struct {
		name   string
		args   []string
		status int
		answer string
		want   adminCall
		stdout string
	}{
		{"users list", []string{"users", "list"}, 200, `{"users":[],"total":0}`,
			adminCall{"GET", "/api/v1/admin/users", "", "", ""}, "{\n  \"users\": [],\n  \"total\": 0\n}\n"},
		{"users list filtered", []string{"users", "list", "--filter", `userName eq "a b"`, "--count", "0"}, 200, `{"users":[],"total":3}`,
			adminCall{"GET", "/api/v1/admin/users", "count=0&filter=userName+eq+%22a+b%22", "", ""}, "{\n  \"users\": [],\n  \"total\": 3\n}\n"},
		{"users get", []string{"users", "get", "u/1"}, 200, user,
			adminCall{"GET", "/api/v1/admin/users/u%2F1", "", "", ""}, "{\n  \"id\": \"u1\",\n  \"user_name\": \"alice\"\n}\n"},
		{"users create", []string{"users", "create", "--user-name", "alice", "--email", "a@example.com", "--given-name", "Alice",
			"--family-name", "Liddell", "--display-name", "Alice L"}, 201, user,
			adminCall{"POST", "/api/v1/admin/users", "", "application/json",
				`{"display_name":"Alice L","email":"a@example.com","family_name":"Liddell","given_name":"Alice","user_name":"alice"}`},
			"{\n  \"id\": \"u1\",\n  \"user_name\": \"alice\"\n}\n"},
		{"users create minimal", []string{"users", "create", "--user-name", "alice"}, 201, user,
			adminCall{"POST", "/api/v1/admin/users", "", "application/json", `{"user_name":"alice"}`},
			"{\n  \"id\": \"u1\",\n  \"user_name\": \"alice\"\n}\n"},
		{"users deactivate", []string{"users", "deactivate", "u1"}, 200, user,
			adminCall{"POST", "/api/v1/admin/users/u1/deactivate", "", "", ""}, "{\n  \"id\": \"u1\",\n  \"user_name\": \"alice\"\n}\n"},
		{"users activate", []string{"users", "activate", "u1"}, 200, user,
			adminCall{"POST", "/api/v1/admin/users/u1/activate", "", "", ""}, "{\n  \"id\": \"u1\",\n  \"user_name\": \"alice\"\n}\n"},
		{"users delete", []string{"users", "delete", "u1"}, 204, "",
			adminCall{"DELETE", "/api/v1/admin/users/u1", "", "", ""}, ""},
		{"groups list", []string{"groups", "list"}, 200, `{"groups":[],"total":0}`,
			adminCall{"GET", "/api/v1/admin/groups", "", "", ""}, "{\n  \"groups\": [],\n  \"total\": 0\n}\n"},
		{"groups create", []string{"groups", "create", "--name", "Admins"}, 201, `{"id":"g1"}`,
			adminCall{"POST", "/api/v1/admin/groups", "", "application/json", `{"display_name":"Admins"}`}, "{\n  \"id\": \"g1\"\n}\n"},
		{"groups add-members", []string{"groups", "add-members", "g1", "u1", "u2"}, 200, `{"id":"g1"}`,
			adminCall{"POST", "/api/v1/admin/groups/g1/members", "", "application/json", `{"add":["u1","u2"]}`}, "{\n  \"id\": \"g1\"\n}\n"},
		{"groups remove-members", []string{"groups", "remove-members", "g1", "u2"}, 200, `{"id":"g1"}`,
			adminCall{"POST", "/api/v1/admin/groups/g1/members", "", "application/json", `{"remove":["u2"]}`}, "{\n  \"id\": \"g1\"\n}\n"},
		{"groups delete", []string{"groups", "delete", "g1"}, 204, "",
			adminCall{"DELETE", "/api/v1/admin/groups/g1", "", "", ""}, ""},
		{"scim-tokens create", []string{"scim-tokens", "create", "--name", "entra", "--days", "30"}, 201, `{"id":"t1","token":"s3cret"}`,
			adminCall{"POST", "/api/v1/admin/scim-tokens", "", "application/json", `{"expires_in_days":30,"name":"entra"}`},
			"{\n  \"id\": \"t1\",\n  \"token\": \"s3cret\"\n}\n"},
		{"scim-tokens create defaults", []string{"scim-tokens", "create"}, 201, `{"id":"t1","token":"s3cret"}`,
			adminCall{"POST", "/api/v1/admin/scim-tokens", "", "application/json", `{}`},
			"{\n  \"id\": \"t1\",\n  \"token\": \"s3cret\"\n}\n"},
		{"scim-tokens list", []string{"scim-tokens", "list"}, 200, `{"tokens":[],"max_active":2}`,
			adminCall{"GET", "/api/v1/admin/scim-tokens", "", "", ""}, "{\n  \"tokens\": [],\n  \"max_active\": 2\n}\n"},
		{"scim-tokens revoke", []string{"scim-tokens", "revoke", "t1"}, 204, "",
			adminCall{"DELETE", "/api/v1/admin/scim-tokens/t1", "", "", ""}, ""},
		{"users signin-status", []string{"users", "signin-status", "u/1"}, 200, `{"has_password":true,"failures":0}`,
			adminCall{"GET", "/api/v1/admin/users/u%2F1/signin", "", "", ""}, "{\n  \"has_password\": true,\n  \"failures\": 0\n}\n"},
		{"users unlock", []string{"users", "unlock", "u1"}, 204, "",
			adminCall{"POST", "/api/v1/admin/users/u1/unlock", "", "", ""}, ""},
		{"mfa list", []string{"mfa", "list", "u1"}, 200, `{"devices":[{"id":"d1","kind":"totp"}]}`,
			adminCall{"GET", "/api/v1/admin/users/u1/mfa-devices", "", "", ""},
			"{\n  \"devices\": [\n    {\n      \"id\": \"d1\",\n      \"kind\": \"totp\"\n    }\n  ]\n}\n"},
		{"mfa delete", []string{"mfa", "delete", "u/1", "d?1"}, 204, "",
			adminCall{"DELETE", "/api/v1/admin/users/u%2F1/mfa-devices/d%3F1", "", "", ""}, ""},
		{"audit", []string{"audit"}, 200, `{"events":[]}`,
			adminCall{"GET", "/api/v1/admin/audit", "", "", ""}, "{\n  \"events\": []\n}\n"},
		{"audit filtered", []string{"audit", "--type", "admin.", "--subject", "u1", "--limit", "5"}, 200, `{"events":[]}`,
			adminCall{"GET", "/api/v1/admin/audit", "limit=5&subject=u1&type=admin.", "", ""}, "{\n  \"events\": []\n}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := fakeAdminAPI(t, tc.status, tc.answer)
			args := append([]string{"admin", "--url", srv.URL + "/", "--token-file", writeTokenFile(t, "\n "+testAdminToken+"\n")}, tc.args...)
			stdout, stderr, err := runCLI(t, t.Context(), args...)
			require.NoError(t, err, stderr)
			assert.Equal(t, []adminCall{tc.want}, *calls)
			assert.Equal(t, tc.stdout, stdout)
			if tc.args[0] == "scim-tokens" && tc.args[1] == "create" {
				assert.Equal(t, "gatehouse admin: "+scimTokenWarning+"\n", stderr)
			} else {
				assert.Empty(t, stderr)
			}
		})
	}
}

func TestAdminTokenFromEnv(t *testing.T) {
	srv, calls := fakeAdminAPI(t, 200, `{"groups":[],"total":0}`)
	t.Setenv(adminTokenEnv, testAdminToken+"\n")
	_, stderr, err := runCLI(t, t.Context(), "admin", "--url", srv.URL, "groups", "list")
	require.NoError(t, err, stderr)
	assert.Len(t, *calls, 1)

	// --token-file wins over the environment.
	t.Setenv(adminTokenEnv, "another-token")
	_, stderr, err = runCLI(t, t.Context(), "admin", "--url", srv.URL, "--token-file", writeTokenFile(t, testAdminToken), "groups", "list")
	require.NoError(t, err, stderr)
	assert.Len(t, *calls, 2)
}

func TestAdminErrors(t *testing.T) {
	srv, calls := fakeAdminAPI(t, http.StatusNotFound, `{"error":"not_found","message":"no user has this ID"}`)
	tokenFile := writeTokenFile(t, testAdminToken)
	valid := []string{"admin", "--url", srv.URL, "--token-file", tokenFile}
	with := func(tail ...string) []string { return append(append([]string{}, valid...), tail...) }
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"API error", with("users", "get", "u9"), 1, "gatehouse admin: 404 not_found: no user has this ID\n"},
		{"wrong token", []string{"admin", "--url", srv.URL, "--token-file", writeTokenFile(t, "wrong-token"), "users", "get", "u9"},
			1, "gatehouse admin: 401 unauthorized: a valid admin bearer token is required\n"},
		{"missing token file", []string{"admin", "--url", srv.URL, "--token-file", filepath.Join(t.TempDir(), "nope"), "users", "get", "u9"},
			1, "no such file or directory\n"},
		{"empty token file", []string{"admin", "--url", srv.URL, "--token-file", writeTokenFile(t, " \n"), "users", "get", "u9"},
			1, "is empty\n"},
		{"token with a space", []string{"admin", "--url", srv.URL, "--token-file", writeTokenFile(t, "ab cd"), "users", "get", "u9"},
			1, "gatehouse admin: the admin token contains whitespace or control characters\n"},
		{"no token", []string{"admin", "--url", srv.URL, "users", "get", "u9"},
			2, "gatehouse admin: no admin token: give --token-file FILE or set GATEHOUSE_ADMIN_TOKEN\n"},
		{"http to a remote host", []string{"admin", "--url", "http://gw.example.com", "--token-file", tokenFile, "users", "get", "u9"},
			2, "gatehouse admin: --url: http is allowed only to a loopback address; use https\n"},
		{"other scheme", []string{"admin", "--url", "ftp://127.0.0.1", "--token-file", tokenFile, "users", "get", "u9"},
			2, `gatehouse admin: --url: the scheme must be https (or http to a loopback address), not "ftp"` + "\n"},
		{"URL with credentials", []string{"admin", "--url", "https://a:b@gw.example.com", "--token-file", tokenFile, "users", "get", "u9"},
			2, "gatehouse admin: --url: must not contain credentials\n"},
		{"no URL", []string{"admin", "--token-file", tokenFile, "users", "get", "u9"}, 2, "gatehouse admin: --url is required\n"},
		{"no resource", with(), 2, "gatehouse admin: a resource is required (users, groups, mfa, scim-tokens or audit)\n"},
		{"unknown resource", with("apps"), 2, `gatehouse admin: unknown resource "apps" (users, groups, mfa, scim-tokens or audit)` + "\n"},
		{"no verb", with("users"), 2, "gatehouse admin: users: a verb is required\n"},
		{"unknown verb", with("users", "rename", "u1"), 2, `gatehouse admin: users: unknown verb "rename"` + "\n"},
		{"missing ID", with("users", "get"), 2, "gatehouse admin: users get: an ID is required\n"},
		{"extra argument", with("users", "get", "u1", "u2"), 2, `gatehouse admin: users get: unexpected argument "u2"` + "\n"},
		{"dot-dot ID", with("users", "delete", ".."), 2, `gatehouse admin: users delete: ".." is not a valid ID` + "\n"},
		{"unknown flag", with("users", "list", "--bogus"), 2, "gatehouse admin: users list: flag provided but not defined: -bogus\n"},
		{"token as a flag", with("--token", testAdminToken, "users", "list"), 2, "gatehouse admin: flag provided but not defined: -token\n"},
		{"negative count", with("users", "list", "--count", "-1"), 2, "gatehouse admin: users list: --count must not be negative\n"},
		{"create without user name", with("users", "create", "--email", "a@example.com"), 2, "gatehouse admin: users create: --user-name is required\n"},
		{"group create without name", with("groups", "create"), 2, "gatehouse admin: groups create: --name is required\n"},
		{"members without users", with("groups", "add-members", "g1"), 2,
			"gatehouse admin: groups add-members: a group ID and at least one user ID is required\n"},
		{"signin-status without ID", with("users", "signin-status"), 2, "gatehouse admin: users signin-status: an ID is required\n"},
		{"unlock extra argument", with("users", "unlock", "u1", "u2"), 2, `gatehouse admin: users unlock: unexpected argument "u2"` + "\n"},
		{"set-password without ID", with("users", "set-password"), 2, "gatehouse admin: users set-password: an ID is required\n"},
		{"mfa without verb", with("mfa"), 2, "gatehouse admin: mfa: a verb is required\n"},
		{"mfa unknown verb", with("mfa", "reset", "u1"), 2, `gatehouse admin: mfa: unknown verb "reset"` + "\n"},
		{"mfa list without user", with("mfa", "list"), 2, "gatehouse admin: mfa list: a user ID is required\n"},
		{"mfa list extra argument", with("mfa", "list", "u1", "d1"), 2, `gatehouse admin: mfa list: unexpected argument "d1"` + "\n"},
		{"mfa delete without device", with("mfa", "delete", "u1"), 2,
			"gatehouse admin: mfa delete: a user ID and a device ID is required\n"},
		{"mfa delete extra argument", with("mfa", "delete", "u1", "d1", "d2"), 2, `gatehouse admin: mfa delete: unexpected argument "d2"` + "\n"},
		{"mfa delete dot-dot device", with("mfa", "delete", "u1", ".."), 2, `gatehouse admin: mfa delete: ".." is not a valid ID` + "\n"},
		{"zero days", with("scim-tokens", "create", "--days", "0"), 2, "gatehouse admin: scim-tokens create: --days must be at least 1\n"},
		{"zero limit", with("audit", "--limit", "0"), 2, "gatehouse admin: audit: --limit must be at least 1\n"},
		{"audit argument", with("audit", "extra"), 2, `gatehouse admin: audit: unexpected argument "extra"` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(*calls)
			stdout, stderr, err := runCLI(t, t.Context(), tc.args...)
			require.Error(t, err)
			assert.Equal(t, tc.code, exitCode(t, err))
			assert.Empty(t, stdout)
			assert.True(t, strings.HasSuffix(stderr, tc.stderr), "stderr %q ends with %q", stderr, tc.stderr)
			if tc.name != "API error" {
				assert.Equal(t, before, len(*calls), "no authenticated request was made")
			}
		})
	}
}

func TestAdminAnswerNotAnAPIError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html>\x1b[31mbad gateway</html>", http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	_, stderr, err := runCLI(t, t.Context(), "admin", "--url", srv.URL, "--token-file", writeTokenFile(t, testAdminToken), "groups", "list")
	assert.Equal(t, 1, exitCode(t, err))
	assert.Equal(t, "gatehouse admin: 502 Bad Gateway (not an admin API error answer)\n", stderr)

	// Control characters in an API error are dropped.
	srv2, _ := fakeAdminAPI(t, http.StatusConflict, "{\"error\":\"conflict\",\"message\":\"taken\\u001b[2J\"}")
	_, stderr, err = runCLI(t, t.Context(), "admin", "--url", srv2.URL, "--token-file", writeTokenFile(t, testAdminToken), "groups", "list")
	assert.Equal(t, 1, exitCode(t, err))
	assert.Equal(t, "gatehouse admin: 409 conflict: taken[2J\n", stderr)
}

func TestAdminDoesNotFollowRedirects(t *testing.T) {
	var followed bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed = true }))
	t.Cleanup(target.Close)
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	t.Cleanup(srv.Close)
	_, stderr, err := runCLI(t, t.Context(), "admin", "--url", srv.URL, "--token-file", writeTokenFile(t, testAdminToken), "users", "list")
	assert.Equal(t, 1, exitCode(t, err))
	assert.Contains(t, stderr, "gatehouse admin: 302 Found")
	assert.False(t, followed)
}

func TestAdminUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	_, stderr, err := runCLI(t, t.Context(), "admin", "--url", addr, "--token-file", writeTokenFile(t, testAdminToken), "users", "list")
	assert.Equal(t, 1, exitCode(t, err))
	assert.Contains(t, stderr, "gatehouse admin: GET /api/v1/admin/users: ")
	assert.NotContains(t, stderr, testAdminToken)
}

func TestAdminHelp(t *testing.T) {
	_, stderr, err := runCLI(t, context.Background(), "admin", "-h")
	require.NoError(t, err)
	assert.Contains(t, stderr, "groups add-members GROUP_ID USER_ID...")
	assert.Contains(t, stderr, "users set-password ID")
	assert.Contains(t, stderr, "mfa delete USER_ID DEVICE_ID")
	assert.Contains(t, stderr, "-token-file FILE")

	_, stderr, err = runCLI(t, context.Background(), "admin", "--url", "https://gw.example.com", "users", "create", "-h")
	require.NoError(t, err)
	assert.Contains(t, stderr, "-user-name")

	stdout, _, err := runCLI(t, context.Background(), "help")
	require.NoError(t, err)
	assert.Contains(t, stdout, "\n  admin --url URL <resource> <verb>")
}

func TestAdminURL(t *testing.T) {
	for _, ok := range []string{"https://gw.example.com", "https://gw.example.com/base/", "http://127.0.0.1:8080", "http://[::1]:80", "http://localhost"} {
		_, err := parseAdminURL(ok)
		assert.NoError(t, err, ok)
	}
	for _, bad := range []string{"gw.example.com", "http://10.0.0.1", "http://127.0.0.1.example.com", "https://gw.example.com/?x=1",
		"https://gw.example.com/#f", "https:gw", "//gw.example.com"} {
		_, err := parseAdminURL(bad)
		var ue *usageError
		assert.ErrorAs(t, err, &ue, bad)
	}
	u, err := parseAdminURL("https://gw.example.com/base/")
	require.NoError(t, err)
	assert.Equal(t, "https://gw.example.com/base", u.String())
}

func FuzzAdminURL(f *testing.F) {
	for _, s := range []string{"https://gw.example.com/base/", "http://127.0.0.1:8080", "http://[::ffff:127.0.0.1]", "http://10.0.0.1", "https://a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := parseAdminURL(raw)
		if err != nil {
			return
		}
		assert.Nil(t, u.User)
		assert.Empty(t, u.RawQuery)
		assert.NotEmpty(t, u.Host)
		if u.Scheme != "https" {
			assert.Equal(t, "http", u.Scheme)
			assert.True(t, config.IsLoopbackHost(u.Hostname()), raw)
		}
	})
}

// noRead is a stdin that fails the test when read.
type noRead struct{ t *testing.T }

func (r noRead) Read([]byte) (int, error) {
	r.t.Error("stdin was read")
	return 0, io.EOF
}

// adminWithStdin runs "gatehouse admin" with stdin and the token in the
// environment.
func adminWithStdin(t *testing.T, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut strings.Builder
	env := func(k string) (string, bool) {
		if k == adminTokenEnv {
			return testAdminToken, true
		}
		return "", false
	}
	err = adminMain(t.Context(), args, stdin, &out, &errOut, env)
	return out.String(), errOut.String(), err
}

func TestAdminSetPassword(t *testing.T) {
	tests := []struct {
		name, stdin, password string
	}{
		{"one line", "Tr0mbone-Velvet-Harbor\n", "Tr0mbone-Velvet-Harbor"},
		{"only the first line", "first line pw \nsecond line\n", "first line pw "},
		{"CRLF", "Tr0mbone-Velvet-Harbor\r\nmore", "Tr0mbone-Velvet-Harbor"},
		{"no line ending", "Tr0mbone-Velvet-Harbor", "Tr0mbone-Velvet-Harbor"},
		{"longest", strings.Repeat("p", maxPasswordInput) + "\n", strings.Repeat("p", maxPasswordInput)},
		{"longest without line ending", strings.Repeat("q", maxPasswordInput), strings.Repeat("q", maxPasswordInput)},
		{"spaces kept", "  spaced out pw  \n", "  spaced out pw  "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := fakeAdminAPI(t, http.StatusNoContent, "")
			stdout, stderr, err := adminWithStdin(t, strings.NewReader(tc.stdin), "--url", srv.URL, "users", "set-password", "u/1")
			require.NoError(t, err, stderr)
			assert.Empty(t, stdout)
			assert.Empty(t, stderr)
			body, err := json.Marshal(map[string]string{"password": tc.password})
			require.NoError(t, err)
			assert.Equal(t, []adminCall{{"PUT", "/api/v1/admin/users/u%2F1/password", "", "application/json", string(body)}}, *calls)
		})
	}
}

func TestAdminSetPasswordErrors(t *testing.T) {
	const pw = "Tr0mbone-Velvet-Harbor"
	tests := []struct {
		name   string
		stdin  io.Reader
		args   []string
		status int
		answer string
		code   int
		stderr string
	}{
		{"empty stdin", strings.NewReader(""), nil, 204, "", 2,
			"gatehouse admin: users set-password: no password: give the new password as the first line of stdin\n"},
		{"empty first line", strings.NewReader("\n" + pw + "\n"), nil, 204, "", 2,
			"gatehouse admin: users set-password: no password: give the new password as the first line of stdin\n"},
		{"too long", strings.NewReader(strings.Repeat("p", maxPasswordInput+1) + "\n"), nil, 204, "", 1,
			"gatehouse admin: users set-password: the first line of stdin is longer than 4096 bytes\n"},
		{"too long without line ending", strings.NewReader(strings.Repeat("p", maxPasswordInput+1)), nil, 204, "", 1,
			"gatehouse admin: users set-password: the first line of stdin is longer than 4096 bytes\n"},
		{"stdin fails", io.MultiReader(strings.NewReader("Tr0mb"), iotest.ErrReader(errors.New("broken pipe"))), nil, 204, "", 1,
			"gatehouse admin: users set-password: reading the password from stdin: broken pipe\n"},
		{"password as an argument", noRead{t}, []string{"--url", "", "users", "set-password", "u1", pw}, 204, "", 2,
			"gatehouse admin: users set-password: takes only the user ID; the password is read from stdin, never from an argument\n"},
		{"refused by the policy", strings.NewReader(pw + "\n"), nil, 400,
			`{"error":"invalid_password","message":"the password must be at least 12 characters"}`, 1,
			"gatehouse admin: 400 invalid_password: the password must be at least 12 characters\n"},
		{"directory not configured", strings.NewReader(pw + "\n"), nil, 404,
			`{"error":"not_found","message":"the directory identity source is not configured"}`, 1,
			"gatehouse admin: 404 not_found: the directory identity source is not configured\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := fakeAdminAPI(t, tc.status, tc.answer)
			args := tc.args
			if args == nil {
				args = []string{"--url", srv.URL, "users", "set-password", "u1"}
			} else {
				args[1] = srv.URL
			}
			stdout, stderr, err := adminWithStdin(t, tc.stdin, args...)
			require.Error(t, err)
			assert.Equal(t, tc.code, exitCode(t, err))
			assert.Empty(t, stdout)
			assert.True(t, strings.HasSuffix(stderr, tc.stderr), "stderr %q ends with %q", stderr, tc.stderr)
			assert.NotContains(t, stderr, pw, "the password is never printed")
			if tc.status == 204 {
				assert.Empty(t, *calls, "no request was made")
			} else {
				assert.Len(t, *calls, 1)
			}
		})
	}

	// Without a token or a URL the password is not even read.
	err := adminMain(t.Context(), []string{"--url", "https://gw.example.com", "users", "set-password", "u1"},
		noRead{t}, io.Discard, io.Discard, func(string) (string, bool) { return "", false })
	assert.Equal(t, 2, exitCode(t, err))
	_, _, err = adminWithStdin(t, noRead{t}, "users", "set-password", "u1")
	assert.Equal(t, 2, exitCode(t, err))
}

func FuzzReadPasswordLine(f *testing.F) {
	for _, s := range []string{"pw\n", "pw\r\nnext", "", "\n", "a\rb\n", strings.Repeat("x", maxPasswordInput+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		pw, err := readPasswordLine(strings.NewReader(in))
		if err != nil {
			return
		}
		assert.NotEmpty(t, pw)
		assert.LessOrEqual(t, len(pw), maxPasswordInput)
		assert.NotContains(t, pw, "\n")
		assert.True(t, strings.HasPrefix(in, pw), "the password is the start of stdin")
	})
}
