package scimtoken

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

// postgresEnv names the environment variable holding a pgx URL of a
// PostgreSQL database the tests may create schemas in.
const postgresEnv = "GATEHOUSE_TEST_POSTGRES"

// testNow has no sub-microsecond part, so it round-trips through SQL.
var testNow = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// sqliteDSN is the gateway store's SQLite DSN (sqlstore.SQLiteDSN), with
// BEGIN IMMEDIATE transactions when immediate is set and the driver's
// default deferred ones otherwise.
func sqliteDSN(path string, immediate bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if immediate {
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// openSQLStore opens a pool with dsn and a migrated SQLStore over it.
func openSQLStore(t testing.TB, driver, dsn string, d Dialect) *SQLStore {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	s, err := NewSQLStore(db, d)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()))
	return s
}

// postgresSchemaDSN creates a fresh schema in the database named by
// GATEHOUSE_TEST_POSTGRES, dropped when t ends, and returns a pgx URL whose
// search_path selects it. It skips when the variable is unset and fails
// when it is set but PostgreSQL is unreachable.
func postgresSchemaDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(postgresEnv)
	if base == "" {
		t.Skipf("PostgreSQL tests need %s set to a pgx URL, for example postgres://postgres@127.0.0.1:5432/test?sslmode=disable", postgresEnv)
	}
	ctx := context.Background()
	admin, err := sql.Open("pgx", base)
	require.NoError(t, err)
	require.NoError(t, admin.PingContext(ctx), "%s is set but PostgreSQL is unreachable", postgresEnv)
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "gatehouse_scimtoken_test_" + hex.EncodeToString(b[:])
	_, err = admin.ExecContext(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		assert.NoError(t, err)
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	require.NoError(t, err, "%s must be a pgx URL", postgresEnv)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// backend opens two handles on one fresh token store: for the SQL stores
// two pools (two gateway instances), for the memory store the same one.
type backend struct {
	name string
	open func(t testing.TB) (Store, Store)
}

var backends = []backend{
	{"memory", func(testing.TB) (Store, Store) {
		m := NewMemoryStore()
		return m, m
	}},
	{"sqlite", func(t testing.TB) (Store, Store) {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		return openSQLStore(t, "sqlite", sqliteDSN(path, true), SQLite), openSQLStore(t, "sqlite", sqliteDSN(path, true), SQLite)
	}},
	{"sqlite-deferred", func(t testing.TB) (Store, Store) {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		return openSQLStore(t, "sqlite", sqliteDSN(path, false), SQLite), openSQLStore(t, "sqlite", sqliteDSN(path, false), SQLite)
	}},
	{"sqlite-one-connection", func(t testing.TB) (Store, Store) {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		s := openSQLStore(t, "sqlite", sqliteDSN(path, true), SQLite)
		s.db.SetMaxOpenConns(1)
		return s, s
	}},
	{"postgres", func(t testing.TB) (Store, Store) {
		dsn := postgresSchemaDSN(t)
		return openSQLStore(t, "pgx", dsn, PostgreSQL), openSQLStore(t, "pgx", dsn, PostgreSQL)
	}},
}

// record returns a valid record created at testNow plus offset.
func record(offset time.Duration, lifetime time.Duration) Record {
	_, hash := newToken()
	created := testNow.Add(offset)
	return Record{ID: newID(), Hash: hash, Name: "okta", CreatedAt: created, ExpiresAt: created.Add(lifetime)}
}

func TestStores(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Run("insert and read", func(t *testing.T) {
				s, other := b.open(t)
				rec := record(0, DefaultLifetime)
				rec.Name = "Okta <prod> ünïcode"
				require.NoError(t, s.InsertToken(t.Context(), rec, MaxActive))
				got, err := other.TokenByHash(t.Context(), rec.Hash)
				require.NoError(t, err)
				assert.Equal(t, rec, got)
				_, err = other.TokenByHash(t.Context(), HashToken("ghscim_other"))
				assert.ErrorIs(t, err, ErrNotFound)
			})
			t.Run("duplicate", func(t *testing.T) {
				s, _ := b.open(t)
				rec := record(0, DefaultLifetime)
				require.NoError(t, s.InsertToken(t.Context(), rec, MaxActive))
				sameID := record(0, DefaultLifetime)
				sameID.ID = rec.ID
				assert.ErrorIs(t, s.InsertToken(t.Context(), sameID, MaxActive), ErrConflict)
				sameHash := record(0, DefaultLifetime)
				sameHash.Hash = rec.Hash
				assert.ErrorIs(t, s.InsertToken(t.Context(), sameHash, MaxActive), ErrConflict)
			})
			t.Run("limit counts only active tokens", func(t *testing.T) {
				s, other := b.open(t)
				expired := record(-2*Day, Day)
				require.NoError(t, s.InsertToken(t.Context(), expired, MaxActive))
				revoked := record(-time.Hour, Day)
				require.NoError(t, s.InsertToken(t.Context(), revoked, MaxActive))
				require.NoError(t, s.RevokeToken(t.Context(), revoked.ID, testNow.Add(-time.Minute)))
				first, second, third := record(0, Day), record(time.Second, Day), record(2*time.Second, Day)
				require.NoError(t, s.InsertToken(t.Context(), first, MaxActive))
				require.NoError(t, other.InsertToken(t.Context(), second, MaxActive))
				assert.ErrorIs(t, s.InsertToken(t.Context(), third, MaxActive), ErrLimit)
				_, err := s.TokenByHash(t.Context(), third.Hash)
				assert.ErrorIs(t, err, ErrNotFound, "a refused token is not stored")

				// A token expiring exactly at the creation instant no longer counts.
				atExpiry := record(Day, Day)
				assert.NoError(t, s.InsertToken(t.Context(), atExpiry, MaxActive))
			})
			t.Run("list", func(t *testing.T) {
				s, other := b.open(t)
				list, err := s.ListTokens(t.Context())
				require.NoError(t, err)
				assert.Empty(t, list)
				a, c := record(time.Second, Day), record(0, 3*Day)
				expired := record(-3*Day, Day)
				revoked := record(-time.Hour, Day)
				for _, r := range []Record{a, c, expired, revoked} {
					require.NoError(t, s.InsertToken(t.Context(), r, 10))
				}
				require.NoError(t, s.RevokeToken(t.Context(), revoked.ID, testNow))
				list, err = other.ListTokens(t.Context())
				require.NoError(t, err)
				assert.Equal(t, []Record{expired, c, a}, list, "unrevoked, expired included, oldest first")
			})
			t.Run("revoke", func(t *testing.T) {
				s, other := b.open(t)
				rec := record(0, Day)
				require.NoError(t, s.InsertToken(t.Context(), rec, MaxActive))
				at := testNow.Add(time.Minute)
				require.NoError(t, s.RevokeToken(t.Context(), rec.ID, at))
				got, err := other.TokenByHash(t.Context(), rec.Hash)
				require.NoError(t, err)
				assert.Equal(t, at, got.RevokedAt)
				assert.ErrorIs(t, other.RevokeToken(t.Context(), rec.ID, at.Add(time.Minute)), ErrNotFound, "revoked once")
				got, err = s.TokenByHash(t.Context(), rec.Hash)
				require.NoError(t, err)
				assert.Equal(t, at, got.RevokedAt, "the first revocation time stays")
				assert.ErrorIs(t, s.RevokeToken(t.Context(), newID(), at), ErrNotFound)
			})
			t.Run("touch", func(t *testing.T) {
				s, other := b.open(t)
				rec := record(0, Day)
				require.NoError(t, s.InsertToken(t.Context(), rec, MaxActive))
				t1 := testNow.Add(time.Hour)
				require.NoError(t, s.TouchToken(t.Context(), rec.ID, t1, t1.Add(-time.Minute)))
				// Within the interval: no write.
				t2 := t1.Add(30 * time.Second)
				require.NoError(t, other.TouchToken(t.Context(), rec.ID, t2, t2.Add(-time.Minute)))
				got, err := s.TokenByHash(t.Context(), rec.Hash)
				require.NoError(t, err)
				assert.Equal(t, t1, got.LastUsedAt)
				t3 := t1.Add(61 * time.Second)
				require.NoError(t, other.TouchToken(t.Context(), rec.ID, t3, t3.Add(-time.Minute)))
				got, err = s.TokenByHash(t.Context(), rec.Hash)
				require.NoError(t, err)
				assert.Equal(t, t3, got.LastUsedAt)
				assert.NoError(t, s.TouchToken(t.Context(), newID(), t3, t3), "an unknown ID is no error")
			})
			t.Run("concurrent creations respect the limit", func(t *testing.T) {
				s, other := b.open(t)
				const n = 16
				warm(t, s, n/2)
				warm(t, other, n/2)
				var wg sync.WaitGroup
				start := make(chan struct{})
				errs := make([]error, n)
				for i := range n {
					st := s
					if i%2 == 1 {
						st = other
					}
					wg.Go(func() {
						<-start
						errs[i] = st.InsertToken(context.Background(), record(0, Day), MaxActive)
					})
				}
				close(start)
				wg.Wait()
				ok := 0
				for _, err := range errs {
					if err == nil {
						ok++
						continue
					}
					assert.ErrorIs(t, err, ErrLimit)
				}
				assert.Equal(t, MaxActive, ok)
				list, err := s.ListTokens(t.Context())
				require.NoError(t, err)
				assert.Len(t, list, MaxActive)
			})
		})
	}
}

