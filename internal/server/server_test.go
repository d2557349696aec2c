package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		out = append(out, m)
	}
	return out
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func proxies(t *testing.T, cidrs ...string) *TrustedProxies {
	t.Helper()
	p, err := NewTrustedProxies(cidrs)
	require.NoError(t, err)
	return p
}

func request(remote string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://gw.internal/x", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestID(t *testing.T) {
	tp := proxies(t, "10.0.0.0/8")
	tests := []struct {
		name     string
		remote   string
		incoming string
		keep     bool
	}{
		{"trusted valid kept", "10.1.2.3:5000", "abc-123_X.y", true},
		{"trusted 64 chars kept", "10.1.2.3:5000", strings.Repeat("a", 64), true},
		{"untrusted ignored", "192.0.2.1:5000", "abc-123_X.y", false},
		{"trusted 65 chars replaced", "10.1.2.3:5000", strings.Repeat("a", 65), false},
		{"trusted unsafe chars replaced", "10.1.2.3:5000", "a b\nc", false},
		{"trusted unicode replaced", "10.1.2.3:5000", "idé", false},
		{"trusted empty generated", "10.1.2.3:5000", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := newLogger()
			var seen string
			h := RequestID(tp, logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = RequestIDFrom(r.Context())
				Logger(r.Context()).Info("inside")
			}))
			r := request(tc.remote)
			if tc.incoming != "" {
				r.Header.Set(RequestIDHeader, tc.incoming)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if tc.keep {
				assert.Equal(t, tc.incoming, seen)
			} else {
				assert.Regexp(t, generatedID, seen)
			}
			assert.Equal(t, seen, w.Header().Get(RequestIDHeader))
			lines := logs.lines(t)
			require.Len(t, lines, 1)
			assert.Equal(t, seen, lines[0]["request_id"])
		})
	}

	// Generated IDs differ.
	ids := map[string]bool{}
	h := RequestID(nil, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ids[RequestIDFrom(r.Context())] = true }))
	for range 10 {
		h.ServeHTTP(httptest.NewRecorder(), request("10.0.0.1:1", RequestIDHeader, "fixed"))
	}
	assert.Len(t, ids, 10, "a nil TrustedProxies trusts nobody")

	// Without the middleware: no ID and a discarding logger.
	assert.Empty(t, RequestIDFrom(context.Background()))
	assert.NotNil(t, Logger(context.Background()))
	Logger(context.Background()).Info("discarded")
}

func TestAccessLog(t *testing.T) {
	logger, logs := newLogger()
	h := RequestID(nil, logger)(AccessLog(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		require.Equal(t, "body-secret", string(body))
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("short and stout"))
	})))
	r := httptest.NewRequest(http.MethodPost, "/saml/acs?SAMLRequest=query-secret", strings.NewReader("body-secret"))
	r.Header.Set("Cookie", "gatehouse_session=cookie-secret")
	r.Header.Set("Authorization", "Bearer header-secret")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)

	lines := logs.lines(t)
	require.Len(t, lines, 1)
	l := lines[0]
	assert.Equal(t, "http request", l["msg"])
	assert.Equal(t, "INFO", l["level"])
	assert.Equal(t, "POST", l["method"])
	assert.Equal(t, "/saml/acs", l["path"])
	assert.EqualValues(t, 418, l["status"])
	assert.EqualValues(t, 15, l["bytes"])
	assert.Contains(t, l, "duration_ms")
	assert.Equal(t, w.Header().Get(RequestIDHeader), l["request_id"])
	for _, secret := range []string{"query-secret", "body-secret", "cookie-secret", "header-secret", "SAMLRequest"} {
		assert.NotContains(t, logs.String(), secret)
	}
}

