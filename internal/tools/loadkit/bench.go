package loadkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

const (
	// readyTimeout bounds the wait for the gateway's /readyz.
	readyTimeout = 60 * time.Second
	// rssInterval is how often the gateway's VmRSS is sampled.
	rssInterval = 100 * time.Millisecond
)

// Tool names a load tool and what it measures.
type Tool struct {
	// Name prefixes the tool's log lines and its run folder's name.
	Name string
	// Noun is the plural of what one request does, such as "sign-ins".
	Noun string
}

// Bench is one run's private folder, gateway binary and loopback port.
type Bench struct {
	tool   Tool
	flags  Flags
	stderr io.Writer
	dir    string
	bin    string
	site   Site
}

// Prepare creates the run folder (private, in the system's temporary
// folder), builds the gateway into it unless f.Gatehouse names one, and
// picks a free loopback port. Progress goes to stderr. The caller must
// call Close.
func Prepare(ctx context.Context, tool Tool, f Flags, stderr io.Writer) (*Bench, error) {
	dir, err := os.MkdirTemp("", tool.Name+"-")
	if err != nil {
		return nil, err
	}
	b := &Bench{tool: tool, flags: f, stderr: stderr, dir: dir, bin: f.Gatehouse}
	if f.Keep {
		b.Logf("run folder %s (kept)", dir)
	}
	if b.bin == "" {
		b.Logf("building cmd/gatehouse")
		if b.bin, err = BuildGateway(ctx, dir, stderr); err != nil {
			return nil, errors.Join(err, b.Close())
		}
	}
	if b.site.Port, err = FreeLoopbackPort(); err != nil {
		return nil, errors.Join(err, b.Close())
	}
	if err := CheckLoopback(b.site.ReadyURL()); err != nil {
		return nil, errors.Join(err, b.Close())
	}
	return b, nil
}

// Dir is the run folder.
func (b *Bench) Dir() string { return b.dir }

// Site is the gateway's address.
func (b *Bench) Site() Site { return b.site }

// Logf prints one progress line, prefixed with the tool's name, to stderr.
func (b *Bench) Logf(format string, a ...any) {
	fmt.Fprintf(b.stderr, b.tool.Name+": "+format+"\n", a...)
}

// SignProgress is a Presign progress function that logs every 5000.
func (b *Bench) SignProgress(done int) {
	if done%5000 == 0 {
		b.Logf("  %d signed", done)
	}
}

// Close removes the run folder unless -keep was given.
func (b *Bench) Close() error {
	if b.flags.Keep {
		return nil
	}
	return os.RemoveAll(b.dir)
}

// Plan is what Measure runs.
type Plan struct {
	// Config is the path of the gateway config.
	Config string
	// Env holds more environment variables for the gateway, beside GOGC,
	// GOMEMLIMIT and GOMAXPROCS from the flags (see ChildEnv).
	Env map[string]string
	// Deadline ends the warm-up and the measured run (before the
	// pre-signed requests expire).
	Deadline time.Time
	// Duration > 0 makes the measured run a timed one, of that length,
	// instead of -n requests.
	Duration time.Duration
	// Warmup are the -warmup requests and Measured those of the measured
	// run, each sent in turn.
	Warmup, Measured []Request
	// Classify labels the answers; OK is the label of a completed request.
	Classify Classifier
	OK       string
}

// Measurement is what Measure saw.
type Measurement struct {
	Environment Environment
	// WarmupErrors counts warm-up requests that failed or were not sent.
	WarmupErrors int
	// Result is the measured run's.
	Result    Result
	Resources Resources
	// GatewayCPU is the gateway's CPU time during the measured run, 0 when
	// /proc could not be read; LoadGenCPU is this process's.
	GatewayCPU time.Duration
	LoadGenCPU time.Duration
	Exit       Exit
}

