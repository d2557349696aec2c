package sp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// UserGetter reads identity store users by ID.
type UserGetter interface {
	// GetUser returns the user by ID, or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
}

// SessionManagerConfig configures a SessionManager.
type SessionManagerConfig struct {
	// Sessions and Users are required.
	Sessions SessionStore
	Users    UserGetter
	// Lifetime is the session lifetime (default 8h).
	Lifetime time.Duration
	// CookieDomain, when set, is the Domain attribute of the session
	// cookie. Empty: a host-only cookie.
	CookieDomain string
	// RequestURL returns the external URL a request arrived at; its
	// scheme decides the cookie's Secure flag. Default DirectRequestURL.
	RequestURL func(r *http.Request) *url.URL
	Now        func() time.Time
	Logger     *slog.Logger
}

// SessionManager issues, reads and ends the portal session cookie
// (SessionCookie). The SP uses one for its sign-ins; another sign-in
// method (the gateway's built-in directory) uses its own on the same
// stores, so that every session looks the same to the portal, the
// app-facing IdP and the session API.
type SessionManager struct {
	sessions     SessionStore
	users        UserGetter
	lifetime     time.Duration
	cookieDomain string
	requestURL   func(r *http.Request) *url.URL
	now          func() time.Time
	log          *slog.Logger
}

// NewSessionManager validates cfg and returns a SessionManager.
func NewSessionManager(cfg SessionManagerConfig) (*SessionManager, error) {
	var problems []string
	if cfg.Sessions == nil || cfg.Users == nil {
		problems = append(problems, "Sessions and Users are required")
	}
	if cfg.Lifetime < 0 {
		problems = append(problems, "Lifetime must not be negative")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("sp: invalid session config: %s", strings.Join(problems, "; "))
	}
	m := &SessionManager{
		sessions:     cfg.Sessions,
		users:        cfg.Users,
		lifetime:     orDefault(cfg.Lifetime, 8*time.Hour),
		cookieDomain: cfg.CookieDomain,
		requestURL:   cfg.RequestURL,
		now:          cfg.Now,
		log:          cfg.Logger,
	}
	if m.requestURL == nil {
		m.requestURL = DirectRequestURL
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m, nil
}

// Lifetime returns the lifetime of new sessions.
func (m *SessionManager) Lifetime() time.Duration { return m.lifetime }

// Create stores a new session for the user: a fresh secret ID, CreatedAt
// now, ExpiresAt after the lifetime, and the given method, authentication
// instant (now when zero), session index and authentication context. It
// sets no cookie: call SetCookie once the sign-in is final.
func (m *SessionManager) Create(ctx context.Context, s Session) (Session, error) {
	now := m.now()
	s.ID = randomToken(32)
	s.CreatedAt = now
	s.ExpiresAt = now.Add(m.lifetime)
	if s.AuthnInstant.IsZero() {
		s.AuthnInstant = now
	}
	if s.UserID == "" {
		return Session{}, errors.New("sp: session without a user")
	}
	if err := m.sessions.CreateSession(ctx, s); err != nil {
		return Session{}, err
	}
	return s, nil
}

// Delete deletes a session (an unknown one is not an error).
func (m *SessionManager) Delete(ctx context.Context, id string) error {
	if err := m.sessions.DeleteSession(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// SetCookie sets the session cookie for sess: HttpOnly, SameSite=Lax,
// Secure when the request arrived over https, expiring with the session.
func (m *SessionManager) SetCookie(w http.ResponseWriter, r *http.Request, sess Session) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    sess.ID,
		Path:     "/",
		Domain:   m.cookieDomain,
		Expires:  sess.ExpiresAt,
		MaxAge:   int(sess.ExpiresAt.Sub(sess.CreatedAt) / time.Second),
		HttpOnly: true,
		Secure:   m.requestURL(r).Scheme == "https",
		SameSite: http.SameSiteLaxMode,
	})
}

// ErrNoSession is returned by Authenticate when the request carries no valid
// session.
var ErrNoSession = errors.New("sp: no valid session")

