package scimtoken

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	long := f.create(t, CreateRequest{})
	soon := f.create(t, CreateRequest{ExpiresInDays: 10})
	f.clock.Advance(12 * time.Hour)

	expected := `
# HELP gatehouse_scim_token_expiry_days Days until each active SCIM token expires (fractional); alert well before it reaches 0, and rotate the token.
# TYPE gatehouse_scim_token_expiry_days gauge
gatehouse_scim_token_expiry_days{id="` + long.ID + `"} 364.5
gatehouse_scim_token_expiry_days{id="` + soon.ID + `"} 9.5
# HELP gatehouse_scim_tokens_active SCIM tokens that are neither revoked nor expired; 0 means SCIM provisioning is refused.
# TYPE gatehouse_scim_tokens_active gauge
gatehouse_scim_tokens_active 2
`
	require.NoError(t, testutil.GatherAndCompare(f.reg, strings.NewReader(expected),
		"gatehouse_scim_token_expiry_days", "gatehouse_scim_tokens_active"))
	expected = `
# HELP gatehouse_scim_token_expiry_timestamp_seconds When each active SCIM token expires (Unix seconds).
# TYPE gatehouse_scim_token_expiry_timestamp_seconds gauge
gatehouse_scim_token_expiry_timestamp_seconds{id="` + long.ID + `"} ` + strconv.FormatInt(long.ExpiresAt.Unix(), 10) + `
gatehouse_scim_token_expiry_timestamp_seconds{id="` + soon.ID + `"} ` + strconv.FormatInt(soon.ExpiresAt.Unix(), 10) + `
`
	require.NoError(t, testutil.GatherAndCompare(f.reg, strings.NewReader(expected), "gatehouse_scim_token_expiry_timestamp_seconds"))

	// Expired and revoked tokens have no series.
	f.clock.Advance(9*Day + 12*time.Hour)
	expected = `
# HELP gatehouse_scim_token_expiry_days Days until each active SCIM token expires (fractional); alert well before it reaches 0, and rotate the token.
# TYPE gatehouse_scim_token_expiry_days gauge
gatehouse_scim_token_expiry_days{id="` + long.ID + `"} 355
# HELP gatehouse_scim_tokens_active SCIM tokens that are neither revoked nor expired; 0 means SCIM provisioning is refused.
# TYPE gatehouse_scim_tokens_active gauge
gatehouse_scim_tokens_active 1
`
	require.NoError(t, testutil.GatherAndCompare(f.reg, strings.NewReader(expected),
		"gatehouse_scim_token_expiry_days", "gatehouse_scim_tokens_active"))
	require.NoError(t, f.svc.Revoke(t.Context(), long.ID))
	expected = `
# HELP gatehouse_scim_tokens_active SCIM tokens that are neither revoked nor expired; 0 means SCIM provisioning is refused.
# TYPE gatehouse_scim_tokens_active gauge
gatehouse_scim_tokens_active 0
`
	require.NoError(t, testutil.GatherAndCompare(f.reg, strings.NewReader(expected),
		"gatehouse_scim_token_expiry_days", "gatehouse_scim_tokens_active"))
}

func TestMetricsStoreDown(t *testing.T) {
	f := newFixture(t)
	f.create(t, CreateRequest{})
	f.store.setFail("ListTokens", errDown)
	_, err := f.reg.Gather()
	require.Error(t, err, "a failed read is reported, not hidden as zero")
	assert.Contains(t, err.Error(), errDown.Error())
}

func TestMetricsFailureReasons(t *testing.T) {
	f := newFixture(t)
	n, err := testutil.GatherAndCount(f.reg, "gatehouse_scim_token_auth_failures_total")
	require.NoError(t, err)
	assert.Equal(t, len(allReasons), n, "every reason is exported from the start")
	assert.Equal(t, 6, testutil.CollectAndCount(f.svc.failures))
}

func TestMetricsLint(t *testing.T) {
	f := newFixture(t)
	f.create(t, CreateRequest{})
	problems, err := testutil.GatherAndLint(f.reg)
	require.NoError(t, err)
	require.Len(t, problems, 1, "only the days gauge, named so on purpose")
	assert.Equal(t, "gatehouse_scim_token_expiry_days", problems[0].Metric)
	var _ prometheus.Collector = (*collector)(f.svc)
}

// blockingStore never answers ListTokens before its context ends.
type blockingStore struct{ Store }

func (blockingStore) ListTokens(ctx context.Context) ([]Record, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestMetricsCollectTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		_, err := New(Config{
			Store: blockingStore{NewMemoryStore()}, Auditor: &fakeAuditor{}, Registerer: reg,
			CollectTimeout: 3 * time.Second,
		})
		require.NoError(t, err)
		start := time.Now()
		_, err = reg.Gather()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 3*time.Second, time.Since(start), "the scrape waits for the store no longer than the timeout")
	})
}
