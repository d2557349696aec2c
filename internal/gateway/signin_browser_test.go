package gateway_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// directoryEnv is a gateway with identity_source directory on SQLite,
// served at http://localhost:PORT (WebAuthn needs a domain, not an IP, as
// its relying party ID; localhost is a secure context).
type directoryEnv struct {
	base  string
	store *sqlstore.Store
	gw    *gateway.Gateway
}

func startDirectoryGateway(t *testing.T, directoryYAML string) *directoryEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	cfg := loadGatewayConfig(t, dir, fmt.Sprintf(`external_url: %q
listen: "127.0.0.1:0"
store:
  dsn: gatehouse.db
keys:
  dir: keys
identity_source:
  directory:
%s
`, base, directoryYAML))
	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(cfg.Store.DSN.Value()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	st, err := sqlstore.Open(t.Context(), db, sqlstore.SQLite, sqlstore.Options{})
	require.NoError(t, err)
	gw, err := gateway.New(t.Context(), cfg, gateway.Options{Store: st})
	require.NoError(t, err)
	t.Cleanup(func() { _ = gw.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gw.Start(ctx)
	srv := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &directoryEnv{base: base, store: st, gw: gw}
}

// addUser creates an active user with a password.
func (e *directoryEnv) addUser(t *testing.T, userName, pw string) sp.User {
	t.Helper()
	u, err := e.store.CreateUser(t.Context(), sp.User{UserName: userName, Email: userName + "@example.com", DisplayName: strings.ToUpper(userName[:1]) + userName[1:], Active: true})
	require.NoError(t, err)
	h, err := password.New(password.Config{})
	require.NoError(t, err)
	hash, err := h.Hash(t.Context(), pw)
	require.NoError(t, err)
	require.NoError(t, e.store.SetPassword(t.Context(), u.ID, hash, time.Now()))
	return u
}

// signInEvents returns the audit events of type signin for the user,
// newest first.
func (e *directoryEnv) signInEvents(t *testing.T, userID string) []audit.Event {
	t.Helper()
	events, err := e.store.QueryAudit(t.Context(), audit.Query{Type: "signin", Subject: userID})
	require.NoError(t, err)
	return events
}

func browserCookie(t *testing.T, tab context.Context, base, name string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(tab, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/signin"}})
	require.NoError(t, err, "Network.getCookies")
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func typePassword(t *testing.T, tab context.Context, user, pw string) {
	t.Helper()
	require.NoError(t, chromedp.Do(tab, chromedp.WaitVisible(chromedp.ID("password"))))
	// After a failure the form comes back with the user name filled in.
	current, err := chromedp.Run(tab, chromedp.Value(chromedp.ID("user_name")))
	require.NoError(t, err)
	if current != user {
		require.Empty(t, current, "the user name field holds another name")
		require.NoError(t, chromedp.Do(tab, chromedp.SendKeys(chromedp.ID("user_name"), user)))
	}
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.ID("password"), pw),
		chromedp.Click(chromedp.ID("signin")),
	), "submit the password form")
}

func textOf(t *testing.T, tab context.Context, id string) string {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Text(chromedp.ID(id)))
	require.NoError(t, err, "#%s", id)
	return s
}

func location(t *testing.T, tab context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(tab, chromedp.Location())
	require.NoError(t, err)
	return loc
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return code
}

func signOut(t *testing.T, tab context.Context, e *directoryEnv) {
	t.Helper()
	require.NoError(t, chromedp.Do(tab, chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("signed-out"))), "sign out")
	assert.Nil(t, browserCookie(t, tab, e.base, sp.SessionCookie), "signed out: no session cookie")
	_, err := chromedp.Run(tab, chromedp.NavigateResponse(e.base+"/portal"))
	require.NoError(t, err)
}

