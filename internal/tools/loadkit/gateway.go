package loadkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// StopGrace is how long the gateway gets to exit after SIGTERM before it
// is killed; the gateway's own shutdown bound is 25 s.
const StopGrace = 30 * time.Second

// BuildGateway builds ./cmd/gatehouse of the current module into dir and
// returns the binary's path; the go command's output goes to stderr.
func BuildGateway(ctx context.Context, dir string, stderr io.Writer) (string, error) {
	bin := filepath.Join(dir, "gatehouse")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build cmd/gatehouse (run from inside the module): %w", err)
	}
	return bin, nil
}

// ChildEnv returns env with each non-empty value of set replacing the
// variable of that name; empty values leave env's value alone. env is not
// modified.
func ChildEnv(env []string, set map[string]string) []string {
	out := slices.Clone(env)
	for _, name := range slices.Sorted(maps.Keys(set)) {
		v := set[name]
		if v == "" {
			continue
		}
		out = slices.DeleteFunc(out, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
		out = append(out, name+"="+v)
	}
	return out
}

// Gateway is a running `gatehouse serve` child process.
type Gateway struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	exited chan struct{}
	err    error // set before exited is closed
}

// StartGateway runs `bin serve --config cfg` with its output appended to
// logPath and the environment variables in env overridden (see ChildEnv).
// The caller must call Stop.
func StartGateway(bin, cfg, logPath string, env map[string]string) (*Gateway, error) {
	g, err := startProcess(bin, []string{"serve", "--config", cfg}, logPath, env, syscall.SIGTERM)
	if err != nil {
		return nil, fmt.Errorf("start gateway: %w", err)
	}
	return g, nil
}

// startProcess runs bin with args, its output appended to logPath and the
// environment variables in env overridden; Stop sends it stopSig.
func startProcess(bin string, args []string, logPath string, env map[string]string, stopSig syscall.Signal) (*Gateway, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("gateway log: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = ChildEnv(os.Environ(), env)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(stopSig) }
	cmd.WaitDelay = StopGrace
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	g := &Gateway{cmd: cmd, cancel: cancel, exited: make(chan struct{})}
	go func() {
		g.err = cmd.Wait()
		close(g.exited)
	}()
	return g, nil
}

// PID is the gateway's process ID.
func (g *Gateway) PID() int { return g.cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (g *Gateway) Exited() (bool, error) {
	select {
	case <-g.exited:
		return true, g.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM, waits (killing the process after StopGrace) and
// returns the exit error, nil for a clean exit.
func (g *Gateway) Stop() error {
	g.cancel()
	<-g.exited
	var ee *exec.ExitError
	if errors.As(g.err, &ee) && ee.Exited() {
		return fmt.Errorf("gateway exited with status %d", ee.ExitCode())
	}
	if errors.Is(g.err, context.Canceled) {
		return nil // a clean exit after our SIGTERM, which os/exec reports as the context's error
	}
	return g.err
}

// WaitReady polls url until it answers 200, the gateway exits, or timeout.
func (g *Gateway) WaitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	last := "no answer"
	for {
		if done, err := g.Exited(); done {
			return fmt.Errorf("gateway exited before it was ready: %v", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gateway not ready after %s (last: %s): %w", timeout, last, ctx.Err())
		case <-t.C:
		}
	}
}

// Tail returns the last n lines of the file at path, each truncated, for
// error messages; "" when the file cannot be read.
func Tail(path string, n int) string {
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
