package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// allowedHTTPAttributes, a constant table, are the only span attributes
// kept on the spans otelhttp makes (see the package's security model): none of them can
// carry a path, a query, a header value or a client-chosen string other
// than the Host the request named.
var allowedHTTPAttributes = map[attribute.Key]bool{
	"http.request.method":       true,
	"http.route":                true,
	"http.response.status_code": true,
	"error.type":                true,
	"url.scheme":                true,
	"network.protocol.name":     true,
	"network.protocol.version":  true,
	"server.address":            true,
	"server.port":               true,
}

// keepAllowed returns the allowed attributes of kv, reusing its array.
func keepAllowed(kv []attribute.KeyValue) []attribute.KeyValue {
	out := kv[:0:0]
	for _, a := range kv {
		if allowedHTTPAttributes[a.Key] {
			out = append(out, a)
		}
	}
	return out
}

// filterProvider hands out tracers whose spans keep only allowed
// attributes, no status descriptions and no error messages.
type filterProvider struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (p filterProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return filterTracer{t: p.tp.Tracer(name, opts...), p: p}
}

type filterTracer struct {
	embedded.Tracer
	t trace.Tracer
	p filterProvider
}

func (t filterTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	cfg := trace.NewSpanStartConfig(opts...)
	keep := []trace.SpanStartOption{trace.WithSpanKind(cfg.SpanKind()), trace.WithAttributes(keepAllowed(cfg.Attributes())...)}
	if ts := cfg.Timestamp(); !ts.IsZero() {
		keep = append(keep, trace.WithTimestamp(ts))
	}
	if cfg.NewRoot() {
		keep = append(keep, trace.WithNewRoot())
	}
	for _, l := range cfg.Links() {
		keep = append(keep, trace.WithLinks(trace.Link{SpanContext: l.SpanContext}))
	}
	ctx, span := t.t.Start(ctx, name, keep...)
	if !span.IsRecording() {
		return ctx, span
	}
	fs := filterSpan{Span: span, p: t.p}
	return trace.ContextWithSpan(ctx, fs), fs
}

// filterSpan is a recording span that drops what might hold a secret.
type filterSpan struct {
	trace.Span
	p filterProvider
}

func (s filterSpan) SetAttributes(kv ...attribute.KeyValue) { s.Span.SetAttributes(keepAllowed(kv)...) }

// SetStatus keeps the code: descriptions are error messages, and Go's HTTP
// client errors quote the request URL with its query.
func (s filterSpan) SetStatus(code codes.Code, _ string) { s.Span.SetStatus(code, "") }

// RecordError records that an error happened, without its message.
func (s filterSpan) RecordError(error, ...trace.EventOption) { s.Span.AddEvent("exception") }

// AddEvent keeps the event's name only.
func (s filterSpan) AddEvent(name string, _ ...trace.EventOption) { s.Span.AddEvent(name) }

// AddLink keeps the linked span, not the link's attributes.
func (s filterSpan) AddLink(l trace.Link) { s.Span.AddLink(trace.Link{SpanContext: l.SpanContext}) }

func (s filterSpan) TracerProvider() trace.TracerProvider { return s.p }
