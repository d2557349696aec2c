package scimtoken

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	expiryDesc = prometheus.NewDesc("gatehouse_scim_token_expiry_days",
		"Days until each active SCIM token expires (fractional); alert well before it reaches 0, and rotate the token.",
		[]string{"id"}, nil)
	expiryTimeDesc = prometheus.NewDesc("gatehouse_scim_token_expiry_timestamp_seconds",
		"When each active SCIM token expires (Unix seconds).",
		[]string{"id"}, nil)
	activeDesc = prometheus.NewDesc("gatehouse_scim_tokens_active",
		"SCIM tokens that are neither revoked nor expired; 0 means SCIM provisioning is refused.",
		nil, nil)
)

// collector reads the store at each scrape, so every instance reports
// the shared state: gatehouse_scim_token_expiry_days{id} and
// gatehouse_scim_token_expiry_timestamp_seconds{id} for each active token
// (at most MaxActive series each) and gatehouse_scim_tokens_active. The
// days gauge breaks the Prometheus base-unit convention on purpose: it is
// the number an alert threshold is written in. A
// store that fails or does not answer within the collect timeout makes
// the scrape report an error for these metrics instead of stale values.
type collector Service

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- expiryDesc
	ch <- expiryTimeDesc
	ch <- activeDesc
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.collectTimeout)
	defer cancel()
	recs, err := c.store.ListTokens(ctx)
	if err != nil {
		err = fmt.Errorf("scimtoken: collect metrics: %w", err)
		ch <- prometheus.NewInvalidMetric(activeDesc, err)
		return
	}
	now := (*Service)(c).clock()
	active := 0
	for _, r := range recs {
		if !r.Active(now) {
			continue
		}
		active++
		ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, float64(r.ExpiresAt.Sub(now))/float64(Day), r.ID)
		ch <- prometheus.MustNewConstMetric(expiryTimeDesc, prometheus.GaugeValue, float64(r.ExpiresAt.UnixMicro())/1e6, r.ID)
	}
	ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(active))
}
