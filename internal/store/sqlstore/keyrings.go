package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/keys"
)

// Signing-key rings (keys.RingStore) live in table key_rings (migration
// 0011): one row per ring, its sealed state stored as given and a version
// every save increments. Each save is one statement, a compare-and-set on
// the version: an INSERT ... ON CONFLICT DO NOTHING for the first save, a
// conditional UPDATE for the others. Of concurrent saves with the same
// previous version exactly one affects a row (PostgreSQL re-checks the
// WHERE clause of an UPDATE that waited for a concurrent one; SQLite runs
// one write at a time); the others affect none, which is
// keys.ErrRingConflict.

var _ keys.RingStore = (*Store)(nil)

// LoadRing implements keys.RingStore with one SELECT.
func (s *Store) LoadRing(ctx context.Context, name string) (keys.StoredRing, error) {
	var (
		r       keys.StoredRing
		updated int64
	)
	err := s.pool().queryRow(ctx,
		`SELECT version, data, updated_at FROM key_rings WHERE name = ?`, name).Scan(&r.Version, &r.Data, &updated)
	switch {
	case errNoRows(err):
		return keys.StoredRing{}, fmt.Errorf("sqlstore: load ring %q: %w", name, keys.ErrRingNotFound)
	case err != nil:
		return keys.StoredRing{}, s.fail("load ring", err)
	}
	r.UpdatedAt = fromMicros(updated)
	return r, nil
}

// insertRing stores a ring's first state; a ring already stored under the
// name is left as it is and no row is affected.
const insertRing = `INSERT INTO key_rings (name, version, data, updated_at) VALUES (?, 1, ?, ?)
ON CONFLICT (name) DO NOTHING`

// updateRing replaces a ring's state when its version is still the one
// read (the last argument).
const updateRing = `UPDATE key_rings SET version = version + 1, data = ?, updated_at = ?
WHERE name = ? AND version = ?`

// SaveRing implements keys.RingStore with one statement: insertRing for
// prev 0, updateRing otherwise. No affected row is keys.ErrRingConflict.
// An empty name or data, or a prev that is negative or has no successor,
// is an error that does not wrap keys.ErrRingConflict. updated_at is now
// to the microsecond.
func (s *Store) SaveRing(ctx context.Context, name string, prev int64, data []byte, now time.Time) (int64, error) {
	switch {
	case name == "":
		return 0, errors.New("sqlstore: save ring: empty name")
	case prev < 0 || prev == math.MaxInt64:
		return 0, fmt.Errorf("sqlstore: save ring %q: invalid version %d", name, prev)
	case len(data) == 0:
		return 0, fmt.Errorf("sqlstore: save ring %q: empty data", name)
	}
	query, args := insertRing, []any{name, data, toMicros(now)}
	if prev > 0 {
		query, args = updateRing, []any{data, toMicros(now), name, prev}
	}
	res, err := s.pool().exec(ctx, query, args...)
	if err != nil {
		return 0, s.wrapAs("save ring", err, keys.ErrRingConflict)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail("save ring", err)
	}
	if n == 0 {
		if prev == 0 {
			return 0, fmt.Errorf("sqlstore: save ring %q: already stored: %w", name, keys.ErrRingConflict)
		}
		return 0, fmt.Errorf("sqlstore: save ring %q: version is not %d: %w", name, prev, keys.ErrRingConflict)
	}
	return prev + 1, nil
}
