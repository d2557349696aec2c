package loadkit

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"gopkg.in/yaml.v3"
)

// Store drivers of -store.
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
)

// NginxBin is the nginx binary started in front of several instances.
const NginxBin = "/usr/sbin/nginx"

// TrustedProxy is the trusted_proxies entry of instances behind nginx.
const TrustedProxy = "127.0.0.1/32"

// InstanceConfig returns the gateway config base (YAML) with its listen
// address set to listen, its store section replaced by store unless that
// is the zero value, and trusted_proxies set when trusted is not empty.
// Every other key is kept.
func InstanceConfig(base []byte, listen string, store StoreSection, trusted []string) ([]byte, error) {
	var m map[string]any
	if err := yaml.Unmarshal(base, &m); err != nil {
		return nil, fmt.Errorf("instance config: %w", err)
	}
	if m == nil {
		return nil, errors.New("instance config: empty config")
	}
	m["listen"] = listen
	if store != (StoreSection{}) {
		m["store"] = store
	}
	if len(trusted) > 0 {
		m["trusted_proxies"] = trusted
	}
	return RenderConfig(m)
}

// NginxConf returns an nginx configuration, with every path inside dir,
// that listens on 127.0.0.1:listen and balances (round robin, keep-alive
// upstream connections) over the backends' loopback ports, passing the
// forwarded headers a gateway with trusted_proxies 127.0.0.1/32 reads:
// X-Forwarded-For, -Proto and -Host (the balanced address, which is the
// external_url's).
func NginxConf(dir string, listen int, backends []int) string {
	var b strings.Builder
	host := net.JoinHostPort("127.0.0.1", strconv.Itoa(listen))
	fmt.Fprintf(&b, `daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    client_max_body_size 1m;
    keepalive_requests 1000000;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_connect_timeout 2s;
    proxy_read_timeout 30s;
    proxy_redirect off;
    upstream gatehouse {
`, dir)
	for _, p := range backends {
		fmt.Fprintf(&b, "        server 127.0.0.1:%d max_fails=0;\n", p)
	}
	fmt.Fprintf(&b, `        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen %[1]s;
        location / {
            proxy_pass http://gatehouse;
            proxy_set_header Host %[1]s;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host %[1]s;
        }
    }
}
`, host)
	return b.String()
}

// Nginx is a running nginx.
type Nginx struct {
	cmd  *Gateway // the same child-process handling
	conf string
}

// StartNginx writes NginxConf into dir/nginx (created) and starts nginx
// with it; its output goes to logPath. The caller must call Stop.
func StartNginx(dir string, listen int, backends []int, logPath string) (*Nginx, error) {
	ndir := filepath.Join(dir, "nginx")
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"} {
		if err := os.MkdirAll(filepath.Join(ndir, d), 0o700); err != nil {
			return nil, fmt.Errorf("nginx: %w", err)
		}
	}
	conf := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(NginxConf(ndir, listen, backends)), 0o600); err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	g, err := startProcess(NginxBin, []string{"-c", conf, "-p", ndir + "/"}, logPath, nil, syscall.SIGQUIT)
	if err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	return &Nginx{cmd: g, conf: conf}, nil
}

// PID is the nginx master's process ID.
func (n *Nginx) PID() int { return n.cmd.PID() }

// WaitReady polls url (through nginx) until it answers 200.
func (n *Nginx) WaitReady(ctx context.Context, url string, timeout time.Duration) error {
	return n.cmd.WaitReady(ctx, url, timeout)
}

// Stop stops nginx gracefully (SIGQUIT) and returns its exit error.
func (n *Nginx) Stop() error { return n.cmd.Stop() }

// CPU returns the CPU time of the nginx master and its workers.
func (n *Nginx) CPU() (time.Duration, error) {
	pids := append([]int{n.PID()}, ChildPIDs(n.PID())...)
	var sum time.Duration
	for _, p := range pids {
		c, err := ReadCPU(p)
		if err != nil {
			return 0, err
		}
		sum += c
	}
	return sum, nil
}

// ChildPIDs lists the processes whose parent is pid (from /proc).
func ChildPIDs(pid int) []int {
	var out []int
	forEachProc(func(p int, stat []byte) {
		if ppid, ok := statPPID(stat); ok && ppid == pid {
			out = append(out, p)
		}
	})
	return out
}

