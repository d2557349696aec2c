package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

const adminUsage = `Usage: gatehouse admin --url URL [--token-file FILE] <resource> <verb> [args]

Calls the gateway's admin API (/api/v1/admin) with the admin bearer token,
read from --token-file (trimmed) or else from the GATEHOUSE_ADMIN_TOKEN
environment variable; never from a flag value. URL must be https, or http
to a loopback address.

  users list [--filter F] [--count N]
  users get ID
  users create --user-name U [--email E] [--given-name G] [--family-name F] [--display-name D]
  users deactivate ID
  users activate ID
  users delete ID
  users set-password ID       (the new password is the first line of stdin)
  users signin-status ID      (directory sign-in: password, lockout, MFA devices)
  users unlock ID
  groups list
  groups create --name N
  groups add-members GROUP_ID USER_ID...
  groups remove-members GROUP_ID USER_ID...
  groups delete ID
  mfa list USER_ID
  mfa delete USER_ID DEVICE_ID
  scim-tokens create [--name N] [--days D]
  scim-tokens list
  scim-tokens revoke ID
  audit [--type T] [--subject S] [--limit N]

set-password never takes the password as an argument, so that it stays out
of shell history and process listings: pipe it in (from a password manager
or a file) or type it (it is shown as typed). It also clears the user's
lockout.

Answers are printed as indented JSON on stdout (deletions, set-password
and unlock print nothing).
Exit status: 0 on success, 1 when the request failed or the API answered
an error, 2 for a usage error.
`

// Admin command settings.
const (
	// adminTokenEnv holds the admin token when --token-file is not given.
	adminTokenEnv = "GATEHOUSE_ADMIN_TOKEN"
	// adminAPIPath is the root of the admin API under --url.
	adminAPIPath = "/api/v1/admin"
	// adminTimeout bounds each admin API request, the body included.
	adminTimeout = 30 * time.Second
	// maxAdminResponse caps the answer read from the admin API (32 MiB).
	maxAdminResponse = 32 << 20
	// maxPasswordInput caps the first line of stdin read by set-password
	// (bytes, the line ending excluded).
	maxPasswordInput = 4 << 10
	// scimTokenWarning is printed to stderr after a SCIM token is created.
	scimTokenWarning = "warning: the SCIM token above is shown only this once and cannot be retrieved again; store it now"
)

// Exit statuses of the admin command.
const (
	exitFailure = 1
	exitUsage   = 2
)

// reportedError is an error a command has already printed to stderr; main
// exits with its code without printing it again.
type reportedError struct {
	code int
	err  error
}

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errAdminHelp is returned when help was requested: nothing failed.
var errAdminHelp = errors.New("help requested")

// apiError is an error answer of the admin API.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("%d %s", e.Status, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// adminRequest is one call of the admin API.
type adminRequest struct {
	method string
	// path is below adminAPIPath, its segments already escaped.
	path  string
	query url.Values
	// body is sent as JSON when not nil.
	body any
	// stdinBody, when set, reads the body from stdin once the command
	// line, URL and token are known to be valid.
	stdinBody func(stdin io.Reader, stderr io.Writer) (any, error)
	// after runs after a successful answer was printed.
	after func(stderr io.Writer)
}

// runAdmin runs "gatehouse admin", printing its own errors as
// "gatehouse admin: ..." and returning them as a *reportedError.
func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return adminMain(ctx, args, os.Stdin, stdout, stderr, os.LookupEnv)
}

// adminMain is runAdmin with its input and environment given.
func adminMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) error {
	err := adminCommand(ctx, args, stdin, stdout, stderr, lookupEnv)
	if err == nil || errors.Is(err, errAdminHelp) {
		return nil
	}
	code := exitFailure
	var ue *usageError
	if errors.As(err, &ue) {
		code = exitUsage
	}
	fmt.Fprintln(stderr, "gatehouse admin:", err)
	return &reportedError{code: code, err: err}
}

func adminCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) error {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, adminUsage)
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	rawURL := fs.String("url", "", "the gateway's base `URL` (https, or http to a loopback address)")
	tokenFile := fs.String("token-file", "", "the `FILE` holding the admin token (default: $"+adminTokenEnv+")")
	if err := parseAdminFlags(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return usageErrorf("a resource is required (%s)", adminResources)
	}
	req, err := buildAdminRequest(rest, stderr)
	if err != nil {
		return err
	}
	if *rawURL == "" {
		return usageErrorf("--url is required")
	}
	base, err := parseAdminURL(*rawURL)
	if err != nil {
		return err
	}
	token, err := adminToken(*tokenFile, lookupEnv)
	if err != nil {
		return err
	}
	if req.stdinBody != nil {
		if req.body, err = req.stdinBody(stdin, stderr); err != nil {
			return err
		}
	}
	body, err := callAdminAPI(ctx, base, token, req)
	if err != nil {
		return err
	}
	if len(body) > 0 {
		var out bytes.Buffer
		if err := json.Indent(&out, body, "", "  "); err != nil {
			return fmt.Errorf("the answer is not JSON: %w", err)
		}
		out.WriteByte('\n')
		if _, err := stdout.Write(out.Bytes()); err != nil {
			return fmt.Errorf("writing the answer: %w", err)
		}
	}
	if req.after != nil {
		req.after(stderr)
	}
	return nil
}

// parseAdminFlags parses fs, mapping help to errAdminHelp and every other
// flag error to a usage error.
func parseAdminFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errAdminHelp
		}
		if fs.Name() == "admin" {
			return &usageError{msg: err.Error()}
		}
		return &usageError{msg: fs.Name() + ": " + err.Error()}
	}
	return nil
}

// adminVerb parses the arguments of one verb into a request.
type adminVerb func(name string, args []string, stderr io.Writer) (adminRequest, error)

// adminVerbs are the verbs of each resource; the resource "audit" has no
// verb (its key is "").
var adminVerbs = map[string]map[string]adminVerb{
	"users": {
		"list":       usersList,
		"get":        idVerb(http.MethodGet, "/users/", ""),
		"create":     usersCreate,
		"deactivate": idVerb(http.MethodPost, "/users/", "/deactivate"),
		"activate":   idVerb(http.MethodPost, "/users/", "/activate"),
		"delete":     idVerb(http.MethodDelete, "/users/", ""),
		// The directory sign-in (identity_source directory).
		"set-password":  usersSetPassword,
		"signin-status": idVerb(http.MethodGet, "/users/", "/signin"),
		"unlock":        idVerb(http.MethodPost, "/users/", "/unlock"),
	},
	"groups": {
		"list":           groupsList,
		"create":         groupsCreate,
		"add-members":    groupMembers("add"),
		"remove-members": groupMembers("remove"),
		"delete":         idVerb(http.MethodDelete, "/groups/", ""),
	},
	"mfa": {
		"list":   userIDVerb(http.MethodGet, "/mfa-devices"),
		"delete": mfaDelete,
	},
	"scim-tokens": {
		"create": scimTokensCreate,
		"list":   noArgsVerb(http.MethodGet, "/scim-tokens"),
		"revoke": idVerb(http.MethodDelete, "/scim-tokens/", ""),
	},
	"audit": {
		"": auditQuery,
	},
}

// adminResources names the resources in messages.
const adminResources = "users, groups, mfa, scim-tokens or audit"

// buildAdminRequest parses "<resource> <verb> [args]".
func buildAdminRequest(args []string, stderr io.Writer) (adminRequest, error) {
	resource := args[0]
	verbs, ok := adminVerbs[resource]
	if !ok {
		fmt.Fprint(stderr, adminUsage)
		return adminRequest{}, usageErrorf("unknown resource %q (%s)", resource, adminResources)
	}
	if v, ok := verbs[""]; ok {
		return v(resource, args[1:], stderr)
	}
	if len(args) < 2 {
		fmt.Fprint(stderr, adminUsage)
		return adminRequest{}, usageErrorf("%s: a verb is required", resource)
	}
	v, ok := verbs[args[1]]
	if !ok {
		fmt.Fprint(stderr, adminUsage)
		return adminRequest{}, usageErrorf("%s: unknown verb %q", resource, args[1])
	}
	return v(resource+" "+args[1], args[2:], stderr)
}

