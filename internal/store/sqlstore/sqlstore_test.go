package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// postgresEnv names the environment variable holding a pgx URL of a
// PostgreSQL database the tests may create schemas in.
const postgresEnv = "GATEHOUSE_TEST_POSTGRES"

var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func testOptions() Options {
	return Options{Now: func() time.Time { return testNow }}
}

// openSQLiteDB opens a fresh WAL-mode SQLite file in a temporary directory.
func openSQLiteDB(t testing.TB) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := sql.Open("sqlite", SQLiteDSN(path))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, path
}

func newSQLite(t testing.TB, opts Options) (*Store, *sql.DB, string) {
	t.Helper()
	db, path := openSQLiteDB(t)
	s, err := Open(context.Background(), db, SQLite, opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) }) // runs before db.Close
	return s, db, path
}

// openPostgresDB returns a connection to a new, empty schema of the
// database named by GATEHOUSE_TEST_POSTGRES, dropped when t ends. It skips
// when the variable is unset and fails when the database is unreachable.
func openPostgresDB(t testing.TB) *sql.DB {
	t.Helper()
	base := os.Getenv(postgresEnv)
	if base == "" {
		t.Skipf("PostgreSQL tests need %s set to a pgx URL, for example postgres://postgres@127.0.0.1:5432/test?sslmode=disable", postgresEnv)
	}
	ctx := context.Background()
	admin, err := sql.Open("pgx", base)
	require.NoError(t, err)
	require.NoError(t, admin.PingContext(ctx), "%s is set but PostgreSQL is unreachable", postgresEnv)
	schema := "gatehouse_test_" + newID()
	_, err = admin.ExecContext(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		assert.NoError(t, err)
		_ = admin.Close()
	})
	dsn, err := withSearchPath(base, schema)
	require.NoError(t, err)
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() }) // runs before the DROP above
	return db
}

// withSearchPath adds search_path to a pgx URL or keyword/value DSN.
func withSearchPath(dsn, schema string) (string, error) {
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", postgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func newPostgres(t testing.TB, opts Options) (*Store, *sql.DB) {
	t.Helper()
	db := openPostgresDB(t)
	s, err := Open(context.Background(), db, PostgreSQL, opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) }) // runs before db.Close
	return s, db
}

// backend is one database the SQL-specific tests run against.
type backend struct {
	name string
	open func(t testing.TB, opts Options) (*Store, *sql.DB)
}

var backends = []backend{
	{"sqlite", func(t testing.TB, opts Options) (*Store, *sql.DB) {
		s, db, _ := newSQLite(t, opts)
		return s, db
	}},
	{"postgres", newPostgres},
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "gatehouse-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	// cmd/gatehouse imports the driver: _ "modernc.org/sqlite".
	db, err := sql.Open("sqlite", SQLiteDSN(filepath.Join(dir, "gatehouse.db")))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(4)

	ctx := context.Background()
	store, err := Open(ctx, db, SQLite, Options{})
	if err != nil {
		panic(err)
	}
	now := time.Now()
	_ = store.SaveRequest(ctx, sp.PendingRequest{ID: "_req1", ReturnTo: "/portal", CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)})
	r, err := store.ConsumeRequest(ctx, "_req1", now)
	fmt.Println(r.ReturnTo, err)
	_, err = store.ConsumeRequest(ctx, "_req1", now)
	fmt.Println(errors.Is(err, sp.ErrNotFound))
	// Output:
	// /portal <nil>
	// true
}

func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, _, _ := newSQLite(t, testOptions())
		return s
	})
}

// TestConformanceSQLiteOneConnection runs the suite on a pool of one
// connection, which deadlocks if any method uses the pool while holding a
// transaction.
func TestConformanceSQLiteOneConnection(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		db, _ := openSQLiteDB(t)
		db.SetMaxOpenConns(1)
		s, err := Open(t.Context(), db, SQLite, testOptions())
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, s.Close()) })
		return s
	})
}

func TestConformancePostgres(t *testing.T) {
	if os.Getenv(postgresEnv) == "" {
		t.Skipf("PostgreSQL tests need %s set to a pgx URL", postgresEnv)
	}
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, _ := newPostgres(t, testOptions())
		return s
	})
}

