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
	// Single logout reasons.
	ReasonSLODisabled    Reason = "slo_disabled"
	ReasonNoSLOEndpoint  Reason = "no_slo_endpoint"
	ReasonLogoutResponse Reason = "logout_response"
	ReasonUnknownSubject Reason = "unknown_subject"
	outcomeLoggedOut            = "logged_out"
	outcomeIssued               = "issued"
	outcomeErrorResponse        = "error_response"
	outcomeRejected             = "rejected"
	outcomeLogin                = "login"
	appUnknown                  = "unknown"
)

type idpMetrics struct {
	responses *prometheus.CounterVec
	logouts   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*idpMetrics, error) {
	m := &idpMetrics{
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_idp_responses_total",
			Help: "App-facing SSO and launch requests by application ID, outcome (issued, error_response, rejected, login) and bounded reason.",
		}, []string{"app", "outcome", "reason"}),
		logouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_idp_logouts_total",
			Help: "App-facing single logout requests by application ID, outcome (logged_out, error_response, rejected) and bounded reason.",
		}, []string{"app", "outcome", "reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []**prometheus.CounterVec{&m.responses, &m.logouts} {
		if err := reg.Register(*c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, err
			}
			*c = existing
		}
	}
	return m, nil
}
