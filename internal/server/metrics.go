package server

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a fresh Prometheus registry with the Go runtime and
// process collectors. The global default registry is never used.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// MetricsHandler serves g in the Prometheus text format (GET /metrics).
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Route labels used when no pattern matched or too many were seen.
const (
	RouteUnmatched = "unmatched"
	RouteOther     = "other"
)

const defaultMaxRoutes = 200

// HTTPMetrics records request latency by route pattern and status class.
type HTTPMetrics struct {
	duration  *prometheus.HistogramVec
	maxRoutes int

	mu     sync.Mutex
	routes map[string]struct{}
}

// NewHTTPMetrics registers gatehouse_http_request_duration_seconds
// (labels: route, code) on reg.
func NewHTTPMetrics(reg prometheus.Registerer) (*HTTPMetrics, error) {
	m := &HTTPMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "HTTP request latency by ServeMux route pattern and status class.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "code"}),
		maxRoutes: defaultMaxRoutes,
		routes:    map[string]struct{}{},
	}
	if err := reg.Register(m.duration); err != nil {
		return nil, fmt.Errorf("server: register http metrics: %w", err)
	}
	return m, nil
}

// Instrument wraps mux and observes each request's latency, labelled with
// the pattern the mux matched (r.Pattern, such as "GET /healthz";
// "unmatched" when none did) and the status class ("2xx"). Instrument must
// wrap the ServeMux itself, because the mux records the pattern on the
// request it is given. The number of route label values is capped; further
// patterns count as "other".
func (m *HTTPMetrics) Instrument(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		mux.ServeHTTP(rec, r)
		m.duration.WithLabelValues(m.route(r.Pattern), statusClass(rec.Status())).Observe(time.Since(start).Seconds())
	})
}

func (m *HTTPMetrics) route(pattern string) string {
	if pattern == "" {
		return RouteUnmatched
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.routes[pattern]; ok {
		return pattern
	}
	if len(m.routes) >= m.maxRoutes {
		return RouteOther
	}
	m.routes[pattern] = struct{}{}
	return pattern
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}
