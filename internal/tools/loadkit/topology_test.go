package loadkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestNginxConf(t *testing.T) {
	conf := NginxConf("/run/x", 8080, []int{9001, 9002, 9003})
	for _, want := range []string{
		"daemon off;\n", "pid /run/x/nginx.pid;\n", "error_log /run/x/nginx-error.log warn;\n",
		"proxy_temp_path /run/x/proxy;\n", "access_log off;\n",
		"    upstream gatehouse {\n        server 127.0.0.1:9001 max_fails=0;\n        server 127.0.0.1:9002 max_fails=0;\n" +
			"        server 127.0.0.1:9003 max_fails=0;\n        keepalive 64;\n",
		"proxy_http_version 1.1;\n", "proxy_set_header Connection \"\";\n",
		"        listen 127.0.0.1:8080;\n", "proxy_pass http://gatehouse;\n",
		"proxy_set_header Host 127.0.0.1:8080;\n",
		"proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n",
		"proxy_set_header X-Forwarded-Proto $scheme;\n",
		"proxy_set_header X-Forwarded-Host 127.0.0.1:8080;\n",
	} {
		assert.Contains(t, conf, want)
	}
	assert.Equal(t, 3, strings.Count(conf, "server 127.0.0.1:"), "one upstream server per backend")
	assert.Equal(t, strings.Count(conf, "{"), strings.Count(conf, "}"), "balanced braces")

	one := NginxConf("/run/x", 8080, []int{9001})
	assert.Equal(t, 1, strings.Count(one, "server 127.0.0.1:"))
	assert.NotContains(t, one, "9002")
}

// TestNginxConfRuns checks the generated configuration with nginx -t when
// nginx is installed.
func TestNginxConfRuns(t *testing.T) {
	if _, err := exec.LookPath(NginxBin); err != nil {
		t.Skip("nginx is not installed (apt-get install nginx-light)")
	}
	dir := t.TempDir()
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o700))
	}
	conf := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(conf, []byte(NginxConf(dir, 8080, []int{9001, 9002})), 0o600))
	out, err := exec.Command(NginxBin, "-t", "-c", conf, "-p", dir+"/").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "syntax is ok")

	require.NoError(t, os.WriteFile(conf, []byte(strings.Replace(NginxConf(dir, 8080, []int{9001}), "keepalive 64;", "keepalive;", 1)), 0o600))
	_, err = exec.Command(NginxBin, "-t", "-c", conf, "-p", dir+"/").CombinedOutput()
	assert.Error(t, err, "negative control: nginx -t rejects a broken configuration")
}

func TestInstanceConfig(t *testing.T) {
	base, err := RenderConfig(BaseConfig(Site{Port: 8080}, Endpoint{Region: "us-east-1", URL: "http://127.0.0.1:8080/saml/acs"}))
	require.NoError(t, err)
	base = append(base, "oauth:\n    clients:\n        - secret: ${SECRET}\n"...)

	pg := StoreSection{Driver: StorePostgres, DSN: "postgres://postgres@127.0.0.1:5432/gh_load_1"}
	out, err := InstanceConfig(base, "127.0.0.1:9001", pg, []string{TrustedProxy})
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, yaml.Unmarshal(out, &got))
	assert.Equal(t, "127.0.0.1:9001", got["listen"])
	assert.Equal(t, "http://127.0.0.1:8080", got["external_url"], "the external URL stays nginx's")
	assert.Equal(t, map[string]any{"driver": "postgres", "dsn": pg.DSN}, got["store"])
	assert.Equal(t, []any{"127.0.0.1/32"}, got["trusted_proxies"])
	assert.Equal(t, map[string]any{"dir": "keys"}, got["keys"], "instances share the keys folder")
	assert.Contains(t, string(out), "secret: ${SECRET}", "other keys are kept as they are")

	out, err = InstanceConfig(base, "127.0.0.1:8080", StoreSection{}, nil)
	require.NoError(t, err)
	got = nil
	require.NoError(t, yaml.Unmarshal(out, &got))
	assert.Equal(t, map[string]any{"driver": "sqlite", "dsn": "gatehouse.db"}, got["store"], "a zero store keeps the config's")
	assert.NotContains(t, got, "trusted_proxies", "no trusted proxies without nginx")

	_, err = InstanceConfig([]byte("listen: [\n"), "127.0.0.1:1", pg, nil)
	assert.ErrorContains(t, err, "instance config: ")
	_, err = InstanceConfig(nil, "127.0.0.1:1", pg, nil)
	assert.EqualError(t, err, "instance config: empty config")
}

