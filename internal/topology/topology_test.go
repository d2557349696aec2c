package topology_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/peers"
	"github.com/gatehouse-dev/gatehouse/metadata"
)

// topology is three `gatehouse serve` processes on one PostgreSQL database
// behind nginx, and the third-party IdP they trust.
type topology struct {
	bin       string
	shared    string
	ext       string // nginx's balanced URL = external_url
	nginx     *nginxProxy
	idp       peers.IdP
	corp      *corp
	instances []*instance
	spare     int // port of the fourth backend (subtest e), reachable at nginx.directBase(3)
	tmp       string
}

func startTopology(t *testing.T) *topology {
	t.Helper()
	base := requireEnv(t)
	if ok, hint := peers.Available(peers.NameSimpleSAMLphp); !ok {
		// peers.StartSimpleSAMLphp would skip/fail too, but only after the
		// build: say it first.
		requirePeer(t, hint)
	}
	tp := &topology{tmp: t.TempDir()}
	tp.bin = buildBinary(t, tp.tmp)
	dsn := createDatabase(t, base)

	ports := freePorts(t, 4)
	tp.spare = ports[3]
	tp.nginx = startNginx(t, ports[:3], ports)
	tp.ext = tp.nginx.base()

	tp.shared = filepath.Join(tp.tmp, "shared")
	require.NoError(t, os.MkdirAll(tp.shared, 0o700))
	spMD, err := metadata.BuildSP(metadata.SPConfig{
		EntityID:             tp.ext + "/saml/sp/metadata",
		ACS:                  []metadata.ACSEndpoint{{URL: tp.ext + acsPath}},
		WantAssertionsSigned: true,
	})
	require.NoError(t, err)
	tp.idp = peers.StartSimpleSAMLphp(t, peers.IdPOptions{SPMetadata: spMD, Users: []peers.User{testUser}})
	require.NoError(t, os.WriteFile(filepath.Join(tp.shared, "idp.xml"), tp.idp.Metadata(), 0o600))
	tp.corp = newCorp(t, tp.shared)

	for i := range 3 {
		tp.instances = append(tp.instances, tp.newInstance(t, fmt.Sprintf("gatehouse-%d", i+1), ports[i], dsn))
	}
	// The first start creates the rings in the store and the secrets in
	// the shared keys.dir; the others load them (see doc.go).
	for _, in := range tp.instances {
		in.start(t)
	}
	return tp
}

func requirePeer(t *testing.T, hint string) {
	t.Helper()
	if os.Getenv(peers.RequirePeersEnv) != "" {
		t.Fatalf("peer %s is required (%s is set) but not installed: %s", peers.NameSimpleSAMLphp, peers.RequirePeersEnv, hint)
	}
	t.Skipf("peer %s not installed: %s", peers.NameSimpleSAMLphp, hint)
}

// newInstance writes an instance's config and registers its cleanup (stop;
// print its output when the test failed).
func (tp *topology) newInstance(t *testing.T, name string, port int, dsn string) *instance {
	t.Helper()
	cfg := writeInstanceConfig(t, filepath.Join(tp.tmp, name), instanceConfig{externalURL: tp.ext, port: port, dsn: dsn, shared: tp.shared})
	in := &instance{name: name, bin: tp.bin, config: cfg, port: port, log: &logBuffer{}}
	t.Cleanup(func() {
		in.stopQuietly()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, in.log.String())
		}
	})
	return in
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

