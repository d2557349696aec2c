package apps

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are labelled by application ID, a value set bounded by the
// administrators; a deleted application's series are removed.
type metrics struct {
	failures    *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	unavailable *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_app_metadata_refresh_failures_total",
			Help: "Failed fetches of an application's metadata URL (at startup or a periodic refresh); the last good copy stays in use.",
		}, []string{"app"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_app_metadata_last_success_timestamp_seconds",
			Help: "When the metadata an application uses was last read successfully from its source (Unix seconds).",
		}, []string{"app"}),
		unavailable: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_app_unavailable",
			Help: "1 when a registered application is not served (no usable metadata or a duplicate entity ID), else 0.",
		}, []string{"app"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.failures, m.lastSuccess, m.unavailable} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			switch existing := are.ExistingCollector.(type) {
			case *prometheus.CounterVec:
				m.failures = existing
			case *prometheus.GaugeVec:
				if c == prometheus.Collector(m.lastSuccess) {
					m.lastSuccess = existing
				} else {
					m.unavailable = existing
				}
			default:
				return nil, err
			}
		}
	}
	return m, nil
}

// observe updates the gauges for a newly published snapshot and drops the
// series of applications that are gone.
func (m *metrics) observe(old, next *snapshot) {
	if old != nil {
		for id := range old.byID {
			if _, ok := next.byID[id]; !ok {
				m.failures.DeleteLabelValues(id)
				m.lastSuccess.DeleteLabelValues(id)
				m.unavailable.DeleteLabelValues(id)
			}
		}
	}
	for id, e := range next.byID {
		if e.sp == nil {
			m.unavailable.WithLabelValues(id).Set(1)
		} else {
			m.unavailable.WithLabelValues(id).Set(0)
		}
		if t := e.app.MetadataLoadedAt; !t.IsZero() {
			m.lastSuccess.WithLabelValues(id).Set(float64(t.UnixNano()) / 1e9)
		}
	}
}