func TestAccessLogStatuses(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		status  float64
		level   string
	}{
		{"nothing written is 200", func(http.ResponseWriter, *http.Request) {}, 200, "INFO"},
		{"write implies 200", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("x")) }, 200, "INFO"},
		{"informational then final", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusNotFound)
		}, 404, "INFO"},
		{"second WriteHeader ignored", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusCreated)
			w.WriteHeader(http.StatusInternalServerError)
		}, 201, "INFO"},
		{"5xx at warn", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }, 503, "WARN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := newLogger()
			AccessLog(logger)(tc.handler).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			lines := logs.lines(t)
			require.Len(t, lines, 1)
			assert.Equal(t, tc.status, lines[0]["status"])
			assert.Equal(t, tc.level, lines[0]["level"])
		})
	}

	t.Run("panic logged as 500 and re-raised", func(t *testing.T) {
		logger, logs := newLogger()
		h := AccessLog(logger)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
		assert.PanicsWithValue(t, http.ErrAbortHandler, func() {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		})
		lines := logs.lines(t)
		require.Len(t, lines, 1)
		assert.EqualValues(t, 500, lines[0]["status"])
	})

	t.Run("long path clipped", func(t *testing.T) {
		logger, logs := newLogger()
		AccessLog(logger)(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/"+strings.Repeat("a", 1000), nil))
		assert.Len(t, logs.lines(t)[0]["path"], maxLoggedPath+3)
	})

	t.Run("flush passes through", func(t *testing.T) {
		w := httptest.NewRecorder()
		AccessLog(nil)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			require.NoError(t, http.NewResponseController(w).Flush())
		})).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		assert.True(t, w.Flushed)
	})
}

func TestNewTrustedProxies(t *testing.T) {
	_, err := NewTrustedProxies([]string{"10.0.0.0/8", "nonsense"})
	require.Error(t, err)
	_, err = NewTrustedProxies([]string{"10.0.0.1"})
	require.Error(t, err, "a bare address is not a CIDR")
	p := proxies(t, "10.0.0.0/8", "2001:db8::/32", " 192.0.2.7/32 ")
	assert.True(t, p.Contains(netip.MustParseAddr("10.200.0.1")))
	assert.True(t, p.Contains(netip.MustParseAddr("::ffff:10.0.0.1")), "IPv4-mapped IPv6")
	assert.True(t, p.Contains(netip.MustParseAddr("2001:db8::1")))
	assert.True(t, p.Contains(netip.MustParseAddr("192.0.2.7")))
	assert.False(t, p.Contains(netip.MustParseAddr("192.0.2.8")))
	assert.False(t, p.Contains(netip.Addr{}))
	var none *TrustedProxies
	assert.False(t, none.Contains(netip.MustParseAddr("10.0.0.1")))
	assert.False(t, (&TrustedProxies{}).Contains(netip.MustParseAddr("10.0.0.1")))
}

func TestClientIP(t *testing.T) {
	tp := proxies(t, "10.0.0.0/8", "fd00::/8")
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct client", "192.0.2.1:4000", nil, "192.0.2.1"},
		{"untrusted peer's XFF ignored", "192.0.2.1:4000", []string{"198.51.100.9"}, "192.0.2.1"},
		{"trusted peer, one hop", "10.0.0.5:4000", []string{"198.51.100.9"}, "198.51.100.9"},
		{"trusted chain", "10.0.0.5:4000", []string{"198.51.100.9, 10.0.0.7"}, "198.51.100.9"},
		{"client-prepended entries ignored", "10.0.0.5:4000", []string{"203.0.113.66, 198.51.100.9"}, "198.51.100.9"},
		{"several header lines", "10.0.0.5:4000", []string{"203.0.113.66", "198.51.100.9, 10.0.0.8"}, "198.51.100.9"},
		{"all trusted gives leftmost", "10.0.0.5:4000", []string{"10.0.0.9, 10.0.0.8"}, "10.0.0.9"},
		{"malformed entry stops at last trusted hop", "10.0.0.5:4000", []string{"198.51.100.9, garbage, 10.0.0.8"}, "10.0.0.8"},
		{"malformed nearest entry gives peer", "10.0.0.5:4000", []string{"198.51.100.9, garbage"}, "10.0.0.5"},
		{"entry with port", "10.0.0.5:4000", []string{"198.51.100.9:1234"}, "198.51.100.9"},
		{"no XFF from trusted peer", "10.0.0.5:4000", nil, "10.0.0.5"},
		{"IPv6 peer and entry", "[fd00::1]:4000", []string{"2001:db8::9"}, "2001:db8::9"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.5]:4000", []string{"198.51.100.9"}, "198.51.100.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := request(tc.remote)
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			assert.Equal(t, tc.want, tp.ClientIP(r).String())
		})
	}
	assert.False(t, tp.ClientIP(request("@")).IsValid(), "a non-IP peer")
}

