package testpeer

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTB records what Require and Start's cleanup do to a test, instead of
// doing it to the real one.
type fakeTB struct {
	testing.TB
	failed bool

	mu       sync.Mutex
	fatals   []string
	skips    []string
	logs     []string
	cleanups []func()
}

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Failed() bool { return f.failed }

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.skips = append(f.skips, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *fakeTB) runCleanups() {
	f.mu.Lock()
	fns := f.cleanups
	f.cleanups = nil
	f.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

func startSh(t *testing.T, script string) *Process {
	t.Helper()
	p, err := Start(t, Command{Name: "sh", Path: "/bin/sh", Args: []string{"-c", script}})
	require.NoError(t, err)
	return p
}

func TestOnFreePort(t *testing.T) {
	t.Run("retries a process that exited", func(t *testing.T) {
		var ports []int
		err := OnFreePort(func(port int) error {
			ports = append(ports, port)
			if len(ports) < 3 {
				return fmt.Errorf("bind: %w", ErrExited)
			}
			return nil
		})
		require.NoError(t, err)
		assert.Len(t, ports, 3)
		for _, p := range ports {
			assert.Positive(t, p)
		}
	})
	t.Run("gives up after three tries", func(t *testing.T) {
		calls := 0
		err := OnFreePort(func(int) error { calls++; return ErrExited })
		require.ErrorIs(t, err, ErrExited)
		assert.Equal(t, 3, calls)
	})
	t.Run("other errors are final", func(t *testing.T) {
		calls := 0
		boom := errors.New("boom")
		err := OnFreePort(func(int) error { calls++; return boom })
		require.ErrorIs(t, err, boom)
		assert.Equal(t, 1, calls)
	})
}

func TestFreePortIsFree(t *testing.T) {
	port, err := FreePort()
	require.NoError(t, err)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err, "the port FreePort returned can be bound")
	require.NoError(t, l.Close())
}

func TestWaitHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			http.Error(w, "it broke", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "<md>\n  MIIB\n  abc\n</md>")
	}))
	t.Cleanup(srv.Close)

	t.Run("answer with the marker, across line breaks", func(t *testing.T) {
		body, err := startSh(t, "sleep 30").WaitHTTP(srv.URL, []byte("MIIBabc"))
		require.NoError(t, err)
		assert.Equal(t, "<md>\n  MIIB\n  abc\n</md>", string(body))
	})
	t.Run("another server on the port", func(t *testing.T) {
		_, err := startSh(t, "sleep 0.3").WaitHTTP(srv.URL, []byte("MIIBxyz"))
		require.ErrorIs(t, err, ErrExited)
		assert.Contains(t, err.Error(), "another server")
	})
	t.Run("an error status", func(t *testing.T) {
		_, err := startSh(t, "sleep 0.3").WaitHTTP(srv.URL+"/broken", []byte("MIIB"))
		require.ErrorIs(t, err, ErrExited)
		assert.Contains(t, err.Error(), "HTTP 500: it broke")
	})
	t.Run("nothing listening", func(t *testing.T) {
		port, err := FreePort()
		require.NoError(t, err)
		_, err = startSh(t, "exit 3").WaitHTTP(fmt.Sprintf("http://127.0.0.1:%d/", port), []byte("x"))
		require.ErrorIs(t, err, ErrExited)
		assert.Contains(t, err.Error(), "exit status 3")
	})
}

func TestWaitFile(t *testing.T) {
	t.Run("the process writes the marker", func(t *testing.T) {
		log := filepath.Join(t.TempDir(), "server.log")
		p := startSh(t, "echo loading >"+log+"; sleep 0.2; echo 'listener service starting' >>"+log+"; sleep 30")
		require.NoError(t, p.WaitFile(log, []byte("listener service starting")))
	})
	t.Run("the process exits without it", func(t *testing.T) {
		log := filepath.Join(t.TempDir(), "server.log")
		p := startSh(t, "echo loading >"+log+"; sleep 0.2; exit 1")
		err := p.WaitFile(log, []byte("listener service starting"))
		require.ErrorIs(t, err, ErrExited)
		assert.Contains(t, err.Error(), `no "listener service starting"`)
	})
}

func TestStop(t *testing.T) {
	t.Run("SIGTERM", func(t *testing.T) {
		p := startSh(t, "exec sleep 60")
		p.Stop()
		require.Error(t, p.err)
		assert.Contains(t, p.err.Error(), "terminated")
		p.Stop() // stopping again does nothing
	})
	t.Run("SIGKILL when SIGTERM is ignored", func(t *testing.T) {
		ready := filepath.Join(t.TempDir(), "ready")
		p := startSh(t, "trap '' TERM; echo trapped >"+ready+"; sleep 60")
		require.NoError(t, p.WaitFile(ready, []byte("trapped")))
		p.Stop()
		require.Error(t, p.err)
		assert.Contains(t, p.err.Error(), "killed")
	})
}

func TestStartCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	p, err := Start(t, Command{
		Name: "sh",
		Path: "sh", // looked up in PATH
		Args: []string{"-c", `echo "$PWD $TESTPEER_X $1" >` + out + "; sleep 60", "sh", "arg1"},
		Dir:  dir,
		Env:  []string{"TESTPEER_X=x-value"},
	})
	require.NoError(t, err)
	require.NoError(t, p.WaitFile(out, []byte("\n")))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, dir+" x-value arg1\n", string(b))

	_, err = Start(t, Command{Name: "missing", Path: "/no/such/program"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "start missing")
}

func TestCleanupPrintsLogsOnFailure(t *testing.T) {
	for _, failed := range []bool{true, false} {
		t.Run(fmt.Sprintf("failed=%v", failed), func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "server.log")
			f := &fakeTB{TB: t, failed: failed}
			p, err := Start(f, Command{
				Name:     "srv",
				Path:     "/bin/sh",
				Args:     []string{"-c", "echo to-stdout; echo to-stderr >&2; echo to-file >" + log + "; sleep 60"},
				LogFiles: []string{log},
			})
			require.NoError(t, err)
			t.Cleanup(p.Stop)
			require.NoError(t, p.WaitFile(log, []byte("to-file")))
			f.runCleanups()
			require.Error(t, p.err, "the cleanup stopped the process")
			if !failed {
				assert.Empty(t, f.logs)
				return
			}
			require.Len(t, f.logs, 2)
			assert.Equal(t, "srv output:\nto-stdout\nto-stderr\n", f.logs[0])
			assert.Equal(t, "srv "+log+":\nto-file\n", f.logs[1])
		})
	}
}

func TestLogBufferIsBounded(t *testing.T) {
	var b logBuffer
	n, err := b.Write([]byte("small"))
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	assert.Equal(t, "small", b.String(), "control: a small write is kept whole")

	big := []byte(strings.Repeat("x", MaxLogBytes))
	n, err = b.Write(big)
	require.NoError(t, err)
	assert.Equal(t, len(big), n, "the writer is never told to stop")
	n, err = b.Write([]byte("more"))
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	s := b.String()
	assert.Len(t, s, MaxLogBytes)
	assert.True(t, strings.HasPrefix(s, "smallxxx"))
}
