package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long the gateway gets to exit after SIGTERM before it is
// killed; the gateway's own shutdown bound is 25 s.
const stopGrace = 30 * time.Second

// buildGateway builds ./cmd/gatehouse of the current module into dir.
func buildGateway(ctx context.Context, dir string, stderr io.Writer) (string, error) {
	bin := filepath.Join(dir, "gatehouse")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build cmd/gatehouse (run from inside the module): %w", err)
	}
	return bin, nil
}

// childEnv returns env with each non-empty value of set replacing the
// variable of that name; empty values leave env's value alone.
func childEnv(env []string, set map[string]string) []string {
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

// gateway is a running `gatehouse serve` child process.
type gateway struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	exited chan struct{}
	err    error // set before exited is closed
}

// startGateway runs `bin serve --config cfg` with its output appended to
// logPath and the environment variables in env overridden (see childEnv).
func startGateway(bin, cfg, logPath string, env map[string]string) (*gateway, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("gateway log: %w", err)
	}
	defer logFile.Close() // the child has its own copy
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfg)
	cmd.Env = childEnv(os.Environ(), env)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start gateway: %w", err)
	}
	g := &gateway{cmd: cmd, cancel: cancel, exited: make(chan struct{})}
	go func() {
		g.err = cmd.Wait()
		close(g.exited)
	}()
	return g, nil
}

// PID is the gateway's process ID.
func (g *gateway) PID() int { return g.cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (g *gateway) Exited() (bool, error) {
	select {
	case <-g.exited:
		return true, g.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM, waits (killing it after stopGrace) and returns the
// exit error, nil for a clean exit.
func (g *gateway) Stop() error {
	g.cancel()
	<-g.exited
	var ee *exec.ExitError
	if errors.As(g.err, &ee) && ee.Exited() {
		return fmt.Errorf("gateway exited with status %d", ee.ExitCode())
	}
	if errors.Is(g.err, context.Canceled) {
		return nil // ended by our SIGTERM without an exit status: killed by the signal
	}
	return g.err
}

// waitReady polls url until it answers 200, the gateway exits, or timeout.
func waitReady(ctx context.Context, g *gateway, url string, timeout time.Duration) error {
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

// logTally counts the gateway's WARN and ERROR records by message and
// reason, and keeps the first lines that are not JSON (panics, Go runtime
// errors).
type logTally struct {
	Records  map[string]int `json:"records,omitempty"`
	NonJSON  []string       `json:"non_json,omitempty"`
	Requests int            `json:"access_log_lines"`
}

const maxNonJSON = 10

// tallyLog reads a JSON-lines log.
func tallyLog(r io.Reader) (logTally, error) {
	t := logTally{Records: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var rec struct {
			Level  string `json:"level"`
			Msg    string `json:"msg"`
			Reason string `json:"reason"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal(line, &rec); err != nil || rec.Level == "" {
			if len(t.NonJSON) < maxNonJSON {
				t.NonJSON = append(t.NonJSON, truncate(string(line), 300))
			}
			continue
		}
		if rec.Status != 0 {
			t.Requests++
		}
		if rec.Level != "WARN" && rec.Level != "ERROR" {
			continue
		}
		key := rec.Level + " " + rec.Msg
		if rec.Reason != "" {
			key += " reason=" + rec.Reason
		}
		if rec.Status != 0 {
			key += " status=" + strconv.Itoa(rec.Status)
		}
		t.Records[key]++
	}
	if err := sc.Err(); err != nil {
		return t, fmt.Errorf("read gateway log: %w", err)
	}
	return t, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