func TestMigrations(t *testing.T) {
	migrations, err := loadMigrations()
	require.NoError(t, err)
	require.NotEmpty(t, migrations)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, db := b.open(t, testOptions())
			user, err := s.CreateUser(ctx, sp.User{UserName: "alice", Active: true})
			require.NoError(t, err)

			// Reopening the migrated database changes nothing and loses
			// nothing.
			for range 2 {
				s2, err := Open(ctx, db, s.d, testOptions())
				require.NoError(t, err)
				got, err := s2.GetUser(ctx, user.ID)
				require.NoError(t, err)
				assert.Equal(t, user, got)
			}

			rows, err := db.QueryContext(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
			require.NoError(t, err)
			defer rows.Close()
			var i int
			for rows.Next() {
				var v, at int64
				var name string
				require.NoError(t, rows.Scan(&v, &name, &at))
				require.Less(t, i, len(migrations))
				assert.Equal(t, migrations[i].version, v)
				assert.Equal(t, migrations[i].name, name)
				assert.Equal(t, testNow.UnixMicro(), at)
				i++
			}
			require.NoError(t, rows.Err())
			assert.Equal(t, len(migrations), i, "one row per migration")
		})
	}
}

func TestMigrationsConcurrentOpen(t *testing.T) {
	migrations, err := loadMigrations()
	require.NoError(t, err)
	opens := map[string]func(t testing.TB) (*sql.DB, Dialect){
		"sqlite": func(t testing.TB) (*sql.DB, Dialect) {
			db, _ := openSQLiteDB(t)
			// The first connection converts the new file to WAL, which
			// needs the file to itself (SQLITE_BUSY otherwise): a
			// program does that in its single Open before serving.
			require.NoError(t, db.Ping())
			return db, SQLite
		},
		"postgres": func(t testing.TB) (*sql.DB, Dialect) { return openPostgresDB(t), PostgreSQL },
	}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			db, d := open(t)
			const n = 4
			errs := make(chan error, n)
			for range n {
				go func() {
					_, err := Open(context.Background(), db, d, testOptions())
					errs <- err
				}()
			}
			for range n {
				require.NoError(t, <-errs)
			}
			var count int
			require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&count))
			assert.Equal(t, len(migrations), count)
		})
	}
}

func TestSplitStatements(t *testing.T) {
	got, err := splitStatements("-- comment;\nCREATE TABLE a (\n  x INT -- trailing\n);\n\n  -- another\nCREATE INDEX i ON a (x);\nSELECT 1")
	require.NoError(t, err)
	assert.Equal(t, []migrationStmt{
		{text: "CREATE TABLE a (\nx INT -- trailing\n)"},
		{text: "CREATE INDEX i ON a (x)"},
		{text: "SELECT 1"},
	}, got)
	got, err = splitStatements("-- only a comment\n\n")
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestSplitStatementsDialects(t *testing.T) {
	const valid = "CREATE TABLE a (x INT);\n-- dialect: sqlite\n-- a comment\nCREATE TABLE b (\n  id INTEGER PRIMARY KEY AUTOINCREMENT\n);\n  -- dialect: postgres\nCREATE TABLE b (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\nCREATE INDEX i ON a (x);\n"
	got, err := splitStatements(valid)
	require.NoError(t, err)
	require.Equal(t, []migrationStmt{
		{text: "CREATE TABLE a (x INT)"},
		{dialect: SQLite, text: "CREATE TABLE b (\nid INTEGER PRIMARY KEY AUTOINCREMENT\n)"},
		{dialect: PostgreSQL, text: "CREATE TABLE b (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY)"},
		{text: "CREATE INDEX i ON a (x)"},
	}, got)
	runs := func(d Dialect) []string {
		var out []string
		for _, m := range got {
			if m.runsOn(d) {
				out = append(out, m.text)
			}
		}
		return out
	}
	assert.Equal(t, []string{got[0].text, got[1].text, got[3].text}, runs(SQLite))
	assert.Equal(t, []string{got[0].text, got[2].text, got[3].text}, runs(PostgreSQL))

	for name, body := range map[string]string{
		"unknown dialect":      strings.Replace(valid, "dialect: postgres", "dialect: mysql", 1),
		"inside a statement":   strings.Replace(valid, "  id INTEGER", "-- dialect: sqlite\n  id INTEGER", 1),
		"two directives":       strings.Replace(valid, "-- a comment", "-- dialect: postgres", 1),
		"no statement after":   valid + "-- dialect: sqlite\n",
		"empty dialect name":   strings.Replace(valid, "dialect: sqlite", "dialect:", 1),
		"directive at the end": valid + "-- dialect: postgres\n-- trailing comment\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := splitStatements(body)
			require.Error(t, err)
		})
	}
}

