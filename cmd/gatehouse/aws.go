package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/awsapi"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

// The AWS commands: login, credentials, accounts and logout.
//
// Security model of these commands:
//
//   - login uses the OAuth device flow (RFC 8628) as the public client
//     gatehouse-cli, asking for the audience {url}/api and the scope
//     credentials only. The user code and address are printed on stderr
//     with control characters removed; a browser is opened only on an
//     address of the gateway's own origin, never one the gateway names
//     elsewhere.
//   - --url must be https (http only to a loopback address) with no
//     user information, query or fragment; no redirect is followed, so a
//     bearer or refresh token is only ever sent to that origin.
//   - The session (tokens) and the credentials caches live in
//     <user config folder>/gatehouse, a 0700 folder of 0600 files. A
//     folder or file that is open to others, owned by another user, or a
//     symbolic link is refused (a credentials entry is then vended anew);
//     files are written to a temporary file and renamed, so a reader never
//     sees half a file. Credentials cache file names are hashes, so no
//     command-line value reaches a path.
//   - Refresh tokens rotate: the read-refresh-write of the session runs
//     under an exclusive lock on the folder and re-reads the session once
//     locked, so that concurrent processes (an SDK starting several
//     credential_process at once) never present the same refresh token
//     twice, which would revoke the sign-in.
//   - Credentials are printed on stdout only (credential_process) and are
//     reused until 5 minutes before their expiration; login drops every
//     cached credential and logout revokes the refresh token (best
//     effort) and deletes the session and every cached credential.
//   - Tokens and keys are never printed on stderr or in error messages.

// Settings of the AWS commands (login, credentials, accounts, logout).
const (
	// cliClientID is the gateway's built-in public OAuth client.
	cliClientID = gateway.CLIClientID
	// refreshLeeway: the access token is refreshed when it expires within it.
	refreshLeeway = time.Minute
	// credentialsLeeway: cached credentials are reused until this long
	// before their expiration.
	credentialsLeeway = 5 * time.Minute
	// cliTimeout bounds each HTTP request (the device flow's polling is
	// bounded by the code's expiry instead).
	cliTimeout = 30 * time.Second
	// maxCLIResponse caps an answer read from the gateway.
	maxCLIResponse = 1 << 20
)

// awsCLI holds what the AWS commands depend on, so that tests can inject
// them.
type awsCLI struct {
	stdout, stderr io.Writer
	// configDir is the user's config folder (os.UserConfigDir).
	configDir func() (string, error)
	// client makes every HTTP request; it follows no redirect.
	client *http.Client
	// now is the clock used for the caches.
	now func() time.Time
	// canOpenBrowser reports whether a browser can be opened;
	// openBrowser opens one on a URL.
	canOpenBrowser func() bool
	openBrowser    func(url string) error
}

// newAWSCLI returns the AWS commands wired to the real system.
func newAWSCLI(stdout, stderr io.Writer) *awsCLI {
	return &awsCLI{
		stdout:         stdout,
		stderr:         stderr,
		configDir:      os.UserConfigDir,
		client:         newCLIClient(),
		now:            time.Now,
		canOpenBrowser: func() bool { return hasDisplay(os.LookupEnv) },
		openBrowser:    startBrowser,
	}
}

// newCLIClient returns an HTTP client that follows no redirects: a
// redirect must never carry a bearer or refresh token elsewhere.
func newCLIClient() *http.Client {
	return &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// hasDisplay reports whether a graphical browser can be started.
func hasDisplay(lookupEnv func(string) (string, bool)) bool {
	switch runtime.GOOS {
	case "darwin", "windows":
		return true
	}
	for _, k := range []string{"DISPLAY", "WAYLAND_DISPLAY"} {
		if v, ok := lookupEnv(k); ok && v != "" {
			return true
		}
	}
	return false
}

// startBrowser opens target with the system's opener without waiting
// for it.
func startBrowser(target string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", target)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", target)
	default:
		cmd = exec.Command("xdg-open", target)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// cliOAuthConfig is the OAuth client configuration for a gateway.
func cliOAuthConfig(base string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: cliClientID,
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: base + oauth.PathDeviceAuthorization,
			TokenURL:      base + oauth.PathToken,
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		Scopes: []string{gateway.CLIScope},
	}
}

// oauthContext makes golang.org/x/oauth2 use the CLI's HTTP client.
func (c *awsCLI) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.client)
}

