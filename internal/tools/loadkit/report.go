package loadkit

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// The pieces below are embedded by each tool's report type, between its
// own fields, so that its JSON keys keep their order.

// Environment describes the gateway process of a run.
type Environment struct {
	Gateway    string `json:"gateway_binary"`
	GOGC       string `json:"gogc"`
	GOMAXPROCS string `json:"gomaxprocs"`
	GOMEMLIMIT string `json:"gomemlimit"`
	NumCPU     int    `json:"num_cpu"`
}

// Counts are the measured run's request counts.
type Counts struct {
	Completed int `json:"completed"`
	Errors    int `json:"errors"`
	NotSent   int `json:"not_sent"`
}

// Answers describe the measured run's answers.
type Answers struct {
	Latency        LatencySummary `json:"latency"`
	Outcomes       map[string]int `json:"outcomes"`
	TransportError string         `json:"first_transport_error,omitempty"`
}

// Resources are the gateway's memory and CPU use.
type Resources struct {
	PeakRSSMiB        float64 `json:"peak_rss_mib"`        // VmHWM at the end of the run
	MaxSampledRSSMiB  float64 `json:"max_sampled_rss_mib"` // largest VmRSS sample (100 ms)
	RSSSamples        int     `json:"rss_samples"`         // VmRSS samples taken
	GatewayCPUSeconds float64 `json:"gateway_cpu_seconds"` // during the measured run, all instances

	// Store and Instances describe the topology: the gateways' store
	// driver and how many there were (behind nginx when more than one).
	Store     string `json:"store"`
	Instances int    `json:"instances"`
	// The other processes' CPU time during the measured run, for where
	// the time went: this tool, nginx (master and worker), every process
	// named postgres on the machine (with -store postgres), and the busy
	// time of all cores (/proc/stat, everything but idle and iowait,
	// including other work on the machine). Those not measured are
	// left out.
	LoadGenCPUSeconds  float64  `json:"-"`
	NginxCPUSeconds    *float64 `json:"nginx_cpu_seconds,omitempty"`
	PostgresCPUSeconds *float64 `json:"postgres_cpu_seconds,omitempty"`
	MachineCPUSeconds  *float64 `json:"machine_busy_cpu_seconds,omitempty"`
	// PostgresSessions and PostgresCommits are the connections the
	// gateways opened to the run's database and the transactions they
	// committed, from the measured run's start until the gateways
	// stopped (pg_stat_database; with -store postgres).
	PostgresSessions *int64 `json:"postgres_sessions,omitempty"`
	PostgresCommits  *int64 `json:"postgres_commits,omitempty"`
}

// setOtherCPU fills the other processes' CPU time from readings before
// and after the measured run.
func (r *Resources) setOtherCPU(before, after otherCPU) {
	diff := func(a, b time.Duration) *float64 {
		if a < 0 || b < 0 {
			return nil
		}
		s := (b - a).Seconds()
		return &s
	}
	r.NginxCPUSeconds = diff(before.nginx, after.nginx)
	r.PostgresCPUSeconds = diff(before.postgres, after.postgres)
	r.MachineCPUSeconds = diff(before.machine, after.machine)
}

// Topology adds the "topology" row and the "CPU per 1000" row: CPU-seconds
// per 1,000 completed requests of the gateways, nginx, PostgreSQL, the
// load generator and the whole machine.
func (t *Table) Topology(r Resources, completed int) {
	front := "direct"
	if r.Instances > 1 {
		front = "behind nginx"
	}
	t.Row("topology", "%d gateway instance(s) on %s, %s", max(r.Instances, 1), r.Store, front)
	if completed <= 0 {
		return
	}
	per := func(s float64) string { return fmt.Sprintf("%.3f", s*1000/float64(completed)) }
	parts := []string{"gateways " + per(r.GatewayCPUSeconds)}
	if r.NginxCPUSeconds != nil {
		parts = append(parts, "nginx "+per(*r.NginxCPUSeconds))
	}
	if r.PostgresCPUSeconds != nil {
		parts = append(parts, "postgres "+per(*r.PostgresCPUSeconds))
	}
	parts = append(parts, "load generator "+per(r.LoadGenCPUSeconds))
	if r.MachineCPUSeconds != nil {
		parts = append(parts, "machine busy "+per(*r.MachineCPUSeconds))
	}
	t.Row("CPU-s per 1000", "%s", strings.Join(parts, ", "))
	if r.PostgresSessions != nil && r.PostgresCommits != nil {
		t.Row("PostgreSQL", "%d connections opened, %d transactions committed (%.2f and %.1f per request)",
			*r.PostgresSessions, *r.PostgresCommits,
			float64(*r.PostgresSessions)/float64(completed), float64(*r.PostgresCommits)/float64(completed))
	}
}

