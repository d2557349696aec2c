package scim_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/scim"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlstore"
)

// BenchmarkSCIMScale measures the SCIM server on a populated identity
// store (issue 5): user creation and PATCH rates, a userName eq filter,
// group reads with ~10 and with 1,000 members, and a PATCH that adds and
// removes one member, at two directory sizes:
//
//	size=1k            1,000 users,   100 groups, SQLite file
//	size=100k        100,000 users, 10,000 groups, SQLite file
//	size=100k-postgres the same on PostgreSQL (only with GATEHOUSE_TEST_POSTGRES)
//
// A size is populated as soon as its name matches -bench, even when none
// of its operations does: anchor the size (-bench 'SCIMScale/size=100k$/')
// to leave the PostgreSQL variant out, or select it alone with
// -bench 'SCIMScale/size=100k-postgres'. Population takes about 2 minutes
// for size=100k on SQLite and about 4.5 on PostgreSQL (2 shared cores).
//
// Each size is populated once per run through the store API (two
// concurrent CreateDirectoryUser and CreateGroup calls; there is no bulk
// path), and its sub-benchmarks share it. Every user has a userName,
// externalId, name parts, a display name and a work and a home e-mail
// address; each group has 10 members (each user is in one), and one
// more, "big", has 1,000 (900 at size=1k, leaving users to add). The
// requests go through scimtoken's middleware (the token lives in the
// same store, as in the gateway) and the SCIM handler in process;
// audit records are discarded, so the figures are those of the identity
// store and the SCIM layer. Read benchmarks run first, then the writes
// (patch, patch-members, create), which change the directory little.
//
// Besides ns/op each benchmark reports the p50 and p99 latency of one
// request (µs, from per-request timings). Run enough iterations for p99
// to mean something:
//
//	go test -run XXX -bench BenchmarkSCIMScale -benchtime 2000x ./internal/scim/
//
// On SQLite the setup also logs the query plan (EXPLAIN QUERY PLAN) of
// every statement each operation issues, flagging full scans, and the
// population time; go test prints these logs with -v only.
func BenchmarkSCIMScale(b *testing.B) {
	sizes := []struct {
		name          string
		users, groups int
		postgres      bool
	}{
		{name: "size=1k", users: 1_000, groups: 100},
		{name: "size=100k", users: 100_000, groups: 10_000},
		{name: "size=100k-postgres", users: 100_000, groups: 10_000, postgres: true},
	}
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			var fx *scaleFixture
			if sz.postgres {
				fx = newPostgresFixture(b)
			} else {
				fx = newSQLiteFixture(b)
			}
			fx.populate(b, sz.users, sz.groups)
			if !sz.postgres {
				fx.explainAll(b)
			}
			fx.run(b)
		})
	}
}

// scaleFixture is a populated store behind the SCIM handler.
type scaleFixture struct {
	db      *sql.DB
	dialect sqlstore.Dialect
	// newDB opens another handle on the same database (SQLite: through
	// a tracing driver, for query plans); nil when not supported.
	newDB   func(connector func(driver.Driver, string) driver.Connector) *sql.DB
	store   *sqlstore.Store
	handler http.Handler
	token   string

	userIDs   []string
	userNames []string
	// groups are the 10-member groups' IDs and members (kept up to date
	// by patch-members); big is the 1,000-member group.
	groups  []scaleGroup
	big     scaleGroup
	created int // users created by the create benchmark so far
}

type scaleGroup struct {
	id      string
	members []string
}

// discardAuditor accepts every event and keeps none.
type discardAuditor struct{ n atomic.Int64 }

func (a *discardAuditor) Record(context.Context, audit.Event) error {
	a.n.Add(1)
	return nil
}

func newSQLiteFixture(b *testing.B) *scaleFixture {
	b.Helper()
	path := filepath.Join(b.TempDir(), "gatehouse.db")
	dsn := sqlstore.SQLiteDSN(path)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	fx := &scaleFixture{db: db, dialect: sqlstore.SQLite}
	fx.newDB = func(connector func(driver.Driver, string) driver.Connector) *sql.DB {
		return sql.OpenDB(connector(db.Driver(), dsn))
	}
	fx.open(b)
	return fx
}

