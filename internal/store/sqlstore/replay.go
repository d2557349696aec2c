package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// markAssertionSQL inserts a replay record unless a live one exists
// (arguments: issuer, assertion ID, expiry, now).
const markAssertionSQL = `INSERT INTO replay_cache (issuer, assertion_id, expires_at) VALUES (?, ?, ?)
	ON CONFLICT (issuer, assertion_id) DO UPDATE SET expires_at = excluded.expires_at
	WHERE replay_cache.expires_at <= ?`

// MarkAssertionUsed records (issuer, assertionID) until expiresAt with one
// INSERT ... ON CONFLICT DO UPDATE ... WHERE statement: a new pair is
// inserted, an expired record of the pair (expires_at <= now) is replaced,
// and a live record is left alone, which the statement reports as zero
// rows affected and this method as sp.ErrReplay. The database's uniqueness
// check makes this atomic across every process sharing the database.
func (s *Store) MarkAssertionUsed(ctx context.Context, issuer, assertionID string, expiresAt, now time.Time) error {
	if issuer == "" || assertionID == "" {
		return errors.New("sqlstore: mark assertion used: empty issuer or assertion ID")
	}
	res, err := s.pool().exec(ctx, markAssertionSQL, issuer, assertionID, toMicros(expiresAt), toMicros(now))
	if err != nil {
		return s.wrap("mark assertion used", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrap("mark assertion used", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: mark assertion used: %w", sp.ErrReplay)
	}
	return nil
}