// TestSessionIDHashedAtRest checks that the sessions table holds only the
// SHA-256 of the session ID and, for SQLite, that the raw ID appears
// nowhere in the database files.
func TestSessionIDHashedAtRest(t *testing.T) {
	const rawID = "raw-session-secret-7f3c9a1e5b2d4c6f8a0b"
	sum := sha256.Sum256([]byte(rawID))
	wantHash := hex.EncodeToString(sum[:])
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, db := b.open(t, testOptions())
			require.NoError(t, s.CreateSession(ctx, sp.Session{
				ID: rawID, UserID: "user-1", CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour),
				SessionIndex: "_idx", Method: "saml",
			}))
			// Positive control: the session is usable by its raw ID.
			_, err := s.GetSession(ctx, rawID, testNow)
			require.NoError(t, err)

			var idHash, userID, index, method string
			require.NoError(t, db.QueryRowContext(ctx,
				`SELECT id_hash, user_id, session_index, method FROM sessions`).Scan(&idHash, &userID, &index, &method))
			assert.Equal(t, wantHash, idHash)
			for _, v := range []string{idHash, userID, index, method} {
				assert.NotContains(t, v, rawID)
			}
			// The hash alone does not open the session.
			_, err = s.GetSession(ctx, idHash, testNow)
			require.ErrorIs(t, err, sp.ErrNotFound)
		})
	}
	t.Run("sqlite files", func(t *testing.T) {
		s, db, path := newSQLite(t, testOptions())
		require.NoError(t, s.CreateSession(t.Context(), sp.Session{ID: rawID, UserID: "user-1", ExpiresAt: testNow.Add(time.Hour)}))
		require.NoError(t, s.SaveRequest(t.Context(), sp.PendingRequest{ID: "control-" + rawID, ExpiresAt: testNow.Add(time.Hour)}))
		require.NoError(t, db.Close())
		var all []byte
		for _, p := range []string{path, path + "-wal"} {
			data, err := os.ReadFile(p)
			if os.IsNotExist(err) {
				continue
			}
			require.NoError(t, err)
			all = append(all, data...)
		}
		// Positive control: a value stored in clear is found in the files.
		require.Contains(t, string(all), "control-"+rawID)
		assert.Equal(t, strings.Count(string(all), "control-"+rawID), strings.Count(string(all), rawID),
			"the raw session ID occurs only inside the control value")
		assert.Contains(t, string(all), wantHash)
	})
}

