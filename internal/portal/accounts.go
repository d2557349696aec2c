package portal

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/vend"
)

// Paths of the account role pages (issue 7, multi-account access).
const (
	// AWSConsolePath signs the user in to the AWS console: GET with
	// ?account=ID&role=NAME.
	AWSConsolePath = "/portal/aws/console"
	// AWSCredentialsPath shows temporary credentials for the command
	// line: GET with ?account=ID&role=NAME.
	AWSCredentialsPath = "/portal/aws/credentials"
)

// Query parameters of the account role pages.
const (
	paramAccount = "account"
	paramRole    = "role"
)

var (
	// credentialPattern: what an access key ID, secret key or session
	// token may hold. The page puts them in shell lines the user pastes,
	// so anything else (quotes, spaces, $) is refused rather than shown.
	credentialPattern = regexp.MustCompile(`^[A-Za-z0-9/+=]+$`)
)

// maxCredentialLen bounds each credential value shown (session tokens are
// about 1 KB).
const maxCredentialLen = 8192

// ConsoleSigner issues the SAML response that signs a user in to the AWS
// console; the gateway adapts vend.Vendor.Assertion to it.
type ConsoleSigner interface {
	// ConsoleAssertion returns the signed SAML response (XML, not
	// base64) that lets userID assume role in accountID, and the
	// permission set's relay state (where the console lands: an https
	// URL, or empty). It checks the entitlement and returns an error
	// wrapping vend.ErrNotEntitled when the user may not use the role.
	ConsoleAssertion(ctx context.Context, userID, accountID, role string) (samlResponse []byte, relayState string, err error)
}

// CredentialVendor issues temporary credentials; vend.Vendor implements
// it.
type CredentialVendor interface {
	// Vend returns credentials for userID with role in accountID, or an
	// error wrapping vend.ErrNotEntitled when the user may not use the
	// role.
	Vend(ctx context.Context, userID, accountID, role string) (vend.Credentials, error)
}

// AccountsConfig configures Portal.AccountsHandler.
type AccountsConfig struct {
	// Console issues console sign-in assertions. Required.
	Console ConsoleSigner
	// Credentials issues command line credentials. Required.
	Credentials CredentialVendor
	// SignInURL is where the console page posts the SAML response; empty
	// means vend.AWSSignInURL. Only tests change it.
	SignInURL string
	// RedirectOrigins are the origins the sign-in URL may redirect the
	// posted form to: browsers apply the page's CSP form-action to every
	// redirect of a form post, so the console's origins must be allowed
	// beside the sign-in URL's. Each is scheme://host[:port], the host
	// may start with "*.". Nil means DefaultRedirectOrigins (AWS's
	// console). The origin of a permission set's relay state is allowed
	// too, for the page that posts it.
	RedirectOrigins []string
}

// DefaultRedirectOrigins are where AWS's SAML sign-in sends the browser:
// the console, global or regional.
var DefaultRedirectOrigins = []string{"https://console.aws.amazon.com", "https://*.console.aws.amazon.com"}

// cspOriginPattern: an origin that may be put in a CSP source list as it
// is (lower case, an optional leading wildcard label, an optional port).
var cspOriginPattern = regexp.MustCompile(`^https?://(\*\.)?[a-z0-9]([a-z0-9.-]{0,252}[a-z0-9])?(:[0-9]{1,5})?$`)

// RoleLinks returns the portal links of a role in an account: the console
// page and the command line access page, for AccountRole. Both are empty
// when accountID is not a 12-digit account ID or role is not a permission
// set name, so the portal shows the role without links.
func RoleLinks(accountID, role string) (consoleURL, credentialsURL string) {
	if !access.ValidAccountID(accountID) || !access.ValidPermissionSetName(role) {
		return "", ""
	}
	q := roleQuery(accountID, role)
	return AWSConsolePath + "?" + q, AWSCredentialsPath + "?" + q
}

func roleQuery(accountID, role string) string {
	return url.Values{paramAccount: {accountID}, paramRole: {role}}.Encode()
}

type accountsHandler struct {
	p           *Portal
	console     ConsoleSigner
	credentials CredentialVendor
	signInURL   string
	// formAction is the console page's form-action source list: the
	// sign-in URL's origin and the redirect origins.
	formAction string
}

