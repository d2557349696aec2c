package memory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/idp"
)

var _ idp.SSOStateStore = (*Store)(nil)

// SaveSSOState stores st until st.ExpiresAt. A second state with the same
// ID is an error (IDs are random, so this means misuse).
func (s *Store) SaveSSOState(_ context.Context, st idp.PendingSSO) error {
	if st.ID == "" {
		return errors.New("memory: save SSO state: empty ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sso == nil {
		s.sso = map[string]idp.PendingSSO{}
	}
	if _, ok := s.sso[st.ID]; ok {
		return errors.New("memory: save SSO state: duplicate ID")
	}
	s.sso[st.ID] = st
	return nil
}

// ConsumeSSOState deletes and returns the state with the given ID; of any
// number of concurrent callers exactly one gets it. Unknown, consumed or
// expired (ExpiresAt not after now) states return idp.ErrNotFound; an
// expired state is deleted too.
func (s *Store) ConsumeSSOState(_ context.Context, id string, now time.Time) (idp.PendingSSO, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sso[id]
	if !ok {
		return idp.PendingSSO{}, fmt.Errorf("memory: consume SSO state: %w", idp.ErrNotFound)
	}
	delete(s.sso, id)
	if !st.ExpiresAt.After(now) {
		return idp.PendingSSO{}, fmt.Errorf("memory: consume SSO state: %w", idp.ErrNotFound)
	}
	return st, nil
}

// cleanupSSOLocked deletes expired SSO states; s.mu must be held.
func (s *Store) cleanupSSOLocked(now time.Time) int64 {
	var n int64
	for id, st := range s.sso {
		if !st.ExpiresAt.After(now) {
			delete(s.sso, id)
			n++
		}
	}
	return n
}
