package loadkit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// fakeGatewayEnv makes the test binary a fake `gatehouse serve` (see
// fakeGateway); its value is the fake's mode.
const fakeGatewayEnv = "LOADKIT_FAKE_GATEWAY"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeGatewayEnv); mode != "" {
		os.Exit(fakeGateway(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeGateway stands in for `gatehouse serve --config path`. In mode
// "serve" it listens where the config says, answers GET /readyz and
// POST /ok with 200, logs like the gateway (JSON lines on stdout: a WARN
// record naming its GOGC, and a record with the status of each POST) and
// exits 0 on SIGTERM; "fail-stop" does the same but exits 4; "deaf" never
// listens; "exit" exits 3 at once.
func fakeGateway(mode string, args []string) int {
	if len(args) != 3 || args[0] != "serve" || args[1] != "--config" {
		fmt.Println("usage: serve --config path")
		return 2
	}
	if mode == "exit" {
		fmt.Println("not today")
		return 3
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if mode == "deaf" {
		<-ctx.Done()
		return 0
	}
	b, err := os.ReadFile(args[2])
	var c Config
	if err == nil {
		err = yaml.Unmarshal(b, &c)
	}
	if err != nil {
		fmt.Println(err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	log.Warn("fake gateway started", "reason", "GOGC="+os.Getenv("GOGC"))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("POST /ok", func(w http.ResponseWriter, _ *http.Request) {
		log.Info("http request", "status", http.StatusOK)
		_, _ = w.Write([]byte("ok"))
	})
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		fmt.Println(err)
		return 2
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	<-ctx.Done()
	_ = srv.Shutdown(context.Background())
	if mode == "fail-stop" {
		return 4
	}
	return 0
}

// fakeRunFiles writes the config of a gateway at a free port into a
// fresh folder and returns the test binary, the config path and the site.
func fakeRunFiles(t *testing.T) (bin, cfg string, s Site) {
	t.Helper()
	bin, err := os.Executable()
	require.NoError(t, err)
	port, err := FreeLoopbackPort()
	require.NoError(t, err)
	s = Site{Port: port}
	out, err := RenderConfig(BaseConfig(s))
	require.NoError(t, err)
	cfg, err = WriteRunFiles(t.TempDir(), out)
	require.NoError(t, err)
	return bin, cfg, s
}

func TestGatewayStartReadyStop(t *testing.T) {
	bin, cfg, s := fakeRunFiles(t)
	logPath := filepath.Join(t.TempDir(), LogFile)
	g, err := StartGateway(bin, cfg, logPath, map[string]string{fakeGatewayEnv: "serve", "GOGC": "77"})
	require.NoError(t, err)
	require.NoError(t, g.WaitReady(t.Context(), s.ReadyURL(), time.Minute))
	done, _ := g.Exited()
	assert.False(t, done)
	assert.Positive(t, g.PID())
	require.NoError(t, g.Stop(), "SIGTERM, then a clean exit")
	done, err = g.Exited()
	assert.True(t, done)
	require.ErrorIs(t, err, context.Canceled, "os/exec reports a clean exit after Cancel as the context's error")

	log, err := os.ReadFile(logPath)
	require.NoError(t, err)
	assert.Contains(t, string(log), `"reason":"GOGC=77"`, "the environment reaches the gateway")
	info, err := os.Stat(logPath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

func TestGatewayStopReportsTheExitStatus(t *testing.T) {
	bin, cfg, s := fakeRunFiles(t)
	g, err := StartGateway(bin, cfg, filepath.Join(t.TempDir(), LogFile), map[string]string{fakeGatewayEnv: "fail-stop"})
	require.NoError(t, err)
	require.NoError(t, g.WaitReady(t.Context(), s.ReadyURL(), time.Minute))
	assert.EqualError(t, g.Stop(), "gateway exited with status 4")
}

func TestWaitReadyGivesUp(t *testing.T) {
	bin, cfg, s := fakeRunFiles(t)
	g, err := StartGateway(bin, cfg, filepath.Join(t.TempDir(), LogFile), map[string]string{fakeGatewayEnv: "deaf"})
	require.NoError(t, err)
	err = g.WaitReady(t.Context(), s.ReadyURL(), 300*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "gateway not ready after 300ms (last: ")
	require.NoError(t, g.Stop())
}

func TestWaitReadyNoticesAnExit(t *testing.T) {
	bin, cfg, s := fakeRunFiles(t)
	g, err := StartGateway(bin, cfg, filepath.Join(t.TempDir(), LogFile), map[string]string{fakeGatewayEnv: "exit"})
	require.NoError(t, err)
	err = g.WaitReady(t.Context(), s.ReadyURL(), time.Minute)
	assert.EqualError(t, err, "gateway exited before it was ready: exit status 3")
	assert.EqualError(t, g.Stop(), "gateway exited with status 3")
}

func TestStartGatewayFails(t *testing.T) {
	_, err := StartGateway(filepath.Join(t.TempDir(), "none"), "cfg", filepath.Join(t.TempDir(), LogFile), nil)
	assert.ErrorContains(t, err, "start gateway: ")
	_, err = StartGateway("true", "cfg", filepath.Join(t.TempDir(), "missing", LogFile), nil)
	assert.ErrorContains(t, err, "gateway log: ")
}

func TestChildEnv(t *testing.T) {
	env := []string{"PATH=/bin", "GOGC=50", "GOMAXPROCS=2", "GOGCX=1"}
	assert.Equal(t, env, ChildEnv(env, map[string]string{"GOGC": "", "GOMEMLIMIT": ""}), "unchanged without -gogc")
	got := ChildEnv(env, map[string]string{"GOGC": "200", "GOMEMLIMIT": ""})
	assert.Equal(t, []string{"PATH=/bin", "GOMAXPROCS=2", "GOGCX=1", "GOGC=200"}, got)
	got = ChildEnv(env, map[string]string{"GOGC": "off", "GOMEMLIMIT": "120MiB"})
	assert.Equal(t, []string{"PATH=/bin", "GOMAXPROCS=2", "GOGCX=1", "GOGC=off", "GOMEMLIMIT=120MiB"}, got)
	assert.Equal(t, "GOGC=50", env[1], "the input is not modified")
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), LogFile)
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprint("line ", i))
	}
	lines = append(lines, strings.Repeat("x", 500))
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	got := Tail(path, 3)
	assert.Equal(t, "gateway output (last lines):\n  line 28\n  line 29\n  "+strings.Repeat("x", 400)+"…", got)
	assert.Empty(t, Tail(filepath.Join(t.TempDir(), "none"), 3))
}
