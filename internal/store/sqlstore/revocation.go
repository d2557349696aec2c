package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/oauth"
)

var _ oauth.RevocationStore = (*Store)(nil)

// Revoke records jti as revoked until expiresAt with one INSERT ... ON
// CONFLICT statement; revoking a jti again keeps the later of the two
// expiries, so the call is idempotent and an entry never shrinks. An empty
// jti is an error.
func (s *Store) Revoke(ctx context.Context, jti string, expiresAt time.Time) error {
	if jti == "" {
		return errors.New("sqlstore: revoke: empty jti")
	}
	if _, err := s.pool().exec(ctx,
		`INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)
		 ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at
		 WHERE revoked_tokens.expires_at < excluded.expires_at`,
		jti, toMicros(expiresAt)); err != nil {
		return s.wrapOAuth("revoke", err)
	}
	return nil
}

// IsRevoked reports whether jti is recorded as revoked. An entry answers
// true until Cleanup removes it, which it does only once its expiry is
// before the cleanup time: failing closed, a token accepted with clock
// skew just past its exp is still refused. An empty jti is an error.
func (s *Store) IsRevoked(ctx context.Context, jti string, _ time.Time) (bool, error) {
	if jti == "" {
		return false, errors.New("sqlstore: is revoked: empty jti")
	}
	var n int
	if err := s.pool().queryRow(ctx, `SELECT COUNT(*) FROM revoked_tokens WHERE jti = ?`, jti).Scan(&n); err != nil {
		return false, s.fail("is revoked", err)
	}
	return n > 0, nil
}
