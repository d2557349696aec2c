package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/idp"
)

var _ idp.SSOStateStore = (*Store)(nil)

// SaveSSOState stores st until st.ExpiresAt. A second state with the same
// ID is an error wrapping sp.ErrConflict (IDs are random, so this means
// misuse).
func (s *Store) SaveSSOState(ctx context.Context, st idp.PendingSSO) error {
	if st.ID == "" {
		return errors.New("sqlstore: save SSO state: empty ID")
	}
	_, err := s.pool().exec(ctx,
		`INSERT INTO sso_states (id, sp_entity_id, request_id, acs_url, relay_state, force_authn, created_at, expires_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		st.ID, st.SPEntityID, st.RequestID, st.ACSURL, st.RelayState, st.ForceAuthn, toMicros(st.CreatedAt), toMicros(st.ExpiresAt))
	if err != nil {
		return s.wrap("save SSO state", err)
	}
	return nil
}

// ConsumeSSOState deletes and returns the state with the given ID in one
// DELETE ... RETURNING statement, so of any number of concurrent callers
// (in any number of processes) exactly one gets the row. A state whose
// ExpiresAt is not after now is not returned (idp.ErrNotFound) and is left
// for Cleanup.
func (s *Store) ConsumeSSOState(ctx context.Context, id string, now time.Time) (idp.PendingSSO, error) {
	st := idp.PendingSSO{ID: id}
	var created, expires int64
	err := s.pool().queryRow(ctx,
		`DELETE FROM sso_states WHERE id = ? AND expires_at > ?
		 RETURNING sp_entity_id, request_id, acs_url, relay_state, force_authn, created_at, expires_at`,
		id, toMicros(now)).Scan(&st.SPEntityID, &st.RequestID, &st.ACSURL, &st.RelayState, &st.ForceAuthn, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return idp.PendingSSO{}, fmt.Errorf("sqlstore: consume SSO state: %w", idp.ErrNotFound)
	}
	if err != nil {
		return idp.PendingSSO{}, s.wrap("consume SSO state", err)
	}
	st.CreatedAt, st.ExpiresAt = fromMicros(created), fromMicros(expires)
	return st, nil
}