// AccountsHandler validates cfg and returns the handler of AWSConsolePath
// and AWSCredentialsPath; register it for GET on both (any other method is
// answered 405, HEAD included, as both pages issue something).
//
// Both pages act for the user the portal's SessionSource vouches for; a
// browser without a session is sent to the login URL and comes back to the
// page. The account (12 digits) and role ([\w+=,.@-]{1,32}) parameters
// must each be given once (else 400); a user who may not use the role gets
// 403 "You do not have access to this role" and no detail; any other
// failure is 503. A request another site started (Sec-Fetch-Site
// cross-site or same-site) issues nothing: it gets a page with a link to
// continue.
//
// The console page holds the signed SAML response in a form that a nonce'd
// script posts to AWS at once (a Continue button does it without
// JavaScript); its CSP lets forms post to the sign-in URL's origin only.
// The credentials page shows the credentials as shell and PowerShell
// environment variables and as a credentials file profile, with their
// expiry, copy buttons, and how to use `gatehouse credentials` as a
// credential_process instead. Both send Cache-Control: no-store,
// Referrer-Policy: no-referrer, X-Frame-Options: DENY and
// frame-ancestors 'none'.
func (p *Portal) AccountsHandler(cfg AccountsConfig) (http.Handler, error) {
	if cfg.Console == nil || cfg.Credentials == nil {
		return nil, errors.New("portal: accounts: AccountsConfig.Console and Credentials are required")
	}
	signInURL := firstNonEmpty(cfg.SignInURL, vend.AWSSignInURL)
	origin, err := originOf(signInURL)
	if err != nil {
		return nil, fmt.Errorf("portal: accounts: AccountsConfig.SignInURL: %w", err)
	}
	if u, _ := url.Parse(signInURL); u.Fragment != "" || !cspOriginPattern.MatchString(origin) || strings.HasPrefix(u.Host, "*") {
		return nil, fmt.Errorf("portal: accounts: AccountsConfig.SignInURL %q has a fragment or a host a CSP cannot hold", signInURL)
	}
	redirects := cfg.RedirectOrigins
	if redirects == nil {
		redirects = DefaultRedirectOrigins
	}
	formAction := []string{origin}
	for _, o := range redirects {
		if !cspOriginPattern.MatchString(o) {
			return nil, fmt.Errorf("portal: accounts: AccountsConfig.RedirectOrigins: %q is not an origin (scheme://host[:port])", o)
		}
		formAction = append(formAction, o)
	}
	return &accountsHandler{p: p, console: cfg.Console, credentials: cfg.Credentials, signInURL: signInURL, formAction: strings.Join(formAction, " ")}, nil
}

func (h *accountsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve func(http.ResponseWriter, *http.Request, User, string, string)
	switch r.URL.Path {
	case AWSConsolePath:
		serve = h.serveConsole
	case AWSCredentialsPath:
		serve = h.serveCredentials
	default:
		h.p.renderError(w, r, http.StatusNotFound, "Not found", "There is no such page.")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		h.p.renderError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "Open this page from the portal.")
		return
	}
	accountID, role, valid := roleParams(r.URL.Query())
	returnTo := PortalPath
	if valid {
		returnTo = r.URL.Path + "?" + roleQuery(accountID, role)
	}
	user, _, ok := h.p.session(w, r, h.p.now(), returnTo, h.p.renderUnavailable)
	if !ok {
		return
	}
	if !valid {
		h.p.renderError(w, r, http.StatusBadRequest, "Bad request",
			"This link does not name an account and a role. Open the account from the portal.")
		return
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		// Another site sent the browser here: issue nothing until the
		// user confirms on this origin.
		h.p.render(w, r, http.StatusOK, messagePage, &messageView{
			pageBase: newSecretURLPageBase("Continue – Gatehouse"), Heading: "Continue to your account", HeadID: "confirm",
			Message:  "You followed a link to account " + accountID + " with role " + role + ".",
			LinkText: "Continue", LinkURL: returnTo,
		})
		return
	}
	serve(w, r, user, accountID, role)
}

// roleParams reads the account and role parameters; valid is false unless
// each is given once and well-formed.
func roleParams(q url.Values) (accountID, role string, valid bool) {
	accountID, ok1 := single(q, paramAccount)
	role, ok2 := single(q, paramRole)
	if !ok1 || !ok2 || !access.ValidAccountID(accountID) || !access.ValidPermissionSetName(role) {
		return "", "", false
	}
	return accountID, role, true
}

// failed answers an error of the signer or the vendor.
func (h *accountsHandler) failed(w http.ResponseWriter, r *http.Request, what string, user User, accountID, role string, err error) {
	if errors.Is(err, vend.ErrNotEntitled) {
		h.p.log.InfoContext(r.Context(), "portal: role refused", "what", what, "user_id", user.ID, "account_id", accountID, "role", role)
		h.p.render(w, r, http.StatusForbidden, messagePage, &messageView{
			pageBase: newSecretURLPageBase("No access – Gatehouse"), Heading: "You do not have access to this role", HeadID: "no-access",
			Message: "If you need it, ask your administrator.", LinkText: "Back to the portal", LinkURL: PortalPath,
		})
		return
	}
	h.p.log.ErrorContext(r.Context(), "portal: "+what+" failed", "user_id", user.ID, "account_id", accountID, "role", role, "err", err)
	h.p.renderError(w, r, http.StatusServiceUnavailable, "Temporarily unavailable",
		"This is temporarily unavailable. Please try again in a moment.")
}

