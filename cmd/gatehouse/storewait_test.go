package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestWaitForStoreGivesUp: a PostgreSQL that never answers is retried
// (each attempt logged) and then reported with the attempts and the
// cause.
func TestWaitForStoreGivesUp(t *testing.T) {
	db, err := sql.Open("pgx", fmt.Sprintf("postgres://postgres@%s/test?connect_timeout=1", closedPort(t)))
	require.NoError(t, err)
	defer db.Close()
	var logs bytes.Buffer
	err = waitForStore(t.Context(), db, 1500*time.Millisecond, slog.New(slog.NewJSONHandler(&logs, nil)))
	require.Error(t, err)
	assert.Regexp(t, `store unreachable after [2-9] attempts in 1.5s`, err.Error())
	assert.Contains(t, err.Error(), "connect")
	assert.Contains(t, logs.String(), "store unreachable; retrying")
}

// TestWaitForStoreRecovers: PostgreSQL that comes up while serve waits
// is used. A TCP proxy to the test PostgreSQL starts listening only after
// a few refused attempts; waitForStore then succeeds and the store opens.
func TestWaitForStoreRecovers(t *testing.T) {
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if base == "" {
		t.Skip("needs GATEHOUSE_TEST_POSTGRES set to a pgx URL, for example postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	u, err := url.Parse(base)
	require.NoError(t, err)
	target := u.Host
	addr := closedPort(t)
	go func() {
		time.Sleep(900 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return
		}
		t.Cleanup(func() { _ = ln.Close() })
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c) }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	u.Host = addr
	db, err := sql.Open("pgx", u.String())
	require.NoError(t, err)
	defer db.Close()
	var logs bytes.Buffer
	require.NoError(t, waitForStore(t.Context(), db, 20*time.Second, slog.New(slog.NewJSONHandler(&logs, nil))))
	assert.Contains(t, logs.String(), "store unreachable; retrying", "refused at first")
	assert.Contains(t, logs.String(), "store reachable")

	// A store that answers at once: no retry, nothing logged.
	lite, err := sql.Open("sqlite", sqlstore.SQLiteDSN(filepath.Join(t.TempDir(), "g.db")))
	require.NoError(t, err)
	defer lite.Close()
	logs.Reset()
	require.NoError(t, waitForStore(t.Context(), lite, time.Second, slog.New(slog.NewJSONHandler(&logs, nil))))
	assert.Empty(t, logs.String())
}

// TestWaitForStoreCancelled: a cancelled start stops waiting at once.
func TestWaitForStoreCancelled(t *testing.T) {
	db, err := sql.Open("pgx", fmt.Sprintf("postgres://postgres@%s/test?connect_timeout=1", closedPort(t)))
	require.NoError(t, err)
	defer db.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	err = waitForStore(ctx, db, time.Minute, slog.New(slog.DiscardHandler))
	require.Error(t, err)
	assert.Less(t, time.Since(start), 10*time.Second)
}