// Authenticate returns the session and user of the request's session cookie.
// It returns ErrNoSession when there is none (or it expired, or the user is
// deactivated) and any other error when the store is unavailable.
func (m *SessionManager) Authenticate(r *http.Request) (Session, User, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || !validToken(c.Value) {
		return Session{}, User{}, ErrNoSession
	}
	now := m.now()
	sess, err := m.sessions.GetSession(r.Context(), c.Value, now)
	if errors.Is(err, ErrNotFound) {
		return Session{}, User{}, ErrNoSession
	}
	if err != nil {
		return Session{}, User{}, err
	}
	user, err := m.users.GetUser(r.Context(), sess.UserID)
	if errors.Is(err, ErrNotFound) {
		return Session{}, User{}, ErrNoSession
	}
	if err != nil {
		return Session{}, User{}, err
	}
	if !user.Active {
		return Session{}, User{}, ErrNoSession
	}
	return sess, user, nil
}

type sessionUserJSON struct {
	ID          string   `json:"id"`
	UserName    string   `json:"user_name"`
	Email       string   `json:"email"`
	DisplayName string   `json:"display_name"`
	Groups      []string `json:"groups"`
}

// SessionHandler serves GET /api/v1/session: 200 with the user and the
// session expiry, 401 without a valid session, 503 when the store is
// unavailable.
func (m *SessionManager) SessionHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		sess, user, err := m.Authenticate(r)
		if errors.Is(err, ErrNoSession) {
			writeError(w, http.StatusUnauthorized, "unauthenticated", "no valid session")
			return
		}
		if err != nil {
			m.log.ErrorContext(r.Context(), "session lookup failed", "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the session store is unavailable")
			return
		}
		groups := user.Groups
		if groups == nil {
			groups = []string{}
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"user": sessionUserJSON{
				ID: user.ID, UserName: user.UserName, Email: user.Email,
				DisplayName: user.DisplayName, Groups: groups,
			},
			"expires_at": sess.ExpiresAt.UTC().Format(time.RFC3339),
		})
	})
}

// EndSession deletes the request's session, if any, and clears the cookie.
// It also asks the browser to drop its cache for this site (Clear-Site-Data)
// so that Back cannot bring a signed-in page out of the back/forward cache.
// An error means the store is unavailable and the session may still exist.
func (m *SessionManager) EndSession(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	if c, err := r.Cookie(SessionCookie); err == nil && validToken(c.Value) {
		if err := m.Delete(r.Context(), c.Value); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", Domain: m.cookieDomain, MaxAge: -1, HttpOnly: true,
		Secure: m.requestURL(r).Scheme == "https", SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Clear-Site-Data", `"cache"`)
	return nil
}

// LogoutHandler serves POST /api/v1/logout: it ends the session (see
// EndSession) and answers 204 whether or not a session existed, or 503 when
// the store is unavailable.
func (m *SessionManager) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := m.EndSession(w, r); err != nil {
			m.log.ErrorContext(r.Context(), "logout failed", "err", err)
			w.Header().Del("Clear-Site-Data")
			w.Header().Del("Set-Cookie")
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the session store is unavailable")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// Sessions returns the SP's session manager.
func (s *SP) Sessions() *SessionManager { return s.sm }

// Authenticate returns the session and user of the request's session
// cookie; see SessionManager.Authenticate.
func (s *SP) Authenticate(r *http.Request) (Session, User, error) { return s.sm.Authenticate(r) }

// SessionHandler serves GET /api/v1/session; see
// SessionManager.SessionHandler.
func (s *SP) SessionHandler() http.Handler { return s.sm.SessionHandler() }

// EndSession ends the request's session; see SessionManager.EndSession.
func (s *SP) EndSession(w http.ResponseWriter, r *http.Request) error { return s.sm.EndSession(w, r) }

// LogoutHandler serves POST /api/v1/logout; see
// SessionManager.LogoutHandler.
func (s *SP) LogoutHandler() http.Handler { return s.sm.LogoutHandler() }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}