// warm opens n connections in the pool of a PostgreSQL SQLStore and
// leaves them idle, so that concurrent calls start at once instead of one
// after another as connections are established (without it, the test
// passed even with the advisory lock removed).
func warm(t testing.TB, st Store, n int) {
	t.Helper()
	s, ok := st.(*SQLStore)
	if !ok || s.d != PostgreSQL {
		return // SQLite serialises writers whatever the pool holds
	}
	s.db.SetMaxIdleConns(n)
	txs := make([]*sql.Tx, 0, n)
	for range n {
		tx, err := s.db.BeginTx(t.Context(), &sql.TxOptions{ReadOnly: true})
		require.NoError(t, err)
		txs = append(txs, tx)
	}
	for _, tx := range txs {
		require.NoError(t, tx.Rollback())
	}
}

func TestSQLStoreMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s := openSQLStore(t, "sqlite", sqliteDSN(path, true), SQLite)
	require.NoError(t, s.Migrate(t.Context()), "Migrate is idempotent")
	rec := record(0, Day)
	require.NoError(t, s.InsertToken(t.Context(), rec, MaxActive))
	again := openSQLStore(t, "sqlite", sqliteDSN(path, true), SQLite)
	_, err := again.TokenByHash(t.Context(), rec.Hash)
	require.NoError(t, err, "a second Migrate keeps the data")

	// A table of that name with another schema is an error, not ignored.
	otherPath := filepath.Join(t.TempDir(), "other.db")
	db, err := sql.Open("sqlite", sqliteDSN(otherPath, true))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.ExecContext(t.Context(), `CREATE TABLE `+Table+` (id TEXT PRIMARY KEY, secret TEXT)`)
	require.NoError(t, err)
	bad, err := NewSQLStore(db, SQLite)
	require.NoError(t, err)
	assert.ErrorContains(t, bad.Migrate(t.Context()), "unexpected schema")
}

