package gateway_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	_ "modernc.org/sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

const (
	tracedTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	tracedParent  = "00f067aa0ba902b7"
	// The secrets a traced request carries; no span may hold them.
	tracedClientSecret = "s3cret-client-password"
	tracedCookie       = "session-cookie-secret-value"
	tracedJWKSQuery    = "sig=jwks-query-secret"
)

// jwksHost serves a JWK Set and records the traceparent of each fetch.
type jwksHost struct {
	set []byte

	mu           sync.Mutex
	traceparents []string
}

func (h *jwksHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.traceparents = append(h.traceparents, r.Header.Get("traceparent"))
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(h.set)
}

func (h *jwksHost) fetches() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.traceparents...)
}

type tracedEnv struct {
	base   string
	jwks   *jwksHost
	extKey jwk.Key
	store  *sqlstore.Store
	logs   *syncBuffer
	// skew moves the gateway's clock forward.
	skew atomic.Int64
}

// startTracedGateway builds a gateway on SQLite with a trusted issuer
// whose keys come from a jwks_url, the client agent and the user alice,
// traced by tp (nil: tracing off).
func startTracedGateway(t *testing.T, tp trace.TracerProvider) *tracedEnv {
	t.Helper()
	dir := t.TempDir()
	srv, setHandler := lateServer(t)
	writeUpstreamIdP(t, dir, srv.URL)
	env := &tracedEnv{base: srv.URL, extKey: newSigningJWK(t, "corp-1"), logs: &syncBuffer{}}
	env.jwks = &jwksHost{set: jwksOf(t, env.extKey)}
	jwksSrv := httptest.NewServer(env.jwks)
	t.Cleanup(jwksSrv.Close)

	cfg := loadGatewayConfig(t, dir, gatewayYAML(srv.URL, fmt.Sprintf(`  clients:
    - id: agent
      secret: %s
      grant_types: [%q]
      audiences: [%q]
      scopes: [warehouse.read]
  trusted_token_issuers:
    - name: corp
      issuer: %q
      jwks_url: %q
      audiences: [%q]
      claim: email
      user_attribute: email
  data_services:
    - audience: %q
      scopes: [warehouse.read]
`, tracedClientSecret, oauth.GrantTokenExchange, warehouse, extIssuer, jwksSrv.URL+"/jwks?"+tracedJWKSQuery, extAudience, warehouse)))

	db, err := sql.Open("sqlite", sqlstore.SQLiteDSN(filepath.Join(dir, "gatehouse.db")))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	st, err := sqlstore.Open(t.Context(), db, sqlstore.SQLite, sqlstore.Options{TracerProvider: tp})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	env.store = st
	u, err := st.CreateUser(t.Context(), sp.User{UserName: "alice", Email: "alice@example.com", Active: true})
	require.NoError(t, err)
	now := time.Now()
	require.NoError(t, st.CreateSession(t.Context(), sp.Session{ID: tracedCookie, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour), AuthnInstant: now, Method: "saml"}))

	g, err := gateway.New(t.Context(), cfg, gateway.Options{
		Store:          st,
		TracerProvider: tp,
		Logger:         slog.New(slog.NewJSONHandler(env.logs, nil)),
		Now:            func() time.Time { return time.Now().Add(time.Duration(env.skew.Load())) },
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close() })
	setHandler(g.Handler())
	return env
}

// exchange posts a token exchange carrying traceparent (when set) and
// returns the status and the access token.
func (e *tracedEnv) exchange(t *testing.T, traceparent string) (int, string, string) {
	t.Helper()
	ext := (&oauthEnv{extKey: e.extKey}).externalToken(t, e.extKey, "alice@example.com")
	form := url.Values{
		"grant_type":         {oauth.GrantTokenExchange},
		"subject_token":      {ext},
		"subject_token_type": {oauth.TokenTypeJWT},
		"audience":           {warehouse},
	}
	req, err := http.NewRequest(http.MethodPost, e.base+oauth.PathToken, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("agent", tracedClientSecret)
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body.AccessToken, ext
}

func (e *tracedEnv) session(t *testing.T, traceparent string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+"/api/v1/session", nil)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: sp.SessionCookie, Value: tracedCookie})
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode
}

// accessLogs returns the access log lines.
func (e *tracedEnv) accessLogs(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if m["msg"] == "http request" {
			out = append(out, m)
		}
	}
	return out
}

func inTrace(spans []sdktrace.ReadOnlySpan, traceID string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.SpanContext().TraceID().String() == traceID {
			out = append(out, s)
		}
	}
	return out
}

// assertNoSecrets checks every attribute, status description and event of
// spans.
func assertNoSecrets(t *testing.T, spans []sdktrace.ReadOnlySpan, secrets ...string) {
	t.Helper()
	for _, s := range spans {
		texts := []string{s.Name(), s.Status().Description}
		for _, a := range s.Attributes() {
			texts = append(texts, a.Value.Emit())
		}
		for _, ev := range s.Events() {
			texts = append(texts, ev.Name)
			for _, a := range ev.Attributes {
				texts = append(texts, a.Value.Emit())
			}
		}
		for _, text := range texts {
			for _, secret := range secrets {
				require.NotEmpty(t, secret)
				assert.NotContains(t, text, secret, "span %q", s.Name())
			}
		}
	}
}

