package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// SaveRequest stores r until r.ExpiresAt. A second request with the same ID
// returns sp.ErrConflict.
func (s *Store) SaveRequest(ctx context.Context, r sp.PendingRequest) error {
	if r.ID == "" {
		return errors.New("sqlstore: save request: empty ID")
	}
	_, err := s.pool().exec(ctx,
		`INSERT INTO pending_requests (id, relay_state, browser_binding, return_to, region, created_at, expires_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.RelayState, r.BrowserBinding, r.ReturnTo, r.Region, toMicros(r.CreatedAt), toMicros(r.ExpiresAt))
	if err != nil {
		return s.wrap("save request", err)
	}
	return nil
}

// consumeRequestSQL deletes and returns a live pending request (arguments:
// ID, now).
const consumeRequestSQL = `DELETE FROM pending_requests WHERE id = ? AND expires_at > ?
	RETURNING relay_state, browser_binding, return_to, region, created_at, expires_at`

// ConsumeRequest deletes and returns the pending request with the given ID
// in one DELETE ... RETURNING statement, so of any number of concurrent
// callers (in any number of processes) exactly one gets the row. A request
// whose ExpiresAt is not after now is not returned (sp.ErrNotFound) and is
// left for Cleanup.
func (s *Store) ConsumeRequest(ctx context.Context, id string, now time.Time) (sp.PendingRequest, error) {
	r := sp.PendingRequest{ID: id}
	var created, expires int64
	err := s.pool().queryRow(ctx, consumeRequestSQL, id, toMicros(now)).
		Scan(&r.RelayState, &r.BrowserBinding, &r.ReturnTo, &r.Region, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return sp.PendingRequest{}, fmt.Errorf("sqlstore: consume request: %w", sp.ErrNotFound)
	}
	if err != nil {
		return sp.PendingRequest{}, s.wrap("consume request", err)
	}
	r.CreatedAt, r.ExpiresAt = fromMicros(created), fromMicros(expires)
	return r, nil
}
