package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// Cleanup deletes the pending requests, replay records, sessions and IdP
// SSO states whose
// expiry is not after now, in statements of at most Options.CleanupBatchSize
// rows so that no single statement holds locks for long, and returns how
// many rows it deleted. Rows that have not expired are never touched.
// Expired rows are already invisible to every other method, so Cleanup
// only reclaims space; it stops early, with the count so far, when ctx
// ends.
func (s *Store) Cleanup(ctx context.Context, now time.Time) (int64, error) {
	// Each query deletes at most batch expired rows (expires_at <= now)
	// of one table and takes (now, batch).
	cleanupQueries := [...]struct{ table, query string }{
		{"pending_requests", `DELETE FROM pending_requests WHERE id IN
			(SELECT id FROM pending_requests WHERE expires_at <= ? LIMIT ?)`},
		{"replay_cache", `DELETE FROM replay_cache WHERE (issuer, assertion_id) IN
			(SELECT issuer, assertion_id FROM replay_cache WHERE expires_at <= ? LIMIT ?)`},
		{"sessions", `DELETE FROM sessions WHERE id_hash IN
			(SELECT id_hash FROM sessions WHERE expires_at <= ? LIMIT ?)`},
		{"sso_states", `DELETE FROM sso_states WHERE id IN
			(SELECT id FROM sso_states WHERE expires_at <= ? LIMIT ?)`},
	}
	var total int64
	nowUS := toMicros(now)
	for _, c := range cleanupQueries {
		for {
			if err := ctx.Err(); err != nil {
				return total, fmt.Errorf("sqlstore: cleanup %s: %w", c.table, err)
			}
			res, err := s.pool().exec(ctx, c.query, nowUS, s.batch)
			if err != nil {
				return total, s.wrap("cleanup "+c.table, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, s.wrap("cleanup "+c.table, err)
			}
			total += n
			if n < int64(s.batch) {
				break
			}
		}
	}
	return total, nil
}
