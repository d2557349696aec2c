package portal_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/portal"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

// cookieSessions is a toy SessionSource: a cookie named "user" signs in.
type cookieSessions struct{}

func (cookieSessions) Current(r *http.Request) (portal.User, time.Time, error) {
	c, err := r.Cookie("user")
	if err != nil {
		return portal.User{}, time.Time{}, portal.ErrNoSession
	}
	return portal.User{ID: c.Value, UserName: c.Value}, time.Now().Add(time.Hour), nil
}

func (cookieSessions) LoginURL(returnTo string) string {
	return "/login?return_to=" + url.QueryEscape(returnTo)
}

// staticApps assigns the same applications to everyone.
type staticApps []portal.App

func (a staticApps) ApplicationsFor(context.Context, portal.User) ([]portal.App, error) {
	return a, nil
}

func Example() {
	p, err := portal.New(portal.Config{
		Sessions: cookieSessions{},
		Apps:     staticApps{{ID: "wiki", Name: "Wiki", LaunchURL: "/saml/idp/launch/wiki"}},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /portal", p.Handler())
	mux.Handle("POST /logout", p.SignOutHandler(func(w http.ResponseWriter, r *http.Request) error {
		http.SetCookie(w, &http.Cookie{Name: "user", MaxAge: -1})
		return nil
	}))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/portal", nil))
	fmt.Println(rec.Code, rec.Header().Get("Location"))

	req := httptest.NewRequest(http.MethodGet, "/portal", nil)
	req.AddCookie(&http.Cookie{Name: "user", Value: "ada"})
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output:
	// 302 /login?return_to=%2Fportal
	// 200 text/html; charset=utf-8
}

// oneDevice is a toy DeviceApprover with one pending request; a real
// gateway passes its *oauth.DeviceVerifier.
type oneDevice struct{}

func (oneDevice) Lookup(_ context.Context, code string) (oauth.DevicePrompt, error) {
	if n, err := oauth.NormalizeUserCode(code); err != nil || n != "BCDFGHJK" {
		return oauth.DevicePrompt{}, oauth.ErrNotFound
	}
	return oauth.DevicePrompt{UserCode: "BCDF-GHJK", ClientID: "cli", Audience: "https://data.example.com", ExpiresAt: time.Now().Add(5 * time.Minute)}, nil
}

func (oneDevice) Decide(context.Context, string, string, bool) error { return nil }

func ExamplePortal_DeviceHandler() {
	p, err := portal.New(portal.Config{Sessions: cookieSessions{}, Apps: staticApps{}})
	if err != nil {
		panic(err)
	}
	device, err := p.DeviceHandler(portal.DeviceConfig{
		Approver:    oneDevice{},
		ExternalURL: "https://gw.example.com",
		CSRFKey:     bytes.Repeat([]byte{7}, portal.MinCSRFKeySize), // a random secret in real use
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+portal.DevicePath, device) // GET also serves HEAD
	mux.Handle("POST "+portal.DevicePath, device)

	// Without a session: to the login, keeping the (well-formed) code.
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/device?user_code=bcdfghjk", nil))
	fmt.Println(rec.Code, rec.Header().Get("Location"))

	// Signed in: the consent screen.
	req := httptest.NewRequest(http.MethodGet, "/device?user_code=bcdfghjk", nil)
	req.AddCookie(&http.Cookie{Name: "user", Value: "ada"})
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Referrer-Policy"))
	// Output:
	// 302 /login?return_to=%2Fdevice%3Fuser_code%3DBCDF-GHJK
	// 200 same-origin
}