// Measure starts the gateway with p.Config, waits until it is ready,
// sends the warm-up and then the measured requests with -c workers,
// sampling the gateway's memory and CPU time (and recording it with perf
// under -perf), stops it and tallies its log. The measured run ends after
// -n requests or p.Duration, at -timeout or at p.Deadline. An error means
// there is nothing to report.
func (b *Bench) Measure(ctx context.Context, p Plan) (m Measurement, err error) {
	f := b.flags
	logPath := filepath.Join(b.dir, LogFile)
	env := map[string]string{"GOGC": f.GOGC, "GOMEMLIMIT": f.GOMEMLIMIT, "GOMAXPROCS": f.GOMAXPROCS}
	maps.Copy(env, p.Env)
	g, err := StartGateway(b.bin, p.Config, logPath, env)
	if err != nil {
		return m, err
	}
	m.Environment = Environment{
		Gateway: b.bin, GOGC: envOr("GOGC", f.GOGC), GOMAXPROCS: envOr("GOMAXPROCS", f.GOMAXPROCS),
		GOMEMLIMIT: envOr("GOMEMLIMIT", f.GOMEMLIMIT), NumCPU: runtime.NumCPU(),
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := g.Stop(); err != nil {
			m.Exit.GatewayExit = err.Error()
		} else {
			m.Exit.GatewayExit = "clean"
		}
	}
	defer stop()
	b.Logf("gateway pid %d on %s", g.PID(), b.site.BaseURL())
	if err := g.WaitReady(ctx, b.site.ReadyURL(), readyTimeout); err != nil {
		stop()
		return m, fmt.Errorf("%w\n%s", err, Tail(logPath, 20))
	}

	client := NewClient(f.Concurrency)
	w := Workload{Concurrency: f.Concurrency, Classify: p.Classify, OK: p.OK}
	runCtx, cancel := context.WithDeadline(ctx, p.Deadline)
	defer cancel()
	if f.Warmup > 0 {
		b.Logf("warmup: %d %s", f.Warmup, b.tool.Noun)
		w.Requests, w.N = p.Warmup, f.Warmup
		wr := Drive(runCtx, client, w)
		m.WarmupErrors = wr.Errors + wr.NotSent
		if wr.Completed() == 0 {
			b.Logf("no warmup %s completed: %v %s", b.tool.Noun, wr.Outcomes, wr.FirstTransportError)
		}
	}

	runCtx, cancelRun := context.WithTimeout(runCtx, f.Timeout)
	defer cancelRun()
	w.Requests, w.N, w.Rate = p.Measured, f.N, f.Rate
	if p.Duration > 0 {
		w.N = 0
		var cancelTimed context.CancelFunc
		runCtx, cancelTimed = context.WithTimeout(runCtx, p.Duration)
		defer cancelTimed()
	}
	sampleCtx, stopSampling := context.WithCancel(runCtx)
	var sampler RSSSampler
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sampler.Run(sampleCtx, rssInterval, func() (int64, error) { return ReadStatusKB(g.PID(), "VmRSS") })
	}()
	var perf *exec.Cmd
	if f.Perf != "" {
		if perf, err = StartPerf(f.Perf, g.PID(), b.stderr); err != nil {
			stopSampling()
			<-sampled
			return m, err
		}
	}
	cpu0, cpuErr := ReadCPU(g.PID())
	self0 := SelfCPU()
	if w.N > 0 {
		b.Logf("measured run: %d %s, %d workers, rate %v/s (0: closed loop)", w.N, b.tool.Noun, w.Concurrency, w.Rate)
	} else {
		b.Logf("measured run: %s, %d workers, rate %v/s (0: closed loop)", p.Duration, w.Concurrency, w.Rate)
	}
	m.Result = Drive(runCtx, client, w)
	cpu1, cpuErr1 := ReadCPU(g.PID())
	m.LoadGenCPU = SelfCPU() - self0
	stopSampling()
	<-sampled
	if perf != nil {
		StopPerf(perf, b.Logf)
	}
	hwm, hwmErr := ReadStatusKB(g.PID(), "VmHWM")
	client.CloseIdleConnections()
	stop()

	maxKB, samples, sampleErr := sampler.Result()
	m.Resources = Resources{PeakRSSMiB: MiB(hwm), MaxSampledRSSMiB: MiB(maxKB), RSSSamples: samples}
	if cpuErr == nil && cpuErr1 == nil {
		m.GatewayCPU = cpu1 - cpu0
		m.Resources.GatewayCPUSeconds = m.GatewayCPU.Seconds()
	}
	if lf, err := os.Open(logPath); err == nil {
		m.Exit.Log, err = TallyLog(lf)
		_ = lf.Close()
		if err != nil {
			b.Logf("%v", err)
		}
	}
	for _, e := range []error{hwmErr, cpuErr, cpuErr1, sampleErr} {
		if e != nil {
			b.Logf("reading /proc: %v", e)
		}
	}
	return m, nil
}

// envOr is override, else the value of the environment variable name,
// else "unset".
func envOr(name, override string) string {
	if override != "" {
		return override
	}
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return "unset"
}
