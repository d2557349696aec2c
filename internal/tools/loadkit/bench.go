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
	"strings"
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
	// backends are the instances' ports when nginx fronts them (-instances
	// > 1); db is the run's PostgreSQL database (-store postgres).
	backends []int
	db       *Database
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
	if n := f.instances(); n > 1 {
		if err := checkNginx(); err != nil {
			return nil, errors.Join(err, b.Close())
		}
		for range n {
			p, err := FreeLoopbackPort()
			if err != nil {
				return nil, errors.Join(err, b.Close())
			}
			b.backends = append(b.backends, p)
		}
	}
	if f.Store == StorePostgres {
		if b.db, err = CreateDatabase(ctx, f.DSN); err != nil {
			return nil, errors.Join(err, b.Close())
		}
		b.Logf("PostgreSQL database %s (dropped at the end)", b.db.Name())
	}
	return b, nil
}

// Store is the gateway's store section: the run folder's SQLite file, or
// the run's PostgreSQL database.
func (b *Bench) Store() StoreSection {
	if b.db != nil {
		return StoreSection{Driver: StorePostgres, DSN: b.db.DSN}
	}
	return StoreSection{Driver: StoreSQLite, DSN: DatabaseFile}
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

// Close drops the run's PostgreSQL database, if any, and removes the run
// folder unless -keep was given.
func (b *Bench) Close() error {
	var err error
	if b.db != nil {
		err = b.db.Drop()
		b.db = nil
	}
	if b.flags.Keep {
		return err
	}
	return errors.Join(err, os.RemoveAll(b.dir))
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

// Measure starts the gateway with p.Config (with -instances > 1, that
// many gateways behind nginx, see InstanceConfig and NginxConf), waits
// until it is ready, sends the warm-up and then the measured requests
// with -c workers, sampling the gateways' memory and CPU time (and
// recording it with perf under -perf), stops it and tallies its log. The
// measured run ends after -n requests or p.Duration, at -timeout or at
// p.Deadline. An error means there is nothing to report.
func (b *Bench) Measure(ctx context.Context, p Plan) (m Measurement, err error) {
	f := b.flags
	env := map[string]string{"GOGC": f.GOGC, "GOMEMLIMIT": f.GOMEMLIMIT, "GOMAXPROCS": f.GOMAXPROCS}
	maps.Copy(env, p.Env)
	insts, err := b.instances(p.Config)
	if err != nil {
		return m, err
	}
	m.Environment = Environment{
		Gateway: b.bin, GOGC: envOr("GOGC", f.GOGC), GOMAXPROCS: envOr("GOMAXPROCS", f.GOMAXPROCS),
		GOMEMLIMIT: envOr("GOMEMLIMIT", f.GOMEMLIMIT), NumCPU: runtime.NumCPU(),
	}
	var (
		gws     []*Gateway
		nginx   *Nginx
		stopped bool
	)
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		var exits []string
		if nginx != nil {
			if err := nginx.Stop(); err != nil {
				exits = append(exits, "nginx: "+err.Error())
			}
		}
		for i, g := range gws {
			if err := g.Stop(); err != nil {
				if len(gws) == 1 {
					exits = append(exits, err.Error())
				} else {
					exits = append(exits, fmt.Sprintf("instance %d: %v", i, err))
				}
			}
		}
		m.Exit.GatewayExit = "clean"
		if len(exits) > 0 {
			m.Exit.GatewayExit = strings.Join(exits, "; ")
		}
	}
	defer stop()
	// The first instance creates the keys and migrates the store before
	// the others start.
	for i, in := range insts {
		g, err := StartGateway(b.bin, in.config, in.log, env)
		if err != nil {
			return m, err
		}
		gws = append(gws, g)
		b.Logf("gateway pid %d on %s", g.PID(), in.site.BaseURL())
		if i == 0 || i == len(insts)-1 {
			for j, g := range gws {
				if err := g.WaitReady(ctx, insts[j].site.ReadyURL(), readyTimeout); err != nil {
					stop()
					return m, fmt.Errorf("%w\n%s", err, Tail(insts[j].log, 20))
				}
			}
		}
	}
	if len(b.backends) > 0 {
		nlog := filepath.Join(b.dir, "nginx.log")
		if nginx, err = StartNginx(b.dir, b.site.Port, b.backends, nlog); err != nil {
			return m, err
		}
		b.Logf("nginx pid %d on %s in front of %d instances", nginx.PID(), b.site.BaseURL(), len(gws))
		if err := nginx.WaitReady(ctx, b.site.ReadyURL(), readyTimeout); err != nil {
			stop()
			return m, fmt.Errorf("nginx: %w\n%s", err, Tail(filepath.Join(b.dir, "nginx", "nginx-error.log"), 20))
		}
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
		sampler.Run(sampleCtx, rssInterval, func() (int64, error) { return maxStatusKB(gws, "VmRSS") })
	}()
	var perf *exec.Cmd
	if f.Perf != "" {
		if perf, err = StartPerf(f.Perf, gws[0].PID(), b.stderr); err != nil {
			stopSampling()
			<-sampled
			return m, err
		}
	}
	var sess0, commits0 int64
	var statsErr error
	if b.db != nil {
		sess0, commits0, statsErr = b.db.Stats(ctx)
	}
	cpu0, cpuErr := gatewaysCPU(gws)
	other0 := readOtherCPU(nginx, f.Store == StorePostgres)
	self0 := SelfCPU()
	if w.N > 0 {
		b.Logf("measured run: %d %s, %d workers, rate %v/s (0: closed loop)", w.N, b.tool.Noun, w.Concurrency, w.Rate)
	} else {
		b.Logf("measured run: %s, %d workers, rate %v/s (0: closed loop)", p.Duration, w.Concurrency, w.Rate)
	}
	m.Result = Drive(runCtx, client, w)
	cpu1, cpuErr1 := gatewaysCPU(gws)
	other1 := readOtherCPU(nginx, f.Store == StorePostgres)
	m.LoadGenCPU = SelfCPU() - self0
	stopSampling()
	<-sampled
	if perf != nil {
		StopPerf(perf, b.Logf)
	}
	hwm, hwmErr := maxStatusKB(gws, "VmHWM")
	client.CloseIdleConnections()
	stop()
	var sess1, commits1 int64
	if b.db != nil && statsErr == nil {
		sess1, commits1, statsErr = b.db.Stats(ctx)
	}

	maxKB, samples, sampleErr := sampler.Result()
	m.Resources = Resources{PeakRSSMiB: MiB(hwm), MaxSampledRSSMiB: MiB(maxKB), RSSSamples: samples}
	m.Resources.Store, m.Resources.Instances = b.Store().Driver, len(gws)
	if cpuErr == nil && cpuErr1 == nil {
		m.GatewayCPU = cpu1 - cpu0
		m.Resources.GatewayCPUSeconds = m.GatewayCPU.Seconds()
	}
	m.Resources.setOtherCPU(other0, other1)
	if b.db != nil && statsErr == nil {
		ds, dc := sess1-sess0, commits1-commits0
		m.Resources.PostgresSessions, m.Resources.PostgresCommits = &ds, &dc
	}
	m.Resources.LoadGenCPUSeconds = m.LoadGenCPU.Seconds()
	m.Exit.Log = LogTally{Records: map[string]int{}}
	for _, in := range insts {
		if lf, err := os.Open(in.log); err == nil {
			t, err := TallyLog(lf)
			_ = lf.Close()
			if err != nil {
				b.Logf("%v", err)
			}
			m.Exit.Log = m.Exit.Log.Merge(t)
		}
	}
	if statsErr != nil {
		b.Logf("%v", statsErr)
	}
	for _, e := range []error{hwmErr, cpuErr, cpuErr1, sampleErr} {
		if e != nil {
			b.Logf("reading /proc: %v", e)
		}
	}
	return m, nil
}

// instance is one gateway's config, log and address.
type instance struct {
	config, log string
	site        Site
}

// instances returns the gateways to start for the config at path: with
// SQLite and one instance, that config as it is; else a config per
// instance, next to it, with the run's store and (behind nginx) the
// instance's port and trusted_proxies.
func (b *Bench) instances(path string) ([]instance, error) {
	if b.db == nil && len(b.backends) == 0 {
		return []instance{{config: path, log: filepath.Join(b.dir, LogFile), site: b.site}}, nil
	}
	base, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("instance config: %w", err)
	}
	sites, trusted := []Site{b.site}, []string(nil)
	if len(b.backends) > 0 {
		sites, trusted = nil, []string{TrustedProxy}
		for _, p := range b.backends {
			sites = append(sites, Site{Port: p})
		}
	}
	var out []instance
	for i, s := range sites {
		cfg, err := InstanceConfig(base, s.HostPort(), b.Store(), trusted)
		if err != nil {
			return nil, err
		}
		name := filepath.Join(b.dir, fmt.Sprintf("gatehouse-%d", i))
		if err := os.WriteFile(name+".yaml", cfg, 0o600); err != nil {
			return nil, fmt.Errorf("write instance config: %w", err)
		}
		out = append(out, instance{config: name + ".yaml", log: name + ".log", site: s})
	}
	return out, nil
}

// maxStatusKB is the largest value of a /proc/PID/status field among gws.
func maxStatusKB(gws []*Gateway, field string) (int64, error) {
	var m int64
	for _, g := range gws {
		kb, err := ReadStatusKB(g.PID(), field)
		if err != nil {
			return 0, err
		}
		m = max(m, kb)
	}
	return m, nil
}

// gatewaysCPU is the CPU time of all of gws.
func gatewaysCPU(gws []*Gateway) (time.Duration, error) {
	var sum time.Duration
	for _, g := range gws {
		c, err := ReadCPU(g.PID())
		if err != nil {
			return 0, err
		}
		sum += c
	}
	return sum, nil
}

// otherCPU are CPU times of the processes beside the gateways; a
// negative value was not read.
type otherCPU struct {
	nginx, postgres, machine time.Duration
}

func readOtherCPU(n *Nginx, postgres bool) otherCPU {
	o := otherCPU{nginx: -1, postgres: -1, machine: -1}
	if n != nil {
		if c, err := n.CPU(); err == nil {
			o.nginx = c
		}
	}
	if postgres {
		o.postgres = ProcsCPU("postgres")
	}
	if c, err := ReadMachineBusy(); err == nil {
		o.machine = c
	}
	return o
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