func TestTopology(t *testing.T) {
	tp := startTopology(t)
	ng := tp.nginx

	t.Run("shared_keys", func(t *testing.T) {
		// One store: every instance publishes the same OAuth and IdP keys.
		for _, path := range []string{"/oauth/jwks", "/saml/idp/metadata", "/saml/sp/metadata"} {
			first := get(t, ng.directBase(0)+path)
			for i := 1; i < 3; i++ {
				assert.Equal(t, string(first), string(get(t, ng.directBase(i)+path)), "%s differs on instance %d", path, i+1)
			}
		}
	})

	var form peers.PostForm
	var first *http.Client
	t.Run("a_cross_instance_signin", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		first = browser(t)
		var err error
		form, err = idpLogin(ctx, tp.idp, first, ng.directBase(0))
		require.NoError(t, err)
		require.Equal(t, tp.ext+acsPath, form.Action)

		status, loc, session, err := postACS(ctx, first, ng.directBase(1), form)
		require.NoError(t, err)
		require.Equal(t, http.StatusSeeOther, status)
		assert.Equal(t, "/portal", loc)
		assert.True(t, session, "a session cookie")

		status, email, err := sessionUser(ctx, first, ng.directBase(2))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, testUser.Email, email)

		// Each step reached the instance it was meant for. The access log
		// line is written once the handler returns, which can be after the
		// client has read the response.
		tp.instances[0].waitLog(t, `"path":"/saml/sp/login","status":302`)
		tp.instances[1].waitLog(t, `"path":"/saml/acs","status":303`)
		tp.instances[2].waitLog(t, `"path":"/api/v1/session","status":200`)
		assert.NotContains(t, tp.instances[0].log.String(), `"path":"/saml/acs"`)

		// Negative control: without the cookie instance 3 knows nobody.
		status, _, err = sessionUser(ctx, browser(t), ng.directBase(2))
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, status)
	})

	t.Run("b_replay_via_another_instance", func(t *testing.T) {
		require.NotEmpty(t, form.SAMLResponse, "needs subtest a")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// The same browser (its state cookie would pass the binding check)
		// and a fresh one, each at an instance that did not consume it.
		for _, tc := range []struct {
			name   string
			client *http.Client
			base   string
		}{{"same_browser_instance3", first, ng.directBase(2)}, {"other_browser_instance1", browser(t), ng.directBase(0)}, {"other_browser_nginx", browser(t), ng.base()}} {
			status, _, session, err := postACS(ctx, tc.client, tc.base, form)
			require.NoError(t, err, tc.name)
			assert.True(t, status >= 400 && status < 500, "%s: replay answered %d", tc.name, status)
			assert.False(t, session, "%s: replay set a session cookie", tc.name)
		}
		status, _, err := sessionUser(ctx, browser(t), ng.base())
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, status)
	})

	t.Run("c_kill9_before_acs", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := browser(t)
		f, err := idpLogin(ctx, tp.idp, c, ng.directBase(0))
		require.NoError(t, err)
		err = tp.instances[0].signal(t, syscall.SIGKILL)
		require.ErrorContains(t, err, "killed")

		status, loc, session, err := postACS(ctx, c, ng.base(), f)
		require.NoError(t, err)
		require.Equal(t, http.StatusSeeOther, status)
		assert.Equal(t, "/portal", loc)
		assert.True(t, session)
		status, email, err := sessionUser(ctx, c, ng.base())
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, testUser.Email, email)

		tp.instances[0].start(t)
		status, _, err = sessionUser(ctx, c, ng.directBase(0))
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, status, "the restarted instance sees the session")
	})

	t.Run("d_rolling_restart", func(t *testing.T) {
		rollingRestart(t, tp)
	})

	t.Run("e_key_rollover", func(t *testing.T) {
		keyRollover(t, tp)
	})

	t.Run("f_postgres_outage", func(t *testing.T) {
		postgresOutage(t, tp)
	})
}

// stream is a steady load through nginx: each worker signs in at the IdP,
// posts the response to the ACS, reads its session and exchanges a
// corporate JWT and then the access token it got; every failure is kept.
type stream struct {
	mu       sync.Mutex
	failures []string
	counts   map[string]int
	stop     atomic.Bool
	wg       sync.WaitGroup
	cancel   context.CancelFunc
	started  time.Time
}

