package gateway

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"

	"github.com/gatehouse-dev/gatehouse/oauth"
)

// A token withheld because its audit record failed is counted with the
// code the client got: temporarily_unavailable.
func TestCountGrantWithheldToken(t *testing.T) {
	m := &gatewayMetrics{grants: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "g"}, []string{"grant_type", "outcome", "error"})}
	ev := oauth.AuditEvent{Action: oauth.AuditActionToken, GrantType: oauth.GrantTokenExchange, Outcome: oauth.AuditIssued}
	m.countGrant(ev, nil)
	m.countGrant(ev, errors.New("audit store down"))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.grants.WithLabelValues("token_exchange", grantOutcomeIssued, labelNone)))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.grants.WithLabelValues("token_exchange", grantOutcomeRefused, string(oauth.ErrTemporarilyUnavailable))))
	assert.Zero(t, testutil.ToFloat64(m.grants.WithLabelValues("token_exchange", grantOutcomeRefused, string(oauth.ErrServerError))))
}
