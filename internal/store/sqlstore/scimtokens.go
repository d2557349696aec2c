package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
)

// SCIM bearer tokens (internal/scimtoken) live in table
// scim_bearer_tokens (migration 0007): only each token's SHA-256 is
// stored, and revoked rows stay as history.

// scimTokenColumns are the columns scanSCIMToken reads, in its order.
const scimTokenColumns = `id, token_hash, name, created_at, expires_at, revoked_at, last_used_at`

// insertSCIMToken inserts a token only while fewer than the limit are
// active at its creation: one INSERT ... SELECT ... WHERE (count) < limit
// statement. On SQLite the transaction holds the write lock since BEGIN
// IMMEDIATE, so the count and the insert see the same data; on PostgreSQL,
// where concurrent READ COMMITTED statements would each count without the
// other's row, the advisory lock taken first in the transaction
// (lockSCIMTokens) serialises creations between processes.
const insertSCIMToken = `INSERT INTO scim_bearer_tokens (id, token_hash, name, created_at, expires_at)
SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT)
WHERE (SELECT COUNT(*) FROM scim_bearer_tokens WHERE revoked_at IS NULL AND expires_at > ?) < ?`

// InsertToken implements scimtoken.Store: the count of active tokens and
// the insert are one statement in a transaction that holds the SCIM token
// lock (SQLite's write lock, or a PostgreSQL advisory lock), so of
// concurrent creations, in any process, no more succeed than maxActive
// allows. An existing ID or hash is scimtoken.ErrConflict.
func (s *Store) InsertToken(ctx context.Context, rec scimtoken.Record, maxActive int) error {
	err := s.inTx(ctx, func(r runner) error {
		if err := s.d.lockSCIMTokens(ctx, r); err != nil {
			return err
		}
		created := toMicros(rec.CreatedAt)
		res, err := r.exec(ctx, insertSCIMToken,
			rec.ID, rec.Hash, rec.Name, created, toMicros(rec.ExpiresAt), created, int64(maxActive))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return scimtoken.ErrLimit
		}
		return nil
	})
	switch {
	case errors.Is(err, scimtoken.ErrLimit):
		return scimtoken.ErrLimit
	case err != nil:
		return s.wrapAs("insert scim token", fmt.Errorf("%s: %w", rec.ID, err), scimtoken.ErrConflict)
	}
	return nil
}

// TokenByHash implements scimtoken.Store.
func (s *Store) TokenByHash(ctx context.Context, hash string) (scimtoken.Record, error) {
	rec, err := scanSCIMToken(s.pool().queryRow(ctx,
		`SELECT `+scimTokenColumns+` FROM scim_bearer_tokens WHERE token_hash = ?`, hash))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return scimtoken.Record{}, scimtoken.ErrNotFound
	case err != nil:
		return scimtoken.Record{}, s.fail("scim token by hash", err)
	}
	return rec, nil
}

// ListTokens implements scimtoken.Store.
func (s *Store) ListTokens(ctx context.Context) ([]scimtoken.Record, error) {
	rows, err := s.pool().query(ctx,
		`SELECT `+scimTokenColumns+` FROM scim_bearer_tokens WHERE revoked_at IS NULL ORDER BY created_at, id`+s.d.binary())
	if err != nil {
		return nil, s.fail("list scim tokens", err)
	}
	defer rows.Close()
	var out []scimtoken.Record
	for rows.Next() {
		rec, err := scanSCIMToken(rows)
		if err != nil {
			return nil, s.fail("list scim tokens", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list scim tokens", err)
	}
	return out, nil
}

// RevokeToken implements scimtoken.Store with one conditional UPDATE, so
// a token is revoked once and keeps its first revocation time.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.pool().exec(ctx,
		`UPDATE scim_bearer_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, toMicros(at), id)
	if err != nil {
		return fmt.Errorf("sqlstore: revoke scim token %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: revoke scim token %s: %w", id, err)
	}
	if n == 0 {
		return scimtoken.ErrNotFound
	}
	return nil
}

// TouchToken implements scimtoken.Store with one conditional UPDATE, so
// concurrent callers (on any instance) write at most once per interval.
func (s *Store) TouchToken(ctx context.Context, id string, at, staleBefore time.Time) error {
	if _, err := s.pool().exec(ctx,
		`UPDATE scim_bearer_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
		toMicros(at), id, toMicros(staleBefore)); err != nil {
		return fmt.Errorf("sqlstore: touch scim token %s: %w", id, err)
	}
	return nil
}

// scanSCIMToken reads one row of scimTokenColumns.
func scanSCIMToken(sc row) (scimtoken.Record, error) {
	var (
		rec               scimtoken.Record
		created, expires  int64
		revoked, lastUsed sql.NullInt64
	)
	if err := sc.Scan(&rec.ID, &rec.Hash, &rec.Name, &created, &expires, &revoked, &lastUsed); err != nil {
		return scimtoken.Record{}, err
	}
	rec.CreatedAt = fromMicros(created)
	rec.ExpiresAt = fromMicros(expires)
	if revoked.Valid {
		rec.RevokedAt = fromMicros(revoked.Int64)
	}
	if lastUsed.Valid {
		rec.LastUsedAt = fromMicros(lastUsed.Int64)
	}
	return rec, nil
}
