package scimtoken

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// ErrorSchema is the schema URI of a SCIM error response (RFC 7644
// section 3.12).
const ErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"

// Messages of the middleware's error responses: the same for every reason.
const (
	detailUnauthorized = "a valid SCIM bearer token is required"
	detailUnavailable  = "the service is temporarily unavailable; try again later"
)

type ctxKey struct{}

// TokenFrom returns the token the request was authenticated with by
// Require.
func TokenFrom(ctx context.Context) (TokenInfo, bool) {
	info, ok := ctx.Value(ctxKey{}).(TokenInfo)
	return info, ok
}

// Actor returns the audit actor of a request authenticated by Require,
// "scim:<token id>", or "" for any other request.
func Actor(ctx context.Context) string {
	if info, ok := TokenFrom(ctx); ok {
		return "scim:" + info.ID
	}
	return ""
}

// Require wraps next (the /scim/v2 handlers) so that it runs only for
// requests carrying one valid Bearer token in their Authorization header;
// next finds the token in the request context (TokenFrom, Actor).
//
// A refused request gets 401 with WWW-Authenticate: Bearer realm="scim"
// (and error="invalid_token" when a credential was presented, RFC 6750
// section 3.1) and a SCIM error body (RFC 7644 section 3.12), the same for
// every reason. A store failure gets 503: the request is never let through
// unauthenticated. The reason goes to the log (expired and revoked tokens
// at warning level, with the token ID) and to the metric
// gatehouse_scim_token_auth_failures_total.
func (s *Service) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		info, err := s.authenticateRequest(r)
		if err != nil {
			log := s.logger(ctx)
			var refused *RefusedError
			if errors.As(err, &refused) {
				s.failures.WithLabelValues(string(refused.Reason)).Inc()
				level := slog.LevelDebug
				if refused.Reason == ReasonExpired || refused.Reason == ReasonRevoked {
					level = slog.LevelWarn
				}
				attrs := []slog.Attr{slog.String("reason", string(refused.Reason))}
				if refused.TokenID != "" {
					attrs = append(attrs, slog.String("token_id", refused.TokenID))
				}
				log.LogAttrs(ctx, level, "scimtoken: SCIM request refused", attrs...)
				challenge := `Bearer realm="scim"`
				if refused.Reason != ReasonMissing {
					challenge += `, error="invalid_token"`
				}
				w.Header().Set("WWW-Authenticate", challenge)
				WriteError(w, http.StatusUnauthorized, detailUnauthorized)
				return
			}
			s.failures.WithLabelValues(string(ReasonUnavailable)).Inc()
			log.ErrorContext(ctx, "scimtoken: SCIM token check failed", slog.Any("error", err))
			w.Header().Set("Retry-After", "5")
			WriteError(w, http.StatusServiceUnavailable, detailUnavailable)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKey{}, info)))
	})
}

// authenticateRequest reads the one Authorization header of r and
// authenticates its bearer token.
func (s *Service) authenticateRequest(r *http.Request) (TokenInfo, error) {
	values := r.Header.Values("Authorization")
	if len(values) > 1 {
		return TokenInfo{}, &RefusedError{Reason: ReasonMalformed}
	}
	header := ""
	if len(values) == 1 {
		header = values[0]
	}
	bearer, err := ParseBearer(header)
	switch {
	case errors.Is(err, ErrNoCredentials):
		return TokenInfo{}, &RefusedError{Reason: ReasonMissing}
	case err != nil:
		return TokenInfo{}, &RefusedError{Reason: ReasonMalformed}
	}
	return s.Authenticate(r.Context(), bearer)
}

// logger is the request-scoped logger (with the request ID) when
// server.RequestID ran, else the service's.
func (s *Service) logger(ctx context.Context) *slog.Logger {
	if server.RequestIDFrom(ctx) != "" {
		return server.Logger(ctx)
	}
	return s.log
}

// scimError is the body of a SCIM error response (RFC 7644 section 3.12).
type scimError struct {
	Schemas []string `json:"schemas"`
	Status  string   `json:"status"`
	Detail  string   `json:"detail,omitempty"`
}

// WriteError writes a SCIM error response (RFC 7644 section 3.12) with
// status: Content-Type application/scim+json, not cached, the status
// repeated as a string in the body. detail must not contain secrets or
// internal detail.
func WriteError(w http.ResponseWriter, status int, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/scim+json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(scimError{Schemas: []string{ErrorSchema}, Status: strconv.Itoa(status), Detail: detail})
}
