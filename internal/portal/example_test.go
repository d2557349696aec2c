package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/portal"
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
