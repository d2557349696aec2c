package gateway_test

// PostgreSQL round trips per sign-in and per token exchange (issue 6):
//
//	GATEHOUSE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test -run '^$' -bench PostgresRoundTrips -benchtime 2000x ./internal/gateway/
//
// The store runs on pgx's database/sql driver with a tracer that counts
// every statement sent (BEGIN and COMMIT included), every PREPARE and every
// pipelined batch (one round trip for all its statements); the
// "pg-roundtrips/op" metric is that count divided by the operations, so it
// includes the audit log's writes (grouped: concurrent operations share a
// commit) and nothing else runs on the pool meanwhile.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse-dev/gatehouse/saml/samltest"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// roundTrips counts the statements and prepares pgx sends; with log set
// (GATEHOUSE_BENCH_SQL=1) it also records them.
type roundTrips struct {
	n   atomic.Int64
	mu  sync.Mutex
	log []string
	on  bool
}

func (c *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	if c.on {
		c.mu.Lock()
		c.log = append(c.log, strings.Join(strings.Fields(d.SQL), " "))
		c.mu.Unlock()
	}
	return ctx
}
func (c *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *roundTrips) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *roundTrips) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// A batch is pipelined: its statements go out together and their results
// come back together, one round trip (sp.SignInStarter).
func (c *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *roundTrips) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	if c.on {
		c.mu.Lock()
		c.log = append(c.log, "(batch) "+strings.Join(strings.Fields(d.SQL), " "))
		c.mu.Unlock()
	}
}
func (c *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// countingPostgres opens a store on a fresh schema of the benchmark
// database through a pgx pool whose statements are counted.
func countingPostgres(b *testing.B) (*sqlstore.Store, *roundTrips) {
	b.Helper()
	base := os.Getenv(postgresEnv)
	if base == "" {
		b.Skipf("needs %s set to a pgx URL", postgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		b.Fatal(err)
	}
	var rb [8]byte
	_, _ = rand.Read(rb[:])
	schema := "gatehouse_bench_" + hex.EncodeToString(rb[:])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		b.Fatalf("%s is set but PostgreSQL is unreachable: %v", postgresEnv, err)
	}
	b.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		b.Fatal(err)
	}
	counter := &roundTrips{on: os.Getenv("GATEHOUSE_BENCH_SQL") != ""}
	cfg.Tracer = counter
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(20) // as cmd/gatehouse
	db.SetMaxIdleConns(10)
	b.Cleanup(func() { _ = db.Close() })
	st, err := sqlstore.Open(context.Background(), db, sqlstore.PostgreSQL, sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st, counter
}

// measure runs op b.N times after warm operations (prepared statements,
// the first audit batch, first sign-ins that link users) and reports the
// round trips per operation. op gets -1, -2, ... for the warm-up.
func measure(b *testing.B, counter *roundTrips, warm int, op func(i int) error) {
	b.Helper()
	for i := range warm {
		if err := op(-1 - i); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // let the audit log's last batch commit
	start := counter.n.Load()
	b.ResetTimer()
	for i := range b.N {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	time.Sleep(50 * time.Millisecond)
	b.ReportMetric(float64(counter.n.Load()-start)/float64(b.N), "pg-roundtrips/op")
	if counter.on {
		counter.mu.Lock()
		for _, q := range counter.log[len(counter.log)-int(counter.n.Load()-start):] {
			b.Log(q)
		}
		counter.mu.Unlock()
	}
}

// signInBench is a gateway on a counting PostgreSQL store with the bench
// users, trusting a test IdP; samlExtra are identity_source.saml lines.
func signInBench(b *testing.B, samlExtra ...string) (http.Handler, *config.Config, *samltest.IdP, *roundTrips) {
	b.Helper()
	st, counter := countingPostgres(b)
	dir := b.TempDir()
	upstream := writeUpstreamIdP(b, dir, benchBase)
	cfg := loadGatewayConfig(b, dir, gatewayYAML(benchBase, "  signing_alg: ES256\n", samlExtra...))
	g, err := gateway.New(context.Background(), cfg, gateway.Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Close() })
	createBenchUsers(b, st)
	return g.Handler(), cfg, upstream, counter
}

// BenchmarkPostgresRoundTrips measures a SAML sign-in at the ACS and a
// token exchange on PostgreSQL, serially, with their round trips.
func BenchmarkPostgresRoundTrips(b *testing.B) {
	b.Run("signin", func(b *testing.B) {
		h, cfg, upstream, counter := signInBench(b, "allow_idp_initiated: true")
		acs := benchBase + "/saml/acs"
		var err error
		// Steady state: signInUsers users signing in again and again; the
		// warm-up is each one's first sign-in, which links the user.
		const signInUsers = 50
		responses := make([]string, b.N+signInUsers)
		for i := range responses {
			if responses[i], err = upstream.EncodedResponse(samltest.ResponseOptions{
				Destination: acs, Audience: cfg.IdentitySource.SAML.EntityID, NameID: fmt.Sprintf("user%04d", i%signInUsers),
				Sign: samltest.SignAssertion,
			}); err != nil {
				b.Fatal(err)
			}
		}
		measure(b, counter, signInUsers, func(i int) error {
			if i < 0 {
				i = b.N - i - 1
			}
			req := httptest.NewRequest(http.MethodPost, acs, strings.NewReader(url.Values{"SAMLResponse": {responses[i]}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Set-Cookie"), sp.SessionCookie) {
				return fmt.Errorf("sign-in %d: status %d: %s", i, rec.Code, rec.Body.String())
			}
			return nil
		})
	})
	// An SP-initiated sign-in: the login redirect (which stores the
	// pending request) and the ACS (which consumes it); each response is
	// signed during the measured loop, as its InResponseTo is only known
	// then, so ns/op includes the test IdP's signing.
	b.Run("signin-sp-initiated", func(b *testing.B) {
		h, cfg, upstream, counter := signInBench(b)
		acs := benchBase + "/saml/acs"
		const signInUsers = 50
		measure(b, counter, signInUsers, func(i int) error {
			if i < 0 {
				i = -i
			}
			login := httptest.NewRecorder()
			h.ServeHTTP(login, httptest.NewRequest(http.MethodGet, benchBase+"/saml/sp/login?return_to=/portal", nil))
			loc, err := url.Parse(login.Header().Get("Location"))
			if login.Code != http.StatusFound || err != nil {
				return fmt.Errorf("login %d: status %d, Location %q", i, login.Code, login.Header().Get("Location"))
			}
			areq, relayState, err := samltest.ParseAuthnRequestFromRedirect(loc)
			if err != nil {
				return fmt.Errorf("login %d: %w", i, err)
			}
			resp, err := upstream.EncodedResponse(samltest.ResponseOptions{
				Destination: acs, Audience: cfg.IdentitySource.SAML.EntityID, NameID: fmt.Sprintf("user%04d", i%signInUsers),
				InResponseTo: areq.ID, Sign: samltest.SignAssertion,
			})
			if err != nil {
				return err
			}
			req := httptest.NewRequest(http.MethodPost, acs, strings.NewReader(url.Values{"SAMLResponse": {resp}, "RelayState": {relayState}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, c := range login.Result().Cookies() {
				req.AddCookie(c)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Set-Cookie"), sp.SessionCookie) {
				return fmt.Errorf("sign-in %d: status %d: %s", i, rec.Code, rec.Body.String())
			}
			return nil
		})
	})
	b.Run("exchange", func(b *testing.B) {
		st, counter := countingPostgres(b)
		createBenchUsers(b, st)
		e := newExchangeBench(b, b.TempDir(), st)
		bodies := e.bodies(b, b.N+3)
		measure(b, counter, 3, func(i int) error {
			if i < 0 {
				i = b.N - i - 1
			}
			return e.do(bodies[i])
		})
	})
}
