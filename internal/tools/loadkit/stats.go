package loadkit

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted: the smallest value with at least p% of the values at or below
// it.
func Percentile(sorted []time.Duration, p float64) (time.Duration, error) {
	if len(sorted) == 0 {
		return 0, errors.New("percentile of no values")
	}
	if !(p > 0 && p <= 100) {
		return 0, fmt.Errorf("percentile %v out of (0, 100]", p)
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1], nil
}

// LatencySummary is in milliseconds.
type LatencySummary struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// Summarize returns the latency summary of sorted latencies (zero when
// there are none).
func Summarize(sorted []time.Duration) LatencySummary {
	if len(sorted) == 0 {
		return LatencySummary{}
	}
	p := func(q float64) float64 {
		d, _ := Percentile(sorted, q) // sorted is non-empty and q is in range
		return MS(d)
	}
	return LatencySummary{P50: p(50), P90: p(90), P99: p(99), Max: MS(sorted[len(sorted)-1])}
}

// MS is d in milliseconds, to the microsecond.
func MS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MiB converts KiB to MiB.
func MiB(kb int64) float64 { return float64(kb) / 1024 }

// PerSecond is n per second of d, 0 when d is not positive.
func PerSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
