package topology_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

const (
	postgresEnv  = "GATEHOUSE_TEST_POSTGRES"
	nginxBin     = "/usr/sbin/nginx"
	nginxHint    = "apt-get install nginx-light"
	readyTimeout = 30 * time.Second
	// stopTimeout bounds a graceful stop; the binary's own shutdown bound
	// is 25 s.
	stopTimeout = 35 * time.Second
)

// requireEnv skips (or, under GATEHOUSE_REQUIRE_PEERS, fails) when the
// PostgreSQL server or nginx is missing, and returns the PostgreSQL URL.
func requireEnv(t *testing.T) string {
	t.Helper()
	base := os.Getenv(postgresEnv)
	testpeer.Require(t, "PostgreSQL ("+postgresEnv+")", base != "",
		"set "+postgresEnv+" to a pgx URL, for example postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	ok, hint := testpeer.Installed(nginxHint, nginxBin)
	testpeer.Require(t, "nginx", ok, hint)
	return base
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ls := make([]net.Listener, n)
	ports := make([]int, n)
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ls[i], ports[i] = l, l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		require.NoError(t, l.Close())
	}
	return ports
}

// buildBinary builds cmd/gatehouse once into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "gatehouse")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// createDatabase creates a fresh database gh_topo_<random> on the server of
// base and returns its URL; it is dropped (forcibly) when t ends, after the
// cleanups registered later (the instances) have run.
func createDatabase(t *testing.T, base string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, admin.PingContext(ctx), "%s is set but PostgreSQL is unreachable", postgresEnv)
	name := "gh_topo_" + randomHex(t, 6)
	_, err = admin.ExecContext(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		// DROP DATABASE waits for a checkpoint, which on a loaded machine
		// (seen with two CPU hogs beside the test) can take over 30 s.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// logBuffer collects a process's output, bounded, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 4<<20 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// instance is one `gatehouse serve` process that can be stopped (SIGTERM),
// killed (SIGKILL) and started again on the same port with the same config.
type instance struct {
	name   string
	bin    string
	config string
	port   int
	log    *logBuffer // output of every run, in order

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (in *instance) base() string { return "http://127.0.0.1:" + strconv.Itoa(in.port) }

// start runs the binary and waits until /readyz answers 200.
// waitLog waits up to 5 seconds for the instance's output to contain want.
func (in *instance) waitLog(t testing.TB, want string) {
	t.Helper()
	assert.Eventually(t, func() bool { return strings.Contains(in.log.String(), want) },
		5*time.Second, 20*time.Millisecond, "%s never logged %s", in.name, want)
}

func (in *instance) start(t testing.TB) {
	t.Helper()
	in.mu.Lock()
	cmd := exec.Command(in.bin, "serve", "--config", in.config)
	cmd.Stdout, cmd.Stderr = in.log, in.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	fmt.Fprintf(in.log, "=== %s start %s\n", in.name, time.Now().Format(time.RFC3339Nano))
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	in.cmd, in.done = cmd, done
	in.mu.Unlock()
	go func() {
		err := cmd.Wait()
		in.mu.Lock()
		in.err = err
		in.mu.Unlock()
		close(done)
	}()
	require.NoError(t, waitReady(in.base(), done, readyTimeout), "%s did not become ready; output:\n%s", in.name, in.log.String())
}

// signal sends sig to the process and waits (bounded) for it to exit; it
// returns the process's exit error.
func (in *instance) signal(t testing.TB, sig syscall.Signal) error {
	t.Helper()
	in.mu.Lock()
	cmd, done := in.cmd, in.done
	in.mu.Unlock()
	require.NotNil(t, cmd, "%s was never started", in.name)
	select {
	case <-done:
		return in.exitErr()
	default:
	}
	fmt.Fprintf(in.log, "=== %s %v %s\n", in.name, sig, time.Now().Format(time.RFC3339Nano))
	require.NoError(t, cmd.Process.Signal(sig))
	select {
	case <-done:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not exit within %s of %v", in.name, stopTimeout, sig)
	}
	return in.exitErr()
}

func (in *instance) exitErr() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// stopQuietly is the cleanup: SIGTERM, then SIGKILL.
func (in *instance) stopQuietly() {
	in.mu.Lock()
	cmd, done := in.cmd, in.done
	in.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-done
	}
}

// waitReady polls base/readyz until 200, the process exits, or timeout.
func waitReady(base string, exited <-chan struct{}, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited before ready (last: %v)", last)
		default:
		}
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("readyz: HTTP %d", resp.StatusCode)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %s: %w", timeout, last)
}

// instanceConfig is what differs between the instances' config files.
type instanceConfig struct {
	externalURL string
	port        int
	dsn         string
	shared      string // the folder with keys/, idp.xml, corp-jwks.json, admin.token
}

