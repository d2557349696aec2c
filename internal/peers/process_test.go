package peers

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOnFreePort(t *testing.T) {
	t.Run("retries a peer that exited", func(t *testing.T) {
		var ports []int
		err := onFreePort(func(port int) error {
			ports = append(ports, port)
			if len(ports) < 3 {
				return fmt.Errorf("bind: %w", errExited)
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
		err := onFreePort(func(int) error { calls++; return errExited })
		require.ErrorIs(t, err, errExited)
		assert.Equal(t, 3, calls)
	})
	t.Run("other errors are final", func(t *testing.T) {
		calls := 0
		boom := errors.New("boom")
		err := onFreePort(func(int) error { calls++; return boom })
		require.ErrorIs(t, err, boom)
		assert.Equal(t, 1, calls)
	})
}

func TestWaitReady(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<md>\n  MIIB\n  abc\n</md>")
	}))
	t.Cleanup(srv.Close)
	start := func(t *testing.T, script string) *process {
		p, err := startProcess(t, "sh", exec.Command("/bin/sh", "-c", script))
		require.NoError(t, err)
		return p
	}

	t.Run("answer with the marker", func(t *testing.T) {
		body, err := start(t, "sleep 30").waitReady(srv.URL, []byte("MIIBabc"))
		require.NoError(t, err)
		assert.Contains(t, string(body), "MIIB")
	})
	t.Run("another server on the port", func(t *testing.T) {
		_, err := start(t, "sleep 0.3").waitReady(srv.URL, []byte("MIIBxyz"))
		require.ErrorIs(t, err, errExited)
		assert.Contains(t, err.Error(), "another server")
	})
	t.Run("nothing listening", func(t *testing.T) {
		port, err := freePort()
		require.NoError(t, err)
		_, err = start(t, "exit 3").waitReady(fmt.Sprintf("http://127.0.0.1:%d/", port), []byte("x"))
		require.ErrorIs(t, err, errExited)
		assert.Contains(t, err.Error(), "exit status 3")
	})
}
