package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// The identity source's session cookie and how long a session lasts.
const (
	sessionCookie   = "demo_idp_session"
	sessionLifetime = 8 * time.Hour
)

type demoUser struct {
	password  string
	principal idp.Principal
}

// demoUsers is the identity source's user table. A real embedder reads its
// directory here and stores password hashes, never passwords.
func demoUsers() map[string]demoUser {
	return map[string]demoUser{
		"alice": {"alice-password", idp.Principal{
			UserID: "u-alice", UserName: "alice", Email: "alice@example.com",
			GivenName: "Alice", FamilyName: "Liddell", DisplayName: "Alice Liddell",
			Groups: []string{"staff", "engineering"},
		}},
		"bob": {"bob-password", idp.Principal{
			UserID: "u-bob", UserName: "bob", Email: "bob@example.com",
			DisplayName: "Bob Builder", Groups: []string{"contractors"},
		}},
	}
}

type session struct {
	user             string
	authnAt, expires time.Time
}

// userSource is the idp.SessionProvider: a session cookie pointing into an
// in-memory map, established by the login form at /login. The map is keyed
// by the cookie value itself; a real session store keeps only a hash.
type userSource struct {
	users map[string]demoUser
	page  *template.Template

	mu       sync.Mutex
	sessions map[string]session
}

func newUserSource(users map[string]demoUser) *userSource {
	return &userSource{
		users:    users,
		sessions: map[string]session{},
		page: template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in</title></head><body>
<h1>Sign in</h1>{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="return_to" value="{{.ReturnTo}}">
<label>User name <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button>Sign in</button></form></body></html>`)),
	}
}

// Principal implements idp.SessionProvider.
func (u *userSource) Principal(r *http.Request) (idp.Principal, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return idp.Principal{}, idp.ErrNoSession
	}
	u.mu.Lock()
	s, ok := u.sessions[c.Value]
	u.mu.Unlock()
	if !ok || !s.expires.After(time.Now()) {
		return idp.Principal{}, idp.ErrNoSession
	}
	p := u.users[s.user].principal
	p.Groups = slices.Clone(p.Groups)
	p.AuthnInstant, p.SessionNotOnOrAfter = s.authnAt, s.expires
	return p, nil
}

// StartLogin implements idp.SessionProvider: the login form, then back to
// returnTo, a local path the IdP built.
func (u *userSource) StartLogin(w http.ResponseWriter, r *http.Request, returnTo string) {
	http.Redirect(w, r, "/login?"+url.Values{"return_to": {returnTo}}.Encode(), http.StatusFound)
}

func (u *userSource) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		u.showLogin(w, r.URL.Query().Get("return_to"), "", http.StatusOK)
	})
	mux.HandleFunc("POST /login", u.login)
}

func (u *userSource) showLogin(w http.ResponseWriter, returnTo, msg string, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = u.page.Execute(w, map[string]string{"ReturnTo": returnTo, "Error": msg})
}

func (u *userSource) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "invalid form", http.StatusBadRequest)
		return
	}
	returnTo := r.PostForm.Get("return_to")
	if !sp.IsLocalPath(returnTo) { // never redirect off-site
		returnTo = "/app/"
	}
	name := r.PostForm.Get("username")
	if !u.checkPassword(name, r.PostForm.Get("password")) {
		u.showLogin(w, returnTo, "Invalid user name or password.", http.StatusUnauthorized)
		return
	}
	now := time.Now()
	id := rand.Text()
	u.mu.Lock()
	for k, s := range u.sessions {
		if !s.expires.After(now) {
			delete(u.sessions, k)
		}
	}
	u.sessions[id] = session{user: name, authnAt: now, expires: now.Add(sessionLifetime)}
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", MaxAge: int(sessionLifetime / time.Second),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, returnTo, http.StatusSeeOther)
}

// checkPassword compares SHA-256 digests in constant time, so neither the
// password's content nor its length shows in the timing, and does the same
// work for unknown users.
func (u *userSource) checkPassword(name, password string) bool {
	user, ok := u.users[name]
	want := sha256.Sum256([]byte(user.password))
	got := sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1 && ok && user.password != ""
}

// groupPolicy is the idp.AccessPolicy: members of the named group are
// assigned to every application.
type groupPolicy string

func (g groupPolicy) CanAccess(_ context.Context, _ *idp.ServiceProvider, p idp.Principal) (bool, error) {
	return slices.Contains(p.Groups, string(g)), nil
}