// newAdminFlagSet returns the flag set of a verb.
func newAdminFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gatehouse admin --url URL [--token-file FILE] %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseVerb parses the flags of a verb and checks how many positional
// arguments follow: at least min, and at most max unless max is -1.
func parseVerb(fs *flag.FlagSet, args []string, minArgs, maxArgs int, what string) ([]string, error) {
	if err := parseAdminFlags(fs, args); err != nil {
		return nil, err
	}
	pos := fs.Args()
	if len(pos) < minArgs {
		fs.Usage()
		return nil, usageErrorf("%s: %s is required", fs.Name(), what)
	}
	if maxArgs >= 0 && len(pos) > maxArgs {
		fs.Usage()
		return nil, usageErrorf("%s: unexpected argument %q", fs.Name(), pos[maxArgs])
	}
	for _, p := range pos {
		if err := checkID(p); err != nil {
			return nil, usageErrorf("%s: %v", fs.Name(), err)
		}
	}
	return pos, nil
}

// checkID rejects IDs that cannot name a resource in a URL path.
func checkID(id string) error {
	if id == "" || id == "." || id == ".." {
		return fmt.Errorf("%q is not a valid ID", id)
	}
	return nil
}

// idVerb is a verb taking exactly one ID: METHOD prefix+ID+suffix.
func idVerb(method, prefix, suffix string) adminVerb {
	return func(name string, args []string, stderr io.Writer) (adminRequest, error) {
		fs := newAdminFlagSet(name, name+" ID", stderr)
		pos, err := parseVerb(fs, args, 1, 1, "an ID")
		if err != nil {
			return adminRequest{}, err
		}
		return adminRequest{method: method, path: prefix + url.PathEscape(pos[0]) + suffix}, nil
	}
}

// userIDVerb is a verb taking exactly one user ID: METHOD
// /users/ID+suffix.
func userIDVerb(method, suffix string) adminVerb {
	return func(name string, args []string, stderr io.Writer) (adminRequest, error) {
		fs := newAdminFlagSet(name, name+" USER_ID", stderr)
		pos, err := parseVerb(fs, args, 1, 1, "a user ID")
		if err != nil {
			return adminRequest{}, err
		}
		return adminRequest{method: method, path: "/users/" + url.PathEscape(pos[0]) + suffix}, nil
	}
}

// mfaDelete deletes one of a user's MFA devices (a lost phone or key).
func mfaDelete(name string, args []string, stderr io.Writer) (adminRequest, error) {
	fs := newAdminFlagSet(name, name+" USER_ID DEVICE_ID", stderr)
	pos, err := parseVerb(fs, args, 2, 2, "a user ID and a device ID")
	if err != nil {
		return adminRequest{}, err
	}
	return adminRequest{
		method: http.MethodDelete,
		path:   "/users/" + url.PathEscape(pos[0]) + "/mfa-devices/" + url.PathEscape(pos[1]),
	}, nil
}

// usersSetPassword sets a user's directory sign-in password, read from
// the first line of stdin: never from an argument, which shell history
// and process listings would show.
func usersSetPassword(name string, args []string, stderr io.Writer) (adminRequest, error) {
	fs := newAdminFlagSet(name, name+" ID  (the new password is the first line of stdin)", stderr)
	pos, err := parseVerb(fs, args[:min(len(args), 1)], 1, 1, "an ID")
	if err != nil {
		return adminRequest{}, err
	}
	if len(args) > 1 {
		// Not echoed: it may well be the password.
		fs.Usage()
		return adminRequest{}, usageErrorf("%s: takes only the user ID; the password is read from stdin, never from an argument", name)
	}
	user := pos[0]
	return adminRequest{
		method: http.MethodPut,
		path:   "/users/" + url.PathEscape(user) + "/password",
		stdinBody: func(stdin io.Reader, stderr io.Writer) (any, error) {
			if isTerminal(stdin) {
				fmt.Fprintf(stderr, "New password for %s (shown as typed; end with Enter): ", printable(user))
			}
			pw, err := readPasswordLine(stdin)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return map[string]string{"password": pw}, nil
		},
	}, nil
}

