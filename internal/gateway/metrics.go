package gateway

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/internal/scim"
	"github.com/gatehouse-dev/gatehouse/metadata"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

// The gateway's own metrics; the components it assembles register
// theirs (sp, idp, apps, scimtoken, server, and the store when it exports
// any). Every label takes values from a set fixed in code or bounded by
// the configuration and the key rings; nothing a client sends becomes a
// label value as is.
//
//	gatehouse_oauth_token_grants_total{grant_type,outcome,error}
//	gatehouse_scim_requests_total{resource,method,status_class}
//	gatehouse_certificate_expiry_days{use,state,key_id}
//	gatehouse_signing_key_age_days{ring,state,key_id}
//	gatehouse_idp_metadata_age_seconds
//	gatehouse_idp_metadata_max_age_seconds
//	gatehouse_idp_metadata_refresh_interval_seconds
//	gatehouse_idp_metadata_refresh_failures_total
//	gatehouse_ready
//
// The gauges are computed at each scrape from the key rings, the IdP
// metadata in use and the clock, so they are never stale.

// Label values of the gateway's metrics.
const (
	labelOther = "other"
	labelNone  = "none"

	grantOutcomeIssued  = "issued"
	grantOutcomeRefused = "refused"

	useIdPSigning   = "idp_signing"
	useOAuthSigning = "oauth_signing"
	useSPSigning    = "sp_signing"
	useIdPMetadata  = "idp_metadata"

	statePublished = "published"
	stateCurrent   = string(keys.RoleCurrent)
)

// grantLabels maps the grant_type parameter to the grant_type label.
var grantLabels = map[string]string{
	oauth.GrantTokenExchange: "token_exchange",
	oauth.GrantJWTBearer:     "jwt_bearer",
	oauth.GrantDeviceCode:    "device_code",
	oauth.GrantRefreshToken:  "refresh_token",
}

// errorLabels are the OAuth error codes the error label takes as is.
var errorLabels = map[oauth.ErrorCode]bool{
	oauth.ErrInvalidRequest: true, oauth.ErrInvalidClient: true, oauth.ErrInvalidGrant: true,
	oauth.ErrUnauthorizedClient: true, oauth.ErrUnsupportedGrantType: true, oauth.ErrInvalidScope: true,
	oauth.ErrInvalidTarget: true, oauth.ErrAuthorizationPending: true, oauth.ErrSlowDown: true,
	oauth.ErrExpiredToken: true, oauth.ErrAccessDenied: true, oauth.ErrServerError: true,
	oauth.ErrTemporarilyUnavailable: true,
}

// scimResources are the first path segments under /scim/v2 the resource
// label takes as is.
var scimResources = map[string]bool{
	"Users": true, "Groups": true, "ServiceProviderConfig": true, "Schemas": true,
	"ResourceTypes": true, "Bulk": true, "Me": true,
}

// scimMethods are the request methods the method label takes as is.
var scimMethods = map[string]bool{
	http.MethodGet: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true,
}

// gatewayMetrics are the gateway's counters and the scrape-time
// collector's inputs that are not otherwise kept on the Gateway.
type gatewayMetrics struct {
	grants *prometheus.CounterVec
	scim   *prometheus.CounterVec
	// spSigningCert is the certificate of the SP's AuthnRequest signing
	// key, when sign_authn_requests is on.
	spSigningCert *x509.Certificate
}