// commandError prefixes err with the command's name.
func commandError(cmd string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// errNotSignedIn is returned when there is no cached session.
var errNotSignedIn = errors.New("not signed in; run: gatehouse login --url URL")

// gatewayURL validates a --url value and returns it normalized.
func gatewayURL(raw string) (string, error) {
	u, err := parseAdminURL(raw)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// sameOrigin reports whether target is an http(s) URL on base's origin.
func sameOrigin(target, base string) bool {
	t, err := url.Parse(target)
	if err != nil {
		return false
	}
	b, err := url.Parse(base)
	if err != nil {
		return false
	}
	return (t.Scheme == "https" || t.Scheme == "http") && t.Scheme == b.Scheme && t.Host == b.Host && t.User == nil
}

func runLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return newAWSCLI(stdout, stderr).login(ctx, args)
}

func runCredentials(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return newAWSCLI(stdout, stderr).credentials(ctx, args)
}

func runAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return newAWSCLI(stdout, stderr).accounts(ctx, args)
}

func runLogout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return newAWSCLI(stdout, stderr).logout(ctx, args)
}

// login runs "gatehouse login".
func (c *awsCLI) login(ctx context.Context, args []string) error {
	fs := newFlagSet("login", "login --url URL [--no-browser]", c.stderr)
	rawURL := fs.String("url", "", "the gateway's base `URL` (https, or http to a loopback address)")
	noBrowser := fs.Bool("no-browser", false, "print the sign-in address without opening a browser")
	if done, err := parseFlags(fs, args); done || err != nil {
		return err
	}
	if *rawURL == "" {
		fs.Usage()
		return errors.New("login: --url is required")
	}
	base, err := gatewayURL(*rawURL)
	if err != nil {
		return commandError("login", err)
	}
	d, err := c.cacheDir()
	if err != nil {
		return commandError("login", err)
	}
	s, err := c.deviceFlow(ctx, base, !*noBrowser)
	if err != nil {
		return commandError("login", err)
	}
	var old session
	err = d.locked(ctx, func() error {
		prev, err := d.loadSession()
		if err == nil {
			old = prev
		} else if !errors.Is(err, errNotSignedIn) {
			fmt.Fprintf(c.stderr, "warning: replacing an unreadable session cache: %v\n", err)
			if rerr := d.remove(sessionFile); rerr != nil {
				return rerr
			}
		}
		if err := d.saveSession(s); err != nil {
			return err
		}
		// Credentials vended to the previous sign-in are not this one's.
		return d.removeCredentials()
	})
	if err != nil {
		return commandError("login", err)
	}
	if old.RefreshToken != "" && old.RefreshToken != s.RefreshToken {
		c.revoke(ctx, old.URL, old.RefreshToken)
	}
	fmt.Fprintf(c.stderr, "Signed in to %s.\n", base)
	return nil
}

// deviceFlow runs the OAuth device authorization grant (RFC 8628).
func (c *awsCLI) deviceFlow(ctx context.Context, base string, browser bool) (session, error) {
	conf := cliOAuthConfig(base)
	octx := c.oauthContext(ctx)
	rctx, cancel := context.WithTimeout(octx, cliTimeout)
	da, err := conf.DeviceAuth(rctx, oauth2.SetAuthURLParam("audience", gateway.CLIAudience(base)))
	cancel()
	if err != nil {
		return session{}, fmt.Errorf("starting the device sign-in at %s: %w", base, oauthError(err))
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return session{}, errors.New("the gateway's device authorization answer lacks a code or address")
	}
	fmt.Fprintf(c.stderr, "To sign in, open %s and enter the code: %s\n", printable(da.VerificationURI), printable(da.UserCode))
	target := da.VerificationURIComplete
	if target == "" {
		target = da.VerificationURI
	}
	switch {
	case !browser || !c.canOpenBrowser():
	case !sameOrigin(target, base):
		fmt.Fprintln(c.stderr, "The sign-in address is not on the gateway's origin; open it yourself if you trust it.")
	default:
		if err := c.openBrowser(target); err != nil {
			fmt.Fprintf(c.stderr, "Could not open a browser (%v); open the address above yourself.\n", err)
		} else {
			fmt.Fprintln(c.stderr, "A browser was opened; check that it shows the same code.")
		}
	}
	fmt.Fprintln(c.stderr, "Waiting for approval...")
	if da.Expiry.IsZero() {
		da.Expiry = time.Now().Add(15 * time.Minute)
	}
	tok, err := conf.DeviceAccessToken(octx, da)
	if err != nil {
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && re.ErrorCode == "access_denied":
			return session{}, errors.New("the sign-in was denied")
		case errors.As(err, &re) && re.ErrorCode == "expired_token",
			errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			return session{}, errors.New("the code expired before it was approved; run gatehouse login again")
		}
		return session{}, fmt.Errorf("waiting for approval: %w", oauthError(err))
	}
	if tok.AccessToken == "" {
		return session{}, errors.New("the gateway answered no access token")
	}
	return session{URL: base, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry.UTC()}, nil
}

