package main

import (
	"io"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
)

// Targets of issue 4.
const (
	targetExchangesPerSecond = 3000
	targetP99                = 20 * time.Millisecond
	// keycloakPerVCPU is Keycloak's published sizing, client-credential
	// grants per second per vCPU, for scale.
	keycloakPerVCPU = 120
)

// report is what a run prints; the loadkit pieces are embedded where
// their JSON keys go.
type report struct {
	loadkit.Environment
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
	loadkit.Counts

	SetupSeconds       float64 `json:"setup_seconds"` // users and pre-signed tokens
	DurationSeconds    float64 `json:"duration_seconds"`
	ExchangesPerSecond float64 `json:"exchanges_per_second"`
	loadkit.Answers

	loadkit.Resources
	CPUPerExchangeMS   float64 `json:"gateway_cpu_ms_per_exchange"`
	ExchangesPerCPUSec float64 `json:"exchanges_per_gateway_cpu_second"`
	LoadGenCPUSeconds  float64 `json:"loadgen_cpu_seconds"` // this tool, during the measured run
	loadkit.Exit
}

// setCPU fills the gateway CPU figures from its CPU time during the run.
func (r *report) setCPU(cpu time.Duration) {
	r.GatewayCPUSeconds = cpu.Seconds()
	if r.Completed > 0 && cpu > 0 {
		r.CPUPerExchangeMS = loadkit.MS(cpu) / float64(r.Completed)
		r.ExchangesPerCPUSec = loadkit.PerSecond(r.Completed, cpu)
	}
}

// WriteTable prints r as a small text table.
func (r report) WriteTable(w io.Writer) error {
	t := loadkit.NewTable(w)
	t.Environment(r.Environment)
	t.Row("workload", "%s access tokens, %d users, %d subject tokens, %d workers (%s), warmup %d (%d errors)",
		r.SigningAlg, r.Users, r.Tokens, r.Concurrency, loadkit.Pacing(r.Rate), r.Warmup, r.WarmupErrors)
	t.Row("setup", "%.1f s (users and pre-signed subject tokens)", r.SetupSeconds)
	if r.Timed > 0 {
		t.Row(noun, "%d completed of %d sent in a %g s run, %d errors", r.Completed, r.Sent, r.Timed, r.Errors)
	} else {
		t.Counts(noun, r.Counts, r.Requested)
	}
	t.Throughput(r.DurationSeconds, r.ExchangesPerSecond, noun, targetExchangesPerSecond)
	t.Latency(r.Answers, r.Completed, targetP99)
	t.Row("peak RSS", "%.1f MiB VmHWM, %.1f MiB max of %d VmRSS samples", r.PeakRSSMiB, r.MaxSampledRSSMiB, r.RSSSamples)
	t.Topology(r.Resources, r.Completed)
	t.Row("CPU", "gateway %.2f s: %.3f ms per exchange, %.0f exchanges per gateway CPU-second (Keycloak sizing: %d/s per vCPU); load generator %.1f s",
		r.GatewayCPUSeconds, r.CPUPerExchangeMS, r.ExchangesPerCPUSec, keycloakPerVCPU, r.LoadGenCPUSeconds)
	t.Details(r.Answers, r.Exit, 36)
	return t.Flush()
}
