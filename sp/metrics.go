package sp

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type spMetrics struct {
	signins *prometheus.CounterVec
	logins  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*spMetrics, error) {
	m := &spMetrics{
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_sp_signins_total",
			Help: "SAML responses received at the ACS, by outcome, bounded rejection reason and region.",
		}, []string{"outcome", "reason", "region"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_sp_authn_requests_total",
			Help: "AuthnRequests sent to the IdP, by the region named as ACS.",
		}, []string{"region"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.signins, err = register(reg, m.signins); err != nil {
		return nil, err
	}
	if m.logins, err = register(reg, m.logins); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the identical collector already
// registered (several SPs may share one registry).
func register(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, err
	}
	return c, nil
}
