package propagation

import (
	"errors"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
)

// Option configures Middleware.
type Option func(*middlewareConfig)

type middlewareConfig struct {
	headerPrefix string
	log          *slog.Logger
}

// WithIdentityHeaders makes the middleware set identity headers for a
// downstream proxy or legacy handler: prefix+"User-Id" (sub), prefix+"User"
// (username), prefix+"Email", prefix+"Groups" (comma-separated) and
// prefix+"Client-Id". Every inbound header starting with prefix is deleted
// first, on every request, so clients cannot forge them. A typical prefix is
// "X-Gatehouse-".
func WithIdentityHeaders(prefix string) Option {
	return func(c *middlewareConfig) { c.headerPrefix = textproto.CanonicalMIMEHeaderKey(prefix) }
}

// WithLogger logs refused tokens (reason and detail, never the token) at
// debug level, and key set outages at warn level.
func WithLogger(l *slog.Logger) Option {
	return func(c *middlewareConfig) { c.log = l }
}

// Middleware authenticates every request with v. It reads the token only
// from "Authorization: Bearer" (RFC 6750 §2.1; never from the query or a
// form), answers 401 with a WWW-Authenticate challenge and an empty body on
// any failure, 403 insufficient_scope when a required scope is missing, and
// 503 when the key set is unavailable (fail closed). On success it puts the
// Identity in the request context (see FromContext).
func Middleware(v *Verifier, opts ...Option) func(http.Handler) http.Handler {
	cfg := middlewareConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if cfg.headerPrefix != "" {
				stripPrefixed(r.Header, cfg.headerPrefix)
			}
			raw, ok := bearerToken(r)
			if !ok {
				// RFC 6750 §3.1: no error code when credentials are absent.
				challenge(w, http.StatusUnauthorized, "")
				return
			}
			id, err := v.Verify(r.Context(), raw)
			if err != nil {
				var ve *ValidationError
				reason := ReasonMalformed
				if errors.As(err, &ve) {
					reason = ve.Reason
				}
				switch {
				case errors.Is(err, ErrKeySetUnavailable):
					cfg.log.LogAttrs(r.Context(), slog.LevelWarn, "token verification keys unavailable",
						slog.String("reason", string(reason)), slog.Any("error", err))
					w.Header().Set("Cache-Control", "no-store")
					w.WriteHeader(http.StatusServiceUnavailable)
				case errors.Is(err, ErrInsufficientScope):
					cfg.log.LogAttrs(r.Context(), slog.LevelDebug, "token refused",
						slog.String("reason", string(reason)))
					challenge(w, http.StatusForbidden, "insufficient_scope")
				default:
					cfg.log.LogAttrs(r.Context(), slog.LevelDebug, "token refused",
						slog.String("reason", string(reason)), slog.Any("error", err))
					challenge(w, http.StatusUnauthorized, "invalid_token")
				}
				return
			}
			if cfg.headerPrefix != "" {
				setIdentityHeaders(r.Header, cfg.headerPrefix, id)
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
		})
	}
}

// bearerToken returns the token of exactly one "Authorization: Bearer"
// header (scheme case-insensitive, RFC 6750 §2.1 b64token syntax).
func bearerToken(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" {
		return "", false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && !strings.ContainsRune("-._~+/=", rune(c)) {
			return "", false
		}
	}
	return tok, true
}

func challenge(w http.ResponseWriter, status int, code string) {
	v := "Bearer"
	if code != "" {
		v = `Bearer error="` + code + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}

func stripPrefixed(h http.Header, prefix string) {
	for k := range h {
		if len(k) >= len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) {
			delete(h, k)
		}
	}
}

func setIdentityHeaders(h http.Header, prefix string, id *Identity) {
	set := func(name, val string) {
		if val != "" {
			h.Set(prefix+name, val)
		}
	}
	set("User-Id", id.Subject)
	set("User", id.UserName)
	set("Email", id.Email)
	set("Groups", strings.Join(id.Groups, ","))
	set("Client-Id", id.ClientID)
}