func startStream(t *testing.T, tp *topology, workers int) *stream {
	ng := tp.nginx
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	s := &stream{counts: map[string]int{}, cancel: cancel, started: time.Now()}
	for w := range workers {
		s.wg.Go(func() {
			c := browser(t)
			for !s.stop.Load() && ctx.Err() == nil {
				f, err := idpLogin(ctx, tp.idp, c, ng.base())
				s.record("login+idp", err)
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				status, _, session, err := postACS(ctx, c, ng.base(), f)
				if err == nil && (status != http.StatusSeeOther || !session) {
					err = fmt.Errorf("worker %d: ACS answered %d (session cookie %t)", w, status, session)
				}
				s.record("acs", err)
				status, email, err := sessionUser(ctx, c, ng.base())
				if err == nil && (status != http.StatusOK || email != testUser.Email) {
					err = fmt.Errorf("worker %d: session answered %d %q", w, status, email)
				}
				s.record("session", err)
				jwt, err := tp.corp.subjectToken(testUser.Email)
				if err != nil {
					s.record("corp-token", err)
					return
				}
				_, at, err := exchange(ctx, c, ng.base(), jwt, tokenTypeJWT)
				s.record("exchange-jwt", err)
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				_, _, err = exchange(ctx, c, ng.base(), at, tokenTypeAccess)
				s.record("exchange-access-token", err)
			}
		})
	}
	return s
}

func (s *stream) record(op string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[op]++
	if err != nil {
		s.counts["failed"]++
		if len(s.failures) < 20 {
			s.failures = append(s.failures, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), op, err))
		}
	}
}

// finish stops the stream, logs what it did and asserts that nothing
// failed and that at least minSignIns sign-ins went through.
func (s *stream) finish(t *testing.T, tp *topology, name string, minSignIns int) {
	s.stop.Store(true)
	s.wg.Wait()
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	for op, n := range s.counts {
		if op != "failed" {
			total += n
		}
	}
	t.Logf("%s: %d requests in %s: %v", name, total, time.Since(s.started).Round(time.Millisecond), s.counts)
	// Evidence that the stream met stopped instances: nginx retried them.
	t.Logf("nginx: %d refused connections retried on another instance",
		strings.Count(readTail(filepath.Join(tp.nginx.dir, "error.log"), 1<<30), "connect() failed (111"))
	assert.Empty(t, s.failures, "failed requests during the %s", name)
	assert.Greater(t, s.counts["acs"], minSignIns, "too few sign-ins to prove anything")
	if len(s.failures) > 0 {
		t.Logf("nginx errors other than refused connections:\n%s", nginxErrors(filepath.Join(tp.nginx.dir, "error.log")))
	}
}

// rollingRestart runs a steady stream of sign-ins, session calls and token
// exchanges through nginx while each instance in turn gets SIGTERM, exits
// and is started again; no request may fail.
func rollingRestart(t *testing.T, tp *topology) {
	const workers = 4
	s := startStream(t, tp, workers)
	for _, in := range tp.instances {
		time.Sleep(1500 * time.Millisecond)
		began := time.Now()
		err := in.signal(t, syscall.SIGTERM)
		assert.NoError(t, err, "%s: graceful exit", in.name)
		stopped := time.Since(began)
		in.start(t)
		t.Logf("%s: SIGTERM to exit %s, restart to ready %s", in.name, stopped.Round(time.Millisecond), (time.Since(began) - stopped).Round(time.Millisecond))
	}
	time.Sleep(1500 * time.Millisecond)
	s.finish(t, tp, "rolling restart", 3*workers)
}