// oauthError shortens a golang.org/x/oauth2 error to its OAuth error
// code and description.
func oauthError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		if re.ErrorDescription != "" {
			return fmt.Errorf("%s: %s", re.ErrorCode, printable(re.ErrorDescription))
		}
		return errors.New(re.ErrorCode)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// token returns a session with an access token valid for at least
// refreshLeeway, refreshing it (and storing the rotated refresh token)
// when needed or when force is set. wantURL, when not empty, must be the
// session's gateway.
func (c *awsCLI) token(ctx context.Context, d *cacheDir, wantURL string, force bool) (session, error) {
	s, err := d.loadSession()
	if err != nil {
		return session{}, err
	}
	if wantURL != "" && s.URL != wantURL {
		return session{}, fmt.Errorf("signed in to %s, not %s; run: gatehouse login --url %s", s.URL, wantURL, wantURL)
	}
	if !force && s.fresh(c.now()) {
		return s, nil
	}
	stale := s.AccessToken
	err = d.locked(ctx, func() error {
		// Another process may have refreshed while this one waited for
		// the lock; its refresh token is then the only valid one.
		cur, err := d.loadSession()
		if err != nil {
			return err
		}
		if cur.URL != s.URL {
			return errors.New("the session changed while refreshing; run the command again")
		}
		if cur.AccessToken != stale && cur.fresh(c.now()) {
			s = cur
			return nil
		}
		if cur.RefreshToken == "" {
			return fmt.Errorf("the sign-in to %s has expired; run: gatehouse login --url %s", cur.URL, cur.URL)
		}
		rctx, cancel := context.WithTimeout(c.oauthContext(ctx), cliTimeout)
		defer cancel()
		tok, err := cliOAuthConfig(cur.URL).TokenSource(rctx, &oauth2.Token{RefreshToken: cur.RefreshToken}).Token()
		if err != nil {
			var re *oauth2.RetrieveError
			if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client") {
				return fmt.Errorf("the sign-in to %s has expired or was revoked; run: gatehouse login --url %s", cur.URL, cur.URL)
			}
			return fmt.Errorf("refreshing the sign-in at %s: %w", cur.URL, oauthError(err))
		}
		if tok.AccessToken == "" {
			return errors.New("the gateway's refresh answered no access token")
		}
		next := session{URL: cur.URL, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry.UTC()}
		if next.RefreshToken == "" {
			next.RefreshToken = cur.RefreshToken
		}
		if err := d.saveSession(next); err != nil {
			return fmt.Errorf("storing the refreshed sign-in: %w", err)
		}
		s = next
		return nil
	})
	return s, err
}

// apiAnswer is an answer of the gateway's API.
type apiAnswer struct {
	status int
	body   []byte
}

// callAPI calls the gateway's API with the session's access token,
// refreshing it once and retrying when the gateway answers 401.
func (c *awsCLI) callAPI(ctx context.Context, d *cacheDir, wantURL, method, path string, body any) (session, apiAnswer, error) {
	s, err := c.token(ctx, d, wantURL, false)
	if err != nil {
		return session{}, apiAnswer{}, err
	}
	ans, err := c.apiRequest(ctx, s, method, path, body)
	if err != nil || ans.status != http.StatusUnauthorized {
		return s, ans, err
	}
	if s, err = c.token(ctx, d, s.URL, true); err != nil {
		return session{}, apiAnswer{}, err
	}
	ans, err = c.apiRequest(ctx, s, method, path, body)
	if err == nil && ans.status == http.StatusUnauthorized {
		return s, ans, fmt.Errorf("%s refused the sign-in; run: gatehouse login --url %s", s.URL, s.URL)
	}
	return s, ans, err
}