// Exit is how the gateway ended: its log and exit status.
type Exit struct {
	Log         LogTally `json:"gateway_log"`
	GatewayExit string   `json:"gateway_exit"`
}

// Counts returns r's counts.
func (r Result) Counts() Counts {
	return Counts{Completed: r.Completed(), Errors: r.Errors, NotSent: r.NotSent}
}

// Answers returns r's latency summary and outcomes.
func (r Result) Answers() Answers {
	return Answers{Latency: Summarize(r.Latencies), Outcomes: r.Outcomes, TransportError: r.FirstTransportError}
}

// Verdict is how a table states whether a target was met.
func Verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// Pacing describes the arrival rate of a run (see Workload.Rate).
func Pacing(rate float64) string {
	if rate > 0 {
		return fmt.Sprintf("open loop at %g/s, latency from due time", rate)
	}
	return "closed loop"
}

// Table is a report's text form: a key column and a value per row.
type Table struct {
	tw *tabwriter.Writer
}

// NewTable returns a table printing to w once flushed.
func NewTable(w io.Writer) *Table {
	return &Table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

// Row adds a row with key and a value formatted as by fmt.Sprintf.
func (t *Table) Row(key, format string, args ...any) {
	fmt.Fprintf(t.tw, "%s\t"+format+"\n", append([]any{key}, args...)...)
}

// Environment adds the "gateway" row.
func (t *Table) Environment(e Environment) {
	t.Row("gateway", "%s (GOGC=%s, GOMEMLIMIT=%s, GOMAXPROCS=%s, %d CPUs)", e.Gateway, e.GOGC, e.GOMEMLIMIT, e.GOMAXPROCS, e.NumCPU)
}

// Counts adds the row, keyed noun, of a counted run's counts.
func (t *Table) Counts(noun string, c Counts, requested int) {
	t.Row(noun, "%d of %d completed, %d errors, %d not sent", c.Completed, requested, c.Errors, c.NotSent)
}

// Throughput adds the "duration" and "throughput" rows: perSecond
// completed noun per second against target.
func (t *Table) Throughput(seconds, perSecond float64, noun string, target int) {
	t.Row("duration", "%.2f s", seconds)
	t.Row("throughput", "%.0f %s/s (target >= %d: %s)", perSecond, noun, target, Verdict(perSecond >= float64(target)))
}

// Latency adds the "latency" row: the p99 target is met only with
// completed requests.
func (t *Table) Latency(a Answers, completed int, target time.Duration) {
	l := a.Latency
	t.Row("latency", "p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (p99 target < %d ms: %s)",
		l.P50, l.P90, l.P99, l.Max, target.Milliseconds(), Verdict(completed > 0 && l.P99 < MS(target)))
}

// Details adds a row per outcome and per gateway log record (labels
// padded to width), the first transport error, the gateway's non-JSON
// output and, last, the "gateway exit" row.
func (t *Table) Details(a Answers, e Exit, width int) {
	for _, k := range slices.Sorted(maps.Keys(a.Outcomes)) {
		t.Row("  outcome", "%-*s %d", width, k, a.Outcomes[k])
	}
	if a.TransportError != "" {
		t.Row("  first transport error", "%s", a.TransportError)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Log.Records)) {
		t.Row("  gateway log", "%-*s %d", width, k, e.Log.Records[k])
	}
	for _, l := range e.Log.NonJSON {
		t.Row("  gateway output", "%s", l)
	}
	t.Row("gateway exit", "%s", e.GatewayExit)
}

// Flush prints the table.
func (t *Table) Flush() error { return t.tw.Flush() }

// A Reporter is a tool's report: it prints itself as a table, and as JSON
// through encoding/json.
type Reporter interface {
	WriteTable(w io.Writer) error
}

// Print prints r as a table on stdout, or with asJSON as JSON on stdout
// and the table on stderr.
func Print(stdout, stderr io.Writer, asJSON bool, r Reporter) error {
	if !asJSON {
		return r.WriteTable(stdout)
	}
	if err := r.WriteTable(stderr); err != nil {
		return err
	}
	return WriteJSON(stdout, r)
}

// WriteJSON prints v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
