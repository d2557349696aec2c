package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

const (
	traceIDHex  = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentIDHex = "00f067aa0ba902b7"
)

func recorder(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// allValues is every attribute key and value, the status description and
// every event's attributes of spans, for secret checks.
func allValues(spans []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString(s.Name() + "\n" + s.Status().Description + "\n")
		for _, a := range s.Attributes() {
			b.WriteString(string(a.Key) + "=" + a.Value.Emit() + "\n")
		}
		for _, e := range s.Events() {
			b.WriteString(e.Name + "\n")
			for _, a := range e.Attributes {
				b.WriteString(string(a.Key) + "=" + a.Value.Emit() + "\n")
			}
		}
	}
	return b.String()
}

func TestEnabled(t *testing.T) {
	tp, _ := recorder(t)
	assert.False(t, Enabled(nil))
	assert.False(t, Enabled(noop.NewTracerProvider()))
	assert.False(t, Enabled(new(noop.TracerProvider)))
	assert.True(t, Enabled(tp))
}

func TestSetupOff(t *testing.T) {
	tp, shutdown, err := Setup(context.Background(), config.TracingConfig{SampleRatio: 0.1, ServiceName: "gatehouse"}, nil)
	require.NoError(t, err)
	assert.False(t, Enabled(tp))
	require.NoError(t, shutdown(context.Background()))

	// Off means the HTTP helpers return what they were given.
	h := http.NewServeMux()
	assert.Same(t, h, Handler(tp, h), "no middleware")
	assert.Equal(t, http.DefaultTransport, Transport(tp, http.DefaultTransport))
	assert.Nil(t, Client(tp, nil))
	c := &http.Client{Timeout: time.Second}
	assert.Same(t, c, Client(tp, c))
}

// collector is an OTLP/HTTP endpoint that records the paths posted to.
type collector struct {
	mu    sync.Mutex
	posts []string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	c.mu.Lock()
	c.posts = append(c.posts, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (c *collector) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.posts...)
}

func TestSetupExports(t *testing.T) {
	tests := []struct{ name, path, want string }{
		{"no path: the default", "", "/v1/traces"},
		{"root: the default", "/", "/v1/traces"},
		{"explicit path", "/otlp/v1/traces", "/otlp/v1/traces"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			col := &collector{}
			srv := httptest.NewServer(col)
			defer srv.Close()
			tp, shutdown, err := Setup(context.Background(), config.TracingConfig{OTLPEndpoint: srv.URL + tc.path, SampleRatio: 1, ServiceName: "gatehouse-test"}, nil)
			require.NoError(t, err)
			require.True(t, Enabled(tp))
			_, span := tp.Tracer("test").Start(context.Background(), "op")
			span.End()
			require.NoError(t, shutdown(context.Background()), "flushes the batch")
			assert.Equal(t, []string{"POST " + tc.want + " application/x-protobuf"}, col.got())
		})
	}
}

func TestSetupSampling(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	tp, shutdown, err := Setup(context.Background(), config.TracingConfig{OTLPEndpoint: srv.URL, SampleRatio: 0, ServiceName: "gatehouse"}, nil)
	require.NoError(t, err)
	defer func() { _ = shutdown(context.Background()) }()

	// Ratio 0: a new trace is not sampled...
	_, span := tp.Tracer("test").Start(context.Background(), "new")
	assert.False(t, span.IsRecording())
	span.End()
	// ...but a sampled parent is honoured (parent-based).
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true})
	_, span = tp.Tracer("test").Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), "child")
	assert.True(t, span.IsRecording())
	span.End()
}

func TestSetupRejects(t *testing.T) {
	valid := config.TracingConfig{OTLPEndpoint: "http://127.0.0.1:4318", SampleRatio: 0.5, ServiceName: "gatehouse"}
	tp, shutdown, err := Setup(context.Background(), valid, nil)
	require.NoError(t, err, "the starting point is valid")
	require.True(t, Enabled(tp))
	require.NoError(t, shutdown(context.Background()))

	tests := map[string]func(c *config.TracingConfig){
		"ratio":        func(c *config.TracingConfig) { c.SampleRatio = 1.5 },
		"service name": func(c *config.TracingConfig) { c.ServiceName = "" },
		"scheme":       func(c *config.TracingConfig) { c.OTLPEndpoint = "grpc://127.0.0.1:4317" },
		"user info":    func(c *config.TracingConfig) { c.OTLPEndpoint = "http://u:pw@127.0.0.1:4318" },
		"no host":      func(c *config.TracingConfig) { c.OTLPEndpoint = "http:///v1/traces" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			c := valid
			mutate(&c)
			_, _, err := Setup(context.Background(), c, nil)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "pw")
		})
	}
}

