package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Dialect names the SQL database behind a *sql.DB. Every query the store
// runs is written once in SQL that SQLite (3.35 or later) and PostgreSQL
// both accept; the dialect only rewrites placeholders, recognises
// uniqueness violations, checks connection settings at Open, takes the
// PostgreSQL advisory locks that serialise migrations, audit appends and
// SCIM token creations,
// and selects the migration statements marked for one dialect.
//
// Portable choices the schema and queries rely on: times are BIGINT Unix
// microseconds (no timestamp type differences), booleans are BOOLEAN,
// identifiers and hashes are TEXT, insert-if-absent is
// INSERT ... ON CONFLICT (...) DO NOTHING / DO UPDATE ... WHERE, and
// single-use reads are DELETE ... RETURNING.
type Dialect int

const (
	// SQLite is modernc.org/sqlite (driver name "sqlite"). Open the
	// database with SQLiteDSN so every pooled connection gets the pragmas
	// the store needs.
	SQLite Dialect = iota + 1
	// PostgreSQL is github.com/jackc/pgx/v5/stdlib (driver name "pgx").
	PostgreSQL
)

// DialectFor maps a configured store driver name ("sqlite", "postgres";
// "postgresql" and "pgx" are accepted as aliases) to a Dialect.
func DialectFor(name string) (Dialect, error) {
	switch strings.ToLower(name) {
	case "sqlite", "sqlite3":
		return SQLite, nil
	case "postgres", "postgresql", "pgx":
		return PostgreSQL, nil
	default:
		return 0, fmt.Errorf("sqlstore: unknown dialect %q", name)
	}
}

// String returns the dialect's configuration name.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case PostgreSQL:
		return "postgres"
	default:
		return "Dialect(" + strconv.Itoa(int(d)) + ")"
	}
}

func (d Dialect) valid() bool { return d == SQLite || d == PostgreSQL }

