package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
)

// SCIMTokenStore is what RunSCIMTokens tests: the SCIM bearer tokens.
type SCIMTokenStore = scimtoken.Store

// SCIMTokenConcurrency is the number of goroutines racing to create a
// SCIM token in RunSCIMTokens; exactly scimtoken.MaxActive of them win.
const SCIMTokenConcurrency = 16

// RunSCIMTokens runs the conformance cases of the SCIM bearer token store.
// newStore must return a new, empty store for each call and register its
// own cleanup with t.Cleanup. Run calls it.
func RunSCIMTokens(t *testing.T, newStore func(t *testing.T) SCIMTokenStore) {
	t.Run("InsertAndRead", func(t *testing.T) { testSCIMInsertAndRead(t, newStore) })
	t.Run("Duplicate", func(t *testing.T) { testSCIMDuplicate(t, newStore) })
	t.Run("LimitCountsActive", func(t *testing.T) { testSCIMLimit(t, newStore) })
	t.Run("List", func(t *testing.T) { testSCIMList(t, newStore) })
	t.Run("Revoke", func(t *testing.T) { testSCIMRevoke(t, newStore) })
	t.Run("Touch", func(t *testing.T) { testSCIMTouch(t, newStore) })
	t.Run("ConcurrentInsert", func(t *testing.T) { testSCIMConcurrentInsert(t, newStore) })
}

// scimRecord returns a valid token record with a fresh random ID and hash,
// created at base + offset and living for lifetime.
func scimRecord(offset, lifetime time.Duration) scimtoken.Record {
	var id, secret [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+)
	_, _ = rand.Read(secret[:])
	created := base.Add(offset)
	return scimtoken.Record{
		ID:        hex.EncodeToString(id[:]),
		Hash:      scimtoken.HashToken("ghscim_" + hex.EncodeToString(secret[:])),
		Name:      "okta",
		CreatedAt: created,
		ExpiresAt: created.Add(lifetime),
	}
}

func testSCIMInsertAndRead(t *testing.T, newStore func(t *testing.T) SCIMTokenStore) {
	s := newStore(t)
	rec := scimRecord(0, scimtoken.DefaultLifetime)
	rec.Name = "Okta <prod> \"quoted\" ünïcode"
	require.NoError(t, s.InsertToken(t.Context(), rec, scimtoken.MaxActive))
	got, err := s.TokenByHash(t.Context(), rec.Hash)
	require.NoError(t, err)
	assert.Equal(t, rec, got)
	_, err = s.TokenByHash(t.Context(), scimRecord(0, scimtoken.Day).Hash)
	assert.ErrorIs(t, err, scimtoken.ErrNotFound)
}

func testSCIMDuplicate(t *testing.T, newStore func(t *testing.T) SCIMTokenStore) {
	s := newStore(t)
	rec := scimRecord(0, scimtoken.DefaultLifetime)
	require.NoError(t, s.InsertToken(t.Context(), rec, 10))
	sameID := scimRecord(0, scimtoken.DefaultLifetime)
	sameID.ID = rec.ID
	assert.ErrorIs(t, s.InsertToken(t.Context(), sameID, 10), scimtoken.ErrConflict)
	sameHash := scimRecord(0, scimtoken.DefaultLifetime)
	sameHash.Hash = rec.Hash
	assert.ErrorIs(t, s.InsertToken(t.Context(), sameHash, 10), scimtoken.ErrConflict)
	list, err := s.ListTokens(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []scimtoken.Record{rec}, list, "a conflicting token is not stored")
	// Positive control: a token with its own ID and hash is accepted.
	require.NoError(t, s.InsertToken(t.Context(), scimRecord(0, scimtoken.DefaultLifetime), 10))
}

func testSCIMLimit(t *testing.T, newStore func(t *testing.T) SCIMTokenStore) {
	s := newStore(t)
	ctx := t.Context()
	expired := scimRecord(-2*scimtoken.Day, scimtoken.Day)
	require.NoError(t, s.InsertToken(ctx, expired, scimtoken.MaxActive))
	revoked := scimRecord(-time.Hour, scimtoken.Day)
	require.NoError(t, s.InsertToken(ctx, revoked, scimtoken.MaxActive))
	require.NoError(t, s.RevokeToken(ctx, revoked.ID, base.Add(-time.Minute)))
	first, second, third := scimRecord(0, scimtoken.Day), scimRecord(time.Second, scimtoken.Day), scimRecord(2*time.Second, scimtoken.Day)
	require.NoError(t, s.InsertToken(ctx, first, scimtoken.MaxActive))
	require.NoError(t, s.InsertToken(ctx, second, scimtoken.MaxActive))
	assert.ErrorIs(t, s.InsertToken(ctx, third, scimtoken.MaxActive), scimtoken.ErrLimit)
	_, err := s.TokenByHash(ctx, third.Hash)
	assert.ErrorIs(t, err, scimtoken.ErrNotFound, "a refused token is not stored")

	// One microsecond before first expires, it is still active.
	justBefore := scimRecord(scimtoken.Day-time.Microsecond, scimtoken.Day)
	assert.ErrorIs(t, s.InsertToken(ctx, justBefore, scimtoken.MaxActive), scimtoken.ErrLimit)
	// A token expiring exactly at the creation instant no longer counts.
	atExpiry := scimRecord(scimtoken.Day, scimtoken.Day)
	require.NoError(t, s.InsertToken(ctx, atExpiry, scimtoken.MaxActive))

	// Revoking a token frees its place: second and atExpiry are active.
	later := scimRecord(scimtoken.Day+500*time.Millisecond, scimtoken.Day)
	require.ErrorIs(t, s.InsertToken(ctx, later, scimtoken.MaxActive), scimtoken.ErrLimit)
	require.NoError(t, s.RevokeToken(ctx, second.ID, base.Add(time.Minute)))
	require.NoError(t, s.InsertToken(ctx, later, scimtoken.MaxActive))
}

