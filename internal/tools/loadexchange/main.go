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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/saml/samltest"
)

// tokenLifetime is exp - iat of every subject token; the run stops
// expiryMargin before they expire.
const (
	tokenLifetime = 30 * time.Minute
	expiryMargin  = 30 * time.Second
	readyTimeout  = 60 * time.Second
	rssInterval   = 100 * time.Millisecond
)

// signingAlgs are the oauth.signing_alg values -alg accepts.
var signingAlgs = []string{"ES256", "RS256", "EdDSA"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadexchange:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	N           int
	Duration    time.Duration
	Concurrency int
	Warmup      int
	Users       int
	Tokens      int
	Alg         string
	Gatehouse   string
	GOGC        string
	GOMEMLIMIT  string
	GOMAXPROCS  string
	Rate        float64
	JSON        bool
	Keep        bool
	Timeout     time.Duration
	Perf        string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadexchange", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.N, "n", 20000, "measured exchanges (a counted run)")
	fs.DurationVar(&o.Duration, "duration", 0, "run for this long instead of -n exchanges (a timed run; subject tokens are reused in turn)")
	fs.IntVar(&o.Concurrency, "c", 16, "concurrent workers (keep-alive connections)")
	fs.IntVar(&o.Warmup, "warmup", 1000, "exchanges sent before the measured run, not counted")
	fs.IntVar(&o.Users, "users", 1000, "users in the store; subject token i names user i mod -users by email")
	fs.IntVar(&o.Tokens, "tokens", 0, "distinct pre-signed subject tokens, used in turn (default: -warmup + -n, one per exchange)")
	fs.StringVar(&o.Alg, "alg", "ES256", "oauth.signing_alg of the issued access tokens: "+strings.Join(signingAlgs, ", "))
	fs.StringVar(&o.Gatehouse, "gatehouse", "", "gatehouse binary (default: go build ./cmd/gatehouse into the run folder)")
	fs.StringVar(&o.GOGC, "gogc", "", "GOGC for the gateway (default: inherited)")
	fs.StringVar(&o.GOMEMLIMIT, "gomemlimit", "", "GOMEMLIMIT for the gateway, such as 120MiB (default: inherited)")
	fs.StringVar(&o.GOMAXPROCS, "gomaxprocs", "", "GOMAXPROCS for the gateway (default: inherited)")
	fs.Float64Var(&o.Rate, "rate", 0, "open-loop arrival rate in exchanges/s for the measured run (0: closed loop, each worker sends when answered)")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON on stdout (the table goes to stderr)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the run folder (config, database, gateway log)")
	fs.DurationVar(&o.Timeout, "timeout", 8*time.Minute, "upper bound on the measured run")
	fs.StringVar(&o.Perf, "perf", "", "record the gateway with `perf record -g` during the measured run into this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() != 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.N <= 0 || o.Concurrency <= 0 || o.Warmup < 0 || o.Users <= 0 || o.Tokens < 0 || o.Timeout <= 0 || o.Duration < 0:
		return o, errors.New("-n, -c, -users and -timeout must be positive and -warmup, -tokens and -duration not negative")
	case o.Duration > o.Timeout:
		return o, fmt.Errorf("-duration %s is longer than -timeout %s", o.Duration, o.Timeout)
	case o.Timeout > tokenLifetime-expiryMargin:
		return o, fmt.Errorf("-timeout must be at most %s, before the subject tokens expire", tokenLifetime-expiryMargin)
	case !(o.Rate >= 0) || math.IsInf(o.Rate, 0):
		return o, errors.New("-rate must be 0 or a positive number")
	case !slices.Contains(signingAlgs, o.Alg):
		return o, fmt.Errorf("-alg %q is not one of %s", o.Alg, strings.Join(signingAlgs, ", "))
	case o.GOMEMLIMIT != "" && !reMemLimit.MatchString(o.GOMEMLIMIT):
		return o, fmt.Errorf("-gomemlimit %q is not a size such as 120MiB or off", o.GOMEMLIMIT)
	}
	if o.GOGC != "" && o.GOGC != "off" {
		if n, err := strconv.Atoi(o.GOGC); err != nil || n <= 0 {
			return o, fmt.Errorf("-gogc %q is not a positive number or off", o.GOGC)
		}
	}
	if o.GOMAXPROCS != "" {
		if n, err := strconv.Atoi(o.GOMAXPROCS); err != nil || n <= 0 {
			return o, fmt.Errorf("-gomaxprocs %q is not a positive number", o.GOMAXPROCS)
		}
	}
	if o.Tokens == 0 {
		o.Tokens = o.Warmup + o.N
	}
	return o, nil
}

// reMemLimit matches the GOMEMLIMIT syntax of package runtime.
var reMemLimit = regexp.MustCompile(`^(off|[0-9]+(B|KiB|MiB|GiB|TiB)?)$`)

