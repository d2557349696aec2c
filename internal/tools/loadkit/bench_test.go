package loadkit

import (
	"bytes"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// prepareFake prepares a bench that runs the fake gateway (the test
// binary, see fakeGateway) with the flags f.
func prepareFake(t *testing.T, f Flags) (*Bench, *bytes.Buffer, []Request, string) {
	t.Helper()
	bin, err := os.Executable()
	require.NoError(t, err)
	f.Gatehouse = bin
	var stderr bytes.Buffer
	b, err := Prepare(t.Context(), Tool{Name: "loadtest", Noun: "pings"}, f, &stderr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	out, err := RenderConfig(BaseConfig(b.Site()))
	require.NoError(t, err)
	cfg, err := WriteRunFiles(b.Dir(), out)
	require.NoError(t, err)
	return b, &stderr, []Request{{URL: b.Site().BaseURL() + "/ok", Body: []byte("x=1")}}, cfg
}

func TestMeasureCountedRun(t *testing.T) {
	b, stderr, reqs, cfg := prepareFake(t, Flags{N: 20, Concurrency: 2, Warmup: 4, Users: 1, Timeout: time.Minute, GOGC: "321"})
	info, err := os.Stat(b.Dir())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), info.Mode().Perm(), "the run folder is private")

	m, err := b.Measure(t.Context(), Plan{
		Config: cfg, Env: map[string]string{fakeGatewayEnv: "serve"}, Deadline: time.Now().Add(time.Minute),
		Warmup: reqs, Measured: reqs, Classify: byStatus, OK: "200 OK",
	})
	require.NoError(t, err)
	assert.Equal(t, 20, m.Result.Completed())
	assert.Equal(t, 20, m.Result.Sent)
	assert.Zero(t, m.WarmupErrors)
	assert.Equal(t, Environment{Gateway: m.Environment.Gateway, GOGC: "321", GOMAXPROCS: envOr("GOMAXPROCS", ""),
		GOMEMLIMIT: envOr("GOMEMLIMIT", ""), NumCPU: runtime.NumCPU()}, m.Environment)
	assert.Equal(t, "clean", m.Exit.GatewayExit)
	assert.Equal(t, map[string]int{"WARN fake gateway started reason=GOGC=321": 1}, m.Exit.Log.Records,
		"the log is tallied, and -gogc reached the gateway")
	assert.Equal(t, 24, m.Exit.Log.Requests, "warm-up and measured requests")
	assert.Positive(t, m.Resources.PeakRSSMiB)
	assert.Positive(t, m.Resources.RSSSamples)
	assert.GreaterOrEqual(t, m.Resources.PeakRSSMiB, m.Resources.MaxSampledRSSMiB)
	assert.InDelta(t, m.GatewayCPU.Seconds(), m.Resources.GatewayCPUSeconds, 0)
	for _, want := range []string{"loadtest: gateway pid ", "loadtest: warmup: 4 pings\n",
		"loadtest: measured run: 20 pings, 2 workers, rate 0/s (0: closed loop)\n"} {
		assert.Contains(t, stderr.String(), want)
	}
	assert.NotContains(t, stderr.String(), "reading /proc")

	require.NoError(t, b.Close())
	_, err = os.Stat(b.Dir())
	assert.ErrorIs(t, err, os.ErrNotExist, "the run folder is removed")
}

func TestMeasureTimedRun(t *testing.T) {
	b, stderr, reqs, cfg := prepareFake(t, Flags{N: 5, Concurrency: 1, Users: 1, Timeout: time.Minute})
	m, err := b.Measure(t.Context(), Plan{
		Config: cfg, Env: map[string]string{fakeGatewayEnv: "serve"}, Deadline: time.Now().Add(time.Minute),
		Duration: 200 * time.Millisecond, Measured: reqs, Classify: byStatus, OK: "200 OK",
	})
	require.NoError(t, err)
	assert.Zero(t, m.Result.NotSent, "a timed run has no requested count")
	assert.Zero(t, m.Result.Errors)
	assert.Equal(t, m.Result.Sent, m.Result.Completed())
	assert.NotContains(t, stderr.String(), "warmup", "no warm-up with -warmup 0")
	assert.Contains(t, stderr.String(), "loadtest: measured run: 200ms, 1 workers, rate 0/s (0: closed loop)\n")
}

func TestMeasureReportsAFailedWarmup(t *testing.T) {
	b, stderr, reqs, cfg := prepareFake(t, Flags{N: 1, Concurrency: 1, Warmup: 2, Users: 1, Timeout: time.Minute})
	reqs[0].URL = b.Site().BaseURL() + "/missing"
	m, err := b.Measure(t.Context(), Plan{
		Config: cfg, Env: map[string]string{fakeGatewayEnv: "serve"}, Deadline: time.Now().Add(time.Minute),
		Warmup: reqs, Measured: reqs, Classify: byStatus, OK: "200 OK",
	})
	require.NoError(t, err)
	assert.Equal(t, 2, m.WarmupErrors)
	assert.Contains(t, stderr.String(), "loadtest: no warmup pings completed: map[404 Not Found:2] \n")
	assert.Equal(t, map[string]int{"404 Not Found": 1}, m.Result.Outcomes)
}

func TestMeasureGatewayThatNeverGetsReady(t *testing.T) {
	b, _, reqs, cfg := prepareFake(t, Flags{N: 1, Concurrency: 1, Users: 1, Timeout: time.Minute})
	_, err := b.Measure(t.Context(), Plan{
		Config: cfg, Env: map[string]string{fakeGatewayEnv: "exit"}, Deadline: time.Now().Add(time.Minute),
		Measured: reqs, Classify: byStatus, OK: "200 OK",
	})
	assert.EqualError(t, err, "gateway exited before it was ready: exit status 3\ngateway output (last lines):\n  not today")
}

func TestPrepareKeep(t *testing.T) {
	var stderr bytes.Buffer
	b, err := Prepare(t.Context(), Tool{Name: "loadtest", Noun: "pings"}, Flags{Keep: true, Gatehouse: "gh"}, &stderr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(b.Dir()) })
	assert.Equal(t, "loadtest: run folder "+b.Dir()+" (kept)\n", stderr.String())
	require.NoError(t, b.Close())
	_, err = os.Stat(b.Dir())
	require.NoError(t, err, "-keep keeps the run folder")
	assert.Positive(t, b.Site().Port)
	assert.NoError(t, CheckLoopback(b.Site().ReadyURL()))
}

func TestSignProgress(t *testing.T) {
	var stderr bytes.Buffer
	b := &Bench{tool: Tool{Name: "loadtest"}, stderr: &stderr}
	for _, done := range []int{1000, 4000, 5000, 6000, 10000} {
		b.SignProgress(done)
	}
	assert.Equal(t, "loadtest:   5000 signed\nloadtest:   10000 signed\n", stderr.String())
}
