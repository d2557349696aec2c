package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"
)

// Targets of issue 2.
const (
	targetSignInsPerSecond = 700
	targetP99              = 50 * time.Millisecond
	targetRSSMiB           = 150
)

// latencySummary is in milliseconds.
type latencySummary struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// report is what a run prints.
type report struct {
	Gateway      string  `json:"gateway_binary"`
	GOGC         string  `json:"gogc"`
	GOMAXPROCS   string  `json:"gomaxprocs"`
	GOMEMLIMIT   string  `json:"gomemlimit"`
	NumCPU       int     `json:"num_cpu"`
	Users        int     `json:"users"`
	Concurrency  int     `json:"concurrency"`
	Rate         float64 `json:"rate_per_second"` // 0: closed loop
	SignMode     string  `json:"sign"`
	Warmup       int     `json:"warmup"`
	WarmupErrors int     `json:"warmup_errors"`
	Requested    int     `json:"requested"`
	Completed    int     `json:"completed"`
	Errors       int     `json:"errors"`
	NotSent      int     `json:"not_sent"`

	PresignSeconds   float64        `json:"presign_seconds"`
	DurationSeconds  float64        `json:"duration_seconds"`
	SignInsPerSecond float64        `json:"signins_per_second"`
	Latency          latencySummary `json:"latency"`
	Outcomes         map[string]int `json:"outcomes"`
	TransportError   string         `json:"first_transport_error,omitempty"`

	PeakRSSMiB        float64  `json:"peak_rss_mib"`        // VmHWM at the end of the run
	MaxSampledRSSMiB  float64  `json:"max_sampled_rss_mib"` // largest VmRSS sample (100 ms)
	RSSSamples        int      `json:"rss_samples"`         // VmRSS samples taken
	GatewayCPUSeconds float64  `json:"gateway_cpu_seconds"` // during the measured run
	LoadGenCPUSeconds float64  `json:"loadgen_cpu_seconds"` // this tool, during the measured run
	SignInsPerCPUSec  float64  `json:"signins_per_gateway_cpu_second"`
	Log               logTally `json:"gateway_log"`
	GatewayExit       string   `json:"gateway_exit"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mib(kb int64) float64 { return float64(kb) / 1024 }

// summarize fills the latency summary from sorted latencies (zero when
// there are none).
func summarize(sorted []time.Duration) latencySummary {
	if len(sorted) == 0 {
		return latencySummary{}
	}
	p := func(q float64) float64 {
		d, _ := percentile(sorted, q) // sorted is non-empty and q is in range
		return ms(d)
	}
	return latencySummary{P50: p(50), P90: p(90), P99: p(99), Max: ms(sorted[len(sorted)-1])}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// writeTable prints r as a small text table.
func writeTable(w io.Writer, r report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...)
	}
	row("gateway", "%s (GOGC=%s, GOMEMLIMIT=%s, GOMAXPROCS=%s, %d CPUs)", r.Gateway, r.GOGC, r.GOMEMLIMIT, r.GOMAXPROCS, r.NumCPU)
	pacing := "closed loop"
	if r.Rate > 0 {
		pacing = fmt.Sprintf("open loop at %g/s, latency from due time", r.Rate)
	}
	row("workload", "%d users, %d workers (%s), signed: %s, warmup %d (%d errors)", r.Users, r.Concurrency, pacing, r.SignMode, r.Warmup, r.WarmupErrors)
	row("presign", "%.1f s", r.PresignSeconds)
	row("sign-ins", "%d of %d completed, %d errors, %d not sent", r.Completed, r.Requested, r.Errors, r.NotSent)
	row("duration", "%.2f s", r.DurationSeconds)
	row("throughput", "%.0f sign-ins/s (target >= %d: %s)", r.SignInsPerSecond, targetSignInsPerSecond, verdict(r.SignInsPerSecond >= targetSignInsPerSecond))
	row("latency", "p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (p99 target < %d ms: %s)",
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, targetP99.Milliseconds(),
		verdict(r.Completed > 0 && r.Latency.P99 < ms(targetP99)))
	row("peak RSS", "%.1f MiB VmHWM, %.1f MiB max of %d VmRSS samples (target < %d MiB: %s)",
		r.PeakRSSMiB, r.MaxSampledRSSMiB, r.RSSSamples, targetRSSMiB, verdict(r.PeakRSSMiB > 0 && max(r.PeakRSSMiB, r.MaxSampledRSSMiB) < targetRSSMiB))
	row("CPU", "gateway %.1f s (%.0f sign-ins per gateway CPU-second), load generator %.1f s",
		r.GatewayCPUSeconds, r.SignInsPerCPUSec, r.LoadGenCPUSeconds)
	for _, k := range slices.Sorted(maps.Keys(r.Outcomes)) {
		row("  outcome", "%-28s %d", k, r.Outcomes[k])
	}
	if r.TransportError != "" {
		row("  first transport error", "%s", r.TransportError)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Log.Records)) {
		row("  gateway log", "%-28s %d", k, r.Log.Records[k])
	}
	for _, l := range r.Log.NonJSON {
		row("  gateway output", "%s", l)
	}
	row("gateway exit", "%s", r.GatewayExit)
	return tw.Flush()
}

// writeJSON prints r as indented JSON.
func writeJSON(w io.Writer, r report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