// TestLinkConflicts covers the sp.ErrConflict cases of LinkByUserName that
// the UserDirectory methods alone cannot reach (a user_name changed after
// linking), by inserting links directly.
func TestLinkConflicts(t *testing.T) {
	const idp, other = "https://idp.example.com", "https://other.example.com"
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, db := b.open(t, testOptions())
			alice, err := s.CreateUser(ctx, sp.User{UserName: "alice", Active: true})
			require.NoError(t, err)
			bob, err := s.CreateUser(ctx, sp.User{UserName: "bob", Active: true})
			require.NoError(t, err)
			_, err = s.CreateUser(ctx, sp.User{UserName: "carol", Active: true})
			require.NoError(t, err)
			link := func(issuer, nameID, userID string) {
				_, err := db.ExecContext(ctx, s.d.rebind(
					`INSERT INTO external_identities (issuer, name_id, user_id, created_at) VALUES (?, ?, ?, 0)`),
					issuer, nameID, userID)
				require.NoError(t, err)
			}

			// Positive control.
			_, err = s.LinkByUserName(ctx, sp.ExternalIdentity{Issuer: idp, NameID: "alice"})
			require.NoError(t, err)

			// bob already has an identity of idp under another NameID.
			link(idp, "bob-old", bob.ID)
			_, err = s.LinkByUserName(ctx, sp.ExternalIdentity{Issuer: idp, NameID: "bob"})
			require.ErrorIs(t, err, sp.ErrConflict)

			// The identity "carol" of other is linked to alice, not to
			// the user named carol.
			link(other, "carol", alice.ID)
			_, err = s.LinkByUserName(ctx, sp.ExternalIdentity{Issuer: other, NameID: "carol"})
			require.ErrorIs(t, err, sp.ErrConflict)
			u, err := s.LookupExternal(ctx, sp.ExternalIdentity{Issuer: other, NameID: "carol"})
			require.NoError(t, err)
			assert.Equal(t, alice.ID, u.ID, "existing link unchanged")
		})
	}
}

func TestCleanupBatches(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			opts := testOptions()
			opts.CleanupBatchSize = 2
			s, db := b.open(t, opts)
			now := testNow.Add(time.Hour)
			for i := range 5 {
				exp := now.Add(-time.Duration(i) * time.Second)
				require.NoError(t, s.SaveRequest(ctx, sp.PendingRequest{ID: fmt.Sprintf("old-%d", i), ExpiresAt: exp}))
				require.NoError(t, s.MarkAssertionUsed(ctx, "https://idp.example.com", fmt.Sprintf("_old-%d", i), exp, testNow))
				require.NoError(t, s.CreateSession(ctx, sp.Session{ID: fmt.Sprintf("old-%d", i), ExpiresAt: exp}))
			}
			require.NoError(t, s.SaveRequest(ctx, sp.PendingRequest{ID: "live", ExpiresAt: now.Add(time.Microsecond)}))
			require.NoError(t, s.MarkAssertionUsed(ctx, "https://idp.example.com", "_live", now.Add(time.Microsecond), testNow))
			require.NoError(t, s.CreateSession(ctx, sp.Session{ID: "live", ExpiresAt: now.Add(time.Microsecond)}))
			// The OAuth tables delete rows whose expiry is before now (for
			// device authorizations: before now minus the retention).
			deviceCutoff := now.Add(-store.DeviceRetention)
			for i := range 6 {
				name, exp, deviceExp := fmt.Sprintf("old-%d", i), now.Add(-time.Duration(i+1)*time.Second), deviceCutoff.Add(-time.Duration(i+1)*time.Second)
				if i == 5 {
					name, exp, deviceExp = "live", now, deviceCutoff
				}
				require.NoError(t, s.Revoke(ctx, "jti-"+name, exp))
				require.NoError(t, s.CreateRefreshToken(ctx, oauth.RefreshToken{Hash: "rt-" + name, FamilyID: "fam-" + name, ExpiresAt: exp, FamilyExpiresAt: exp}))
				require.NoError(t, s.CreateDevice(ctx, oauth.DeviceAuthorization{
					DeviceCodeHash: "dc-" + name, UserCode: "UC-" + name, CreatedAt: deviceExp.Add(-time.Minute), ExpiresAt: deviceExp,
				}))
			}
			require.NoError(t, s.AppendAudit(ctx, []audit.Event{{Type: "never.deleted", Time: testNow.Add(-24 * time.Hour)}}))

			n, err := s.Cleanup(ctx, now)
			require.NoError(t, err)
			assert.Equal(t, int64(30), n)
			var events int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_events").Scan(&events))
			assert.Equal(t, 1, events, "audit events are never deleted")
			for _, table := range []string{"pending_requests", "replay_cache", "sessions", "revoked_tokens", "refresh_tokens", "device_authorizations"} {
				var left int
				require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&left))
				assert.Equal(t, 1, left, table)
			}
		})
	}
}