// setupMetrics registers the gateway's metrics, and the store's when it
// exports any, on g.registry.
func (g *Gateway) setupMetrics(st Store) error {
	m := &gatewayMetrics{
		grants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_oauth_token_grants_total",
			Help: "Token endpoint decisions by grant type (token_exchange, jwt_bearer, device_code, refresh_token, other), outcome (issued, refused) and OAuth error code of a refusal (none when issued). Device code polls while the user decides are not counted.",
		}, []string{"grant_type", "outcome", "error"}),
		scim: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_scim_requests_total",
			Help: "SCIM 2.0 requests by resource (Users, Groups, ...; other), method and status class (2xx, 4xx, 5xx), unauthenticated ones included.",
		}, []string{"resource", "method", "status_class"}),
	}
	for _, c := range []**prometheus.CounterVec{&m.grants, &m.scim} {
		if err := g.registry.Register(*c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return fmt.Errorf("gateway: metrics: %w", err)
			}
			existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return fmt.Errorf("gateway: metrics: %w", err)
			}
			*c = existing
		}
	}
	if err := g.registry.Register((*expiryCollector)(g)); err != nil {
		return fmt.Errorf("gateway: metrics: %w", err)
	}
	if ms, ok := st.(interface{ Metrics() prometheus.Collector }); ok {
		if err := g.registry.Register(ms.Metrics()); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return fmt.Errorf("gateway: store metrics: %w", err)
			}
		}
	}
	g.metrics = m
	return nil
}

// countGrant counts a token endpoint decision after the audit sink has
// recorded it (recordErr is Record's result).
func (m *gatewayMetrics) countGrant(e oauth.AuditEvent, recordErr error) {
	if m == nil || (e.Action != "" && e.Action != oauth.AuditActionToken) {
		return
	}
	grant, ok := grantLabels[e.GrantType]
	if !ok {
		grant = labelOther
	}
	switch {
	case e.Outcome == oauth.AuditIssued && recordErr == nil:
		m.grants.WithLabelValues(grant, grantOutcomeIssued, labelNone).Inc()
	case e.Outcome == oauth.AuditIssued:
		// An issued token that cannot be audited is withheld: the client
		// gets temporarily_unavailable (503).
		m.grants.WithLabelValues(grant, grantOutcomeRefused, string(oauth.ErrTemporarilyUnavailable)).Inc()
	default:
		m.grants.WithLabelValues(grant, grantOutcomeRefused, errorLabel(e.Reason)).Inc()
	}
}

// errorLabel is the OAuth error code a refusal's audit reason starts
// with ("invalid_grant: ..."), or "other".
func errorLabel(reason string) string {
	code, _, _ := strings.Cut(reason, ":")
	if errorLabels[oauth.ErrorCode(code)] {
		return code
	}
	return labelOther
}

// instrumentSCIM counts each SCIM request by resource, method and status
// class.
func (m *gatewayMetrics) instrumentSCIM(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		method := r.Method
		if !scimMethods[method] {
			method = labelOther
		}
		m.scim.WithLabelValues(scimResource(r.URL.Path), method, statusClass(rec.status)).Inc()
	})
}

// scimResource is the resource label of a path under scim.PathPrefix.
func scimResource(path string) string {
	rest, ok := strings.CutPrefix(path, scim.PathPrefix+"/")
	if !ok {
		return labelOther
	}
	seg, _, _ := strings.Cut(rest, "/")
	if scimResources[seg] {
		return seg
	}
	return labelOther
}

// statusWriter records the status of a response (200 when the handler
// writes without calling WriteHeader).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func statusClass(code int) string {
	if code == 0 {
		code = http.StatusOK
	}
	if code < 100 || code > 599 {
		return labelOther
	}
	return fmt.Sprintf("%dxx", code/100)
}

