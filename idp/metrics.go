package idp

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Reason is a bounded label for the outcome of an SSO or launch request,
// used in metrics and logs. Never show it to the browser.
type Reason string

// Reasons.
const (
	ReasonOK               Reason = "ok"
	ReasonMethod           Reason = "method"
	ReasonMalformed        Reason = "malformed"
	ReasonUnknownSP        Reason = "unknown_sp"
	ReasonDestination      Reason = "destination"
	ReasonRequestTime      Reason = "request_time"
	ReasonSignature        Reason = "signature"
	ReasonUnsigned         Reason = "unsigned"
	ReasonACS              Reason = "acs"
	ReasonBinding          Reason = "binding"
	ReasonRelayState       Reason = "relay_state"
	ReasonNameIDPolicy     Reason = "name_id_policy"
	ReasonNoPassive        Reason = "no_passive"
	ReasonLogin            Reason = "login"
	ReasonUnknownState     Reason = "unknown_state"
	ReasonNoSession        Reason = "no_session"
	ReasonStaleAuthn       Reason = "stale_authn"
	ReasonUnassigned       Reason = "unassigned"
	ReasonUserData         Reason = "user_data"
	ReasonKeys             Reason = "keys"
	ReasonStoreUnavailable Reason = "store_unavailable"
	ReasonInternal         Reason = "internal"
	outcomeIssued                 = "issued"
	outcomeErrorResponse          = "error_response"
	outcomeRejected               = "rejected"
	outcomeLogin                  = "login"
	appUnknown                    = "unknown"
)

type idpMetrics struct {
	responses *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*idpMetrics, error) {
	m := &idpMetrics{
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_idp_responses_total",
			Help: "App-facing SSO and launch requests by application ID, outcome (issued, error_response, rejected, login) and bounded reason.",
		}, []string{"app", "outcome", "reason"}),
	}
	if reg == nil {
		return m, nil
	}
	if err := reg.Register(m.responses); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				m.responses = existing
				return m, nil
			}
		}
		return nil, err
	}
	return m, nil
}
