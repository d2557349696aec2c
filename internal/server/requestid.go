package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
)

// RequestIDHeader is the header that carries the request ID.
const RequestIDHeader = "X-Request-ID"

type ctxKey struct{}

type requestInfo struct {
	id     string
	client string
	logger *slog.Logger
}

// RequestID gives every request an ID, sets it as the X-Request-ID response
// header, and puts it in the request context (see RequestIDFrom) together
// with logger.With("request_id", id) (see Logger). An incoming X-Request-ID
// is kept only when the peer is a trusted proxy and the value is 1 to 64
// characters of [A-Za-z0-9._-]; otherwise a random 128-bit ID is generated.
// A nil proxies trusts nobody; a nil logger discards.
func RequestID(proxies *TrustedProxies, logger *slog.Logger) func(http.Handler) http.Handler {
	if logger == nil {
		logger = discard()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := ""
			if proxies.Trusted(r) {
				if v := r.Header.Get(RequestIDHeader); validRequestID(v) {
					id = v
				}
			}
			if id == "" {
				id = newRequestID()
			}
			w.Header().Set(RequestIDHeader, id)
			info := &requestInfo{id: id, logger: logger.With(slog.String("request_id", id))}
			if ip := proxies.ClientIP(r); ip.IsValid() {
				info.client = ip.String()
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, info)))
		})
	}
}

// RequestIDFrom returns the request ID set by RequestID, or "".
func RequestIDFrom(ctx context.Context) string {
	if info, ok := ctx.Value(ctxKey{}).(*requestInfo); ok {
		return info.id
	}
	return ""
}

// ClientAddrFrom returns the client's IP address as RequestID resolved it
// (the peer, or the forwarded client address when the peer is a trusted
// proxy), or "".
func ClientAddrFrom(ctx context.Context) string {
	if info, ok := ctx.Value(ctxKey{}).(*requestInfo); ok {
		return info.client
	}
	return ""
}

// Logger returns the request-scoped logger set by RequestID, which adds the
// request_id attribute, or a logger that discards when there is none.
func Logger(ctx context.Context) *slog.Logger {
	if info, ok := ctx.Value(ctxKey{}).(*requestInfo); ok {
		return info.logger
	}
	return discard()
}

// loggerFor returns the request-scoped logger when RequestID ran, else
// fallback (or a discarding logger).
func loggerFor(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if info, ok := ctx.Value(ctxKey{}).(*requestInfo); ok {
		return info.logger
	}
	if fallback != nil {
		return fallback
	}
	return discard()
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
