package sp

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

func (s *SP) setSessionCookie(w http.ResponseWriter, r *http.Request, sess Session) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    sess.ID,
		Path:     "/",
		Domain:   s.cookieDomain,
		Expires:  sess.ExpiresAt,
		MaxAge:   int(sess.ExpiresAt.Sub(sess.CreatedAt) / time.Second),
		HttpOnly: true,
		Secure:   s.requestURL(r).Scheme == "https",
		SameSite: http.SameSiteLaxMode,
	})
}

// ErrNoSession is returned by Authenticate when the request carries no valid
// session.
var ErrNoSession = errors.New("sp: no valid session")

// Authenticate returns the session and user of the request's session cookie.
// It returns ErrNoSession when there is none (or it expired, or the user is
// deactivated) and any other error when the store is unavailable.
func (s *SP) Authenticate(r *http.Request) (Session, User, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || !validToken(c.Value) {
		return Session{}, User{}, ErrNoSession
	}
	now := s.now()
	sess, err := s.sessions.GetSession(r.Context(), c.Value, now)
	if errors.Is(err, ErrNotFound) {
		return Session{}, User{}, ErrNoSession
	}
	if err != nil {
		return Session{}, User{}, err
	}
	user, err := s.users.GetUser(r.Context(), sess.UserID)
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
func (s *SP) SessionHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		sess, user, err := s.Authenticate(r)
		if errors.Is(err, ErrNoSession) {
			writeError(w, http.StatusUnauthorized, "unauthenticated", "no valid session")
			return
		}
		if err != nil {
			s.log.ErrorContext(r.Context(), "session lookup failed", "err", err)
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
func (s *SP) EndSession(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	if c, err := r.Cookie(SessionCookie); err == nil && validToken(c.Value) {
		if err := s.sessions.DeleteSession(r.Context(), c.Value); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", Domain: s.cookieDomain, MaxAge: -1, HttpOnly: true,
		Secure: s.requestURL(r).Scheme == "https", SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Clear-Site-Data", `"cache"`)
	return nil
}

// LogoutHandler serves POST /api/v1/logout: it ends the session (see
// EndSession) and answers 204 whether or not a session existed, or 503 when
// the store is unavailable.
func (s *SP) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.EndSession(w, r); err != nil {
			s.log.ErrorContext(r.Context(), "logout failed", "err", err)
			w.Header().Del("Clear-Site-Data")
			w.Header().Del("Set-Cookie")
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the session store is unavailable")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}
