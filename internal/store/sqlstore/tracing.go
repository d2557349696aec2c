package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"unicode"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracerName names the store's tracer (its instrumentation scope).
const tracerName = "github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"

// spanStarter starts the store's spans: one client span per operation,
// named, like the db.operation attribute, after the exported Store method
// that ran it in the words of the store's error messages (GetSession:
// "get session"), with db.system "sqlite" or "postgresql". No query text,
// argument or result is recorded. Its zero value (tracing off) starts
// none: start then returns the context unchanged and a no-op span, which
// allocates nothing.
type spanStarter struct {
	tracer trace.Tracer
	system attribute.KeyValue
	// method is the prefix of the Store methods' function names, such as
	// "github.com/…/sqlstore.(*Store).", and pkg that of the package's.
	method, pkg string
}

func newSpanStarter(tp trace.TracerProvider, d Dialect) spanStarter {
	switch tp.(type) {
	case nil, noop.TracerProvider, *noop.TracerProvider:
		return spanStarter{}
	}
	system := "sqlite"
	if d == PostgreSQL {
		system = "postgresql"
	}
	ping := runtime.FuncForPC(reflect.ValueOf((*Store).Ping).Pointer()).Name()
	method := strings.TrimSuffix(ping, "Ping")
	pkg := method[:strings.LastIndex(method, ".(*Store).")+1]
	return spanStarter{
		tracer: tp.Tracer(tracerName),
		system: attribute.String("db.system", system),
		method: method,
		pkg:    pkg,
	}
}

// start starts the span of the operation whose query (or transaction) is
// about to run. It must be called from the query helpers themselves.
func (s spanStarter) start(ctx context.Context) (context.Context, trace.Span) {
	if s.tracer == nil {
		return ctx, noop.Span{}
	}
	op := s.operation()
	return s.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(s.system, attribute.String("db.operation", op)))
}

// maxOperationFrames bounds the stack operation looks at: the query
// helper's callers up to the exported method are a handful of frames.
const maxOperationFrames = 32

// operation names the outermost exported Store method among the package's
// frames on the stack above the query helper (a closure run in a
// transaction counts as its method); failing that, the outermost Store
// method; failing that, "sql".
func (s spanStarter) operation() string {
	var pcs [maxOperationFrames]uintptr
	n := runtime.Callers(3, pcs[:]) // above Callers, operation and start
	frames := runtime.CallersFrames(pcs[:n])
	exported, outer := "", ""
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, s.pkg) {
			break // left the package
		}
		if rest, ok := strings.CutPrefix(f.Function, s.method); ok {
			m, _, _ := strings.Cut(rest, ".") // "CreateUser.func1": CreateUser
			outer = m
			if m != "" && unicode.IsUpper(rune(m[0])) {
				exported = m
			}
		}
		if !more {
			break
		}
	}
	switch {
	case exported != "":
		return words(exported)
	case outer != "":
		return words(outer)
	}
	return "sql"
}

// words turns a Go method name into lower-case words: "GetSession" is
// "get session", "CreateSCIMToken" "create scim token".
func words(name string) string {
	var b strings.Builder
	b.Grow(len(name) + 4)
	rs := []rune(name)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// endSpan ends span, marking it failed when err is a database error. The
// status has no description: driver errors can quote the values of a
// conflicting row.
func endSpan(span trace.Span, err error) {
	if err != nil && !errors.Is(err, sql.ErrNoRows) && !errors.Is(err, context.Canceled) {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}
