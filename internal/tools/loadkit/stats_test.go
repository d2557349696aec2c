package loadkit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ms2d(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p90 of 1..100", hundred, 90, 90 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the maximum", hundred, 100, 100 * time.Millisecond},
		{"tiny p is the minimum", hundred, 0.001, 1 * time.Millisecond},
		{"single value", ms2d(7), 99, 7 * time.Millisecond},
		{"p50 of three is the middle", ms2d(1, 2, 30), 50, 2 * time.Millisecond},
		{"p99 of ten is the largest", ms2d(1, 2, 3, 4, 5, 6, 7, 8, 9, 40), 99, 40 * time.Millisecond},
		{"p90 of ten is the ninth", ms2d(1, 2, 3, 4, 5, 6, 7, 8, 9, 40), 90, 9 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Percentile(tt.sorted, tt.p)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	for _, bad := range []struct {
		sorted []time.Duration
		p      float64
	}{{nil, 50}, {hundred, 0}, {hundred, -1}, {hundred, 100.5}} {
		_, err := Percentile(bad.sorted, bad.p)
		assert.Error(t, err, "%v %v", len(bad.sorted), bad.p)
	}
}

func TestSummarize(t *testing.T) {
	assert.Equal(t, LatencySummary{}, Summarize(nil))
	s := Summarize(ms2d(1, 2, 3, 4, 5, 6, 7, 8, 9, 40))
	assert.Equal(t, LatencySummary{P50: 5, P90: 9, P99: 40, Max: 40}, s)
}

func TestUnits(t *testing.T) {
	assert.InDelta(t, 1.5, MS(1500*time.Microsecond), 0)
	assert.InDelta(t, 0.001, MS(1999*time.Nanosecond), 1e-12, "to the microsecond")
	assert.InDelta(t, 149.5, MiB(153088), 0)
	assert.InDelta(t, 250.0, PerSecond(500, 2*time.Second), 0)
	assert.Zero(t, PerSecond(500, 0), "no time: no rate")
	assert.Zero(t, PerSecond(500, -time.Second))
}
