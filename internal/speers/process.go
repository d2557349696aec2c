package speers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	startTimeout = 20 * time.Second
	stopTimeout  = 5 * time.Second
	maxLogBytes  = 1 << 20
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("speers: pick a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("speers: release port: %w", err)
	}
	return port, nil
}

// logBuffer collects a process's output, bounded, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxLogBytes - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is an SP server started for one test.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{}
	err  error // set before done is closed
}

// startProcess runs cmd with its output captured and registers a cleanup that
// stops it and, if the test failed, logs its output (and the files named by
// extraLogs, for servers that log to files).
func startProcess(t testing.TB, name string, cmd *exec.Cmd, extraLogs ...string) (*process, error) {
	t.Helper()
	p := &process{name: name, cmd: cmd, log: &logBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = stopTimeout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("speers: start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.log.String())
			for _, f := range extraLogs {
				if b, err := os.ReadFile(f); err == nil {
					t.Logf("%s %s:\n%s", name, f, b[:min(len(b), maxLogBytes)])
				}
			}
		}
	})
	return p, nil
}

func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = signalGroup(p.cmd.Process, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = signalGroup(p.cmd.Process, syscall.SIGKILL)
		<-p.done
	}
}

// errExited marks a server that exited before it answered, typically because
// its port was taken between freePort and its bind.
var errExited = errors.New("speers: the SP exited before it answered")

// onFreePort calls launch with a fresh port until it succeeds, fails for
// another reason than errExited, or has been tried three times.
func onFreePort(launch func(port int) error) error {
	var err error
	for range 3 {
		port, perr := freePort()
		if perr != nil {
			return perr
		}
		if err = launch(port); !errors.Is(err, errExited) {
			return err
		}
	}
	return err
}

// waitFor polls ready until it returns nil, the process exits, or
// startTimeout passes.
func (p *process) waitFor(what string, ready func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var lastErr error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%w: %s (%v): %v", errExited, p.name, p.err, lastErr)
		default:
		}
		if lastErr = ready(ctx); lastErr == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w: %s (%v): %v", errExited, p.name, p.err, lastErr)
		case <-ctx.Done():
			return fmt.Errorf("speers: %s: %s not ready within %s: %w", p.name, what, startTimeout, lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitReady polls url until it answers 200 with a body containing marker
// (proof that it is this process answering, not another one that got the
// port).
func (p *process) waitReady(url string, marker []byte) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return p.waitFor(url, func(ctx context.Context) error {
		body, err := getOK(ctx, client, url)
		if err != nil {
			return err
		}
		if !bytes.Contains(body, marker) {
			return errors.New("an answer from another server")
		}
		return nil
	})
}

func getOK(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, snippet(body))
	}
	return body, nil
}