func TestExternalURL(t *testing.T) {
	tp := proxies(t, "10.0.0.0/8")
	tests := []struct {
		name    string
		remote  string
		host    string
		tls     bool
		headers []string
		want    string
	}{
		{"direct http", "192.0.2.1:1", "gw.example.com", false, nil, "http://gw.example.com"},
		{"direct tls", "192.0.2.1:1", "gw.example.com", true, nil, "https://gw.example.com"},
		{"untrusted forwarded ignored", "192.0.2.1:1", "gw.internal:8080", false,
			[]string{"X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https"}, "http://gw.internal:8080"},
		{"trusted forwarded used", "10.0.0.2:1", "gw.internal:8080", false,
			[]string{"X-Forwarded-Host", "eu-west-1.gw.example.com", "X-Forwarded-Proto", "https"}, "https://eu-west-1.gw.example.com"},
		{"trusted proto only", "10.0.0.2:1", "gw.example.com", false, []string{"X-Forwarded-Proto", "HTTPS"}, "https://gw.example.com"},
		{"unknown proto ignored", "10.0.0.2:1", "gw.example.com", false, []string{"X-Forwarded-Proto", "ftp"}, "http://gw.example.com"},
		{"list uses nearest proxy's entry", "10.0.0.2:1", "gw.internal", false,
			[]string{"X-Forwarded-Host", "evil.example, gw.example.com", "X-Forwarded-Proto", "http, https"}, "https://gw.example.com"},
		{"host with path ignored", "10.0.0.2:1", "gw.internal", false, []string{"X-Forwarded-Host", "evil.example/x"}, "http://gw.internal"},
		{"host with userinfo ignored", "10.0.0.2:1", "gw.internal", false, []string{"X-Forwarded-Host", "a@evil.example"}, "http://gw.internal"},
		{"host with bad port ignored", "10.0.0.2:1", "gw.internal", false, []string{"X-Forwarded-Host", "gw.example.com:99999"}, "http://gw.internal"},
		{"host with empty port ignored", "10.0.0.2:1", "gw.internal", false, []string{"X-Forwarded-Host", "gw.example.com:"}, "http://gw.internal"},
		{"host with space ignored", "10.0.0.2:1", "gw.internal", false, []string{"X-Forwarded-Host", "gw example"}, "http://gw.internal"},
		{"IPv6 host", "10.0.0.2:1", "gw.internal", false, []string{"X-Forwarded-Host", "[2001:db8::1]:8443"}, "http://[2001:db8::1]:8443"},
		{"IPv6 host with zone ignored", "10.0.0.2:1", "gw.internal", false, []string{"X-Forwarded-Host", "[fe80::1%25eth0]"}, "http://gw.internal"},
		{"host lowercased, default port dropped", "10.0.0.2:1", "gw.internal", false,
			[]string{"X-Forwarded-Host", "GW.Example.COM:443", "X-Forwarded-Proto", "https"}, "https://gw.example.com"},
		{"non-default port kept", "10.0.0.2:1", "gw.internal", false,
			[]string{"X-Forwarded-Host", "gw.example.com:8443", "X-Forwarded-Proto", "https"}, "https://gw.example.com:8443"},
		{"http default port dropped", "192.0.2.1:1", "gw.example.com:80", false, nil, "http://gw.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := request(tc.remote, tc.headers...)
			r.Host = tc.host
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			assert.Equal(t, tc.want, tp.ExternalURL(r).String())
		})
	}
}

func TestMaxBody(t *testing.T) {
	var readErr error
	var got []byte
	h := MaxBody(10)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, readErr = io.ReadAll(r.Body)
	}))

	// Under the limit: read in full.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("0123456789")))
	require.NoError(t, readErr)
	assert.Equal(t, "0123456789", string(got))
	assert.Equal(t, http.StatusOK, w.Code)

	// Declared too large: refused before the handler.
	got, readErr = nil, nil
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("0123456789A")))
	assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
	assert.Nil(t, got)
	assert.JSONEq(t, `{"error":"request_too_large","message":"the request body is larger than 10 bytes"}`, w.Body.String())

	// Undeclared length: the read fails past the limit.
	r := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(strings.NewReader("0123456789"), strings.NewReader("ABC")))
	r.ContentLength = -1
	h.ServeHTTP(httptest.NewRecorder(), r)
	var mbe *http.MaxBytesError
	require.ErrorAs(t, readErr, &mbe)
	assert.EqualValues(t, 10, mbe.Limit)
}

