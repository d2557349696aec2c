// Package telemetry sets up OpenTelemetry tracing for the gateway: a
// tracer provider exporting spans over OTLP/HTTP (Setup), W3C Trace
// Context propagation (traceparent, tracestate), and the HTTP
// instrumentation the gateway wraps around its public handler (Handler)
// and its outbound clients (Client, Transport), built on otelhttp.
//
// Tracing is off unless tracing.otlp_endpoint is set: Setup then returns a
// no-op tracer provider, and the gateway and the store, seeing it (or a
// nil provider), add no middleware, wrap no transport and start no span,
// so tracing that is off costs nothing. When it is on, sampling is
// parent-based: an incoming traceparent's sampled flag decides, and new
// traces are sampled at tracing.sample_ratio. The propagator is passed to
// otelhttp explicitly; this package sets no OpenTelemetry global (the
// command sets the global error handler, once, so that export failures are
// logged as JSON through slog).
//
// # Security model
//
// Spans leave the gateway for a collector that is usually less protected
// than the gateway itself, so they carry no secret and no raw request
// data: never tokens, cookies, SAML messages, passwords, client
// assertions, or URLs with their query strings (token requests, metadata
// and JWK Set URLs can hold credentials there). The gateway's own spans
// are named by the ServeMux route pattern ("POST /oauth/token",
// "unmatched" when none matched) or by the store operation ("get
// session"), and carry only status codes and operation names. The spans
// otelhttp makes pass through a filter that keeps only an allowlist of
// attributes (method, route, status code, error type, scheme,
// protocol version, server address and port: the url.path, url.full,
// user_agent.original, client.address and peer attributes otelhttp
// records are dropped), drops status descriptions and error messages
// (Go's HTTP errors quote the full URL), and keeps only the names of
// events. An incoming traceparent can choose the trace ID and whether a
// request is sampled (a client can make its requests traced, at the cost
// of spans); it cannot choose anything recorded in them. Trace IDs in the
// access log are random identifiers, not secrets.
package telemetry
