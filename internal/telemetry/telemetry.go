package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// DefaultTracesPath is the OTLP/HTTP path used when tracing.otlp_endpoint
// has none.
const DefaultTracesPath = "/v1/traces"

// Setup builds the tracer provider for cfg. With cfg.OTLPEndpoint empty it
// returns a no-op provider (see Enabled) and a shutdown that does nothing.
// Otherwise the provider samples parent-based at cfg.SampleRatio and
// exports through a batch span processor to the OTLP/HTTP endpoint
// (http:// sends in clear text; the OTEL_EXPORTER_OTLP_* environment
// variables, such as OTEL_EXPORTER_OTLP_HEADERS for a collector's
// credentials, apply as documented by OpenTelemetry). No connection is
// made until the first export. shutdown flushes the queued spans and
// stops the exporter; call it once, after the last request. A nil logger
// discards.
func Setup(ctx context.Context, cfg config.TracingConfig, logger *slog.Logger) (_ trace.TracerProvider, shutdown func(context.Context) error, _ error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OTLPEndpoint == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	if !(cfg.SampleRatio >= 0 && cfg.SampleRatio <= 1) {
		return nil, nil, fmt.Errorf("telemetry: sample ratio %v is not from 0 to 1", cfg.SampleRatio)
	}
	if cfg.ServiceName == "" {
		return nil, nil, errors.New("telemetry: empty service name")
	}
	endpoint, err := exportURL(cfg.OTLPEndpoint)
	if err != nil {
		return nil, nil, err
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint.String()))
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", cfg.ServiceName))),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	logger.Info("tracing on", slog.String("otlp_endpoint", endpoint.String()), slog.Float64("sample_ratio", cfg.SampleRatio))
	return tp, func(ctx context.Context) error {
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("telemetry: shutdown: %w", err)
		}
		return nil
	}, nil
}

// exportURL checks an http(s) endpoint without user information (config
// Validate reports the details) and gives it DefaultTracesPath when it has
// no path.
func exportURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, errors.New("telemetry: the OTLP endpoint is not an http or https URL without user information")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = DefaultTracesPath
	}
	return u, nil
}

// Enabled reports whether tp records anything: false for nil and for the
// no-op provider Setup returns when tracing is off. Components skip their
// instrumentation entirely when it is false.
func Enabled(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case nil, noop.TracerProvider, *noop.TracerProvider:
		return false
	}
	return true
}

// Propagator is the propagator the gateway uses in and out: W3C Trace
// Context (traceparent and tracestate). Baggage is not propagated.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// ErrorHandler logs OpenTelemetry's internal errors (failed exports) at
// Warn through logger; the command installs it with otel.SetErrorHandler,
// OpenTelemetry's one global hook for them.
func ErrorHandler(logger *slog.Logger) otel.ErrorHandler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("tracing: export or instrumentation error", slog.Any("err", err))
	})
}