// consoleView is the console page: a form that posts the SAML response to
// AWS.
type consoleView struct {
	pageBase
	Action       string
	SAMLResponse string
	RelayState   string
	AccountID    string
	Role         string
}

func (h *accountsHandler) serveConsole(w http.ResponseWriter, r *http.Request, user User, accountID, role string) {
	resp, relayState, err := h.console.ConsoleAssertion(r.Context(), user.ID, accountID, role)
	if err == nil && len(resp) == 0 {
		err = errors.New("empty SAML response")
	}
	if err != nil {
		h.failed(w, r, "console sign-in", user, accountID, role, err)
		return
	}
	v := consoleView{
		pageBase:     newSecretURLPageBase("Opening the AWS console – Gatehouse"),
		Action:       h.signInURL,
		SAMLResponse: base64.StdEncoding.EncodeToString(resp),
		AccountID:    accountID,
		Role:         role,
	}
	v.formAction = h.formAction
	if relayState != "" {
		// The sign-in redirects to the relay state, so its origin joins
		// form-action; one that cannot is dropped (the console opens on
		// its home page) rather than have the redirect blocked.
		if o, err := originOf(relayState); err == nil && strings.HasPrefix(o, "https://") && cspOriginPattern.MatchString(o) {
			v.RelayState = relayState
			if !slices.Contains(strings.Fields(v.formAction), o) {
				v.formAction += " " + o
			}
		} else {
			h.p.log.WarnContext(r.Context(), "portal: relay state dropped: not an https URL", "account_id", accountID, "role", role)
		}
	}
	w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
	h.p.render(w, r, http.StatusOK, consolePage, &v)
}

// credentialsView is the command line access page.
type credentialsView struct {
	pageBase
	UserLabel  string
	AccountID  string
	Role       string
	Profile    string
	Shell      string
	PowerShell string
	File       string
	ExpiresISO string
	ExpiresIn  string
	Command    string
	Process    string
}

func (h *accountsHandler) serveCredentials(w http.ResponseWriter, r *http.Request, user User, accountID, role string) {
	now := h.p.now()
	c, err := h.credentials.Vend(r.Context(), user.ID, accountID, role)
	if err == nil {
		err = checkCredentials(c, now)
	}
	if err != nil {
		h.failed(w, r, "credentials", user, accountID, role, err)
		return
	}
	profile := accountID + "_" + role
	command := "gatehouse credentials --account " + accountID + " --role " + role
	v := credentialsView{
		pageBase:   newSecretURLPageBase("Command line access – Gatehouse"),
		UserLabel:  firstNonEmpty(user.DisplayName, user.UserName, user.Email, user.ID),
		AccountID:  accountID,
		Role:       role,
		Profile:    profile,
		ExpiresISO: c.Expiration.UTC().Format(time.RFC3339),
		ExpiresIn:  remaining(c.Expiration.Sub(now).Truncate(time.Minute)), // never more than is left
		Command:    command,
		Process:    "[profile " + profile + "]\ncredential_process = " + command,
	}
	vars := [...][2]string{
		{"AWS_ACCESS_KEY_ID", c.AccessKeyID},
		{"AWS_SECRET_ACCESS_KEY", c.SecretAccessKey},
		{"AWS_SESSION_TOKEN", c.SessionToken},
	}
	var sh, ps strings.Builder
	for _, kv := range vars {
		sh.WriteString("export " + kv[0] + `="` + kv[1] + "\"\n")
		ps.WriteString("$Env:" + kv[0] + `="` + kv[1] + "\"\n")
	}
	v.Shell, v.PowerShell = sh.String(), ps.String()
	v.File = "[" + profile + "]\naws_access_key_id = " + c.AccessKeyID +
		"\naws_secret_access_key = " + c.SecretAccessKey +
		"\naws_session_token = " + c.SessionToken + "\n"
	hdr := w.Header()
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.p.render(w, r, http.StatusOK, credentialsPage, &v)
}

// checkCredentials refuses credentials that are incomplete, expired, or
// hold characters that do not belong in a shell line.
func checkCredentials(c vend.Credentials, now time.Time) error {
	for _, f := range [...]struct{ name, v string }{
		{"access key ID", c.AccessKeyID}, {"secret access key", c.SecretAccessKey}, {"session token", c.SessionToken},
	} {
		if len(f.v) > maxCredentialLen || !credentialPattern.MatchString(f.v) {
			return fmt.Errorf("the vendor returned a malformed %s", f.name)
		}
	}
	if !c.Expiration.After(now) {
		return fmt.Errorf("the vendor returned credentials that expired at %v", c.Expiration)
	}
	return nil
}
