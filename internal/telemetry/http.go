package telemetry

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// RouteUnmatched names the server span of a request no route matched.
const RouteUnmatched = "unmatched"

// otelhttpOptions are the options of every otelhttp handler and transport:
// tp behind the attribute filter, the W3C propagator, and no metrics (the
// gateway has its own, in Prometheus).
func otelhttpOptions(tp trace.TracerProvider) []otelhttp.Option {
	return []otelhttp.Option{
		otelhttp.WithTracerProvider(filterProvider{tp: tp}),
		otelhttp.WithPropagators(Propagator()),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
	}
}

// Handler wraps next, the gateway's public handler, in a server span that
// continues the trace of an incoming traceparent (or starts one). Wrap
// Route around the ServeMux inside next to name the span by the route
// pattern. With tracing off (see Enabled) it returns next itself.
func Handler(tp trace.TracerProvider, next http.Handler) http.Handler {
	if !Enabled(tp) {
		return next
	}
	return otelhttp.NewHandler(next, "gatehouse", otelhttpOptions(tp)...)
}

// Route wraps next, which must pass the *http.Request it is given to the
// ServeMux (which records the matched pattern in it), and after it
// returns names the request's span by the pattern, such as "GET
// /api/v1/session", and sets http.route; RouteUnmatched when no route
// matched. Only a recording span is touched, so Route costs a method call
// when tracing is off.
func Route(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		span := trace.SpanFromContext(r.Context())
		if !span.IsRecording() {
			return
		}
		if r.Pattern == "" {
			span.SetName(RouteUnmatched)
			return
		}
		span.SetName(r.Pattern)
		span.SetAttributes(attribute.String("http.route", r.Pattern))
	})
}

// Transport wraps base (http.DefaultTransport when nil) so that each
// request is a client span and carries the traceparent of the caller's
// context. With tracing off it returns base itself.
func Transport(tp trace.TracerProvider, base http.RoundTripper) http.RoundTripper {
	if !Enabled(tp) {
		return base
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(base, otelhttpOptions(tp)...)
}

// Client returns a copy of c (a zero http.Client when nil) whose transport
// is traced (see Transport). With tracing off it returns c itself, nil
// included, so the component keeps its own default client.
func Client(tp trace.TracerProvider, c *http.Client) *http.Client {
	if !Enabled(tp) {
		return c
	}
	out := &http.Client{}
	if c != nil {
		*out = *c
	}
	out.Transport = Transport(tp, out.Transport)
	return out
}
