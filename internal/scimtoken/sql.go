package scimtoken

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dialect names the SQL database behind a *sql.DB given to NewSQLStore.
type Dialect int

const (
	// SQLite is modernc.org/sqlite (driver name "sqlite").
	SQLite Dialect = iota + 1
	// PostgreSQL is github.com/jackc/pgx/v5/stdlib (driver name "pgx").
	PostgreSQL
)

// DialectFor maps a configured store driver name ("sqlite", "postgres";
// "sqlite3", "postgresql" and "pgx" are accepted as aliases) to a Dialect,
// as the gateway's store does.
func DialectFor(name string) (Dialect, error) {
	switch strings.ToLower(name) {
	case "sqlite", "sqlite3":
		return SQLite, nil
	case "postgres", "postgresql", "pgx":
		return PostgreSQL, nil
	default:
		return 0, fmt.Errorf("scimtoken: unknown dialect %q", name)
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

// rebind rewrites '?' placeholders into PostgreSQL's '$n'. The queries of
// this file never contain a literal '?'.
func (d Dialect) rebind(query string) string {
	if d != PostgreSQL {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// isUniqueViolation recognises the drivers' uniqueness violations by their
// methods, so this package imports no driver: modernc.org/sqlite's error
// has Code() int (extended result codes), pgx's has SQLState() string.
func (d Dialect) isUniqueViolation(err error) bool {
	switch d {
	case SQLite:
		var coder interface{ Code() int }
		if errors.As(err, &coder) {
			c := coder.Code()
			return c == 2067 || c == 1555 // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
		}
	case PostgreSQL:
		var stater interface{ SQLState() string }
		if errors.As(err, &stater) {
			return stater.SQLState() == "23505" // unique_violation
		}
	}
	return false
}

// Table is the name of the table SQLStore keeps the tokens in.
const Table = "scim_bearer_tokens"

// lockKey is the PostgreSQL advisory lock key that serialises token
// creation and the table's creation between processes ("ghscimtk").
const lockKey int64 = 0x6768_7363_696d_746b

// createTable is the table's schema, in SQL both dialects accept. Times are
// BIGINT Unix microseconds, as in the gateway's store.
const createTable = `CREATE TABLE IF NOT EXISTS ` + Table + ` (
    id           TEXT   NOT NULL PRIMARY KEY,
    token_hash   TEXT   NOT NULL UNIQUE,
    name         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
)`

const columns = `id, token_hash, name, created_at, expires_at, revoked_at, last_used_at`

// SQLStore is a Store in a table of its own (Table) of a SQLite or
// PostgreSQL database, usually the gateway's store database. Call Migrate
// once before use. It is safe for concurrent use, and several processes
// may share one PostgreSQL database. The caller owns the *sql.DB.
type SQLStore struct {
	db *sql.DB
	d  Dialect
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns a SQLStore over db. For SQLite, open db with the
// gateway store's DSN (sqlstore.SQLiteDSN: WAL and a busy timeout, so
// concurrent writers wait instead of failing).
func NewSQLStore(db *sql.DB, dialect Dialect) (*SQLStore, error) {
	if db == nil {
		return nil, errors.New("scimtoken: nil *sql.DB")
	}
	if dialect != SQLite && dialect != PostgreSQL {
		return nil, fmt.Errorf("scimtoken: invalid dialect %v", dialect)
	}
	return &SQLStore{db: db, d: dialect}, nil
}

// Migrate creates the table when it does not exist and checks that an
// existing one has the expected columns. It is idempotent and safe to run
// from several processes at once (on PostgreSQL it takes an advisory
// lock, because concurrent CREATE TABLE IF NOT EXISTS can otherwise fail).
func (s *SQLStore) Migrate(ctx context.Context) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lock(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, createTable)
		return err
	})
	if err != nil {
		return fmt.Errorf("scimtoken: create table %s: %w", Table, err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM `+Table+` WHERE 1 = 0`)
	if err != nil {
		return fmt.Errorf("scimtoken: table %s has an unexpected schema: %w", Table, err)
	}
	_ = rows.Close()
	return nil
}

// lock takes, inside tx, the PostgreSQL advisory lock that serialises
// creations until tx ends. SQLite needs none: its single writer lock is
// taken by the first writing statement (or at BEGIN IMMEDIATE).
func (s *SQLStore) lock(ctx context.Context, tx *sql.Tx) error {
	if s.d != PostgreSQL {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`SELECT pg_advisory_xact_lock(?)`), lockKey); err != nil {
		return fmt.Errorf("advisory lock: %w", err)
	}
	return nil
}

// inTx runs fn in a transaction, committing when it returns nil. fn must
// not use the pool (a one-connection pool would deadlock).
func (s *SQLStore) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// insertToken inserts the token only while fewer than the limit are
// active: one INSERT ... SELECT ... WHERE (count) < limit statement. On
// SQLite the statement holds the write lock from its start, so the count
// and the insert see the same data; on PostgreSQL, where concurrent READ
// COMMITTED statements would each count without the other's row, the
// advisory lock taken first in the transaction serialises creations.
const insertToken = `INSERT INTO ` + Table + ` (id, token_hash, name, created_at, expires_at)
SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT)
WHERE (SELECT count(*) FROM ` + Table + ` WHERE revoked_at IS NULL AND expires_at > ?) < ?`

// InsertToken implements Store.
func (s *SQLStore) InsertToken(ctx context.Context, rec Record, maxActive int) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lock(ctx, tx); err != nil {
			return err
		}
		now := rec.CreatedAt.UnixMicro()
		res, err := tx.ExecContext(ctx, s.d.rebind(insertToken),
			rec.ID, rec.Hash, rec.Name, now, rec.ExpiresAt.UnixMicro(), now, int64(maxActive))
		if err != nil {
			if s.d.isUniqueViolation(err) {
				return fmt.Errorf("%w: %w", ErrConflict, err)
			}
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrLimit
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrLimit):
		return ErrLimit
	case err != nil:
		return fmt.Errorf("scimtoken: insert token %s: %w", rec.ID, err)
	}
	return nil
}

// TokenByHash implements Store.
func (s *SQLStore) TokenByHash(ctx context.Context, hash string) (Record, error) {
	row := s.db.QueryRowContext(ctx, s.d.rebind(`SELECT `+columns+` FROM `+Table+` WHERE token_hash = ?`), hash)
	rec, err := scanRecord(row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Record{}, ErrNotFound
	case err != nil:
		return Record{}, fmt.Errorf("scimtoken: token by hash: %w", err)
	}
	return rec, nil
}

// ListTokens implements Store.
func (s *SQLStore) ListTokens(ctx context.Context) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+columns+` FROM `+Table+` WHERE revoked_at IS NULL ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("scimtoken: list tokens: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("scimtoken: list tokens: %w", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("scimtoken: list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken implements Store.
func (s *SQLStore) RevokeToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, s.d.rebind(
		`UPDATE `+Table+` SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), at.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("scimtoken: revoke token %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("scimtoken: revoke token %s: %w", id, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchToken implements Store: one conditional UPDATE, so concurrent
// callers (on any instance) write at most once per interval.
func (s *SQLStore) TouchToken(ctx context.Context, id string, at, staleBefore time.Time) error {
	_, err := s.db.ExecContext(ctx, s.d.rebind(
		`UPDATE `+Table+` SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`),
		at.UnixMicro(), id, staleBefore.UnixMicro())
	if err != nil {
		return fmt.Errorf("scimtoken: touch token %s: %w", id, err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanRecord(sc scanner) (Record, error) {
	var (
		rec                 Record
		created, expires    int64
		revoked, lastUsedAt sql.NullInt64
	)
	if err := sc.Scan(&rec.ID, &rec.Hash, &rec.Name, &created, &expires, &revoked, &lastUsedAt); err != nil {
		return Record{}, err
	}
	rec.CreatedAt = fromMicros(created)
	rec.ExpiresAt = fromMicros(expires)
	if revoked.Valid {
		rec.RevokedAt = fromMicros(revoked.Int64)
	}
	if lastUsedAt.Valid {
		rec.LastUsedAt = fromMicros(lastUsedAt.Int64)
	}
	return rec, nil
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }
