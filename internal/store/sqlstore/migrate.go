package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
)

// migrationFiles holds the ordered schema migrations, named
// NNNN_description.sql, each written in SQL both dialects accept except
// for statements marked with a "-- dialect: NAME" line, and possibly
// naming Go steps with a "-- go: NAME" line (see migrationStmt).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int64
	name    string
	stmts   []migrationStmt
}

// migrationStmt is one statement of a migration. A statement runs on every
// dialect unless a "-- dialect: NAME" line (NAME as in DialectFor) comes
// before it, after the previous statement (other comment lines may come
// between), which limits it to that dialect: the way a migration writes
// what the two databases have no common syntax for, such as an identity
// column, as one statement per dialect.
//
// A "-- go: NAME" line between statements is a step of its own: the
// function migrationSteps[NAME], run at that point in the migration's
// transaction, for data changes SQL cannot express the same way on both
// databases (such as case folding, which must match directory.Fold).
type migrationStmt struct {
	dialect Dialect // zero: every dialect
	text    string
	step    string // a migrationSteps key; text is empty
}

// goDirective starts a line that names a Go migration step.
const goDirective = "-- go:"

// migrationSteps are the Go steps migrations may name. Each runs inside
// the migration's transaction and sees the statements before it.
var migrationSteps = map[string]func(ctx context.Context, d Dialect, tx *sql.Tx) error{
	"fold-directory": foldDirectory,
}

// runsOn reports whether the statement applies to d.
func (m migrationStmt) runsOn(d Dialect) bool { return m.dialect == 0 || m.dialect == d }

// dialectDirective starts a line that limits the next statement to one
// dialect.
const dialectDirective = "-- dialect:"

// loadMigrations reads and orders the embedded migrations. Versions must
// start at 1 and have no gaps, so a mis-numbered file fails every Open
// (and the tests) instead of being skipped.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || path.Ext(name) != ".sql" {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("sqlstore: migration %q: name must be NNNN_description.sql", name)
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("sqlstore: migration %q: bad version", name)
		}
		body, err := fs.ReadFile(migrationFiles, "migrations/"+name)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: read migration %q: %w", name, err)
		}
		stmts, err := splitStatements(string(body))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migration %q: %w", name, err)
		}
		if len(stmts) == 0 {
			return nil, fmt.Errorf("sqlstore: migration %q is empty", name)
		}
		out = append(out, migration{version: v, name: strings.TrimSuffix(name, ".sql"), stmts: stmts})
	}
	slices.SortFunc(out, func(a, b migration) int { return int(a.version - b.version) })
	for i, m := range out {
		if m.version != int64(i+1) {
			return nil, fmt.Errorf("sqlstore: migration %q: expected version %d", m.name, i+1)
		}
	}
	return out, nil
}