func TestCleanupStopsOnCanceledContext(t *testing.T) {
	s, _, _ := newSQLite(t, testOptions())
	require.NoError(t, s.SaveRequest(t.Context(), sp.PendingRequest{ID: "old", ExpiresAt: testNow}))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Cleanup(ctx, testNow)
	require.ErrorIs(t, err, context.Canceled)
	n, err := s.Cleanup(t.Context(), testNow)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}

func TestOpenValidation(t *testing.T) {
	ctx := t.Context()
	t.Run("positive control", func(t *testing.T) {
		db, _ := openSQLiteDB(t)
		_, err := Open(ctx, db, SQLite, Options{})
		require.NoError(t, err)
	})
	t.Run("nil db", func(t *testing.T) {
		_, err := Open(ctx, nil, SQLite, Options{})
		require.Error(t, err)
	})
	t.Run("bad dialect", func(t *testing.T) {
		db, _ := openSQLiteDB(t)
		_, err := Open(ctx, db, Dialect(0), Options{})
		require.Error(t, err)
	})
	t.Run("negative batch", func(t *testing.T) {
		db, _ := openSQLiteDB(t)
		_, err := Open(ctx, db, SQLite, Options{CleanupBatchSize: -1})
		require.Error(t, err)
	})
	for name, dropped := range map[string]string{
		"foreign keys off": "_pragma=foreign_keys%281%29",
		"no busy timeout":  "_pragma=busy_timeout%285000%29",
	} {
		t.Run(name, func(t *testing.T) {
			dsn := SQLiteDSN(filepath.Join(t.TempDir(), "x.db"))
			require.Contains(t, dsn, dropped)
			dsn = strings.Replace(dsn, dropped, "", 1)
			db, err := sql.Open("sqlite", dsn)
			require.NoError(t, err)
			defer db.Close()
			_, err = Open(ctx, db, SQLite, Options{})
			require.Error(t, err)
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		db, err := sql.Open("sqlite", SQLiteDSN(filepath.Join(t.TempDir(), "missing-dir", "x.db")))
		require.NoError(t, err)
		defer db.Close()
		_, err = Open(ctx, db, SQLite, Options{})
		require.Error(t, err)
	})
}

func TestSQLiteDSN(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "odd name?#%.db")
	db, err := sql.Open("sqlite", SQLiteDSN(path))
	require.NoError(t, err)
	defer db.Close()
	_, err = Open(t.Context(), db, SQLite, Options{})
	require.NoError(t, err)
	_, err = os.Stat(path)
	require.NoError(t, err, "the database file has the exact name given")

	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000"} {
		var got string
		require.NoError(t, db.QueryRow("PRAGMA "+pragma).Scan(&got))
		assert.Equal(t, want, strings.ToLower(got), pragma)
	}
}

func TestDialect(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Dialect
	}{{"sqlite", SQLite}, {"SQLite", SQLite}, {"postgres", PostgreSQL}, {"postgresql", PostgreSQL}, {"pgx", PostgreSQL}} {
		d, err := DialectFor(tc.name)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, d)
	}
	_, err := DialectFor("mysql")
	require.Error(t, err)
	assert.Equal(t, "sqlite", SQLite.String())
	assert.Equal(t, "postgres", PostgreSQL.String())

	q := `SELECT a FROM t WHERE b = ? AND c > ? LIMIT ?`
	assert.Equal(t, q, SQLite.rebind(q))
	assert.Equal(t, `SELECT a FROM t WHERE b = $1 AND c > $2 LIMIT $3`, PostgreSQL.rebind(q))
}

func TestSQLiteAtLeast(t *testing.T) {
	for v, want := range map[string]bool{"3.35.0": true, "3.50.4": true, "4.0": true, "3.34.1": false, "2.99": false, "3": false, "x.y": false} {
		assert.Equal(t, want, sqliteAtLeast(v, 3, 35), v)
	}
}

// BenchmarkACSStoreOps measures the store work of one SAML sign-in at the
// ACS on SQLite in WAL mode: save the pending request (at login), consume
// it, mark the assertion used and create the session.
func BenchmarkACSStoreOps(b *testing.B) {
	s, _, _ := newSQLite(b, testOptions())
	benchACSStoreOps(b, s)
}
