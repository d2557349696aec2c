package server

import (
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"
)

const (
	maxLoggedPath   = 256
	maxLoggedMethod = 16
)

// AccessLog logs one line per request at the end of it: method, path
// (without the query), status, duration_ms, bytes written, request_id and,
// when the request's span is recording (tracing on and the trace sampled),
// trace_id.
// Headers, cookies, queries and bodies are never logged. 5xx responses are
// logged at Warn, others at Info. A nil logger discards.
func AccessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	if logger == nil {
		logger = discard()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			defer func() {
				p := recover()
				status := rec.Status()
				if p != nil && !rec.wroteHeader {
					status = http.StatusInternalServerError
				}
				level := slog.LevelInfo
				if status >= 500 {
					level = slog.LevelWarn
				}
				attrs := [...]slog.Attr{
					slog.String("method", clip(r.Method, maxLoggedMethod)),
					slog.String("path", clip(r.URL.Path, maxLoggedPath)),
					slog.Int("status", status),
					slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
					slog.Int64("bytes", rec.bytes),
					slog.String("request_id", RequestIDFrom(r.Context())),
					{},
				}
				n := len(attrs) - 1
				if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
					attrs[n] = slog.String("trace_id", span.SpanContext().TraceID().String())
					n++
				}
				logger.LogAttrs(r.Context(), level, "http request", attrs[:n]...)
				if p != nil {
					panic(p)
				}
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// statusRecorder remembers the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader && (code >= 200 || code == http.StatusSwitchingProtocols) {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = http.StatusOK, true
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Flush lets handlers stream through the recorder.
func (s *statusRecorder) Flush() {
	if !s.wroteHeader {
		s.status, s.wroteHeader = http.StatusOK, true
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Status is the status sent, 200 when the handler wrote nothing.
func (s *statusRecorder) Status() int {
	if !s.wroteHeader {
		return http.StatusOK
	}
	return s.status
}
