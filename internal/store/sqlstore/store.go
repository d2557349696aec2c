package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// DefaultCleanupBatchSize is the number of rows Cleanup deletes per
// statement when Options.CleanupBatchSize is zero.
const DefaultCleanupBatchSize = 1000

// Options configure a Store.
type Options struct {
	// Now is the clock for timestamps the caller does not pass in
	// (CreateUser, schema_migrations). Nil means time.Now.
	Now func() time.Time
	// CleanupBatchSize bounds the rows one Cleanup statement deletes, so a
	// large backlog never holds the write lock for long. Zero means
	// DefaultCleanupBatchSize; negative is an error.
	CleanupBatchSize int
	// TracerProvider, when set and not a no-op, gets a client span per
	// store operation: per query outside a transaction, per transaction
	// attempt, named after the Store method ("get session") with
	// db.system and db.operation; no query text, argument or result. Nil
	// means no spans, at no cost.
	TracerProvider trace.TracerProvider
}

// Store implements store.Store, idp.SSOStateStore and apps.Store over
// database/sql. It is safe for
// concurrent use, and several processes may share one PostgreSQL database.
// On SQLite it prepares each query once, on first use, and keeps the
// prepared statements until Close. The caller owns the *sql.DB: Close does
// not close it, and the caller closes it after the Store's last use and
// after Close.
type Store struct {
	db    *sql.DB
	d     Dialect
	now   func() time.Time
	batch int
	stmts *stmtCache
	// errs counts the failures the store returns, by operation
	// (gatehouse_store_errors_total); Metrics exports it.
	errs *prometheus.CounterVec
	// spans starts the operations' spans; its zero value starts none.
	spans spanStarter
}

var (
	_ store.Store       = (*Store)(nil)
	_ sp.RequestTracker = (*Store)(nil)
	_ sp.ReplayCache    = (*Store)(nil)
	_ sp.SessionStore   = (*Store)(nil)
	_ sp.UserDirectory  = (*Store)(nil)
	_ sp.Pinger         = (*Store)(nil)
	_ directory.Store   = (*Store)(nil)
	_ scimtoken.Store   = (*Store)(nil)
)

// Open checks the connection, applies the embedded migrations the database
// lacks and returns a Store over db. For SQLite, db must have been opened
// with SQLiteDSN (or equivalent settings): Open fails when foreign keys are
// off, busy_timeout is zero or the library is older than SQLite 3.35.
func Open(ctx context.Context, db *sql.DB, dialect Dialect, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	if !dialect.valid() {
		return nil, fmt.Errorf("sqlstore: invalid dialect %v", dialect)
	}
	if opts.CleanupBatchSize < 0 {
		return nil, fmt.Errorf("sqlstore: CleanupBatchSize %d is negative", opts.CleanupBatchSize)
	}
	s := &Store{db: db, d: dialect, now: opts.Now, batch: opts.CleanupBatchSize, stmts: newStmtCache(db, dialect), errs: newErrorCounter()}
	if s.now == nil {
		s.now = time.Now
	}
	s.spans = newSpanStarter(opts.TracerProvider, dialect)
	if s.batch == 0 {
		s.batch = DefaultCleanupBatchSize
	}
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("sqlstore: ping: %w", err)
	}
	if dialect == SQLite {
		if err := checkSQLite(ctx, db); err != nil {
			return nil, err
		}
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// checkSQLite fails closed on connection settings the store's guarantees
// depend on.
func checkSQLite(ctx context.Context, db *sql.DB) error {
	var version string
	if err := db.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&version); err != nil {
		return fmt.Errorf("sqlstore: sqlite version: %w", err)
	}
	if !sqliteAtLeast(version, 3, 35) {
		return fmt.Errorf("sqlstore: sqlite %s is too old: need 3.35 or later for RETURNING", version)
	}
	var fk int
	if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
		return fmt.Errorf("sqlstore: sqlite foreign_keys: %w", err)
	}
	if fk != 1 {
		return errors.New("sqlstore: sqlite foreign_keys is off: open the database with SQLiteDSN")
	}
	var busy int
	if err := db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil {
		return fmt.Errorf("sqlstore: sqlite busy_timeout: %w", err)
	}
	if busy <= 0 {
		return errors.New("sqlstore: sqlite busy_timeout is 0: open the database with SQLiteDSN")
	}
	return nil
}

func sqliteAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, err1 := strconv.Atoi(parts[0])
	mnr, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > major || (maj == major && mnr >= minor)
}

// Close releases the Store's prepared statements; every later call of a
// Store method, Ping included, returns an error wrapping ErrClosed. A call
// running concurrently with Close either completes or returns an error
// (database/sql releases a statement that is in use when that use ends).
// Close does not close the *sql.DB, which the caller still owns and closes
// afterwards. Closing twice is a no-op.
func (s *Store) Close() error {
	if err := s.stmts.close(); err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.stmts.isClosed() {
		return fmt.Errorf("sqlstore: ping: %w", ErrClosed)
	}
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping: %w", err)
	}
	return nil
}

// pool returns the runner for queries outside a transaction.
func (s *Store) pool() runner { return runner{s: s} }

// inTx runs fn in a transaction, committing when fn returns nil. On SQLite
// opened with SQLiteDSN the transaction takes the write lock at BEGIN.
// Queries fn ran unprepared, because the cache did not hold them yet, are
// prepared after the transaction ends.
func (s *Store) inTx(ctx context.Context, fn func(r runner) error) (err error) {
	if s.stmts.isClosed() {
		return fmt.Errorf("sqlstore: begin: %w", ErrClosed)
	}
	// One span for the transaction; its statements get none of their own.
	ctx, span := s.spans.start(ctx)
	defer func() { endSpan(span, err) }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("begin", err)
	}
	var missed []string
	defer func() { s.stmts.warm(ctx, missed) }()
	if err := fn(runner{s: s, tx: tx, missed: &missed}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.wrap("commit", err)
	}
	return nil
}

// maxTxAttempts bounds how often inTxRetry runs a transaction.
const maxTxAttempts = 5

// inTxRetry is inTx that runs fn again, in a new transaction, when the
// database ended the previous one with a deadlock or serialization
// failure (PostgreSQL: concurrent identity store writes lock users and
// groups in different orders). fn must have no effects outside the
// transaction other than setting its results.
func (s *Store) inTxRetry(ctx context.Context, fn func(r runner) error) error {
	for attempt := 1; ; attempt++ {
		err := s.inTx(ctx, fn)
		if err == nil || attempt == maxTxAttempts || !s.d.isRetryable(err) || ctx.Err() != nil {
			return err
		}
	}
}

// wrapDir is wrap for the identity store methods: a uniqueness violation
// becomes directory.ErrConflict.
func (s *Store) wrapDir(op string, err error) error {
	return s.wrapAs(op, err, directory.ErrConflict)
}

// wrapAs maps a uniqueness violation to conflict and wraps any other
// error, keeping the driver error in the chain.
func (s *Store) wrapAs(op string, err error, conflict error) error {
	if s.d.isUniqueViolation(err) {
		return fmt.Errorf("sqlstore: %s: %w: %w", op, conflict, err)
	}
	return s.fail(op, err)
}

// wrap maps a uniqueness violation to sp.ErrConflict and wraps any other
// error, keeping the driver error in the chain.
func (s *Store) wrap(op string, err error) error { return s.wrapAs(op, err, sp.ErrConflict) }

// wrapOAuth is wrap for the OAuth and audit tables: a uniqueness violation
// becomes oauth.ErrConflict, keeping the driver error in the chain.
func (s *Store) wrapOAuth(op string, err error) error { return s.wrapAs(op, err, oauth.ErrConflict) }

// encodeList and decodeList convert string lists (scopes) to and from the
// JSON arrays the schema keeps in TEXT columns. An empty list is stored as
// [] and read back as nil.
func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

func decodeList(column, v string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(v), &l); err != nil {
		return nil, fmt.Errorf("%s column: %w", column, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// toMicros and fromMicros convert times to and from the schema's BIGINT
// Unix microseconds. The zero time round-trips.
func toMicros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// newID returns a random 128-bit identifier in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
