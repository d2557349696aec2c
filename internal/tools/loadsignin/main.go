package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// assertionLifetime is NotOnOrAfter - IssueInstant of every Response; the
// run stops expiryMargin before the Responses expire.
const (
	assertionLifetime = 10 * time.Minute
	expiryMargin      = 10 * time.Second
	readyTimeout      = 60 * time.Second
	rssInterval       = 100 * time.Millisecond
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadsignin:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	N           int
	Concurrency int
	Warmup      int
	Users       int
	Gatehouse   string
	GOGC        string
	GOMEMLIMIT  string
	Rate        float64
	JSON        bool
	Keep        bool
	Sign        string
	Timeout     time.Duration
	Perf        string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadsignin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.N, "n", 20000, "measured sign-ins")
	fs.IntVar(&o.Concurrency, "c", 16, "concurrent workers (keep-alive connections)")
	fs.IntVar(&o.Warmup, "warmup", 500, "sign-ins sent before the measured run, not counted")
	fs.IntVar(&o.Users, "users", 200, "distinct NameIDs (JIT-provisioned during warmup)")
	fs.StringVar(&o.Gatehouse, "gatehouse", "", "gatehouse binary (default: go build ./cmd/gatehouse into the run folder)")
	fs.StringVar(&o.GOGC, "gogc", "", "GOGC for the gateway (default: inherited)")
	fs.StringVar(&o.GOMEMLIMIT, "gomemlimit", "", "GOMEMLIMIT for the gateway, such as 120MiB (default: inherited)")
	fs.Float64Var(&o.Rate, "rate", 0, "open-loop arrival rate in sign-ins/s for the measured run (0: closed loop, each worker sends when answered)")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON on stdout (the table goes to stderr)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the run folder (config, database, gateway log)")
	fs.StringVar(&o.Sign, "sign", "assertion", "what the IdP signs: assertion, response or both")
	fs.DurationVar(&o.Timeout, "timeout", 8*time.Minute, "upper bound on the measured run")
	fs.StringVar(&o.Perf, "perf", "", "record the gateway with `perf record -g` during the measured run into this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() != 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.N <= 0 || o.Concurrency <= 0 || o.Warmup < 0 || o.Users <= 0 || o.Timeout <= 0:
		return o, errors.New("-n, -c, -users and -timeout must be positive and -warmup not negative")
	case !(o.Rate >= 0) || math.IsInf(o.Rate, 0):
		return o, errors.New("-rate must be 0 or a positive number")
	case o.GOMEMLIMIT != "" && !reMemLimit.MatchString(o.GOMEMLIMIT):
		return o, fmt.Errorf("-gomemlimit %q is not a size such as 120MiB or off", o.GOMEMLIMIT)
	}
	if o.GOGC != "" && o.GOGC != "off" {
		if n, err := strconv.Atoi(o.GOGC); err != nil || n <= 0 {
			return o, fmt.Errorf("-gogc %q is not a positive number or off", o.GOGC)
		}
	}
	if _, err := signMode(o.Sign); err != nil {
		return o, err
	}
	return o, nil
}

// reMemLimit matches the GOMEMLIMIT syntax of package runtime.
var reMemLimit = regexp.MustCompile(`^(off|[0-9]+(B|KiB|MiB|GiB|TiB)?)$`)

