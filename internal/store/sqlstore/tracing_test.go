package sqlstore

import (
	"context"
	"strings"
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

	"github.com/gatehouse-dev/gatehouse/sp"
)

func newTracingProvider(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

func spanAttrs(s sdktrace.ReadOnlySpan) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, a := range s.Attributes() {
		m[a.Key] = a.Value.Emit()
	}
	return m
}

func TestTracingSpanPerOperation(t *testing.T) {
	systems := map[string]string{"sqlite": "sqlite", "postgres": "postgresql"}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			tp, rec := newTracingProvider(t)
			opts := testOptions()
			opts.TracerProvider = tp
			s, _ := b.open(t, opts)
			rec.Reset() // whatever Open did

			ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
			const sessionID = "session-id-secret-4711"
			sess := sp.Session{ID: sessionID, UserID: "u1", CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour), Method: "saml"}
			require.NoError(t, s.CreateSession(ctx, sess))
			_, err := s.GetSession(ctx, sessionID, testNow)
			require.NoError(t, err)
			_, err = s.GetSession(ctx, "unknown", testNow)
			require.ErrorIs(t, err, sp.ErrNotFound)
			require.ErrorIs(t, s.CreateSession(ctx, sess), sp.ErrConflict)
			_, err = s.CreateUser(ctx, sp.User{UserName: "alice", Active: true})
			require.NoError(t, err)
			parent.End()

			spans := rec.Ended()
			var names []string
			for _, sp := range spans {
				if sp.Name() == "request" {
					continue
				}
				names = append(names, sp.Name())
				assert.Equal(t, parent.SpanContext().SpanID(), sp.Parent().SpanID(), "%s is a child of the caller's span", sp.Name())
				assert.Equal(t, trace.SpanKindClient, sp.SpanKind())
				attrs := spanAttrs(sp)
				assert.Equal(t, map[attribute.Key]string{"db.system": systems[b.name], "db.operation": sp.Name()}, attrs)
				for _, v := range attrs {
					assert.NotContains(t, v, "secret")
				}
				assert.Empty(t, sp.Status().Description, "no error message")
			}
			// The user is created in one transaction: one span, none for
			// its statements.
			assert.Equal(t, []string{"create session", "get session", "get session", "create session", "create user"}, names)
			assert.Equal(t, codes.Unset, spans[1].Status().Code, "found")
			assert.Equal(t, codes.Unset, spans[2].Status().Code, "not found is no error")
			assert.Equal(t, codes.Error, spans[3].Status().Code, "the conflict failed")
		})
	}
}

func TestTracingOff(t *testing.T) {
	for name, tp := range map[string]trace.TracerProvider{"nil": nil, "no-op": noop.NewTracerProvider(), "*no-op": new(noop.TracerProvider)} {
		t.Run(name, func(t *testing.T) {
			opts := testOptions()
			opts.TracerProvider = tp
			s, _, _ := newSQLite(t, opts)
			assert.Nil(t, s.spans.tracer)
			ctx := context.Background()
			allocs := testing.AllocsPerRun(100, func() {
				c, span := s.spans.start(ctx)
				endSpan(span, nil)
				if c != ctx {
					t.Fatal("the context changed")
				}
			})
			assert.Zero(t, allocs)
			// Behaviour is unchanged.
			require.NoError(t, s.CreateSession(ctx, sp.Session{ID: "s1", UserID: "u1", CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}))
			got, err := s.GetSession(ctx, "s1", testNow)
			require.NoError(t, err)
			assert.Equal(t, "u1", got.UserID)
		})
	}

	// The positive control: the same calls with a provider make spans.
	tp, rec := newTracingProvider(t)
	opts := testOptions()
	opts.TracerProvider = tp
	s, _, _ := newSQLite(t, opts)
	rec.Reset()
	_, err := s.GetSession(context.Background(), "s1", testNow)
	require.ErrorIs(t, err, sp.ErrNotFound)
	assert.Len(t, rec.Ended(), 1)
}

func TestTracingOperationWords(t *testing.T) {
	tests := map[string]string{
		"GetSession":      "get session",
		"CreateSCIMToken": "create scim token",
		"UserByAttribute": "user by attribute",
		"Ping":            "ping",
		"getUser":         "get user",
		"ListGroupsByID":  "list groups by id",
	}
	for in, want := range tests {
		assert.Equal(t, want, words(in), in)
	}
	// The method prefix is this package's.
	sp := newSpanStarter(noop.NewTracerProvider(), SQLite)
	assert.Empty(t, sp.method)
	tp, _ := newTracingProvider(t)
	sp = newSpanStarter(tp, SQLite)
	assert.True(t, strings.HasSuffix(sp.method, "/internal/store/sqlstore.(*Store)."), sp.method)
	assert.True(t, strings.HasSuffix(sp.pkg, "/internal/store/sqlstore."), sp.pkg)
}