// newPostgresFixture uses a new schema of the GATEHOUSE_TEST_POSTGRES
// database, dropped at the end; it skips without the variable.
func newPostgresFixture(b *testing.B) *scaleFixture {
	b.Helper()
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if base == "" {
		b.Skip("the PostgreSQL variant needs GATEHOUSE_TEST_POSTGRES set to a pgx URL, e.g. postgres://postgres@127.0.0.1:5432/test")
	}
	ctx := context.Background()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		b.Fatal(err)
	}
	if err := admin.PingContext(ctx); err != nil {
		b.Fatalf("GATEHOUSE_TEST_POSTGRES is set but PostgreSQL is unreachable: %v", err)
	}
	schema := fmt.Sprintf("gatehouse_bench_%d", time.Now().UnixNano())
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
		}
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		b.Fatalf("GATEHOUSE_TEST_POSTGRES must be a URL for this benchmark: %q", base)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() }) // runs before the DROP above
	fx := &scaleFixture{db: db, dialect: sqlstore.PostgreSQL}
	fx.open(b)
	return fx
}

// open opens the store on fx.db and builds the handler with a token.
func (fx *scaleFixture) open(b *testing.B) {
	b.Helper()
	st, err := sqlstore.Open(context.Background(), fx.db, fx.dialect, sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() }) // runs before db.Close
	fx.store = st
	fx.handler, fx.token = scaleHandler(b, st)
}