// ProcsCPU sums the CPU time of every process whose command name is comm
// (such as "postgres", whose server forks one process per connection),
// including that of their children that have ended and been waited for
// (a connection's backend, once it exits, counts in the postmaster's).
func ProcsCPU(comm string) time.Duration {
	var sum time.Duration
	forEachProc(func(_ int, stat []byte) {
		if statComm(stat) != comm {
			return
		}
		if c, err := StatCPUChildren(stat); err == nil {
			sum += c
		}
	})
	return sum
}

// StatCPUChildren is StatCPU plus cutime+cstime: the CPU time of the
// process and of its children that ended and were waited for.
func StatCPUChildren(stat []byte) (time.Duration, error) {
	own, err := StatCPU(stat)
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
	if len(f) < 15 {
		return 0, errors.New("stat: too few fields")
	}
	var ticks int64
	for _, s := range f[13:15] { // cutime (16), cstime (17)
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil || n < 0 || n > maxTicks {
			return 0, fmt.Errorf("stat: unexpected CPU time %q", s)
		}
		ticks += n
	}
	return own + time.Duration(ticks)*time.Second/clockTicks, nil
}

func forEachProc(fn func(pid int, stat []byte)) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone
		}
		fn(pid, stat)
	}
}

// statComm is field 2 of /proc/PID/stat, without its parentheses.
func statComm(stat []byte) string {
	i, j := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if i < 0 || j < i {
		return ""
	}
	return string(stat[i+1 : j])
}

// statPPID is field 4 of /proc/PID/stat.
func statPPID(stat []byte) (int, bool) {
	j := bytes.LastIndexByte(stat, ')')
	if j < 0 {
		return 0, false
	}
	f := bytes.Fields(stat[j+1:])
	if len(f) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(string(f[1]))
	return n, err == nil
}

// MachineBusy returns the busy CPU time of all cores (everything in the
// "cpu" line of /proc/stat but idle and iowait) from its contents.
func MachineBusy(procStat []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(procStat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 8 || string(f[0]) != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var ticks int64
	for i, s := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("/proc/stat: unexpected value %q", s)
		}
		if i != 3 && i != 4 {
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// ReadMachineBusy reads /proc/stat (see MachineBusy).
func ReadMachineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return MachineBusy(b)
}

// Database is a PostgreSQL database created for one run.
type Database struct {
	admin *sql.DB
	name  string
	// DSN is the new database's URL.
	DSN string
}

// CreateDatabase creates a fresh database gh_load_<random> on the server
// of base (a postgres:// URL) and returns it; Drop removes it.
func CreateDatabase(ctx context.Context, base string) (*Database, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("-dsn: %w", err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	name := "gh_load_" + hex.EncodeToString(rnd)
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(cctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		return nil, fmt.Errorf("postgres: create database: %w", err)
	}
	u.Path = "/" + name
	return &Database{admin: admin, name: name, DSN: u.String()}, nil
}

// Name is the database's name.
func (d *Database) Name() string { return d.name }

// Stats returns the database's sessions (connections established) and
// committed transactions so far, from pg_stat_database (which backends
// update at most once a second and when they exit).
func (d *Database) Stats(ctx context.Context) (sessions, commits int64, err error) {
	err = d.admin.QueryRowContext(ctx, "SELECT sessions, xact_commit FROM pg_stat_database WHERE datname = $1", d.name).
		Scan(&sessions, &commits)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: stats: %w", err)
	}
	return sessions, commits, nil
}

// Drop drops the database (forcibly, closing any connection left).
func (d *Database) Drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := d.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+d.name+" WITH (FORCE)")
	if err != nil {
		err = fmt.Errorf("postgres: drop database %s: %w", d.name, err)
	}
	return errors.Join(err, d.admin.Close())
}

// checkNginx fails unless NginxBin can be run.
func checkNginx() error {
	if _, err := exec.LookPath(NginxBin); err != nil {
		return fmt.Errorf("-instances > 1 needs nginx (apt-get install nginx-light): %w", err)
	}
	return nil
}