func TestWriteJSONError(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSONError(w, http.StatusNotFound, "not_found", `no "app" <here>`)
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	var body map[string]string
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, map[string]string{"error": "not_found", "message": `no "app" <here>`}, body)
	assert.NotContains(t, w.Body.String(), "<here>", "HTML characters are escaped")
}

type readyFunc func(ctx context.Context) error

func (f readyFunc) Ready(ctx context.Context) error { return f(ctx) }

func TestHealth(t *testing.T) {
	serve := func(h http.Handler, path string) *httptest.ResponseRecorder {
		mux := http.NewServeMux()
		mux.Handle("GET "+path, h)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w
	}
	w := serve(Healthz(), "/healthz")
	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"status":"ok"}`, w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))

	logger, logs := newLogger()
	w = serve(Readyz(readyFunc(func(ctx context.Context) error { return nil }), logger), "/readyz")
	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"status":"ok"}`, w.Body.String())

	w = serve(Readyz(nil, logger), "/readyz")
	assert.Equal(t, http.StatusOK, w.Code, "nothing to check")

	w = serve(Readyz(readyFunc(func(ctx context.Context) error { return errors.New("store: connection refused to db.internal") }), logger), "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.JSONEq(t, `{"status":"unavailable"}`, w.Body.String())
	assert.NotContains(t, w.Body.String(), "db.internal", "the reason is not sent")
	assert.Contains(t, logs.String(), "db.internal", "the reason is logged")

	mux := http.NewServeMux()
	RegisterHealth(mux, readyFunc(func(context.Context) error { return errors.New("down") }), nil)
	for path, code := range map[string]int{"/healthz": 200, "/readyz": 503} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, code, w.Code, path)
		w = httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, nil))
		assert.Equal(t, http.StatusMethodNotAllowed, w.Code, path)
	}
}

func TestReadyzTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var deadline time.Time
		slow := readyFunc(func(ctx context.Context) error {
			deadline, _ = ctx.Deadline()
			<-ctx.Done() // a store that never answers
			return ctx.Err()
		})
		w := httptest.NewRecorder()
		Readyz(slow, nil).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		assert.Equal(t, start.Add(ReadinessTimeout), deadline)
		assert.Equal(t, ReadinessTimeout, time.Since(start))
	})
}

func TestMetrics(t *testing.T) {
	reg := NewRegistry()
	m, err := NewHTTPMetrics(reg)
	require.NoError(t, err)
	_, err = NewHTTPMetrics(reg)
	require.Error(t, err, "registering twice on one registry fails")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			WriteJSONError(w, http.StatusNotFound, "not_found", "no such item")
		}
	})
	mux.Handle("GET /metrics", MetricsHandler(reg))
	h := RequestID(nil, nil)(AccessLog(nil)(m.Instrument(mux)))
	for _, path := range []string{"/items/1", "/items/2", "/items/missing", "/nowhere", "/nowhere/else"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, w.Code)
	text := w.Body.String()
	assert.Contains(t, text, `gatehouse_http_request_duration_seconds_count{code="2xx",route="GET /items/{id}"} 2`)
	assert.Contains(t, text, `gatehouse_http_request_duration_seconds_count{code="4xx",route="GET /items/{id}"} 1`)
	assert.Contains(t, text, `gatehouse_http_request_duration_seconds_count{code="4xx",route="unmatched"} 2`)
	assert.Contains(t, text, "go_goroutines ")
	assert.Contains(t, text, "process_cpu_seconds_total ")
	assert.NotContains(t, text, "/items/1", "raw paths are never labels")

	// The default global registry is untouched.
	assert.Empty(t, histogramCounts(t, prometheus.DefaultGatherer))
}