// readPasswordLine returns the first line of r without its line ending
// (\n or \r\n); it reads at most maxPasswordInput bytes before it.
func readPasswordLine(r io.Reader) (string, error) {
	br := bufio.NewReader(io.LimitReader(r, maxPasswordInput+2))
	line, err := br.ReadString('\n')
	switch {
	case err == nil:
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	case errors.Is(err, io.EOF):
		// The last line, without a line ending; LimitReader's end too.
		if len(line) > maxPasswordInput {
			return "", fmt.Errorf("the first line of stdin is longer than %d bytes", maxPasswordInput)
		}
		line = strings.TrimSuffix(line, "\r")
	default:
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	if len(line) > maxPasswordInput {
		return "", fmt.Errorf("the first line of stdin is longer than %d bytes", maxPasswordInput)
	}
	if line == "" {
		return "", &usageError{msg: "no password: give the new password as the first line of stdin"}
	}
	return line, nil
}

// isTerminal reports whether r is a terminal (a character device).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// noArgsVerb is a verb without flags or arguments.
func noArgsVerb(method, path string) adminVerb {
	return func(name string, args []string, stderr io.Writer) (adminRequest, error) {
		fs := newAdminFlagSet(name, name, stderr)
		if _, err := parseVerb(fs, args, 0, 0, ""); err != nil {
			return adminRequest{}, err
		}
		return adminRequest{method: method, path: path}, nil
	}
}

func usersList(name string, args []string, stderr io.Writer) (adminRequest, error) {
	fs := newAdminFlagSet(name, name+" [--filter F] [--count N]", stderr)
	filter := fs.String("filter", "", "a SCIM `filter` on the SCIM attribute names, such as 'userName eq \"alice\"'")
	count := fs.Int("count", -1, "the page size `N` (0 to 1000; default: the server's, 100)")
	if _, err := parseVerb(fs, args, 0, 0, ""); err != nil {
		return adminRequest{}, err
	}
	q := url.Values{}
	if *filter != "" {
		q.Set("filter", *filter)
	}
	if isFlagSet(fs, "count") {
		if *count < 0 {
			return adminRequest{}, usageErrorf("%s: --count must not be negative", name)
		}
		q.Set("count", strconv.Itoa(*count))
	}
	return adminRequest{method: http.MethodGet, path: "/users", query: q}, nil
}

func usersCreate(name string, args []string, stderr io.Writer) (adminRequest, error) {
	fs := newAdminFlagSet(name, name+" --user-name U [--email E] [--given-name G] [--family-name F] [--display-name D]", stderr)
	fields := []struct{ flag, json, usage string }{
		{"user-name", "user_name", "the user's unique `name` (required)"},
		{"email", "email", "the primary e-mail `address`"},
		{"given-name", "given_name", "the given `name`"},
		{"family-name", "family_name", "the family `name`"},
		{"display-name", "display_name", "the display `name`"},
	}
	vals := make([]*string, len(fields))
	for i, f := range fields {
		vals[i] = fs.String(f.flag, "", f.usage)
	}
	if _, err := parseVerb(fs, args, 0, 0, ""); err != nil {
		return adminRequest{}, err
	}
	if *vals[0] == "" {
		fs.Usage()
		return adminRequest{}, usageErrorf("%s: --user-name is required", name)
	}
	body := map[string]string{}
	for i, f := range fields {
		if *vals[i] != "" {
			body[f.json] = *vals[i]
		}
	}
	return adminRequest{method: http.MethodPost, path: "/users", body: body}, nil
}

func groupsList(name string, args []string, stderr io.Writer) (adminRequest, error) {
	return noArgsVerb(http.MethodGet, "/groups")(name, args, stderr)
}

func groupsCreate(name string, args []string, stderr io.Writer) (adminRequest, error) {
	fs := newAdminFlagSet(name, name+" --name N", stderr)
	display := fs.String("name", "", "the group's display `name` (required)")
	if _, err := parseVerb(fs, args, 0, 0, ""); err != nil {
		return adminRequest{}, err
	}
	if *display == "" {
		fs.Usage()
		return adminRequest{}, usageErrorf("%s: --name is required", name)
	}
	return adminRequest{method: http.MethodPost, path: "/groups", body: map[string]string{"display_name": *display}}, nil
}

// groupMembers adds users to or removes them from a group (op "add" or
// "remove").
func groupMembers(op string) adminVerb {
	return func(name string, args []string, stderr io.Writer) (adminRequest, error) {
		fs := newAdminFlagSet(name, name+" GROUP_ID USER_ID...", stderr)
		pos, err := parseVerb(fs, args, 2, -1, "a group ID and at least one user ID")
		if err != nil {
			return adminRequest{}, err
		}
		return adminRequest{
			method: http.MethodPost,
			path:   "/groups/" + url.PathEscape(pos[0]) + "/members",
			body:   map[string][]string{op: pos[1:]},
		}, nil
	}
}

func scimTokensCreate(name string, args []string, stderr io.Writer) (adminRequest, error) {
	fs := newAdminFlagSet(name, name+" [--name N] [--days D]", stderr)
	desc := fs.String("name", "", "a `description` of the token")
	days := fs.Int("days", 0, "the token's lifetime in `days` (default: the configured lifetime)")
	if _, err := parseVerb(fs, args, 0, 0, ""); err != nil {
		return adminRequest{}, err
	}
	body := map[string]any{}
	if *desc != "" {
		body["name"] = *desc
	}
	if isFlagSet(fs, "days") {
		if *days < 1 {
			return adminRequest{}, usageErrorf("%s: --days must be at least 1", name)
		}
		body["expires_in_days"] = *days
	}
	return adminRequest{
		method: http.MethodPost, path: "/scim-tokens", body: body,
		after: func(stderr io.Writer) { fmt.Fprintln(stderr, "gatehouse admin:", scimTokenWarning) },
	}, nil
}

func auditQuery(name string, args []string, stderr io.Writer) (adminRequest, error) {
	fs := newAdminFlagSet(name, name+" [--type T] [--subject S] [--limit N]", stderr)
	typ := fs.String("type", "", "the event `type`, exact or a prefix ending in \".\"")
	subject := fs.String("subject", "", "the event `subject`")
	limit := fs.Int("limit", 0, "at most `N` events, newest first (1 to 1000; default: the server's, 100)")
	if _, err := parseVerb(fs, args, 0, 0, ""); err != nil {
		return adminRequest{}, err
	}
	q := url.Values{}
	if *typ != "" {
		q.Set("type", *typ)
	}
	if *subject != "" {
		q.Set("subject", *subject)
	}
	if isFlagSet(fs, "limit") {
		if *limit < 1 {
			return adminRequest{}, usageErrorf("%s: --limit must be at least 1", name)
		}
		q.Set("limit", strconv.Itoa(*limit))
	}
	return adminRequest{method: http.MethodGet, path: "/audit", query: q}, nil
}

// isFlagSet reports whether the flag was given on the command line.
func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// parseAdminURL checks --url: absolute, https or http to a loopback
// address, without credentials, query or fragment.
func parseAdminURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return nil, usageErrorf("--url: %q is not an absolute http(s) URL", raw)
	}
	if u.User != nil {
		return nil, usageErrorf("--url: must not contain credentials")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, usageErrorf("--url: must not have a query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !config.IsLoopbackHost(u.Hostname()) {
			return nil, usageErrorf("--url: http is allowed only to a loopback address; use https")
		}
	default:
		return nil, usageErrorf("--url: the scheme must be https (or http to a loopback address), not %q", u.Scheme)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// adminToken reads the admin token from file (trimmed) or else from the
// environment.
func adminToken(file string, lookupEnv func(string) (string, bool)) (string, error) {
	var token string
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading the admin token: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return "", fmt.Errorf("the admin token file %s is empty", file)
		}
	default:
		v, _ := lookupEnv(adminTokenEnv)
		token = strings.TrimSpace(v)
		if token == "" {
			return "", usageErrorf("no admin token: give --token-file FILE or set %s", adminTokenEnv)
		}
	}
	if strings.ContainsFunc(token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", errors.New("the admin token contains whitespace or control characters")
	}
	return token, nil
}

// callAdminAPI sends req and returns the body of a 2xx answer; any other
// answer is an *apiError. Redirects are not followed.
func callAdminAPI(ctx context.Context, base *url.URL, token string, req adminRequest) ([]byte, error) {
	target := base.String() + adminAPIPath + req.path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		b, err := json.Marshal(req.body)
		if err != nil {
			return nil, fmt.Errorf("encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	hr.Header.Set("Accept", "application/json")
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{
		Timeout: adminTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(hr)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s %s: %w", req.method, adminAPIPath+req.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminResponse+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(b) > maxAdminResponse {
		return nil, fmt.Errorf("the answer is larger than %d bytes", maxAdminResponse)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return b, nil
	}
	var eb struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
		return nil, &apiError{Status: resp.StatusCode, Message: http.StatusText(resp.StatusCode) + " (not an admin API error answer)"}
	}
	return nil, &apiError{Status: resp.StatusCode, Code: printable(eb.Error), Message: printable(eb.Message)}
}

// printable drops control characters, so that a server's message cannot
// drive the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}