// nginxErrors is the [error] lines of nginx's error log, leaving out the
// refused connections that nginx retried on another instance.
func nginxErrors(path string) string {
	var b strings.Builder
	for line := range strings.Lines(readTail(path, 1<<30)) {
		if strings.Contains(line, "[error]") && !strings.Contains(line, "connect() failed (111") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func readTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// postgresOutage points a fourth instance at a private PostgreSQL cluster,
// stops the cluster and starts it again.
func postgresOutage(t *testing.T, tp *topology) {
	ng := tp.nginx
	pg := startPrivatePostgres(t)
	in := tp.newInstance(t, "gatehouse-4", tp.spare, pg.dsn())
	in.start(t)
	b := ng.directBase(3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Before: a session, and a response obtained but not yet posted.
	before := browser(t)
	f, err := idpLogin(ctx, tp.idp, before, b)
	require.NoError(t, err)
	status, _, session, err := postACS(ctx, before, b, f)
	require.NoError(t, err)
	require.Equal(t, http.StatusSeeOther, status)
	require.True(t, session)
	pending := browser(t)
	pendingForm, err := idpLogin(ctx, tp.idp, pending, b)
	require.NoError(t, err)
	jwt, err := tp.corp.subjectToken(testUser.Email)
	require.NoError(t, err)
	status, _, err = exchange(ctx, before, b, jwt, tokenTypeJWT)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	pid := in.cmd.Process.Pid

	pg.stop()
	down := time.Now()
	for round := range 3 {
		status, err := readyz(ctx, b)
		require.NoError(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, status, "round %d: readyz", round)

		status, email, err := sessionUser(ctx, before, b)
		require.NoError(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, status, "round %d: session (%q)", round, email)

		status, _, session, err := postACS(ctx, pending, b, pendingForm)
		require.NoError(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, status, "round %d: ACS", round)
		assert.False(t, session, "round %d: a session while the store is down", round)

		resp, err := browser(t).Get(b + "/saml/sp/login?return_to=/portal")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "round %d: login", round)

		jwt, err := tp.corp.subjectToken(testUser.Email)
		require.NoError(t, err)
		// Fails closed with 503 temporarily_unavailable, which nginx
		// and clients retry.
		status, tok, err := exchange(ctx, before, b, jwt, tokenTypeJWT)
		assert.Error(t, err, "round %d: token exchange", round)
		assert.Empty(t, tok, "round %d: a token while the store is down", round)
		assert.Equal(t, http.StatusServiceUnavailable, status, "round %d: token exchange (%v)", round, err)
		time.Sleep(500 * time.Millisecond)
	}

	pg.start()
	restarted := time.Now()
	require.Eventually(t, func() bool {
		status, err := readyz(ctx, b)
		return err == nil && status == http.StatusOK
	}, 30*time.Second, 200*time.Millisecond, "readiness did not recover")
	t.Logf("store down for %s; ready again %s after PostgreSQL started", restarted.Sub(down).Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	assert.Equal(t, pid, in.cmd.Process.Pid, "the instance was not restarted")

	// Full service, on the first try of each call: the session from before
	// the outage, the response obtained before it (the 503s consumed
	// nothing), a new sign-in and a token exchange.
	for round := range 3 {
		status, email, err := sessionUser(ctx, before, b)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, status, "round %d: session from before the outage", round)
		assert.Equal(t, testUser.Email, email)
	}
	status, _, session, err = postACS(ctx, pending, b, pendingForm)
	require.NoError(t, err)
	assert.Equal(t, http.StatusSeeOther, status, "the response obtained before the outage")
	assert.True(t, session)
	status, _, err = sessionUser(ctx, pending, b)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)

	fresh := browser(t)
	f, err = idpLogin(ctx, tp.idp, fresh, b)
	require.NoError(t, err)
	status, _, session, err = postACS(ctx, fresh, b, f)
	require.NoError(t, err)
	assert.Equal(t, http.StatusSeeOther, status)
	assert.True(t, session)
	jwt, err = tp.corp.subjectToken(testUser.Email)
	require.NoError(t, err)
	status, _, err = exchange(ctx, fresh, b, jwt, tokenTypeJWT)
	assert.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	if t.Failed() {
		t.Logf("%s output:\n%s", in.name, strings.TrimSpace(in.log.String()))
	}
}
