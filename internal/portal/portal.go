package portal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNoSession is what SessionSource.Current returns when the request
// carries no valid session; the portal then redirects to the login URL.
var ErrNoSession = errors.New("portal: no session")

// User is the signed-in user as the portal shows it.
type User struct {
	ID          string
	UserName    string
	Email       string
	DisplayName string
	Groups      []string
}

// App is one application the user may launch.
type App struct {
	// ID identifies the application; it is not shown.
	ID string
	// Name is the link text (the link's accessible name); when empty, the
	// ID is shown instead.
	Name string
	// LaunchURL is where the link goes: a local path ("/saml/idp/launch/x")
	// or an http(s) URL. Anything else is shown without a link.
	LaunchURL string
}

// Account is one account the user has roles in (issue 7, multi-account
// access).
type Account struct {
	ID    string
	Name  string
	Roles []AccountRole
}

// AccountRole is a role the user may assume in an account.
type AccountRole struct {
	// Name is the role or permission set name, the link text.
	Name string
	// ConsoleURL opens a console session; empty means no console link.
	ConsoleURL string
	// CredentialsURL shows command line credentials; empty means none.
	CredentialsURL string
}

// SessionSource tells the portal who is signed in.
type SessionSource interface {
	// Current returns the signed-in user and the session's expiry, or an
	// error wrapping ErrNoSession when the request has no valid session.
	// Any other error means the lookup failed (the portal answers 503). An
	// expiry that is not after the portal's clock (the zero time included)
	// is treated as no session.
	Current(r *http.Request) (User, time.Time, error)
	// LoginURL is where a browser without a session is sent to sign in and
	// come back to returnTo, a local path.
	LoginURL(returnTo string) string
}

// AppLister lists the applications assigned to a user, in display order.
type AppLister interface {
	ApplicationsFor(ctx context.Context, u User) ([]App, error)
}

// AccountLister lists the accounts a user has roles in, in display order.
type AccountLister interface {
	AccountsFor(ctx context.Context, u User) ([]Account, error)
}

// Config configures a Portal.
type Config struct {
	// Sessions identifies the signed-in user. Required.
	Sessions SessionSource
	// Apps lists the user's applications. Required.
	Apps AppLister
	// Accounts lists the user's accounts; nil shows no accounts section.
	Accounts AccountLister
	// DevicesURL, when set, is linked from the profile as the place to
	// add a sign-in device (the directory sign-in's SignInAddPath).
	DevicesURL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives errors; nil discards.
	Logger *slog.Logger
}

// Paths the portal's pages link to.
const (
	// PortalPath is where the signed-out page sends the user back and the
	// return target given to LoginURL.
	PortalPath = "/portal"
	// SignOutPath is the target of the sign-out form (POST).
	SignOutPath = "/logout"
)

const (
	// searchThreshold: the search box is shown when the page lists more
	// entries (applications plus accounts) than this.
	searchThreshold = 8
	// maxQueryRunes bounds the search query taken from ?q=.
	maxQueryRunes = 100
)

// Portal serves the access portal. It is immutable and safe for
// concurrent use.
type Portal struct {
	sessions SessionSource
	apps     AppLister
	accounts AccountLister
	devices  string
	now      func() time.Time
	log      *slog.Logger
}

// New validates cfg and returns a Portal.
func New(cfg Config) (*Portal, error) {
	if cfg.Sessions == nil {
		return nil, errors.New("portal: Config.Sessions is required")
	}
	if cfg.Apps == nil {
		return nil, errors.New("portal: Config.Apps is required")
	}
	if cfg.DevicesURL != "" && !safeLink(cfg.DevicesURL) {
		return nil, errors.New("portal: Config.DevicesURL is not a safe link")
	}
	p := &Portal{sessions: cfg.Sessions, apps: cfg.Apps, accounts: cfg.Accounts, devices: cfg.DevicesURL, now: cfg.Now, log: cfg.Logger}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p, nil
}

// Handler serves the portal page (GET and HEAD).
func (p *Portal) Handler() http.Handler { return http.HandlerFunc(p.servePortal) }

func (p *Portal) servePortal(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		p.renderError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This page can only be viewed.")
		return
	}
	now := p.now()
	ctx := r.Context()
	user, expires, ok := p.session(w, r, now, PortalPath, p.renderUnavailable)
	if !ok {
		return
	}
	apps, err := p.apps.ApplicationsFor(ctx, user)
	if err != nil {
		p.log.ErrorContext(ctx, "portal: listing applications failed", "user_id", user.ID, "err", err)
		p.renderUnavailable(w, r)
		return
	}
	var accounts []Account
	if p.accounts != nil {
		if accounts, err = p.accounts.AccountsFor(ctx, user); err != nil {
			p.log.ErrorContext(ctx, "portal: listing accounts failed", "user_id", user.ID, "err", err)
			p.renderUnavailable(w, r)
			return
		}
	}
	view := p.buildView(ctx, r, now, user, expires, apps, accounts)
	p.render(w, r, http.StatusOK, portalPage, &view)
}

// session returns the signed-in user and the session's expiry. Without a
// valid session it redirects to the login URL with returnTo (a local path
// the caller built, never request input as such); when the lookup fails it
// calls unavailable. In both cases it returns false and the request is
// answered.
func (p *Portal) session(w http.ResponseWriter, r *http.Request, now time.Time, returnTo string,
	unavailable func(http.ResponseWriter, *http.Request)) (User, time.Time, bool) {
	ctx := r.Context()
	user, expires, err := p.sessions.Current(r)
	switch {
	case errors.Is(err, ErrNoSession):
		p.toLogin(w, r, returnTo)
		return User{}, time.Time{}, false
	case err != nil:
		p.log.ErrorContext(ctx, "portal: session lookup failed", "err", err)
		unavailable(w, r)
		return User{}, time.Time{}, false
	case !expires.After(now):
		// The source should not hand out an expired session; if it does,
		// the portal does not honour it.
		p.log.WarnContext(ctx, "portal: session source returned an expired session", "user_id", user.ID)
		p.toLogin(w, r, returnTo)
		return User{}, time.Time{}, false
	}
	return user, expires, true
}

