package topology_test

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/testpeer"
)

// privatePostgres is a PostgreSQL cluster of this test's own (initdb in a
// temporary folder owned by the postgres OS user, on a free loopback port),
// so that stopping it disturbs no other test.
type privatePostgres struct {
	t      testing.TB
	binDir string
	dir    string
	port   int
}

const privatePGHint = "run as root with Debian's postgresql package (initdb under /usr/lib/postgresql/*/bin, the postgres user, runuser)"

// startPrivatePostgres creates and starts the cluster; it is stopped and
// removed when t ends. Without root, initdb or the postgres user it skips
// (fails under GATEHOUSE_REQUIRE_PEERS).
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(bins)
	pgUser, uerr := user.Lookup("postgres")
	_, rerr := exec.LookPath("runuser")
	testpeer.Require(t, "a private PostgreSQL cluster", len(bins) > 0 && uerr == nil && rerr == nil && os.Geteuid() == 0, privatePGHint)

	uid, err := strconv.Atoi(pgUser.Uid)
	require.NoError(t, err)
	gid, err := strconv.Atoi(pgUser.Gid)
	require.NoError(t, err)
	// t.TempDir is 0700 root: the postgres user could not reach into it.
	dir, err := os.MkdirTemp("", "gh-topo-pg-")
	require.NoError(t, err)
	require.NoError(t, os.Chown(dir, uid, gid))
	p := &privatePostgres{t: t, binDir: filepath.Dir(bins[len(bins)-1]), dir: dir}
	t.Cleanup(func() {
		p.pgCtl("stop", "-m", "immediate")
		_ = os.RemoveAll(dir)
	})
	p.run("initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-instructions")
	ports := freePorts(t, 1)
	p.port = ports[0]
	p.start()
	return p
}

func (p *privatePostgres) data() string { return filepath.Join(p.dir, "data") }

// dsn is the URL of the cluster's postgres database.
func (p *privatePostgres) dsn() string {
	return "postgres://postgres@127.0.0.1:" + strconv.Itoa(p.port) + "/postgres?sslmode=disable&connect_timeout=5"
}

// start starts the server and waits until it accepts connections.
func (p *privatePostgres) start() {
	p.t.Helper()
	out, err := p.pgCtl("start", "-w", "-t", "30", "-l", filepath.Join(p.dir, "server.log"),
		"-o", "-p "+strconv.Itoa(p.port)+" -c listen_addresses=127.0.0.1 -k "+p.dir)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
		p.t.Fatalf("pg_ctl start: %v: %s\nserver log:\n%s", err, out, log)
	}
}

// stop is a fast shutdown: clients are disconnected, the data is
// checkpointed.
func (p *privatePostgres) stop() {
	p.t.Helper()
	out, err := p.pgCtl("stop", "-m", "fast", "-w", "-t", "30")
	require.NoError(p.t, err, "pg_ctl stop: %s", out)
}

func (p *privatePostgres) pgCtl(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"-u", "postgres", "--", filepath.Join(p.binDir, "pg_ctl"), "-D", p.data()}, args...)
	return exec.CommandContext(ctx, "runuser", full...).CombinedOutput()
}

func (p *privatePostgres) run(prog string, args ...string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"-u", "postgres", "--", filepath.Join(p.binDir, prog)}, args...)
	out, err := exec.CommandContext(ctx, "runuser", full...).CombinedOutput()
	require.NoError(p.t, err, "%s: %s", prog, out)
}