var (
	certExpiryDesc = prometheus.NewDesc("gatehouse_certificate_expiry_days",
		"Days until each certificate the gateway signs with or trusts expires (fractional, negative once expired): use idp_signing and oauth_signing (state current, next, previous), sp_signing (state current), idp_metadata (the identity source IdP's signing certificates in the metadata in use; state published).",
		[]string{"use", "state", "key_id"}, nil)
	keyAgeDesc = prometheus.NewDesc("gatehouse_signing_key_age_days",
		"Days since each key of a signing key ring was created (its certificate's notBefore), by ring (idp_signing, oauth_signing) and state (current, next, previous); for rotation policies.",
		[]string{"ring", "state", "key_id"}, nil)
	metadataAgeDesc = prometheus.NewDesc("gatehouse_idp_metadata_age_seconds",
		"Seconds since the identity source IdP's metadata was last read successfully from its source; sign-in stops once it exceeds gatehouse_idp_metadata_max_age_seconds.",
		nil, nil)
	metadataMaxAgeDesc = prometheus.NewDesc("gatehouse_idp_metadata_max_age_seconds",
		"The staleness bound of the IdP metadata: older metadata is not trusted and sign-in answers 503.",
		nil, nil)
	metadataIntervalDesc = prometheus.NewDesc("gatehouse_idp_metadata_refresh_interval_seconds",
		"How often the IdP metadata is re-read (identity_source.saml.metadata_refresh).",
		nil, nil)
	metadataFailuresDesc = prometheus.NewDesc("gatehouse_idp_metadata_refresh_failures_total",
		"Periodic IdP metadata refreshes that failed; the last good copy stays in use.",
		nil, nil)
	readyDesc = prometheus.NewDesc("gatehouse_ready",
		"1 when the instance is ready (the store answers and the IdP metadata is usable), else 0; the same check as /readyz.",
		nil, nil)
)

// readyTimeout bounds the readiness check a scrape runs.
const readyTimeout = 2 * time.Second

// expiryCollector reports, at each scrape, the gauges computed from the
// key rings, the IdP metadata and the clock.
type expiryCollector Gateway

// Describe implements prometheus.Collector.
func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{certExpiryDesc, keyAgeDesc, metadataAgeDesc, metadataMaxAgeDesc, metadataIntervalDesc, metadataFailuresDesc, readyDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	g := (*Gateway)(c)
	now := g.now()
	days := func(d time.Duration) float64 { return d.Hours() / 24 }
	ring := func(use string, r *keys.Ring) {
		if r == nil {
			return
		}
		for _, k := range r.Keys() {
			kid := certKID(k.Certificate)
			ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, days(k.Certificate.NotAfter.Sub(now)), use, string(k.Role), kid)
			ch <- prometheus.MustNewConstMetric(keyAgeDesc, prometheus.GaugeValue, days(now.Sub(k.Certificate.NotBefore)), use, string(k.Role), kid)
		}
	}
	ring(useIdPSigning, g.ring)
	if g.oauth != nil {
		ring(useOAuthSigning, g.oauth.ring)
	}
	if g.metrics != nil && g.metrics.spSigningCert != nil {
		cert := g.metrics.spSigningCert
		ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, days(cert.NotAfter.Sub(now)), useSPSigning, stateCurrent, certKID(cert))
	}
	if r := g.refresher; r != nil {
		if md := r.Current(); md != nil {
			for _, cert := range md.SigningCertificates {
				ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, days(cert.NotAfter.Sub(now)), useIdPMetadata, statePublished, certKID(cert))
			}
		}
		if last := r.LastSuccess(); !last.IsZero() {
			ch <- prometheus.MustNewConstMetric(metadataAgeDesc, prometheus.GaugeValue, now.Sub(last).Seconds())
		}
		// loadIdP leaves the Refresher's MaxStaleness at its default.
		ch <- prometheus.MustNewConstMetric(metadataMaxAgeDesc, prometheus.GaugeValue, metadata.DefaultMaxStaleness.Seconds())
		ch <- prometheus.MustNewConstMetric(metadataFailuresDesc, prometheus.CounterValue, float64(r.RefreshFailures()))
		if s := g.cfg.IdentitySource.SAML; s != nil {
			interval := s.MetadataRefresh.Std()
			if interval == 0 {
				interval = metadata.DefaultRefreshInterval
			}
			ch <- prometheus.MustNewConstMetric(metadataIntervalDesc, prometheus.GaugeValue, interval.Seconds())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	ready := 1.0
	if g.store == nil || g.Ready(ctx) != nil {
		ready = 0
	}
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, ready)
}