func writeInstanceConfig(t testing.TB, dir string, c instanceConfig) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	yaml := fmt.Sprintf(`external_url: %q
listen: "127.0.0.1:%d"
trusted_proxies: ["127.0.0.1/32"]
store:
  driver: postgres
  dsn: %q
keys:
  dir: %q
  reload_interval: 1s
admin:
  token_file: %q
identity_source:
  saml:
    metadata_file: %q
    jit_provisioning: true
    attributes:
      email: email
      display_name: displayName
      groups: groups
    acs_endpoints:
      - region: local
        url: %q
oauth:
  clients:
    - id: %s
      secret: %s
      grant_types: [%q]
      audiences: [%q]
      scopes: [warehouse.read]
  trusted_token_issuers:
    - name: corp
      issuer: %q
      jwks_file: %q
      audiences: [%q]
      claim: email
      user_attribute: email
  data_services:
    - audience: %q
      scopes: [warehouse.read, warehouse.write]
`, c.externalURL, c.port, c.dsn,
		filepath.Join(c.shared, "keys"), filepath.Join(c.shared, "admin.token"), filepath.Join(c.shared, "idp.xml"),
		c.externalURL+acsPath,
		clientID, clientSecret, grantTokenExchange, warehouse,
		corpIssuer, filepath.Join(c.shared, "corp-jwks.json"), corpAudience, warehouse)
	path := filepath.Join(dir, "gatehouse.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

// nginxProxy is nginx in front of the instances: listen balances over the
// pool; direct[i] reaches backend i only, with the same forwarded headers
// (X-Forwarded-Host is always the balanced address, the external_url's).
type nginxProxy struct {
	listen int
	direct []int
	dir    string
	proc   *testpeer.Process
}

func (n *nginxProxy) base() string { return "http://127.0.0.1:" + strconv.Itoa(n.listen) }

func (n *nginxProxy) directBase(i int) string {
	return "http://127.0.0.1:" + strconv.Itoa(n.direct[i])
}

// nginxConf renders the configuration: pool are the balanced backends'
// ports, backends every backend reachable directly.
func nginxConf(dir string, listen int, pool, direct, backends []int) string {
	var b strings.Builder
	host := "127.0.0.1:" + strconv.Itoa(listen)
	fmt.Fprintf(&b, `daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 512; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    underscores_in_headers on;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_connect_timeout 2s;
    proxy_send_timeout 30s;
    proxy_read_timeout 30s;
    proxy_next_upstream error timeout http_502 http_503 non_idempotent;
    proxy_next_upstream_tries 6;
    proxy_next_upstream_timeout 30s;
    proxy_redirect off;
    upstream gatehouse {
`, dir)
	for _, p := range pool {
		fmt.Fprintf(&b, "        server 127.0.0.1:%d max_fails=0;\n", p)
	}
	b.WriteString("    }\n")
	headers := fmt.Sprintf(`        proxy_set_header Host %[1]s;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host %[1]s;
`, host)
	fmt.Fprintf(&b, "    server {\n        listen 127.0.0.1:%d;\n        location / {\n            proxy_pass http://gatehouse;\n%s        }\n    }\n", listen, headers)
	for i, p := range direct {
		fmt.Fprintf(&b, "    server {\n        listen 127.0.0.1:%d;\n        location / {\n            proxy_pass http://127.0.0.1:%d;\n%s        }\n    }\n", p, backends[i], headers)
	}
	b.WriteString("}\n")
	return b.String()
}

// startNginx runs nginx with a generated configuration in a folder of its
// own and waits until the balanced port answers.
func startNginx(t *testing.T, pool, backends []int) *nginxProxy {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	var n *nginxProxy
	err := retryPorts(func() error {
		ports := freePorts(t, 1+len(backends))
		n = &nginxProxy{listen: ports[0], direct: ports[1:], dir: dir}
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, []byte(nginxConf(dir, n.listen, pool, n.direct, backends)), 0o644); err != nil {
			return err
		}
		proc, err := testpeer.Start(t, testpeer.Command{
			Name: "nginx", Path: nginxBin, Args: []string{"-c", conf, "-p", dir + "/"},
			LogFiles: []string{filepath.Join(dir, "error.log")},
		})
		if err != nil {
			return err
		}
		n.proc = proc
		// Any answer from nginx (even 502 from an absent backend) proves
		// it listens; the Server header proves it is nginx.
		return proc.WaitFile(filepath.Join(dir, "nginx.pid"), nil)
	})
	require.NoError(t, err)
	client := &http.Client{Timeout: 2 * time.Second}
	require.Eventually(t, func() bool {
		resp, err := client.Get(n.base() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return strings.HasPrefix(resp.Header.Get("Server"), "nginx")
	}, 10*time.Second, 100*time.Millisecond)
	return n
}

func retryPorts(launch func() error) error {
	var err error
	for range 3 {
		if err = launch(); !errors.Is(err, testpeer.ErrExited) {
			return err
		}
	}
	return err
}
