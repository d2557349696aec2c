package memory

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/sp"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return New() })
}

func TestSessionIDNotKept(t *testing.T) {
	s := New()
	const id = "raw-session-secret"
	require.NoError(t, s.CreateSession(t.Context(), sp.Session{ID: id, UserID: "u"}))
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Len(t, s.sessions, 1)
	for k := range s.sessions {
		assert.NotContains(t, k, id)
		assert.Equal(t, hashSessionID(id), k)
	}
}

// TestLinkConflicts covers the sp.ErrConflict cases of LinkByUserName that
// the UserDirectory methods alone cannot reach (a user_name renamed after
// linking), by arranging the links directly.
func TestLinkConflicts(t *testing.T) {
	const idp = "https://idp.example.com"
	ctx := t.Context()
	s := New()
	alice, err := s.CreateUser(ctx, sp.User{UserName: "alice", Active: true})
	require.NoError(t, err)
	bob, err := s.CreateUser(ctx, sp.User{UserName: "bob", Active: true})
	require.NoError(t, err)

	// Positive control.
	_, err = s.LinkByUserName(ctx, sp.ExternalIdentity{Issuer: idp, NameID: "alice"})
	require.NoError(t, err)

	// bob is already linked under idp with another NameID.
	s.mu.Lock()
	require.NoError(t, s.linkLocked(sp.ExternalIdentity{Issuer: idp, NameID: "bob-old"}, bob.ID))
	s.mu.Unlock()
	_, err = s.LinkByUserName(ctx, sp.ExternalIdentity{Issuer: idp, NameID: "bob"})
	require.ErrorIs(t, err, sp.ErrConflict)

	// The identity "carol" is linked to alice, but user_name carol is
	// another user.
	carol, err := s.CreateUser(ctx, sp.User{UserName: "carol", Active: true})
	require.NoError(t, err)
	s.mu.Lock()
	require.NoError(t, s.linkLocked(sp.ExternalIdentity{Issuer: "https://other.example.com", NameID: "carol"}, alice.ID))
	s.mu.Unlock()
	_, err = s.LinkByUserName(ctx, sp.ExternalIdentity{Issuer: "https://other.example.com", NameID: "carol"})
	require.ErrorIs(t, err, sp.ErrConflict)
	u, err := s.LookupExternal(ctx, sp.ExternalIdentity{Issuer: "https://other.example.com", NameID: "carol"})
	require.NoError(t, err)
	assert.Equal(t, alice.ID, u.ID)
	assert.NotEqual(t, carol.ID, u.ID)
}

// TestCreateUserUsesClock checks that users created without a time (the
// sp CreateUser) get the configured clock's.
func TestCreateUserUsesClock(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	s := NewWithOptions(Options{Now: func() time.Time { return at }})
	u, err := s.CreateUser(t.Context(), sp.User{UserName: "alice"})
	require.NoError(t, err)
	d, err := s.DirectoryUser(t.Context(), u.ID)
	require.NoError(t, err)
	assert.Equal(t, at, d.CreatedAt)
	assert.Equal(t, at, d.UpdatedAt)
	assert.False(t, New().now().IsZero(), "the default clock is time.Now")
}
