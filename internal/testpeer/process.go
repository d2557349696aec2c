package testpeer

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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// StartTimeout bounds each WaitHTTP and WaitFile.
	StartTimeout = 20 * time.Second
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	StopTimeout = 5 * time.Second
	// MaxLogBytes bounds the output kept per process, and each log file
	// printed for a failed test.
	MaxLogBytes = 1 << 20

	maxBodyBytes = 4 << 20 // readiness answers (IdP metadata, status pages)
	pollInterval = 100 * time.Millisecond
)

// ErrExited marks a process that exited before it was ready, typically
// because its port was taken between FreePort and its bind. OnFreePort
// retries on it.
var ErrExited = errors.New("testpeer: the process exited before it was ready")

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testpeer: pick a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("testpeer: release port: %w", err)
	}
	return port, nil
}

// OnFreePort calls launch with a fresh port until it succeeds, fails for
// another reason than ErrExited, or has been tried three times.
func OnFreePort(launch func(port int) error) error {
	var err error
	for range 3 {
		port, perr := FreePort()
		if perr != nil {
			return perr
		}
		if err = launch(port); !errors.Is(err, ErrExited) {
			return err
		}
	}
	return err
}

// Command is a peer server to run.
type Command struct {
	Name string   // names the process in errors and logs
	Path string   // the program: an absolute path, or a name looked up in PATH
	Args []string // its arguments, without the program name
	Dir  string   // its working directory; empty means the test's
	Env  []string // KEY=value pairs added to the test binary's environment
	// LogFiles are files the process writes its log to; they are printed
	// with its output when the test fails.
	LogFiles []string
}

// Process is a peer server started for one test.
type Process struct {
	name string
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{}
	err  error // the result of Wait, set before done is closed
}

// Start runs c in a process group of its own, its output captured, and
// registers a cleanup on t that stops it and, if the test failed, prints its
// output and LogFiles with t.Logf.
func Start(t testing.TB, c Command) (*Process, error) {
	t.Helper()
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), c.Env...)
	p := &Process{name: c.Name, cmd: cmd, log: &logBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = StopTimeout // do not wait on output pipes held by strays
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testpeer: start %s: %w", c.Name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	logFiles := append([]string(nil), c.LogFiles...)
	t.Cleanup(func() {
		p.Stop()
		if !t.Failed() {
			return
		}
		t.Logf("%s output:\n%s", p.name, p.Output())
		for _, f := range logFiles {
			if b, err := os.ReadFile(f); err == nil {
				t.Logf("%s %s:\n%s", p.name, f, b[:min(len(b), MaxLogBytes)])
			}
		}
	})
	return p, nil
}

// Output is what the process wrote to stdout and stderr so far, up to
// MaxLogBytes.
func (p *Process) Output() string { return p.log.String() }

// Stop sends SIGTERM to the process group, then SIGKILL if the process has
// not exited after StopTimeout, and returns once it has exited. Stopping a
// process that has exited does nothing.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = signalGroup(p.cmd.Process, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(StopTimeout):
		_ = signalGroup(p.cmd.Process, syscall.SIGKILL)
		<-p.done
	}
}

// WaitHTTP polls url until it answers 200 with a body containing marker,
// both compared with white space removed (proof that it is this process
// answering, not another one that got the port), and returns the body. It
// fails after StartTimeout, or with ErrExited when the process exits first.
func (p *Process) WaitHTTP(url string, marker []byte) ([]byte, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	marker = stripSpace(marker)
	var body []byte
	err := p.wait(url, func(ctx context.Context) error {
		b, err := getOK(ctx, client, url)
		if err != nil {
			return err
		}
		if !bytes.Contains(stripSpace(b), marker) {
			return errors.New("an answer from another server")
		}
		body = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	return body, nil
}

// WaitFile polls until the file at path contains marker (a server that
// says in its log that it is ready). It fails after StartTimeout, or with
// ErrExited when the process exits first.
func (p *Process) WaitFile(path string, marker []byte) error {
	return p.wait(path, func(context.Context) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Contains(b, marker) {
			return fmt.Errorf("no %q in %s yet", marker, path)
		}
		return nil
	})
}

// wait polls ready until it returns nil, the process exits, or StartTimeout
// passes.
func (p *Process) wait(what string, ready func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	var lastErr error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%w: %s (%v): %v", ErrExited, p.name, p.err, lastErr)
		default:
		}
		if lastErr = ready(ctx); lastErr == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w: %s (%v): %v", ErrExited, p.name, p.err, lastErr)
		case <-ctx.Done():
			return fmt.Errorf("testpeer: %s: %s not ready within %s: %w", p.name, what, StartTimeout, lastErr)
		case <-time.After(pollInterval):
		}
	}
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
		s := strings.Join(strings.Fields(string(body)), " ")
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, s)
	}
	return body, nil
}

func stripSpace(b []byte) []byte {
	return bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, b)
}

// logBuffer collects a process's output, bounded, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := MaxLogBytes - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