func testSCIMList(t *testing.T, newStore func(t *testing.T) SCIMTokenStore) {
	s := newStore(t)
	ctx := t.Context()
	list, err := s.ListTokens(ctx)
	require.NoError(t, err)
	assert.Empty(t, list)
	a, c := scimRecord(time.Second, scimtoken.Day), scimRecord(0, 3*scimtoken.Day)
	expired := scimRecord(-3*scimtoken.Day, scimtoken.Day)
	revoked := scimRecord(-time.Hour, scimtoken.Day)
	// Same creation time as c: ordered by ID.
	d := scimRecord(0, scimtoken.Day)
	d.ID = "~" + c.ID[1:] // '~' sorts after every hex digit
	for _, r := range []scimtoken.Record{a, d, c, expired, revoked} {
		require.NoError(t, s.InsertToken(ctx, r, 10))
	}
	require.NoError(t, s.RevokeToken(ctx, revoked.ID, base))
	list, err = s.ListTokens(ctx)
	require.NoError(t, err)
	assert.Equal(t, []scimtoken.Record{expired, c, d, a}, list, "unrevoked, expired included, oldest first, then by ID")
}

func testSCIMRevoke(t *testing.T, newStore func(t *testing.T) SCIMTokenStore) {
	s := newStore(t)
	ctx := t.Context()
	rec := scimRecord(0, scimtoken.Day)
	require.NoError(t, s.InsertToken(ctx, rec, scimtoken.MaxActive))
	at := base.Add(time.Minute)
	require.NoError(t, s.RevokeToken(ctx, rec.ID, at))
	got, err := s.TokenByHash(ctx, rec.Hash)
	require.NoError(t, err)
	assert.Equal(t, at, got.RevokedAt)
	assert.ErrorIs(t, s.RevokeToken(ctx, rec.ID, at.Add(time.Minute)), scimtoken.ErrNotFound, "revoked once")
	got, err = s.TokenByHash(ctx, rec.Hash)
	require.NoError(t, err)
	assert.Equal(t, at, got.RevokedAt, "the first revocation time stays")
	assert.ErrorIs(t, s.RevokeToken(ctx, scimRecord(0, scimtoken.Day).ID, at), scimtoken.ErrNotFound)
}

func testSCIMTouch(t *testing.T, newStore func(t *testing.T) SCIMTokenStore) {
	s := newStore(t)
	ctx := t.Context()
	rec := scimRecord(0, scimtoken.Day)
	require.NoError(t, s.InsertToken(ctx, rec, scimtoken.MaxActive))
	lastUsed := func() time.Time {
		t.Helper()
		got, err := s.TokenByHash(ctx, rec.Hash)
		require.NoError(t, err)
		return got.LastUsedAt
	}
	t1 := base.Add(time.Hour)
	require.NoError(t, s.TouchToken(ctx, rec.ID, t1, t1.Add(-time.Minute)))
	assert.Equal(t, t1, lastUsed(), "unset: written")
	// Within the interval: no write.
	t2 := t1.Add(30 * time.Second)
	require.NoError(t, s.TouchToken(ctx, rec.ID, t2, t2.Add(-time.Minute)))
	assert.Equal(t, t1, lastUsed())
	// Exactly at staleBefore is not before it: no write.
	t3 := t1.Add(time.Minute)
	require.NoError(t, s.TouchToken(ctx, rec.ID, t3, t3.Add(-time.Minute)))
	assert.Equal(t, t1, lastUsed())
	t4 := t1.Add(61 * time.Second)
	require.NoError(t, s.TouchToken(ctx, rec.ID, t4, t4.Add(-time.Minute)))
	assert.Equal(t, t4, lastUsed())
	assert.NoError(t, s.TouchToken(ctx, scimRecord(0, scimtoken.Day).ID, t4, t4), "an unknown ID is no error")
}

func testSCIMConcurrentInsert(t *testing.T, newStore func(t *testing.T) SCIMTokenStore) {
	s := newStore(t)
	errs := race(SCIMTokenConcurrency, func(int) error {
		return s.InsertToken(context.Background(), scimRecord(0, scimtoken.Day), scimtoken.MaxActive)
	})
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		assert.ErrorIs(t, err, scimtoken.ErrLimit, "goroutine %d", i)
	}
	assert.Equal(t, scimtoken.MaxActive, ok)
	list, err := s.ListTokens(t.Context())
	require.NoError(t, err)
	assert.Len(t, list, scimtoken.MaxActive)
}
