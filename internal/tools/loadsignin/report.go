package main

import (
	"io"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tools/loadkit"
)

// Targets of issue 2.
const (
	targetSignInsPerSecond = 700
	targetP99              = 50 * time.Millisecond
	targetRSSMiB           = 150
)

// report is what a run prints; the loadkit pieces are embedded where
// their JSON keys go.
type report struct {
	loadkit.Environment
	Users        int     `json:"users"`
	Concurrency  int     `json:"concurrency"`
	Rate         float64 `json:"rate_per_second"` // 0: closed loop
	SignMode     string  `json:"sign"`
	Warmup       int     `json:"warmup"`
	WarmupErrors int     `json:"warmup_errors"`
	Requested    int     `json:"requested"`
	loadkit.Counts

	PresignSeconds   float64 `json:"presign_seconds"`
	DurationSeconds  float64 `json:"duration_seconds"`
	SignInsPerSecond float64 `json:"signins_per_second"`
	loadkit.Answers

	loadkit.Resources
	LoadGenCPUSeconds float64 `json:"loadgen_cpu_seconds"` // this tool, during the measured run
	SignInsPerCPUSec  float64 `json:"signins_per_gateway_cpu_second"`
	loadkit.Exit
}

// WriteTable prints r as a small text table.
func (r report) WriteTable(w io.Writer) error {
	t := loadkit.NewTable(w)
	t.Environment(r.Environment)
	t.Row("workload", "%d users, %d workers (%s), signed: %s, warmup %d (%d errors)",
		r.Users, r.Concurrency, loadkit.Pacing(r.Rate), r.SignMode, r.Warmup, r.WarmupErrors)
	t.Row("presign", "%.1f s", r.PresignSeconds)
	t.Counts(noun, r.Counts, r.Requested)
	t.Throughput(r.DurationSeconds, r.SignInsPerSecond, noun, targetSignInsPerSecond)
	t.Latency(r.Answers, r.Completed, targetP99)
	t.Row("peak RSS", "%.1f MiB VmHWM, %.1f MiB max of %d VmRSS samples (target < %d MiB: %s)",
		r.PeakRSSMiB, r.MaxSampledRSSMiB, r.RSSSamples, targetRSSMiB,
		loadkit.Verdict(r.PeakRSSMiB > 0 && max(r.PeakRSSMiB, r.MaxSampledRSSMiB) < targetRSSMiB))
	t.Topology(r.Resources, r.Completed)
	t.Row("CPU", "gateway %.1f s (%.0f sign-ins per gateway CPU-second), load generator %.1f s",
		r.GatewayCPUSeconds, r.SignInsPerCPUSec, r.LoadGenCPUSeconds)
	t.Details(r.Answers, r.Exit, 28)
	return t.Flush()
}