// TestDirectorySignInPasswordAndTOTPInBrowser: headless Chromium signs a
// directory user in with a password, registers an authenticator app on
// the way (MFA required, no device yet), signs out, and signs in again
// with a TOTP code. A wrong password, a wrong code and a replayed code are
// refused with no session.
func TestDirectorySignInPasswordAndTOTPInBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	e := startDirectoryGateway(t, "    mfa: required\n    without_device: register")
	alice := e.addUser(t, "alice", "correct horse battery staple")
	tab := testpeer.Chromium(t, ctx)

	// No session: the portal sends the browser to the sign-in page.
	_, err := chromedp.Run(tab, chromedp.NavigateResponse(e.base+"/portal"))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(tab, chromedp.WaitVisible(chromedp.ID("password"))))
	assert.Equal(t, e.base+"/signin?return_to=%2Fportal", location(t, tab))

	// Wrong password: the form again with an error, no flow, no session.
	typePassword(t, tab, "alice", "correct horse battery stapler")
	require.NoError(t, chromedp.Do(tab, chromedp.WaitVisible(chromedp.ID("signin-error"))))
	assert.Equal(t, "The user name or password is not correct.", textOf(t, tab, "signin-error"))
	assert.Nil(t, browserCookie(t, tab, e.base, sp.SessionCookie))
	assert.Nil(t, browserCookie(t, tab, e.base, "gatehouse_signin"))

	// The right password: no device yet, so the registration page.
	typePassword(t, tab, "alice", "correct horse battery staple")
	require.NoError(t, chromedp.Do(tab, chromedp.WaitVisible(chromedp.ID("secret"))))
	assert.Equal(t, e.base+"/signin/register", location(t, tab))
	assert.Nil(t, browserCookie(t, tab, e.base, sp.SessionCookie), "no session before the second factor")
	flow := browserCookie(t, tab, e.base, "gatehouse_signin")
	require.NotNil(t, flow)
	assert.True(t, flow.HTTPOnly)
	assert.Equal(t, network.CookieSameSiteStrict, flow.SameSite)
	secret := textOf(t, tab, "secret")
	qrLoaded, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.getElementById("qr").naturalWidth > 0`))
	require.NoError(t, err)
	assert.True(t, qrLoaded, "the QR code image renders under the page's CSP")

	// A wrong code is refused; the page stays.
	bad := totpCode(t, secret, time.Now().Add(-10*time.Minute))
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.ID("code"), bad),
		chromedp.Click(chromedp.ID("register-totp")),
		chromedp.WaitVisible(chromedp.ID("register-error")),
	))
	assert.Nil(t, browserCookie(t, tab, e.base, sp.SessionCookie))
	assert.Equal(t, secret, textOf(t, tab, "secret"), "the same secret is offered again")

	// The right code registers the app and signs in.
	used := time.Now()
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.ID("code"), totpCode(t, secret, used)),
		chromedp.SendKeys(chromedp.ID("totp-name"), "Phone"),
		chromedp.Click(chromedp.ID("register-totp")),
		chromedp.WaitVisible(chromedp.ID("user_name")),
	))
	assert.Equal(t, e.base+"/portal", location(t, tab))
	assert.Equal(t, "alice", textOf(t, tab, "user_name"))
	require.NotNil(t, browserCookie(t, tab, e.base, sp.SessionCookie))
	assert.Nil(t, browserCookie(t, tab, e.base, "gatehouse_signin"), "the flow cookie is gone")
	devices, err := e.store.MFADevices(t.Context(), alice.ID)
	require.NoError(t, err)
	require.Len(t, devices, 1)
	assert.Equal(t, "Phone", devices[0].Name)

	signOut(t, tab, e)

	// Again: password, then the TOTP page. The code just used is refused
	// (it was spent at registration); the next step's code works.
	typePassword(t, tab, "alice", "correct horse battery staple")
	require.NoError(t, chromedp.Do(tab, chromedp.WaitVisible(chromedp.ID("verify"))))
	assert.Equal(t, e.base+"/signin/mfa", location(t, tab))
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.ID("code"), totpCode(t, secret, used)),
		chromedp.Click(chromedp.ID("verify")),
		chromedp.WaitVisible(chromedp.ID("mfa-error")),
	))
	assert.Nil(t, browserCookie(t, tab, e.base, sp.SessionCookie), "a spent code gives no session")
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.ID("code"), totpCode(t, secret, used.Add(30*time.Second))),
		chromedp.Click(chromedp.ID("verify")),
		chromedp.WaitVisible(chromedp.ID("user_name")),
	))
	assert.Equal(t, e.base+"/portal", location(t, tab))

	// A second authenticator app from the portal: password again, then
	// the registration page with a new secret.
	require.NoError(t, chromedp.Do(tab,
		chromedp.Click(chromedp.ID("add-device")),
		chromedp.WaitVisible(chromedp.ID("add-continue")),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery staple"),
		chromedp.Click(chromedp.ID("add-continue")),
		chromedp.WaitVisible(chromedp.ID("secret")),
	), "add a second device")
	second := textOf(t, tab, "secret")
	assert.NotEqual(t, secret, second, "a new device gets a new secret")
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.ID("code"), totpCode(t, second, time.Now())),
		chromedp.Click(chromedp.ID("register-totp")),
		chromedp.WaitVisible(chromedp.ID("user_name")),
	))
	devices, err = e.store.MFADevices(t.Context(), alice.ID)
	require.NoError(t, err)
	assert.Len(t, devices, 2)

	// A third app is over the limit of two: refused, nothing stored.
	require.NoError(t, chromedp.Do(tab,
		chromedp.Click(chromedp.ID("add-device")),
		chromedp.WaitVisible(chromedp.ID("add-continue")),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery staple"),
		chromedp.Click(chromedp.ID("add-continue")),
		chromedp.WaitVisible(chromedp.ID("secret")),
	), "try a third device")
	third := textOf(t, tab, "secret")
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(chromedp.ID("code"), totpCode(t, third, time.Now())),
		chromedp.Click(chromedp.ID("register-totp")),
		chromedp.WaitVisible(chromedp.ID("register-error")),
	))
	assert.Contains(t, textOf(t, tab, "register-error"), "most devices of this kind")
	devices, err = e.store.MFADevices(t.Context(), alice.ID)
	require.NoError(t, err)
	assert.Len(t, devices, 2)

	events := e.signInEvents(t, alice.ID)
	require.NotEmpty(t, events)
	last := events[0]
	assert.Equal(t, audit.Success, last.Outcome)
	assert.Equal(t, "directory", last.Details["identity_source"])
	assert.Equal(t, "totp", last.Details["credential"])
	assert.Equal(t, "password+totp", last.Details["factors"])
	var reasons []string
	for _, ev := range events {
		reasons = append(reasons, ev.Reason)
	}
	assert.Contains(t, reasons, "invalid_password")
	assert.Contains(t, reasons, "totp_replay")
}

// TestDirectorySignInWebAuthnInBrowser: with Chromium's virtual
// authenticator, a user registers a security key after the password and
// signs in with it; an assertion with a bogus signature is refused.
func TestDirectorySignInWebAuthnInBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	e := startDirectoryGateway(t, "    mfa: required")
	bob := e.addUser(t, "bob", "a long and winding road")
	tab := testpeer.Chromium(t, ctx)

	// The virtual authenticator lives in the tab's target.
	_, err := chromedp.Run(tab, chromedp.NavigateResponse(e.base+"/signin"))
	require.NoError(t, err)
	_, err = chromedp.Call(tab, cdpwebauthn.Enable, cdpwebauthn.EnableParams{})
	require.NoError(t, err)
	auth, err := chromedp.Call(tab, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Transport: cdpwebauthn.AuthenticatorTransportUsb,
			HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	})
	require.NoError(t, err)

	typePassword(t, tab, "bob", "a long and winding road")
	require.NoError(t, chromedp.Do(tab,
		chromedp.WaitVisible(chromedp.ID("webauthn")),
		chromedp.SendKeys(chromedp.ID("webauthn-name"), "YubiKey"),
		chromedp.Click(chromedp.ID("webauthn")),
		chromedp.WaitVisible(chromedp.ID("user_name")),
	), "register a security key")
	assert.Equal(t, e.base+"/portal", location(t, tab))
	devices, err := e.store.MFADevices(t.Context(), bob.ID)
	require.NoError(t, err)
	require.Len(t, devices, 1)
	assert.Equal(t, "YubiKey", devices[0].Name)
	creds, err := chromedp.Call(tab, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: auth.AuthenticatorID})
	require.NoError(t, err)
	require.Len(t, creds.Credentials, 1)
	assert.Equal(t, creds.Credentials[0].CredentialID, devices[0].CredentialID, "the stored credential is the authenticator's")

	signOut(t, tab, e)

	// A bogus signature: refused, the page says so, no session.
	typePassword(t, tab, "bob", "a long and winding road")
	bogus := true
	_, err = chromedp.Call(tab, cdpwebauthn.SetResponseOverrideBits, cdpwebauthn.SetResponseOverrideBitsParams{AuthenticatorID: auth.AuthenticatorID, IsBogusSignature: &bogus})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(tab,
		chromedp.WaitVisible(chromedp.ID("webauthn")),
		chromedp.Click(chromedp.ID("webauthn")),
		chromedp.WaitNotPresent(chromedp.CSS(`#webauthn[disabled]`)),
	))
	status := textOf(t, tab, "webauthn-status")
	assert.Equal(t, "That code or key was not accepted. Try again.", status)
	assert.Nil(t, browserCookie(t, tab, e.base, sp.SessionCookie), "a bogus signature gives no session")

	// The same key, signing properly now, signs in.
	bogus = false
	_, err = chromedp.Call(tab, cdpwebauthn.SetResponseOverrideBits, cdpwebauthn.SetResponseOverrideBitsParams{AuthenticatorID: auth.AuthenticatorID, IsBogusSignature: &bogus})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(tab,
		chromedp.Click(chromedp.ID("webauthn")),
		chromedp.WaitVisible(chromedp.ID("user_name")),
	), "sign in with the security key")
	assert.Equal(t, "bob", textOf(t, tab, "user_name"))
	events := e.signInEvents(t, bob.ID)
	require.NotEmpty(t, events)
	assert.Equal(t, audit.Success, events[0].Outcome)
	assert.Equal(t, "webauthn", events[0].Details["credential"])
	var reasons []string
	for _, ev := range events {
		reasons = append(reasons, ev.Reason)
	}
	assert.Contains(t, reasons, "invalid_webauthn")
}
