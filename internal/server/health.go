package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// ReadinessTimeout bounds a readiness check.
const ReadinessTimeout = 2 * time.Second

// ReadinessChecker reports whether the gateway can serve, typically by
// pinging its store. Ready must return promptly once ctx is done.
type ReadinessChecker interface {
	Ready(ctx context.Context) error
}

type statusBody struct {
	Status string `json:"status"`
}

// Healthz is the liveness handler: always 200 {"status":"ok"}.
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, statusBody{Status: "ok"})
	})
}

// Readyz is the readiness handler: it calls checker.Ready with a
// ReadinessTimeout deadline and answers 200 {"status":"ok"} or 503
// {"status":"unavailable"}; the reason is logged, never sent. A nil checker
// is always ready. A nil logger discards (the request-scoped logger from
// RequestID is preferred when present).
func Readyz(checker ReadinessChecker, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if checker != nil {
			ctx, cancel := context.WithTimeout(r.Context(), ReadinessTimeout)
			err := checker.Ready(ctx)
			cancel()
			if err != nil {
				loggerFor(r.Context(), logger).LogAttrs(r.Context(), slog.LevelWarn, "not ready", slog.String("error", err.Error()))
				writeJSON(w, http.StatusServiceUnavailable, statusBody{Status: "unavailable"})
				return
			}
		}
		writeJSON(w, http.StatusOK, statusBody{Status: "ok"})
	})
}

// RegisterHealth registers GET /healthz and GET /readyz on mux.
func RegisterHealth(mux *http.ServeMux, checker ReadinessChecker, logger *slog.Logger) {
	mux.Handle("GET /healthz", Healthz())
	mux.Handle("GET /readyz", Readyz(checker, logger))
}
