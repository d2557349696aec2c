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

// Targets of issue 4.
const (
	targetExchangesPerSecond = 3000
	targetP99                = 20 * time.Millisecond
	// keycloakPerVCPU is Keycloak's published sizing, client-credential
	// grants per second per vCPU, for scale.
	keycloakPerVCPU = 120
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
	SigningAlg   string  `json:"signing_alg"`
	Users        int     `json:"users"`
	Tokens       int     `json:"subject_tokens"`
	Concurrency  int     `json:"concurrency"`
	Rate         float64 `json:"rate_per_second"`            // 0: closed loop
	Timed        float64 `json:"duration_seconds_requested"` // 0: counted run
	Warmup       int     `json:"warmup"`
	WarmupErrors int     `json:"warmup_errors"`
	Requested    int     `json:"requested"` // counted run; 0 for a timed one
	Sent         int     `json:"sent"`
	Completed    int     `json:"completed"`
	Errors       int     `json:"errors"`
	NotSent      int     `json:"not_sent"`

	SetupSeconds       float64        `json:"setup_seconds"` // users and pre-signed tokens
	DurationSeconds    float64        `json:"duration_seconds"`
	ExchangesPerSecond float64        `json:"exchanges_per_second"`
	Latency            latencySummary `json:"latency"`
	Outcomes           map[string]int `json:"outcomes"`
	TransportError     string         `json:"first_transport_error,omitempty"`

	PeakRSSMiB         float64  `json:"peak_rss_mib"`        // VmHWM at the end of the run
	MaxSampledRSSMiB   float64  `json:"max_sampled_rss_mib"` // largest VmRSS sample (100 ms)
	RSSSamples         int      `json:"rss_samples"`         // VmRSS samples taken
	GatewayCPUSeconds  float64  `json:"gateway_cpu_seconds"` // during the measured run
	CPUPerExchangeMS   float64  `json:"gateway_cpu_ms_per_exchange"`
	ExchangesPerCPUSec float64  `json:"exchanges_per_gateway_cpu_second"`
	LoadGenCPUSeconds  float64  `json:"loadgen_cpu_seconds"` // this tool, during the measured run
	Log                logTally `json:"gateway_log"`
	GatewayExit        string   `json:"gateway_exit"`
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

// setCPU fills the gateway CPU figures from its CPU time during the run.
func (r *report) setCPU(cpu time.Duration) {
	r.GatewayCPUSeconds = cpu.Seconds()
	if r.Completed > 0 && cpu > 0 {
		r.CPUPerExchangeMS = ms(cpu) / float64(r.Completed)
		r.ExchangesPerCPUSec = float64(r.Completed) / cpu.Seconds()
	}
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
	row("workload", "%s access tokens, %d users, %d subject tokens, %d workers (%s), warmup %d (%d errors)",
		r.SigningAlg, r.Users, r.Tokens, r.Concurrency, pacing, r.Warmup, r.WarmupErrors)
	row("setup", "%.1f s (users and pre-signed subject tokens)", r.SetupSeconds)
	if r.Timed > 0 {
		row("exchanges", "%d completed of %d sent in a %g s run, %d errors", r.Completed, r.Sent, r.Timed, r.Errors)
	} else {
		row("exchanges", "%d of %d completed, %d errors, %d not sent", r.Completed, r.Requested, r.Errors, r.NotSent)
	}
	row("duration", "%.2f s", r.DurationSeconds)
	row("throughput", "%.0f exchanges/s (target >= %d: %s)", r.ExchangesPerSecond, targetExchangesPerSecond,
		verdict(r.ExchangesPerSecond >= targetExchangesPerSecond))
	row("latency", "p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (p99 target < %d ms: %s)",
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, targetP99.Milliseconds(),
		verdict(r.Completed > 0 && r.Latency.P99 < ms(targetP99)))
	row("peak RSS", "%.1f MiB VmHWM, %.1f MiB max of %d VmRSS samples", r.PeakRSSMiB, r.MaxSampledRSSMiB, r.RSSSamples)
	row("CPU", "gateway %.2f s: %.3f ms per exchange, %.0f exchanges per gateway CPU-second (Keycloak sizing: %d/s per vCPU); load generator %.1f s",
		r.GatewayCPUSeconds, r.CPUPerExchangeMS, r.ExchangesPerCPUSec, keycloakPerVCPU, r.LoadGenCPUSeconds)
	for _, k := range slices.Sorted(maps.Keys(r.Outcomes)) {
		row("  outcome", "%-36s %d", k, r.Outcomes[k])
	}
	if r.TransportError != "" {
		row("  first transport error", "%s", r.TransportError)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Log.Records)) {
		row("  gateway log", "%-36s %d", k, r.Log.Records[k])
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