// scaleHandler is the SCIM server on st behind scimtoken's middleware,
// with a new token kept in st.
func scaleHandler(b *testing.B, st *sqlstore.Store) (http.Handler, string) {
	b.Helper()
	srv, err := scim.New(scim.Config{Store: st, Auditor: &discardAuditor{}, BaseURL: baseURL})
	if err != nil {
		b.Fatal(err)
	}
	tokens, err := scimtoken.New(scimtoken.Config{Store: st, Auditor: &discardAuditor{}})
	if err != nil {
		b.Fatal(err)
	}
	created, err := tokens.Create(context.Background(), scimtoken.CreateRequest{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return tokens.Require(srv.Handler()), created.Token
}

// scaleUser is the i-th user of the directory.
func scaleUser(i int) directory.User {
	given := givenNames[i%len(givenNames)]
	family := familyNames[(i/len(givenNames))%len(familyNames)]
	return directory.User{
		UserName:    fmt.Sprintf("user-%06d", i),
		ExternalID:  fmt.Sprintf("ext-%06d", i),
		GivenName:   given,
		FamilyName:  family,
		DisplayName: given + " " + family,
		Emails: []directory.Email{
			{Value: fmt.Sprintf("%s.%s.%d@corp.example.com", strings.ToLower(given), strings.ToLower(family), i), Type: "work", Primary: true},
			{Value: fmt.Sprintf("%s%d@mail.example.net", strings.ToLower(given), i), Type: "home"},
		},
		Active: true,
	}
}

var (
	givenNames  = []string{"Alice", "Bruno", "Chloé", "Dmitri", "Esther", "Farid", "Grace", "Hiroshi", "Ines", "Jonas", "Kwame", "Lena", "Mateo", "Nora", "Oskar", "Priya"}
	familyNames = []string{"Adams", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen", "Ivanova", "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka"}
)

// populate creates users, then groups of 10 members (user i is in group
// i/10 mod groups) and one group of 1,000 random members (at most all
// users but 100), with
// concurrent store calls.
func (fx *scaleFixture) populate(b *testing.B, users, groups int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	const workers = 2
	start := time.Now()
	fx.userIDs = make([]string, users)
	fx.userNames = make([]string, users)
	err := parallel(users, workers, func(i int) error {
		u, err := retryBusy(func() (directory.User, error) { return fx.store.CreateDirectoryUser(ctx, scaleUser(i), now) })
		if err != nil {
			return fmt.Errorf("user %d: %w", i, err)
		}
		fx.userIDs[i], fx.userNames[i] = u.ID, u.UserName
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	usersTook := time.Since(start)

	start = time.Now()
	fx.groups = make([]scaleGroup, groups)
	err = parallel(groups, workers, func(i int) error {
		var members []string
		for k := range 10 {
			members = append(members, fx.userIDs[(i*10+k)%users])
		}
		g, err := retryBusy(func() (directory.Group, error) {
			return fx.store.CreateGroup(ctx, directory.Group{DisplayName: fmt.Sprintf("group-%05d", i), ExternalID: fmt.Sprintf("gext-%05d", i), Members: members}, now)
		})
		if err != nil {
			return fmt.Errorf("group %d: %w", i, err)
		}
		fx.groups[i] = scaleGroup{id: g.ID, members: g.Members}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var bigMembers []string
	// At size=1k the big group leaves 100 users out, so that
	// patch-members/big has users to add.
	for _, i := range rng.Perm(users)[:min(1000, users-100)] {
		bigMembers = append(bigMembers, fx.userIDs[i])
	}
	g, err := fx.store.CreateGroup(ctx, directory.Group{DisplayName: "group-big", Members: bigMembers}, now)
	if err != nil {
		b.Fatal(err)
	}
	fx.big = scaleGroup{id: g.ID, members: g.Members}
	groupsTook := time.Since(start)
	b.Logf("populated %d users in %s (%.0f/s), %d groups in %s (%.0f/s)",
		users, usersTook.Round(time.Millisecond), float64(users)/usersTook.Seconds(),
		groups+1, groupsTook.Round(time.Millisecond), float64(groups+1)/groupsTook.Seconds())
}

// retryBusy calls fn again (up to 5 times in all) while it fails with
// SQLITE_BUSY: on a loaded machine a writer may wait for the write lock
// longer than the DSN's busy_timeout (5 s), and the population should not
// fail for that. BUSY comes before anything is written.
func retryBusy[T any](fn func() (T, error)) (T, error) {
	for try := 1; ; try++ {
		v, err := fn()
		if err == nil || try == 5 || !strings.Contains(err.Error(), "SQLITE_BUSY") {
			return v, err
		}
	}
}

// parallel calls fn(0..n-1) on workers goroutines and returns the first
// error (stopping the others soon after).
func parallel(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	var failed atomic.Bool
	for range workers {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return first
}

// scaleRequest is one request of an operation, built before timing.
type scaleRequest struct {
	method, path string
	body         []byte
}

// operation returns the requests of one benchmark: next(i) is the i-th
// request; done(i, status, body) checks and accounts for the answer.
type operation struct {
	name string
	next func(i int) scaleRequest
	done func(i int, status int, body []byte) error
}

func (fx *scaleFixture) operations() []operation {
	rng := rand.New(rand.NewPCG(7, 11))
	randUser := func() int { return rng.IntN(len(fx.userIDs)) }
	wantStatus := func(want int) func(int, int, []byte) error {
		return func(_ int, status int, body []byte) error {
			if status != want {
				return fmt.Errorf("status %d, want %d: %.300s", status, want, body)
			}
			return nil
		}
	}
	groupGet := func(g *scaleGroup) func(int) scaleRequest {
		return func(int) scaleRequest {
			return scaleRequest{method: http.MethodGet, path: "/scim/v2/Groups/" + g.id}
		}
	}
	// patchMembers adds a random user to a group and removes a random
	// member; pick chooses the group.
	patchMembers := func(pick func() *scaleGroup) (func(int) scaleRequest, func(int, int, []byte) error) {
		var g *scaleGroup
		var slot int
		var added string
		next := func(int) scaleRequest {
			g = pick()
			slot = rng.IntN(len(g.members))
			for try := 0; ; try++ {
				added = fx.userIDs[randUser()]
				if !slices.Contains(g.members, added) {
					break
				}
				if try > 10_000 {
					panic("no user outside the group to add")
				}
			}
			body := patchJSON(
				map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": added}}},
				map[string]any{"op": "remove", "path": `members[value eq "` + g.members[slot] + `"]`},
			)
			return scaleRequest{method: http.MethodPatch, path: "/scim/v2/Groups/" + g.id, body: body}
		}
		done := func(_ int, status int, body []byte) error {
			if status != http.StatusOK && status != http.StatusNoContent {
				return fmt.Errorf("status %d: %.300s", status, body)
			}
			g.members[slot] = added
			return nil
		}
		return next, done
	}
	smallNext, smallDone := patchMembers(func() *scaleGroup { return &fx.groups[rng.IntN(len(fx.groups))] })
	bigNext, bigDone := patchMembers(func() *scaleGroup { return &fx.big })
	return []operation{
		{
			name: "filter-username",
			next: func(int) scaleRequest {
				f := url.QueryEscape(`userName eq "` + fx.userNames[randUser()] + `"`)
				return scaleRequest{method: http.MethodGet, path: "/scim/v2/Users?filter=" + f}
			},
			done: func(_ int, status int, body []byte) error {
				if status != http.StatusOK || !bytes.Contains(body, []byte(`"totalResults":1,`)) {
					return fmt.Errorf("status %d, want 200 with one result: %.300s", status, body)
				}
				return nil
			},
		},
		{name: "group-members/small", next: func(i int) scaleRequest {
			return groupGet(&fx.groups[rng.IntN(len(fx.groups))])(i)
		}, done: wantStatus(http.StatusOK)},
		{name: "group-members/big", next: groupGet(&fx.big), done: wantStatus(http.StatusOK)},
		{
			name: "patch",
			next: func(i int) scaleRequest {
				id := fx.userIDs[randUser()]
				body := patchJSON(
					map[string]any{"op": "replace", "path": "displayName", "value": fmt.Sprintf("Renamed %d", i)},
					map[string]any{"op": "replace", "path": `emails[type eq "work"].value`, "value": fmt.Sprintf("renamed.%d@corp.example.com", i)},
				)
				return scaleRequest{method: http.MethodPatch, path: "/scim/v2/Users/" + id, body: body}
			},
			done: wantStatus(http.StatusOK),
		},
		{name: "patch-members/small", next: smallNext, done: smallDone},
		{name: "patch-members/big", next: bigNext, done: bigDone},
		{
			name: "create",
			next: func(int) scaleRequest {
				fx.created++
				u := scaleUser(len(fx.userIDs) + fx.created)
				u.UserName = fmt.Sprintf("new-%07d", fx.created)
				body, _ := json.Marshal(map[string]any{
					"schemas": []any{scim.UserSchema}, "userName": u.UserName, "externalId": u.ExternalID,
					"displayName": u.DisplayName, "active": true,
					"name":   map[string]any{"givenName": u.GivenName, "familyName": u.FamilyName},
					"emails": []any{map[string]any{"value": u.Emails[0].Value, "type": "work", "primary": true}, map[string]any{"value": u.Emails[1].Value, "type": "home"}},
				})
				return scaleRequest{method: http.MethodPost, path: "/scim/v2/Users", body: body}
			},
			done: wantStatus(http.StatusCreated),
		},
	}
}

func patchJSON(ops ...map[string]any) []byte {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	body, _ := json.Marshal(map[string]any{"schemas": []any{scim.PatchOpSchema}, "Operations": list})
	return body
}

// serve sends one request to h and returns the status and body and how
// long ServeHTTP took.
func serve(h http.Handler, token string, req scaleRequest) (int, []byte, time.Duration) {
	var body *bytes.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	} else {
		body = bytes.NewReader(nil)
	}
	r := httptest.NewRequest(req.method, req.path, body)
	r.Header.Set("Authorization", "Bearer "+token)
	if req.body != nil {
		r.Header.Set("Content-Type", "application/scim+json")
	}
	w := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(w, r)
	took := time.Since(start)
	return w.Code, w.Body.Bytes(), took
}

// run runs one sub-benchmark per operation.
func (fx *scaleFixture) run(b *testing.B) {
	for _, op := range fx.operations() {
		b.Run(op.name, func(b *testing.B) {
			var took []time.Duration
			i := 0
			for b.Loop() {
				req := op.next(i)
				status, body, d := serve(fx.handler, fx.token, req)
				if err := op.done(i, status, body); err != nil {
					b.Fatalf("%s %s: %v", req.method, req.path, err)
				}
				took = append(took, d)
				i++
			}
			reportPercentiles(b, took)
		})
	}
}

// reportPercentiles reports the p50 and p99 of took in microseconds.
func reportPercentiles(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	at := func(p float64) float64 {
		i := min(int(p*float64(len(took))), len(took)-1)
		return float64(took[i].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// explainAll sends one request of each operation through a second store
// on the same database whose driver records every statement, and logs
// the SQLite query plan of each distinct statement, flagging full scans
// of a table or index.
func (fx *scaleFixture) explainAll(b *testing.B) {
	b.Helper()
	if fx.newDB == nil {
		return
	}
	rec := &stmtRecorder{}
	db := fx.newDB(func(d driver.Driver, dsn string) driver.Connector {
		return &recordingConnector{drv: d, dsn: dsn, rec: rec}
	})
	defer func() { _ = db.Close() }()
	st, err := sqlstore.Open(context.Background(), db, fx.dialect, sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	h, token := scaleHandler(b, st)
	// A request first, so that the token's last use is written and its
	// statements are not counted against the operations below.
	serve(h, token, scaleRequest{method: http.MethodGet, path: "/scim/v2/Users?count=0"})
	var report strings.Builder
	for _, op := range fx.operations() {
		if op.name == "create" {
			continue // the user would become part of the benchmark's directory
		}
		rec.start()
		req := op.next(0)
		status, body, _ := serve(h, token, req)
		if err := op.done(0, status, body); err != nil {
			b.Fatalf("explain %s: %v", op.name, err)
		}
		fmt.Fprintf(&report, "\n== %s: %s %s", op.name, req.method, req.path)
		for _, s := range rec.stop() {
			plan, err := explain(fx.db, s)
			if err != nil {
				b.Fatalf("explain %q: %v", s.query, err)
			}
			fmt.Fprintf(&report, "\n  %s\n    %s", compact(s.query), strings.Join(plan, "\n    "))
		}
	}
	b.Log(report.String())
}

// explain returns the EXPLAIN QUERY PLAN rows of a statement, those that
// scan a whole table or index marked "<-- FULL SCAN".
func explain(db *sql.DB, s recorded) ([]string, error) {
	rows, err := db.Query("EXPLAIN QUERY PLAN "+s.query, s.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return nil, err
		}
		if fullScan(detail) {
			detail += "   <-- FULL SCAN"
		}
		plan = append(plan, detail)
	}
	if len(plan) == 0 {
		plan = append(plan, "(no plan rows: a plain INSERT)")
	}
	return plan, rows.Err()
}

// fullScan reports whether a plan row reads a whole table or index (a
// SCAN of a stored table; scans of subquery results or of a list of
// values are bounded by them).
func fullScan(detail string) bool {
	rest, ok := strings.CutPrefix(detail, "SCAN ")
	if !ok {
		return false
	}
	name, _, _ := strings.Cut(rest, " ")
	switch name {
	case "users", "u", "groups", "g", "group_members", "m", "user_emails", "e", "scim_tokens":
		return true
	}
	return false
}

func compact(q string) string { return strings.Join(strings.Fields(q), " ") }

// recorded is one statement and its arguments.
type recorded struct {
	query string
	args  []any
}

// stmtRecorder keeps the distinct statements run between start and stop.
type stmtRecorder struct {
	mu   sync.Mutex
	on   bool
	seen map[string]bool
	list []recorded
}

func (r *stmtRecorder) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on, r.seen, r.list = true, map[string]bool{}, nil
}

func (r *stmtRecorder) stop() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	return r.list
}

func (r *stmtRecorder) add(query string, args []driver.NamedValue) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on || r.seen[query] {
		return
	}
	head := strings.ToUpper(strings.TrimSpace(query))
	if strings.HasPrefix(head, "BEGIN") || strings.HasPrefix(head, "COMMIT") || strings.HasPrefix(head, "ROLLBACK") {
		return
	}
	r.seen[query] = true
	list := make([]any, len(args))
	for i, a := range args {
		list[i] = a.Value
	}
	r.list = append(r.list, recorded{query: query, args: list})
}

// recordingConnector opens connections of drv that record the
// statements they run. The connections implement only Prepare (and
// transactions), so database/sql sends every statement through a
// recorded prepared statement.
type recordingConnector struct {
	drv driver.Driver
	dsn string
	rec *stmtRecorder
}

func (c *recordingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: conn, rec: c.rec}, nil
}

func (c *recordingConnector) Driver() driver.Driver { return c.drv }

type recordingConn struct {
	driver.Conn
	rec *stmtRecorder
}

func (c *recordingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var st driver.Stmt
	var err error
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, query)
	} else {
		st, err = c.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &recordingStmt{Stmt: st, query: query, rec: c.rec}, nil
}

func (c *recordingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return nil, errors.New("recordingConn: driver has no BeginTx")
}

type recordingStmt struct {
	driver.Stmt
	query string
	rec   *stmtRecorder
}

func (s *recordingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.rec.add(s.query, args)
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	return nil, errors.New("recordingStmt: driver has no ExecContext")
}

func (s *recordingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.rec.add(s.query, args)
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	return nil, errors.New("recordingStmt: driver has no QueryContext")
}
