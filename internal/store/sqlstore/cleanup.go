package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Cleanup deletes, in statements of at most Options.CleanupBatchSize rows
// so that no single statement holds locks for long, the pending requests,
// replay records, sessions, IdP SSO states and sign-in flows whose expiry
// is not after now, the access-token revocations whose expiry is before
// now, the refresh tokens whose own or family expiry is before now, and
// the device authorizations that expired more than store.DeviceRetention before now
// (kept so that a late poll gets expired_token), and returns how many rows
// it deleted. Audit events are never deleted. Rows that have not expired
// are never touched. Expired rows are already invisible to every other
// method but IsRevoked and DeviceByCode, which see them by design, so
// Cleanup only reclaims space; it stops early, with the count so far, when
// ctx ends.
func (s *Store) Cleanup(ctx context.Context, now time.Time) (int64, error) {
	nowUS := toMicros(now)
	deviceCutoff := toMicros(now.Add(-store.DeviceRetention))
	// Each query deletes at most batch rows of one table; its arguments
	// are args followed by the batch size.
	cleanupQueries := [...]struct {
		table, query string
		args         []any
	}{
		{"pending_requests", `DELETE FROM pending_requests WHERE id IN
			(SELECT id FROM pending_requests WHERE expires_at <= ? LIMIT ?)`, []any{nowUS}},
		{"replay_cache", `DELETE FROM replay_cache WHERE (issuer, assertion_id) IN
			(SELECT issuer, assertion_id FROM replay_cache WHERE expires_at <= ? LIMIT ?)`, []any{nowUS}},
		{"sessions", `DELETE FROM sessions WHERE id_hash IN
			(SELECT id_hash FROM sessions WHERE expires_at <= ? LIMIT ?)`, []any{nowUS}},
		{"sso_states", `DELETE FROM sso_states WHERE id IN
			(SELECT id FROM sso_states WHERE expires_at <= ? LIMIT ?)`, []any{nowUS}},
		{"revoked_tokens", `DELETE FROM revoked_tokens WHERE jti IN
			(SELECT jti FROM revoked_tokens WHERE expires_at < ? LIMIT ?)`, []any{nowUS}},
		{"refresh_tokens", `DELETE FROM refresh_tokens WHERE hash IN
			(SELECT hash FROM refresh_tokens WHERE expires_at < ? OR family_expires_at < ? LIMIT ?)`, []any{nowUS, nowUS}},
		{"device_authorizations", `DELETE FROM device_authorizations WHERE device_code_hash IN
			(SELECT device_code_hash FROM device_authorizations WHERE expires_at < ? LIMIT ?)`, []any{deviceCutoff}},
		{"signin_flows", `DELETE FROM signin_flows WHERE id_hash IN
			(SELECT id_hash FROM signin_flows WHERE expires_at <= ? LIMIT ?)`, []any{nowUS}},
	}
	var total int64
	for _, c := range cleanupQueries {
		args := append(c.args, s.batch)
		for {
			if err := ctx.Err(); err != nil {
				return total, fmt.Errorf("sqlstore: cleanup %s: %w", c.table, err)
			}
			res, err := s.pool().exec(ctx, c.query, args...)
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