func TestMachineBusy(t *testing.T) {
	stat := []byte("cpu  100 20 30 1000 50 5 5 0 0 0\ncpu0 50 10 15 500 25 2 2 0 0 0\n")
	got, err := MachineBusy(stat)
	require.NoError(t, err)
	assert.Equal(t, 1600*time.Millisecond, got, "user+nice+system+irq+softirq+steal, not idle or iowait")
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8\n", "cpu 1 2 3\n", "cpu 1 x 3 4 5 6 7 8\n", "cpu 1 -2 3 4 5 6 7 8\n"} {
		_, err := MachineBusy([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
	_, err = ReadMachineBusy()
	assert.NoError(t, err)
}

func TestStatFields(t *testing.T) {
	stat := []byte("42 (post gres) S 7 42 42 0 -1 4194560 1 0 0 0 3 4 0 0 20 0 1 0 1 1 1\n")
	assert.Equal(t, "post gres", statComm(stat))
	ppid, ok := statPPID(stat)
	assert.True(t, ok)
	assert.Equal(t, 7, ppid)
	cpu, err := StatCPUChildren(stat)
	require.NoError(t, err)
	assert.Equal(t, 70*time.Millisecond, cpu, "utime 3 + stime 4 + cutime 0 + cstime 0 ticks")
	withChildren := []byte("42 (postgres) S 7 42 42 0 -1 4194560 1 0 0 0 3 4 10 20 20 0 1 0 1 1 1\n")
	cpu, err = StatCPUChildren(withChildren)
	require.NoError(t, err)
	assert.Equal(t, 370*time.Millisecond, cpu, "children that ended count")
	for _, bad := range []string{"42 (x) S 7 42 42 0 -1 4194560 1 0 0 0 3 4 10\n", "42 (x) S 7 42 42 0 -1 4194560 1 0 0 0 3 4 10 -1 20\n"} {
		_, err = StatCPUChildren([]byte(bad))
		assert.Error(t, err, bad)
	}
	assert.Empty(t, statComm([]byte("42 no name")))
	_, ok = statPPID([]byte("42 (x) S"))
	assert.False(t, ok)

	self := os.Getpid()
	assert.Contains(t, ChildPIDs(os.Getppid()), self, "this process is its parent's child")
	assert.Positive(t, ProcsCPU(statComm(mustRead(t, "/proc/self/stat")))+1, "summing never fails")
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func TestLogTallyMerge(t *testing.T) {
	a := LogTally{Records: map[string]int{"WARN x": 1}, Requests: 3, NonJSON: []string{"a"}}
	b := LogTally{Records: map[string]int{"WARN x": 2, "ERROR y": 1}, Requests: 4, NonJSON: []string{"b"}}
	got := a.Merge(b)
	assert.Equal(t, LogTally{Records: map[string]int{"WARN x": 3, "ERROR y": 1}, Requests: 7, NonJSON: []string{"a", "b"}}, got)
	assert.Equal(t, map[string]int{"WARN x": 1}, a.Records, "a is not modified")

	many := LogTally{NonJSON: make([]string, MaxNonJSON)}
	assert.Len(t, many.Merge(b).NonJSON, MaxNonJSON, "non-JSON lines stay bounded")
}

func TestTopologyRows(t *testing.T) {
	r := Resources{Store: StorePostgres, Instances: 3, GatewayCPUSeconds: 2, LoadGenCPUSeconds: 0.5}
	r.setOtherCPU(otherCPU{nginx: time.Second, postgres: 2 * time.Second, machine: 10 * time.Second},
		otherCPU{nginx: 1500 * time.Millisecond, postgres: 3 * time.Second, machine: 14 * time.Second})
	var sb strings.Builder
	tb := NewTable(&sb)
	tb.Topology(r, 1000)
	require.NoError(t, tb.Flush())
	assert.Equal(t, "topology        3 gateway instance(s) on postgres, behind nginx\n"+
		"CPU-s per 1000  gateways 2.000, nginx 0.500, postgres 1.000, load generator 0.500, machine busy 4.000\n", sb.String())

	sessions, commits := int64(500), int64(3000)
	r.PostgresSessions, r.PostgresCommits = &sessions, &commits
	sb.Reset()
	tb = NewTable(&sb)
	tb.Topology(r, 1000)
	require.NoError(t, tb.Flush())
	assert.Contains(t, sb.String(), "PostgreSQL      500 connections opened, 3000 transactions committed (0.50 and 3.0 per request)\n")

	r = Resources{Store: StoreSQLite, Instances: 1, GatewayCPUSeconds: 1}
	r.setOtherCPU(otherCPU{nginx: -1, postgres: -1, machine: time.Second}, otherCPU{nginx: -1, postgres: -1, machine: 3 * time.Second})
	assert.Nil(t, r.NginxCPUSeconds, "not measured without nginx")
	assert.Nil(t, r.PostgresCPUSeconds, "not measured without PostgreSQL")
	sb.Reset()
	tb = NewTable(&sb)
	tb.Topology(r, 500)
	require.NoError(t, tb.Flush())
	assert.Equal(t, "topology        1 gateway instance(s) on sqlite, direct\n"+
		"CPU-s per 1000  gateways 2.000, load generator 0.000, machine busy 4.000\n", sb.String())

	sb.Reset()
	tb = NewTable(&sb)
	tb.Topology(r, 0)
	require.NoError(t, tb.Flush())
	assert.Equal(t, "topology  1 gateway instance(s) on sqlite, direct\n", sb.String(), "no per-1000 row without completed requests")
}

func TestCreateDatabase(t *testing.T) {
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if base == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES is not set (a pgx URL such as postgres://postgres@127.0.0.1:5432/test)")
	}
	var stderr strings.Builder
	b, err := Prepare(t.Context(), Tool{Name: "loadtest", Noun: "pings"},
		Flags{Gatehouse: "gh", Store: StorePostgres, DSN: base, Instances: 1}, &stderr)
	require.NoError(t, err)
	st := b.Store()
	assert.Equal(t, StorePostgres, st.Driver)
	assert.Contains(t, st.DSN, "/gh_load_")
	assert.Contains(t, stderr.String(), "PostgreSQL database gh_load_")
	exists := func(name string) bool {
		d, err := CreateDatabase(t.Context(), base) // an admin connection, and a database to drop
		require.NoError(t, err)
		defer func() { require.NoError(t, d.Drop()) }()
		var n int
		require.NoError(t, d.admin.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n))
		return n == 1
	}
	name := b.db.Name()
	assert.True(t, exists(name))
	sessions, commits, err := b.db.Stats(t.Context())
	require.NoError(t, err)
	assert.Zero(t, sessions, "nobody has connected to the new database")
	assert.Zero(t, commits)
	require.NoError(t, b.Close())
	assert.False(t, exists(name), "Close drops the database")

	_, err = CreateDatabase(t.Context(), "postgres://postgres@127.0.0.1:1/test?connect_timeout=1")
	assert.ErrorContains(t, err, "postgres: create database: ")
}