// splitBodies returns the bodies of the warmup (the first warmup, used in
// turn) and of the measured run (those after the warmup's, or all of them
// when there are no others).
func splitBodies(bodies [][]byte, warmup int) (warm, measured [][]byte) {
	if warmup > 0 {
		warm = bodies[:min(warmup, len(bodies))]
	}
	if warmup < len(bodies) {
		return warm, bodies[warmup:]
	}
	return warm, bodies
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "loadexchange: "+format+"\n", a...) }

	dir, err := os.MkdirTemp("", "loadexchange-")
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
	for _, u := range []string{s.ReadyURL(), s.TokenURL()} {
		if err := checkLoopback(u); err != nil {
			return err
		}
	}
	idp, err := samltest.NewIdP(idpEntityID)
	if err != nil {
		return err
	}
	issuerKey, issuerPub, err := newIssuerKey()
	if err != nil {
		return err
	}
	jwks, err := jwksJSON(issuerPub)
	if err != nil {
		return err
	}
	cfgPath, err := writeRunFiles(dir, s, o.Alg, idp.Metadata(idpSSOURL), jwks)
	if err != nil {
		return err
	}
	secret, err := newSecret()
	if err != nil {
		return err
	}

	// Users and subject tokens before the gateway starts.
	t0 := time.Now()
	logf("creating %d users", o.Users)
	if err := createUsers(ctx, filepath.Join(dir, databaseFileName), o.Users); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	plan := tokenPlan{Key: issuerKey, Users: o.Users, Count: o.Tokens, Now: now, Lifetime: tokenLifetime, Workers: runtime.NumCPU()}
	logf("pre-signing %d subject tokens on %d cores", plan.Count, plan.Workers)
	bodies, err := presign(ctx, plan, func(done int) {
		if done%5000 == 0 {
			logf("  %d signed", done)
		}
	})
	if err != nil {
		return err
	}
	setupTime := time.Since(t0)
	deadline := now.Add(tokenLifetime - expiryMargin)

	logPath := filepath.Join(dir, logFileName)
	g, err := startGateway(bin, cfgPath, logPath, map[string]string{
		"GOGC": o.GOGC, "GOMEMLIMIT": o.GOMEMLIMIT, "GOMAXPROCS": o.GOMAXPROCS, secretEnv: secret,
	})
	if err != nil {
		return err
	}
	r := report{
		Gateway: bin, GOGC: envOr("GOGC", o.GOGC), GOMAXPROCS: envOr("GOMAXPROCS", o.GOMAXPROCS), GOMEMLIMIT: envOr("GOMEMLIMIT", o.GOMEMLIMIT),
		NumCPU: runtime.NumCPU(), SigningAlg: o.Alg, Users: o.Users, Tokens: o.Tokens, Concurrency: o.Concurrency,
		Rate: o.Rate, Timed: o.Duration.Seconds(), Warmup: o.Warmup, SetupSeconds: setupTime.Seconds(),
	}
	if o.Duration == 0 {
		r.Requested = o.N
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
	warm, measured := splitBodies(bodies, o.Warmup)
	tgt := target{URL: s.TokenURL(), Authorization: basicAuth(clientID, secret)}
	runCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if o.Warmup > 0 {
		logf("warmup: %d exchanges", o.Warmup)
		tgt.Bodies = warm
		wr := drive(runCtx, client, tgt, o.Warmup, o.Concurrency, 0)
		r.WarmupErrors = wr.Errors + wr.NotSent
		if wr.Completed() == 0 {
			logf("no warmup exchange completed: %v %s", wr.Outcomes, wr.FirstTransportError)
		}
	}

	runCtx, cancelRun := context.WithTimeout(runCtx, o.Timeout)
	defer cancelRun()
	n := o.N
	if o.Duration > 0 {
		n = 0
		var cancelTimed context.CancelFunc
		runCtx, cancelTimed = context.WithTimeout(runCtx, o.Duration)
		defer cancelTimed()
	}
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
	if n > 0 {
		logf("measured run: %d exchanges, %d workers, rate %v/s (0: closed loop)", n, o.Concurrency, o.Rate)
	} else {
		logf("measured run: %s, %d workers, rate %v/s (0: closed loop)", o.Duration, o.Concurrency, o.Rate)
	}
	tgt.Bodies = measured
	res := drive(runCtx, client, tgt, n, o.Concurrency, o.Rate)
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

	r.Sent, r.Completed, r.Errors, r.NotSent = res.Sent, res.Completed(), res.Errors, res.NotSent
	r.DurationSeconds = res.Duration.Seconds()
	if res.Duration > 0 {
		r.ExchangesPerSecond = float64(res.Completed()) / res.Duration.Seconds()
	}
	r.Latency = summarize(res.Latencies)
	r.Outcomes = res.Outcomes
	r.TransportError = res.FirstTransportError
	r.PeakRSSMiB = mib(hwm)
	maxKB, samples, sampleErr := sampler.result()
	r.MaxSampledRSSMiB, r.RSSSamples = mib(maxKB), samples
	if cpuErr == nil && cpuErr1 == nil {
		r.setCPU(cpu1 - cpu0)
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
	if err := cmd.Wait(); err != nil && !interrupted(err) {
		fmt.Fprintln(stderr, "loadexchange: perf:", err)
	}
}

// interrupted reports whether err is the exit of a process ended by the
// SIGINT that stopPerf sends.
func interrupted(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGINT
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