func TestTracingTokenRequest(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	env := startTracedGateway(t, tp)

	// The keys were fetched at startup, with a traceparent of their own.
	startup := env.jwks.fetches()
	require.Len(t, startup, 1)
	// New traces are not sampled here (NeverSample): only the incoming
	// sampled traceparent makes spans. A not-sampled traceparent still
	// goes out, flagged 00.
	assert.Regexp(t, `^00-[0-9a-f]{32}-[0-9a-f]{16}-00$`, startup[0])

	// Past the refresh interval, the exchange fetches the keys again
	// within its own trace.
	env.skew.Store(int64(6 * time.Minute))
	rec.Reset()
	status, access, ext := env.exchange(t, "00-"+tracedTraceID+"-"+tracedParent+"-01")
	require.Equal(t, http.StatusOK, status)
	require.NotEmpty(t, access)

	spans := inTrace(rec.Ended(), tracedTraceID)
	var server sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindServer {
			require.Nil(t, server, "one server span")
			server = s
		}
	}
	require.NotNil(t, server)
	assert.Equal(t, "POST "+oauth.PathToken, server.Name(), "named by the route pattern")
	assert.Equal(t, tracedParent, server.Parent().SpanID().String(), "continues the caller's trace")

	var storeOps []string
	var jwksClient sdktrace.ReadOnlySpan
	for _, s := range spans {
		attrs := map[string]string{}
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		switch {
		case attrs["db.system"] != "":
			assert.Equal(t, "sqlite", attrs["db.system"])
			assert.Equal(t, s.Name(), attrs["db.operation"])
			assert.Equal(t, server.SpanContext().SpanID(), s.Parent().SpanID(), "%s is a child of the request", s.Name())
			storeOps = append(storeOps, s.Name())
		case s.SpanKind() == trace.SpanKindClient:
			jwksClient = s
		}
	}
	assert.Contains(t, storeOps, "user by attribute", "the subject's user was looked up")
	require.NotNil(t, jwksClient, "the JWKS fetch is a client span in the trace")

	// The JWK Set host got the request's trace context.
	fetches := env.jwks.fetches()
	require.Len(t, fetches, 2)
	assert.Equal(t, "00-"+tracedTraceID+"-"+jwksClient.SpanContext().SpanID().String()+"-01", fetches[1])

	assertNoSecrets(t, rec.Ended(), tracedClientSecret, access, ext, tracedJWKSQuery, "jwks-query-secret", "alice@example.com")

	// The access log line carries the trace ID.
	logs := env.accessLogs(t)
	require.NotEmpty(t, logs)
	assert.Equal(t, tracedTraceID, logs[len(logs)-1]["trace_id"])

	// A request with a not-sampled traceparent records nothing and logs
	// no trace ID.
	rec.Reset()
	require.Equal(t, http.StatusOK, env.session(t, "00-"+tracedTraceID+"-"+tracedParent+"-00"))
	assert.Empty(t, rec.Ended())
	logs = env.accessLogs(t)
	assert.NotContains(t, logs[len(logs)-1], "trace_id")
}

func TestTracingSessionRequest(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	env := startTracedGateway(t, tp)
	rec.Reset()

	require.Equal(t, http.StatusOK, env.session(t, "00-"+tracedTraceID+"-"+tracedParent+"-01"))
	spans := inTrace(rec.Ended(), tracedTraceID)
	names := map[string]trace.SpanKind{}
	var server trace.SpanID
	for _, s := range spans {
		names[s.Name()] = s.SpanKind()
		if s.SpanKind() == trace.SpanKindServer {
			server = s.SpanContext().SpanID()
		}
	}
	assert.Equal(t, trace.SpanKindServer, names["GET /api/v1/session"], "%v", names)
	assert.Equal(t, trace.SpanKindClient, names["get session"], "%v", names)
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindClient {
			assert.Equal(t, server, s.Parent().SpanID(), s.Name())
		}
	}
	assertNoSecrets(t, rec.Ended(), tracedCookie)
}

func TestTracingOff(t *testing.T) {
	env := startTracedGateway(t, nil)
	env.skew.Store(int64(6 * time.Minute))
	status, access, _ := env.exchange(t, "00-"+tracedTraceID+"-"+tracedParent+"-01")
	require.Equal(t, http.StatusOK, status, "behaviour unchanged")
	require.NotEmpty(t, access)
	require.Equal(t, http.StatusOK, env.session(t, "00-"+tracedTraceID+"-"+tracedParent+"-01"))

	// The keys were fetched at startup and for the exchange, without a
	// traceparent: the incoming one is not passed on.
	assert.Equal(t, []string{"", ""}, env.jwks.fetches())
	for _, l := range env.accessLogs(t) {
		assert.NotContains(t, l, "trace_id")
	}
}