// histogramCounts returns the request count per "route code" label pair.
func histogramCounts(t *testing.T, g prometheus.Gatherer) map[string]uint64 {
	t.Helper()
	families, err := g.Gather()
	require.NoError(t, err)
	out := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "gatehouse_http_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[labels["route"]+" "+labels["code"]] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

func TestMetricsRouteCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewHTTPMetrics(reg)
	require.NoError(t, err)
	m.maxRoutes = 2
	mux := http.NewServeMux()
	for _, p := range []string{"/a", "/b", "/c"} {
		mux.HandleFunc("GET "+p, func(http.ResponseWriter, *http.Request) {})
	}
	h := m.Instrument(mux)
	for _, p := range []string{"/a", "/b", "/c", "/a"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	assert.Equal(t, map[string]uint64{"GET /a 2xx": 2, "GET /b 2xx": 1, "other 2xx": 1}, histogramCounts(t, reg))
}

func TestStatusClass(t *testing.T) {
	for code, want := range map[int]string{200: "2xx", 204: "2xx", 301: "3xx", 404: "4xx", 503: "5xx", 99: "other", 600: "other"} {
		assert.Equal(t, want, statusClass(code), code)
	}
}

func TestNewHTTPServer(t *testing.T) {
	h := http.NotFoundHandler()
	s := NewHTTPServer("127.0.0.1:0", h)
	assert.Equal(t, "127.0.0.1:0", s.Addr)
	assert.Equal(t, 10*time.Second, s.ReadHeaderTimeout)
	assert.Equal(t, 30*time.Second, s.ReadTimeout)
	assert.Equal(t, 60*time.Second, s.WriteTimeout)
	assert.Equal(t, 120*time.Second, s.IdleTimeout)
	assert.Equal(t, 64<<10, s.MaxHeaderBytes)
	assert.NotNil(t, s.Handler)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestServeGracefulShutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	slowMux := http.NewServeMux()
	slowMux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write([]byte("finished"))
	})
	RegisterHealth(slowMux, nil, nil)
	telemetry := http.NewServeMux()
	RegisterHealth(telemetry, nil, nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bound, err := Listen(ctx, NewHTTPServer("127.0.0.1:0", slowMux), NewHTTPServer("127.0.0.1:0", telemetry))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, time.Minute, bound...) }()

	base := "http://" + bound[0].Listener.Addr().String()
	code, body := get(t, "http://"+bound[1].Listener.Addr().String()+"/healthz")
	assert.Equal(t, 200, code)
	assert.JSONEq(t, `{"status":"ok"}`, body)

	type result struct {
		code int
		body string
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- result{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- result{resp.StatusCode, string(b)}
	}()
	<-entered
	cancel() // SIGTERM: stop accepting, let the in-flight request finish
	close(release)
	assert.Equal(t, result{200, "finished"}, <-slow)
	require.NoError(t, <-done)

	_, err = http.Get(base + "/healthz")
	require.Error(t, err, "no longer accepting")
}

func TestServeShutdownTimeout(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stuck", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})
	ctx, cancel := context.WithCancel(context.Background())
	bound, err := Listen(ctx, NewHTTPServer("127.0.0.1:0", mux))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, 50*time.Millisecond, bound...) }()
	go func() {
		resp, err := http.Get("http://" + bound[0].Listener.Addr().String() + "/stuck")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	cancel()
	err = <-done
	require.ErrorIs(t, err, context.DeadlineExceeded, "an unfinished shutdown is reported")
}

func TestServeReturnsFirstServeError(t *testing.T) {
	ctx := context.Background()
	bound, err := Listen(ctx, NewHTTPServer("127.0.0.1:0", http.NotFoundHandler()), NewHTTPServer("127.0.0.1:0", http.NotFoundHandler()))
	require.NoError(t, err)
	require.NoError(t, bound[1].Listener.Close()) // the second server cannot serve
	err = Serve(ctx, time.Minute, bound...)
	require.Error(t, err)
	assert.ErrorIs(t, err, net.ErrClosed)
	// The healthy server was shut down too.
	_, err = http.Get("http://" + bound[0].Listener.Addr().String() + "/")
	require.Error(t, err)
}

func TestListenAndRunErrors(t *testing.T) {
	ctx := context.Background()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	free := NewHTTPServer("127.0.0.1:0", http.NotFoundHandler())
	_, err = Listen(ctx, free, NewHTTPServer(busy.Addr().String(), http.NotFoundHandler()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), busy.Addr().String())

	err = Run(ctx, time.Second, NewHTTPServer(busy.Addr().String(), http.NotFoundHandler()))
	require.Error(t, err)

	require.ErrorIs(t, Run(ctx, time.Second), ErrNoServers)
	require.ErrorIs(t, Serve(ctx, time.Second), ErrNoServers)
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, Run(ctx, time.Second, NewHTTPServer("127.0.0.1:0", http.NotFoundHandler())))
}