func signMode(s string) (samltest.SignMode, error) {
	switch s {
	case "assertion":
		return samltest.SignAssertion, nil
	case "response":
		return samltest.SignResponse, nil
	case "both":
		return samltest.SignBoth, nil
	}
	return 0, fmt.Errorf("-sign %q is not one of assertion, response, both", s)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "loadsignin: "+format+"\n", a...) }

	dir, err := os.MkdirTemp("", "loadsignin-")
	if err != nil {
		return err
	}
	if o.Keep {
		logf("run folder %s (kept)", dir)
	} else {
		defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	}

	bin := o.Gatehouse
	if bin == "" {
		logf("building cmd/gatehouse")
		if bin, err = buildGateway(ctx, dir, stderr); err != nil {
			return err
		}
	}

	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	s := site{Port: port}
	for _, u := range []string{s.ReadyURL(), s.Endpoints()[0].URL, s.Endpoints()[1].URL} {
		if err := checkLoopback(u); err != nil {
			return err
		}
	}
	idp, err := samltest.NewIdP("https://idp.loadsignin.test/metadata")
	if err != nil {
		return err
	}
	cfgPath, err := writeRunFiles(dir, s, idp.Metadata("https://idp.loadsignin.test/sso"))
	if err != nil {
		return err
	}

	// Pre-sign every Response before the gateway starts.
	mode, _ := signMode(o.Sign) // checked by parseFlags
	now := time.Now().UTC().Truncate(time.Second)
	plan := responsePlan{
		IdP: idp, Audience: s.EntityID(), Endpoints: s.Endpoints(), Users: o.Users,
		Count: o.Warmup + o.N, Now: now, Lifetime: assertionLifetime, Sign: mode,
		Workers: runtime.NumCPU(),
	}
	logf("pre-signing %d responses on %d cores", plan.Count, plan.Workers)
	t0 := time.Now()
	reqs, err := presign(ctx, plan, func(done int) {
		if done%5000 == 0 {
			logf("  %d signed", done)
		}
	})
	if err != nil {
		return err
	}
	presignTime := time.Since(t0)
	deadline := now.Add(assertionLifetime - expiryMargin)

	logPath := filepath.Join(dir, logFileName)
	g, err := startGateway(bin, cfgPath, logPath, map[string]string{"GOGC": o.GOGC, "GOMEMLIMIT": o.GOMEMLIMIT})
	if err != nil {
		return err
	}
	r := report{
		Gateway: bin, GOGC: envOr("GOGC", o.GOGC), GOMAXPROCS: envOr("GOMAXPROCS", ""), GOMEMLIMIT: envOr("GOMEMLIMIT", o.GOMEMLIMIT), NumCPU: runtime.NumCPU(),
		Users: o.Users, Concurrency: o.Concurrency, SignMode: o.Sign, Warmup: o.Warmup, Requested: o.N, Rate: o.Rate,
		PresignSeconds: presignTime.Seconds(),
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := g.Stop(); err != nil {
			r.GatewayExit = err.Error()
		} else {
			r.GatewayExit = "clean"
		}
	}
	defer stop()
	logf("gateway pid %d on %s", g.PID(), s.BaseURL())
	if err := waitReady(ctx, g, s.ReadyURL(), readyTimeout); err != nil {
		stop()
		return fmt.Errorf("%w\n%s", err, tail(logPath, 20))
	}

	client := newClient(o.Concurrency)
	runCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if o.Warmup > 0 {
		logf("warmup: %d sign-ins", o.Warmup)
		wr := drive(runCtx, client, reqs[:o.Warmup], o.Concurrency, 0)
		r.WarmupErrors = wr.Errors + wr.NotSent
	}

	runCtx, cancelRun := context.WithTimeout(runCtx, o.Timeout)
	defer cancelRun()
	sampleCtx, stopSampling := context.WithCancel(runCtx)
	var sampler rssSampler
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sampler.run(sampleCtx, rssInterval, func() (int64, error) { return readStatusKB(g.PID(), "VmRSS") })
	}()
	var perf *exec.Cmd
	if o.Perf != "" {
		if perf, err = startPerf(o.Perf, g.PID(), stderr); err != nil {
			stopSampling()
			<-sampled
			return err
		}
	}
	cpu0, cpuErr := readCPU(g.PID())
	self0 := selfCPU()
	logf("measured run: %d sign-ins, %d workers, rate %v/s (0: closed loop)", o.N, o.Concurrency, o.Rate)
	res := drive(runCtx, client, reqs[o.Warmup:], o.Concurrency, o.Rate)
	cpu1, cpuErr1 := readCPU(g.PID())
	self1 := selfCPU()
	stopSampling()
	<-sampled
	if perf != nil {
		stopPerf(perf, stderr)
	}
	hwm, hwmErr := readStatusKB(g.PID(), "VmHWM")
	client.CloseIdleConnections()
	stop()

	r.Completed, r.Errors, r.NotSent = res.Completed(), res.Errors, res.NotSent
	r.DurationSeconds = res.Duration.Seconds()
	if res.Duration > 0 {
		r.SignInsPerSecond = float64(res.Completed()) / res.Duration.Seconds()
	}
	r.Latency = summarize(res.Latencies)
	r.Outcomes = res.Outcomes
	r.TransportError = res.FirstTransportError
	r.PeakRSSMiB = mib(hwm)
	maxKB, n, sampleErr := sampler.result()
	r.MaxSampledRSSMiB, r.RSSSamples = mib(maxKB), n
	if cpuErr == nil && cpuErr1 == nil {
		r.GatewayCPUSeconds = (cpu1 - cpu0).Seconds()
		if r.GatewayCPUSeconds > 0 {
			r.SignInsPerCPUSec = float64(res.Completed()) / r.GatewayCPUSeconds
		}
	}
	r.LoadGenCPUSeconds = (self1 - self0).Seconds()
	if f, err := os.Open(logPath); err == nil {
		r.Log, err = tallyLog(f)
		_ = f.Close()
		if err != nil {
			logf("%v", err)
		}
	}
	for _, e := range []error{hwmErr, cpuErr, cpuErr1, sampleErr} {
		if e != nil {
			logf("reading /proc: %v", e)
		}
	}

	if o.JSON {
		if err := writeTable(stderr, r); err != nil {
			return err
		}
		return writeJSON(stdout, r)
	}
	return writeTable(stdout, r)
}

func envOr(name, override string) string {
	if override != "" {
		return override
	}
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return "unset"
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startPerf attaches `perf record -g` to pid.
func startPerf(out string, pid int, stderr io.Writer) (*exec.Cmd, error) {
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", out)
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start perf: %w", err)
	}
	time.Sleep(500 * time.Millisecond) // let perf attach before the load starts
	return cmd, nil
}

// stopPerf stops perf with SIGINT so it writes its file.
func stopPerf(cmd *exec.Cmd, stderr io.Writer) {
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		fmt.Fprintln(stderr, "loadsignin: perf:", err)
	}
}

// tail returns the last n lines of the file at path, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := "gateway output (last lines):"
	for _, l := range lines {
		out += "\n  " + truncate(l, 400)
	}
	return out
}