// rebind rewrites the '?' placeholders of query into the dialect's form.
// Queries in this package never contain a literal '?' character.
func (d Dialect) rebind(query string) string {
	if d != PostgreSQL {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// migrationLockKey is the PostgreSQL advisory lock key that serialises
// schema migrations between processes ("gatehous" in ASCII).
const migrationLockKey int64 = 0x6761746568_6f7573

// lockMigrations takes, inside tx, the lock that serialises migrations
// between processes until tx ends. On SQLite opened with SQLiteDSN the
// transaction already holds the database write lock since BEGIN
// IMMEDIATE; PostgreSQL takes a transaction-scoped advisory lock, because
// concurrent CREATE TABLE IF NOT EXISTS statements can otherwise fail.
func (d Dialect) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if d != PostgreSQL {
		return nil
	}
	if _, err := tx.ExecContext(ctx, d.rebind(`SELECT pg_advisory_xact_lock(?)`), migrationLockKey); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	return nil
}

// auditLockKey is the PostgreSQL advisory lock key that serialises audit
// appends between processes ("gh-audit" in ASCII).
const auditLockKey int64 = 0x67682d6175646974

// lockAudit takes, inside r's transaction, the lock that makes audit
// appends commit one at a time, so that audit IDs increase in commit
// order. On SQLite opened with SQLiteDSN the transaction already holds the
// database write lock since BEGIN IMMEDIATE (and SQLite has one writer in
// any case); PostgreSQL takes a transaction-scoped advisory lock, without
// which a transaction holding lower identity values could commit after
// one holding higher values.
func (d Dialect) lockAudit(ctx context.Context, r runner) error {
	return d.advisoryLock(ctx, r, auditLockKey, "audit lock")
}

// scimTokenLockKey is the PostgreSQL advisory lock key that serialises
// SCIM token creations between processes ("ghscimtk" in ASCII, the key
// scimtoken's own SQL store used, so instances of both versions exclude
// each other during a rolling upgrade).
const scimTokenLockKey int64 = 0x6768_7363_696d_746b

// lockSCIMTokens takes, inside r's transaction, the lock that makes SCIM
// token creations count the active tokens and insert one at a time, so
// concurrent creations never exceed the limit. On SQLite opened with
// SQLiteDSN the transaction already holds the database write lock since
// BEGIN IMMEDIATE; PostgreSQL takes a transaction-scoped advisory lock,
// without which concurrent READ COMMITTED transactions would each count
// without the other's new row.
func (d Dialect) lockSCIMTokens(ctx context.Context, r runner) error {
	return d.advisoryLock(ctx, r, scimTokenLockKey, "scim token lock")
}

// advisoryLock takes PostgreSQL's transaction-scoped advisory lock key in
// r's transaction; on SQLite it does nothing, the transaction holding the
// database write lock already.
func (d Dialect) advisoryLock(ctx context.Context, r runner, key int64, what string) error {
	if d != PostgreSQL {
		return nil
	}
	if _, err := r.exec(ctx, `SELECT pg_advisory_xact_lock(?)`, key); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// forUpdate returns the clause that locks the rows a single-table SELECT
// reads until the transaction ends: FOR UPDATE on PostgreSQL; nothing on
// SQLite, where a transaction opened with BEGIN IMMEDIATE holds the
// database write lock already.
func (d Dialect) forUpdate() string {
	if d == PostgreSQL {
		return " FOR UPDATE"
	}
	return ""
}

// binary returns the collation clause that makes <, <=, > and >= on a
// text column compare bytes (code points), as Go's string comparison
// does: COLLATE "C" on PostgreSQL, whose default collation may follow a
// locale; nothing on SQLite, whose default collation BINARY compares
// bytes.
func (d Dialect) binary() string {
	if d == PostgreSQL {
		return ` COLLATE "C"`
	}
	return ""
}

// contains returns a condition that is true when column contains the
// text of the next placeholder, compared exactly: instr on SQLite,
// strpos on PostgreSQL (LIKE is not used: it treats % and _ as
// wildcards, and SQLite's ignores ASCII case).
func (d Dialect) contains(column string) string {
	if d == PostgreSQL {
		return "strpos(" + column + ", ?) > 0"
	}
	return "instr(" + column + ", ?) > 0"
}

// PostgreSQL SQLSTATEs after which a transaction may simply be run
// again.
const (
	postgresSerializationFailure = "40001"
	postgresDeadlockDetected     = "40P01"
)

// isRetryable reports whether err ended a transaction that can be run
// again unchanged: a PostgreSQL deadlock or serialization failure.
// SQLite transactions take the write lock at BEGIN, so they cannot
// deadlock.
func (d Dialect) isRetryable(err error) bool {
	if d != PostgreSQL {
		return false
	}
	var stater interface{ SQLState() string }
	if errors.As(err, &stater) {
		st := stater.SQLState()
		return st == postgresSerializationFailure || st == postgresDeadlockDetected
	}
	return false
}

// SQLite extended result codes for uniqueness violations
// (https://sqlite.org/rescode.html).
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// postgresUniqueViolation is SQLSTATE unique_violation.
const postgresUniqueViolation = "23505"

// isUniqueViolation reports whether err is the driver's uniqueness
// violation. It matches driver error types by their methods so that this
// package imports no driver: modernc.org/sqlite's *sqlite.Error has
// Code() int (extended result codes are on), pgx's *pgconn.PgError has
// SQLState() string.
func (d Dialect) isUniqueViolation(err error) bool {
	switch d {
	case SQLite:
		var coder interface{ Code() int }
		if errors.As(err, &coder) {
			c := coder.Code()
			return c == sqliteConstraintUnique || c == sqliteConstraintPrimaryKey
		}
	case PostgreSQL:
		var stater interface{ SQLState() string }
		if errors.As(err, &stater) {
			return stater.SQLState() == postgresUniqueViolation
		}
	}
	return false
}

// SQLiteDSN returns a modernc.org/sqlite DSN for the database file at path
// with the settings the store relies on, applied by the driver to every
// new pooled connection:
//
//   - journal_mode(WAL): readers do not block the writer and vice versa;
//   - busy_timeout(5000): a connection waits up to 5 s for the write lock
//     instead of failing at once with SQLITE_BUSY;
//   - foreign_keys(1): enforce the schema's REFERENCES clauses;
//   - _txlock=immediate: transactions start with BEGIN IMMEDIATE and take
//     the write lock up front (waiting under busy_timeout), so a
//     read-then-write transaction never fails with SQLITE_BUSY on upgrade.
//   - synchronous(NORMAL): in WAL mode a commit is durable against a crash
//     of the process (the WAL is written before the commit returns) but is
//     fsync'd only at checkpoints, so an operating-system crash or power
//     loss can roll back the last moments of commits. For the state kept
//     here that costs at most a re-usable sign-in link or a replay record
//     for an assertion that expires within minutes anyway, and it saves
//     one fsync per write (measured: the ACS handler with FULL ran 2.9x the
//     time of bare verification, with NORMAL 1.6x). Deployments that need
//     power-loss durability for every commit use PostgreSQL.
//
// The first connection to a new file converts it to WAL, which needs the
// file to itself: call Open once, before serving concurrent traffic (the
// conversion is persistent, so later connections only confirm it).
//
// Pool sizing: correctness does not depend on it. Single-use consumption
// and replay marking are single statements that SQLite serialises with its
// write lock, whatever the number of connections. With WAL, a handful of
// connections (for example db.SetMaxOpenConns(4)) lets reads run beside
// the single writer; db.SetMaxOpenConns(1) removes lock waits entirely at
// the price of serialising reads. Keep every connection on this DSN: a
// :memory: database is private to one connection.
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	// SQLite decodes %HH escapes in URI paths; escaping keeps '?', '#'
	// and '%' in a file name from being read as URI syntax.
	p := (&url.URL{Path: path}).EscapedPath()
	return "file:" + p + "?" + q.Encode()
}