// toLogin redirects to the login URL, which brings the user back to
// returnTo: 302 for a GET, 303 for a form post (so the browser follows
// with a GET). The redirect is never cached and sends no referrer.
func (p *Portal) toLogin(w http.ResponseWriter, r *http.Request, returnTo string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", referrerNone)
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, p.sessions.LoginURL(returnTo), status)
}

// portalView is what the portal template renders. Every string in it is
// text; html/template escapes it for its context.
type portalView struct {
	pageBase
	UserLabel   string
	UserName    string
	Email       string
	Groups      []string
	ExpiresISO  string
	ExpiresText string
	Remaining   string

	Path        string
	ShowSearch  bool
	SearchLabel string
	Query       string
	Status      string
	NoMatch     bool

	Apps          []appView
	AppsAssigned  int
	ShowAccounts  bool
	DevicesURL    string
	Accounts      []accountView
	AccountsTotal int
}

type appView struct {
	Name   string
	URL    string // empty: shown without a link
	Filter string
}

type accountView struct {
	Name   string
	ID     string
	Roles  []roleView
	Filter string
}

type roleView struct {
	Name           string
	ConsoleURL     string
	CredentialsURL string
}

func (p *Portal) buildView(ctx context.Context, r *http.Request, now time.Time, u User, expires time.Time, apps []App, accounts []Account) portalView {
	v := portalView{
		pageBase:     newPageBase("Access portal – Gatehouse"),
		UserLabel:    firstNonEmpty(u.DisplayName, u.UserName, u.Email, u.ID),
		UserName:     u.UserName,
		Email:        u.Email,
		Groups:       u.Groups,
		ExpiresISO:   expires.UTC().Format(time.RFC3339),
		ExpiresText:  expires.UTC().Format("2006-01-02 15:04 MST"),
		Remaining:    remaining(expires.Sub(now)),
		Path:         r.URL.Path,
		Query:        searchQuery(r),
		ShowAccounts: p.accounts != nil,
		DevicesURL:   p.devices,
		AppsAssigned: len(apps),
	}
	if v.Path == "" {
		v.Path = PortalPath
	}
	v.SearchLabel = "Search applications"
	if v.ShowAccounts {
		v.SearchLabel = "Search applications and accounts"
	}
	needle := strings.ToLower(v.Query)
	total, shown := 0, 0
	for _, a := range apps {
		av := appView{Name: firstNonEmpty(a.Name, a.ID, "Unnamed application")}
		av.Filter = strings.ToLower(av.Name)
		if safeLink(a.LaunchURL) {
			av.URL = a.LaunchURL
		} else {
			p.log.WarnContext(ctx, "portal: application has no usable launch URL", "app_id", a.ID)
		}
		total++
		if strings.Contains(av.Filter, needle) {
			v.Apps = append(v.Apps, av)
			shown++
		}
	}
	for _, acct := range accounts {
		name := firstNonEmpty(acct.Name, acct.ID, "Unnamed account")
		av := accountView{Name: name, Filter: strings.ToLower(name)}
		if acct.ID != "" && acct.ID != name {
			av.ID = acct.ID
			av.Filter += " " + strings.ToLower(acct.ID)
		}
		for _, role := range acct.Roles {
			rv := roleView{Name: firstNonEmpty(role.Name, "Unnamed role")}
			if safeLink(role.ConsoleURL) {
				rv.ConsoleURL = role.ConsoleURL
			}
			if safeLink(role.CredentialsURL) {
				rv.CredentialsURL = role.CredentialsURL
			}
			av.Roles = append(av.Roles, rv)
		}
		v.AccountsTotal++
		total++
		if strings.Contains(av.Filter, needle) {
			v.Accounts = append(v.Accounts, av)
			shown++
		}
	}
	v.ShowSearch = total > searchThreshold || v.Query != ""
	v.NoMatch = shown == 0 && total > 0
	switch {
	case v.Query != "":
		v.Status = fmt.Sprintf("Showing %d of %d for “%s”.", shown, total, v.Query)
	default:
		v.Status = "Showing " + strconv.Itoa(total) + " items."
	}
	return v
}

// searchQuery returns ?q= trimmed and bounded to maxQueryRunes.
func searchQuery(r *http.Request) string {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if !utf8.ValidString(q) {
		q = strings.ToValidUTF8(q, "")
	}
	if utf8.RuneCountInString(q) > maxQueryRunes {
		q = string([]rune(q)[:maxQueryRunes])
	}
	return q
}

// safeLink reports whether s may be a link target: a local absolute path
// (not protocol-relative) or an absolute http(s) URL with a host.
func safeLink(s string) bool {
	if s == "" || strings.ContainsAny(s, "\\\x00\r\n\t") {
		return false
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "":
		return u.Host == "" && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//")
	case "https", "http":
		return u.Host != "" && u.Opaque == ""
	default:
		return false
	}
}

func remaining(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "less than a minute"
	}
	h, m := int(d/time.Hour), int((d%time.Hour)/time.Minute)
	switch {
	case h == 0:
		return plural(m, "minute")
	case m == 0:
		return plural(h, "hour")
	default:
		return plural(h, "hour") + " " + plural(m, "minute")
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
