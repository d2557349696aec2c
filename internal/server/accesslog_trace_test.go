package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestAccessLogTraceID(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		Remote:  true,
	})

	tests := []struct {
		name  string
		start func(r *http.Request) (*http.Request, trace.Span)
		want  string // "" means no trace_id field
	}{
		{"no span", func(r *http.Request) (*http.Request, trace.Span) { return r, nil }, ""},
		{"recording span", func(r *http.Request) (*http.Request, trace.Span) {
			ctx, span := tp.Tracer("test").Start(trace.ContextWithRemoteSpanContext(r.Context(), remote), "GET /")
			return r.WithContext(ctx), span
		}, remote.TraceID().String()},
		{"span not recording (not sampled)", func(r *http.Request) (*http.Request, trace.Span) {
			return r.WithContext(trace.ContextWithRemoteSpanContext(r.Context(), remote)), nil
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := newLogger()
			r, span := tc.start(httptest.NewRequest(http.MethodGet, "/", nil))
			AccessLog(logger)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(httptest.NewRecorder(), r)
			if span != nil {
				span.End()
			}
			lines := logs.lines(t)
			require.Len(t, lines, 1)
			assert.EqualValues(t, 200, lines[0]["status"], "the line is otherwise unchanged")
			if tc.want == "" {
				assert.NotContains(t, lines[0], "trace_id")
				return
			}
			assert.Equal(t, tc.want, lines[0]["trace_id"])
		})
	}
}