// splitStatements drops "--" comment lines and splits on ';' at the end of
// a line. Each statement is then executed on its own, which every driver
// supports (multi-statement Exec is driver specific). A "-- dialect: NAME"
// line limits the statement that follows it to that dialect; an unknown
// NAME, or a directive inside a statement or with no statement after it,
// is an error. A "-- go: NAME" line adds the Go step NAME, which must be
// in migrationSteps, between two statements.
func splitStatements(body string) ([]migrationStmt, error) {
	var stmts []migrationStmt
	var cur strings.Builder
	var only Dialect
	for line := range strings.Lines(body) {
		trimmed := strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(trimmed, goDirective); ok {
			name = strings.TrimSpace(name)
			switch {
			case migrationSteps[name] == nil:
				return nil, fmt.Errorf("directive %q: unknown Go step", trimmed)
			case only != 0:
				return nil, fmt.Errorf("directive %q follows a dialect directive", trimmed)
			case strings.TrimSpace(cur.String()) != "":
				return nil, fmt.Errorf("directive %q inside a statement", trimmed)
			}
			stmts = append(stmts, migrationStmt{step: name})
			continue
		}
		if name, ok := strings.CutPrefix(trimmed, dialectDirective); ok {
			d, err := DialectFor(strings.TrimSpace(name))
			if err != nil {
				return nil, fmt.Errorf("directive %q: %w", trimmed, err)
			}
			if only != 0 {
				return nil, fmt.Errorf("directive %q follows another directive", trimmed)
			}
			if strings.TrimSpace(cur.String()) != "" {
				return nil, fmt.Errorf("directive %q inside a statement", trimmed)
			}
			only = d
			continue
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		if stmt, ok := strings.CutSuffix(trimmed, ";"); ok {
			cur.WriteString(stmt)
			if s := strings.TrimSpace(cur.String()); s != "" {
				stmts = append(stmts, migrationStmt{dialect: only, text: s})
				only = 0
			}
			cur.Reset()
			continue
		}
		cur.WriteString(trimmed)
		cur.WriteByte('\n')
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		stmts = append(stmts, migrationStmt{dialect: only, text: s})
		only = 0
	}
	if only != 0 {
		return nil, errors.New("dialect directive without a statement after it")
	}
	return stmts, nil
}

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    applied_at BIGINT NOT NULL
)`

// migrate applies every embedded migration the database lacks, each in its
// own transaction together with its schema_migrations row. Each transaction
// first takes the migration lock (SQLite's write lock, taken at BEGIN
// IMMEDIATE, or a PostgreSQL transaction-scoped advisory lock), and the row
// is inserted insert-if-absent: a second process migrating the same
// database at the same time waits, then finds the version already
// recorded, so each migration runs exactly once and a rerun is a no-op.
func (s *Store) migrate(ctx context.Context) error {
	return s.migrateTo(ctx, math.MaxInt64)
}

// migrateTo is migrate limited to the migrations up to version last (the
// tests use it to build databases of earlier versions).
func (s *Store) migrateTo(ctx context.Context, last int64) error {
	migrations, err := loadMigrations()
	if err != nil {
		return err
	}
	if err := s.inTx(ctx, func(r runner) error {
		if err := s.d.lockMigrations(ctx, r.tx); err != nil {
			return err
		}
		_, err := r.tx.ExecContext(ctx, createSchemaMigrations)
		return err
	}); err != nil {
		return fmt.Errorf("sqlstore: create schema_migrations: %w", err)
	}
	applied, err := s.appliedVersions(ctx)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if applied[m.version] || m.version > last {
			continue
		}
		if err := s.applyMigration(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) appliedVersions(ctx context.Context) (map[int64]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[int64]bool{}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("sqlstore: read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: read schema_migrations: %w", err)
	}
	return applied, nil
}

func (s *Store) applyMigration(ctx context.Context, m migration) error {
	// The migration statements run once per Open and bypass the statement
	// cache, like every query Open runs.
	return s.inTx(ctx, func(r runner) error {
		tx := r.tx
		if err := s.d.lockMigrations(ctx, tx); err != nil {
			return fmt.Errorf("sqlstore: migration %s: %w", m.name, err)
		}
		res, err := tx.ExecContext(ctx, s.d.rebind(
			`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)
			 ON CONFLICT (version) DO NOTHING`),
			m.version, m.name, toMicros(s.now()))
		if err != nil {
			return fmt.Errorf("sqlstore: record migration %s: %w", m.name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlstore: record migration %s: %w", m.name, err)
		}
		if n == 0 {
			return nil // applied meanwhile by another process
		}
		for i, stmt := range m.stmts {
			if !stmt.runsOn(s.d) {
				continue
			}
			if stmt.step != "" {
				if err := migrationSteps[stmt.step](ctx, s.d, tx); err != nil {
					return fmt.Errorf("sqlstore: migration %s step %s: %w", m.name, stmt.step, err)
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt.text); err != nil {
				return fmt.Errorf("sqlstore: migration %s statement %d: %w", m.name, i+1, err)
			}
		}
		return nil
	})
}