func TestHandlerContinuesTraceAndNamesRoute(t *testing.T) {
	tp, rec := recorder(t)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		// The handler's context carries the server span.
		assert.Equal(t, traceIDHex, trace.SpanContextFromContext(r.Context()).TraceID().String())
		w.WriteHeader(http.StatusBadRequest)
	})
	// Something between the handler and the mux replaces the request, as
	// server.RequestID does.
	inner := Route(mux)
	h := Handler(tp, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), struct{}{}, 1)))
	}))

	r := httptest.NewRequest(http.MethodPost, "/oauth/token?client_secret=query-secret", strings.NewReader("password=body-secret"))
	r.Header.Set("traceparent", "00-"+traceIDHex+"-"+parentIDHex+"-01")
	r.Header.Set("Cookie", "gatehouse_session=cookie-secret")
	r.Header.Set("Authorization", "Bearer header-secret")
	r.Header.Set("User-Agent", "agent-secret")
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	h.ServeHTTP(httptest.NewRecorder(), r)

	spans := rec.Ended()
	require.Len(t, spans, 1)
	s := spans[0]
	assert.Equal(t, "POST /oauth/token", s.Name())
	assert.Equal(t, trace.SpanKindServer, s.SpanKind())
	assert.Equal(t, traceIDHex, s.SpanContext().TraceID().String())
	assert.Equal(t, parentIDHex, s.Parent().SpanID().String())
	attrs := map[attribute.Key]string{}
	for _, a := range s.Attributes() {
		attrs[a.Key] = a.Value.Emit()
		assert.True(t, allowedHTTPAttributes[a.Key], "attribute %s is not allowed", a.Key)
	}
	assert.Equal(t, "POST /oauth/token", attrs["http.route"])
	assert.Equal(t, "400", attrs["http.response.status_code"])
	assert.Equal(t, "POST", attrs["http.request.method"])
	all := allValues(spans)
	for _, secret := range []string{"secret", "203.0.113.9", "/oauth/token?"} {
		assert.NotContains(t, all, secret)
	}

	// Unmatched requests share one name.
	rec.Reset()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/random/path-secret", nil))
	require.Len(t, rec.Ended(), 1)
	assert.Equal(t, RouteUnmatched, rec.Ended()[0].Name())
	assert.NotContains(t, allValues(rec.Ended()), "path-secret")
}

func TestTransportInjectsTraceparent(t *testing.T) {
	tp, rec := recorder(t)
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("traceparent")
		_, _ = w.Write([]byte("{}"))
	}))
	defer srv.Close()

	c := Client(tp, &http.Client{Timeout: 5 * time.Second})
	assert.Equal(t, 5*time.Second, c.Timeout, "the client is kept")
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/jwks?key=query-secret", nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	parent.End()

	var client sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			client = s
		}
	}
	require.NotNil(t, client)
	assert.Equal(t, parent.SpanContext().TraceID(), client.SpanContext().TraceID())
	assert.Equal(t, "00-"+client.SpanContext().TraceID().String()+"-"+client.SpanContext().SpanID().String()+"-01", got)
	assert.NotContains(t, allValues(rec.Ended()), "query-secret")

	// A failed request: Go's error quotes the URL; the span does not.
	rec.Reset()
	srv.Close()
	req, err = http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/jwks?key=query-secret", nil)
	require.NoError(t, err)
	_, err = c.Do(req)
	require.ErrorContains(t, err, "query-secret", "the positive control: the error does hold it")
	require.Len(t, rec.Ended(), 1)
	assert.Equal(t, codes.Error, rec.Ended()[0].Status().Code)
	assert.NotContains(t, allValues(rec.Ended()), "query-secret")
}

func TestFilterDropsUnlistedAttributes(t *testing.T) {
	tp, rec := recorder(t)
	tr := filterProvider{tp: tp}.Tracer("test")
	_, span := tr.Start(context.Background(), "op", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("url.full", "https://x/?token=t"), attribute.Int("http.response.status_code", 200)))
	span.SetAttributes(attribute.String("user_agent.original", "ua"), attribute.String("http.route", "GET /x"))
	span.AddEvent("read", trace.WithAttributes(attribute.String("body", "b")))
	span.RecordError(io.ErrUnexpectedEOF)
	span.SetStatus(codes.Error, "Get https://x/?token=t: EOF")
	assert.Equal(t, filterProvider{tp: tp}, span.TracerProvider())
	span.End()

	require.Len(t, rec.Ended(), 1)
	s := rec.Ended()[0]
	assert.Equal(t, trace.SpanKindClient, s.SpanKind())
	assert.ElementsMatch(t, []attribute.KeyValue{attribute.Int("http.response.status_code", 200), attribute.String("http.route", "GET /x")}, s.Attributes())
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.Empty(t, s.Status().Description)
	require.Len(t, s.Events(), 2)
	assert.Equal(t, "read", s.Events()[0].Name)
	assert.Equal(t, "exception", s.Events()[1].Name)
	assert.Empty(t, s.Events()[0].Attributes)
	assert.Empty(t, s.Events()[1].Attributes)
}

func FuzzExportURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:4318", "https://otlp.example.com/v1/traces", "http://u:p@x", "grpc://x", "", "http://[::1", "https://x/?a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := exportURL(raw)
		if err != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.Path == "" || u.Path == "/" {
			t.Fatalf("exportURL(%q) = %v, accepted", raw, u)
		}
	})
}