func (c *awsCLI) apiRequest(ctx context.Context, s session, method, path string, body any) (apiAnswer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return apiAnswer{}, fmt.Errorf("encoding the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		return apiAnswer{}, fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.AccessToken)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return apiAnswer{}, fmt.Errorf("%s %s: %w", method, s.URL+path, oauthError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCLIResponse+1))
	if err != nil {
		return apiAnswer{}, fmt.Errorf("reading the answer of %s: %w", path, err)
	}
	if len(b) > maxCLIResponse {
		return apiAnswer{}, fmt.Errorf("the answer of %s exceeds %d bytes", path, maxCLIResponse)
	}
	return apiAnswer{status: resp.StatusCode, body: b}, nil
}

// apiFailure describes an error answer.
func apiFailure(ans apiAnswer, what string) error {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(ans.body, &e)
	switch {
	case ans.status == http.StatusServiceUnavailable:
		return fmt.Errorf("the gateway cannot %s right now (503); try again shortly", what)
	case e.Error != "":
		return fmt.Errorf("the gateway refused to %s: %d %s", what, ans.status, printable(e.Error))
	default:
		return fmt.Errorf("the gateway refused to %s: %d %s", what, ans.status, http.StatusText(ans.status))
	}
}

// credentials runs "gatehouse credentials".
func (c *awsCLI) credentials(ctx context.Context, args []string) error {
	fs := newFlagSet("credentials", "credentials --account ID --role NAME [--url URL]", c.stderr)
	account := fs.String("account", "", "the 12-digit AWS account `ID`")
	role := fs.String("role", "", "the role (permission set) `NAME`")
	rawURL := fs.String("url", "", "the gateway's base `URL` (default: the one signed in to)")
	if done, err := parseFlags(fs, args); done || err != nil {
		return err
	}
	if *account == "" || *role == "" {
		fs.Usage()
		return errors.New("credentials: --account and --role are required")
	}
	if !access.ValidAccountID(*account) {
		return fmt.Errorf("credentials: --account %q is not a 12-digit AWS account ID", printable(*account))
	}
	if !access.ValidPermissionSetName(*role) {
		return fmt.Errorf("credentials: --role %q is not a role name (1 to 32 characters of A-Z a-z 0-9 +=,.@_-)", printable(*role))
	}
	out, err := c.processCredentials(ctx, *rawURL, *account, *role)
	if err != nil {
		return commandError("credentials", err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return commandError("credentials", err)
	}
	if _, err := fmt.Fprintf(c.stdout, "%s\n", b); err != nil {
		return commandError("credentials", err)
	}
	return nil
}

// processCredentials returns cached credentials valid for more than
// credentialsLeeway, or else vends, caches and returns new ones.
func (c *awsCLI) processCredentials(ctx context.Context, rawURL, account, role string) (awsapi.ProcessCredentials, error) {
	var want string
	if rawURL != "" {
		u, err := gatewayURL(rawURL)
		if err != nil {
			return awsapi.ProcessCredentials{}, err
		}
		want = u
	}
	d, err := c.cacheDir()
	if err != nil {
		return awsapi.ProcessCredentials{}, err
	}
	s, err := d.loadSession()
	if err != nil {
		return awsapi.ProcessCredentials{}, err
	}
	switch {
	case want == "":
		want = s.URL
	case want != s.URL:
		return awsapi.ProcessCredentials{}, fmt.Errorf("signed in to %s, not %s; run: gatehouse login --url %s", s.URL, want, want)
	}
	key := credentialsKey{URL: want, AccountID: account, Role: role}
	if cached, ok := d.loadCredentials(key, c.now(), c.stderr); ok {
		return cached, nil
	}
	_, ans, err := c.callAPI(ctx, d, want, http.MethodPost, awsapi.PathCredentials, awsapi.CredentialsRequest{AccountID: account, Role: role})
	if err != nil {
		return awsapi.ProcessCredentials{}, err
	}
	switch {
	case ans.status == http.StatusForbidden && bytes.Contains(ans.body, []byte(`"not_entitled"`)):
		return awsapi.ProcessCredentials{}, fmt.Errorf("you are not entitled to role %s in account %s (run gatehouse accounts to list yours)", role, account)
	case ans.status != http.StatusOK:
		return awsapi.ProcessCredentials{}, apiFailure(ans, "vend credentials")
	}
	pc, err := parseProcessCredentials(ans.body, c.now())
	if err != nil {
		return awsapi.ProcessCredentials{}, fmt.Errorf("the gateway's credentials: %w", err)
	}
	if err := d.saveCredentials(key, pc); err != nil {
		fmt.Fprintf(c.stderr, "warning: caching the credentials: %v\n", err)
	}
	return pc, nil
}

// parseProcessCredentials parses and checks a credential_process answer:
// Version 1, every field set, an RFC 3339 expiration after now. The
// expiration is returned in UTC.
func parseProcessCredentials(b []byte, now time.Time) (awsapi.ProcessCredentials, error) {
	var pc awsapi.ProcessCredentials
	if err := json.Unmarshal(b, &pc); err != nil {
		return awsapi.ProcessCredentials{}, fmt.Errorf("not JSON credentials: %w", err)
	}
	if pc.Version != 1 {
		return awsapi.ProcessCredentials{}, fmt.Errorf("version %d, not 1", pc.Version)
	}
	if pc.AccessKeyID == "" || pc.SecretAccessKey == "" || pc.SessionToken == "" {
		return awsapi.ProcessCredentials{}, errors.New("a key or the session token is missing")
	}
	exp, err := time.Parse(time.RFC3339, pc.Expiration)
	if err != nil {
		return awsapi.ProcessCredentials{}, fmt.Errorf("expiration: %w", err)
	}
	if !exp.After(now) {
		return awsapi.ProcessCredentials{}, fmt.Errorf("already expired at %s", pc.Expiration)
	}
	pc.Expiration = exp.UTC().Format(time.RFC3339)
	return pc, nil
}

// accounts runs "gatehouse accounts".
func (c *awsCLI) accounts(ctx context.Context, args []string) error {
	fs := newFlagSet("accounts", "accounts [--url URL]", c.stderr)
	rawURL := fs.String("url", "", "the gateway's base `URL` (default: the one signed in to)")
	if done, err := parseFlags(fs, args); done || err != nil {
		return err
	}
	return commandError("accounts", c.listAccounts(ctx, *rawURL))
}

func (c *awsCLI) listAccounts(ctx context.Context, rawURL string) error {
	var want string
	if rawURL != "" {
		u, err := gatewayURL(rawURL)
		if err != nil {
			return err
		}
		want = u
	}
	d, err := c.cacheDir()
	if err != nil {
		return err
	}
	_, ans, err := c.callAPI(ctx, d, want, http.MethodGet, awsapi.PathAccounts, nil)
	if err != nil {
		return err
	}
	if ans.status != http.StatusOK {
		return apiFailure(ans, "list the accounts")
	}
	var list awsapi.AccountsJSON
	if err := json.Unmarshal(ans.body, &list); err != nil {
		return fmt.Errorf("the gateway's account list is not JSON: %w", err)
	}
	if len(list.Accounts) == 0 {
		fmt.Fprintln(c.stderr, "You have no AWS account roles.")
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tNAME\tROLES")
	for _, a := range list.Accounts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", printable(a.ID), printable(a.Name), printable(strings.Join(a.Roles, ", ")))
	}
	return tw.Flush()
}

// logout runs "gatehouse logout".
func (c *awsCLI) logout(ctx context.Context, args []string) error {
	fs := newFlagSet("logout", "logout", c.stderr)
	if done, err := parseFlags(fs, args); done || err != nil {
		return err
	}
	d, err := c.cacheDir()
	if err != nil {
		return commandError("logout", err)
	}
	if !d.exists() {
		return commandError("logout", errNotSignedIn)
	}
	var s session
	var loadErr error
	err = d.locked(ctx, func() error {
		s, loadErr = d.loadSession()
		if err := d.remove(sessionFile); err != nil {
			return err
		}
		return d.removeCredentials()
	})
	if err != nil {
		return commandError("logout", err)
	}
	switch {
	case errors.Is(loadErr, errNotSignedIn):
		return commandError("logout", errNotSignedIn)
	case loadErr != nil:
		fmt.Fprintf(c.stderr, "warning: the session cache was unreadable (%v); it was deleted without revoking the sign-in\n", loadErr)
	default:
		if s.RefreshToken != "" {
			c.revoke(ctx, s.URL, s.RefreshToken)
		}
	}
	fmt.Fprintln(c.stderr, "Signed out.")
	return nil
}

// revoke revokes a refresh token (RFC 7009), best effort: a failure is
// reported on stderr.
func (c *awsCLI) revoke(ctx context.Context, base, refreshToken string) {
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	form := url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {cliClientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+oauth.PathRevoke, strings.NewReader(form.Encode()))
	if err != nil {
		fmt.Fprintf(c.stderr, "warning: revoking the sign-in: %v\n", err)
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.client.Do(req)
	if err != nil {
		fmt.Fprintf(c.stderr, "warning: revoking the sign-in at %s: %v\n", base, oauthError(err))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxCLIResponse))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(c.stderr, "warning: revoking the sign-in at %s: the gateway answered %d\n", base, resp.StatusCode)
	}
}