func TestSQLStoreMigrateConcurrentPostgres(t *testing.T) {
	dsn := postgresSchemaDSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		s, err := NewSQLStore(db, PostgreSQL)
		require.NoError(t, err)
		wg.Go(func() { errs[i] = s.Migrate(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
}

func TestNewSQLStoreValidates(t *testing.T) {
	_, err := NewSQLStore(nil, SQLite)
	assert.ErrorContains(t, err, "nil *sql.DB")
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "x.db"), true))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = NewSQLStore(db, Dialect(0))
	assert.ErrorContains(t, err, "invalid dialect")
}

func TestSQLStoreUnavailable(t *testing.T) {
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "x.db"), true))
	require.NoError(t, err)
	s, err := NewSQLStore(db, SQLite)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(t.Context()))
	require.NoError(t, db.Close())
	for name, call := range map[string]func() error{
		"insert": func() error { return s.InsertToken(t.Context(), record(0, Day), MaxActive) },
		"by hash": func() error {
			_, err := s.TokenByHash(t.Context(), HashToken("x"))
			return err
		},
		"list": func() error {
			_, err := s.ListTokens(t.Context())
			return err
		},
		"revoke": func() error { return s.RevokeToken(t.Context(), newID(), testNow) },
		"touch":  func() error { return s.TouchToken(t.Context(), newID(), testNow, testNow) },
	} {
		err := call()
		require.Error(t, err, name)
		for _, sentinel := range []error{ErrNotFound, ErrLimit, ErrConflict} {
			assert.False(t, errors.Is(err, sentinel), "%s: a failure is no sentinel: %v", name, err)
		}
		assert.ErrorContains(t, err, "database is closed", name)
	}
}

func TestDialect(t *testing.T) {
	for name, want := range map[string]Dialect{
		"sqlite": SQLite, "SQLite3": SQLite, "postgres": PostgreSQL, "postgresql": PostgreSQL, "pgx": PostgreSQL,
	} {
		got, err := DialectFor(name)
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
	}
	_, err := DialectFor("mysql")
	assert.ErrorContains(t, err, `unknown dialect "mysql"`)
	assert.Equal(t, "sqlite", SQLite.String())
	assert.Equal(t, "postgres", PostgreSQL.String())
	assert.Equal(t, "Dialect(9)", Dialect(9).String())
	assert.Equal(t, "a = $1 AND b = $2", PostgreSQL.rebind("a = ? AND b = ?"))
	assert.Equal(t, "a = ?", SQLite.rebind("a = ?"))
}
