package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

// OAuthStore is what RunOAuth tests: device authorizations, refresh
// tokens and access-token revocations, with Cleanup.
type OAuthStore interface {
	oauth.DeviceStore
	oauth.RefreshStore
	oauth.RevocationStore
	Cleanup(ctx context.Context, now time.Time) (int64, error)
}

// RunOAuth runs the conformance cases of the OAuth stores. newStore must
// return a new, empty store for each call and register its own cleanup
// with t.Cleanup. Run calls it.
func RunOAuth(t *testing.T, newStore func(t *testing.T) OAuthStore) {
	t.Run("Devices", func(t *testing.T) { testDevices(t, newStore) })
	t.Run("DeviceCodesOfExpired", func(t *testing.T) { testDeviceCodesOfExpired(t, newStore) })
	t.Run("DecideDevice", func(t *testing.T) { testDecideDevice(t, newStore) })
	t.Run("ConcurrentDecideDevice", func(t *testing.T) { testConcurrentDecideDevice(t, newStore) })
	t.Run("ConsumeDevice", func(t *testing.T) { testConsumeDevice(t, newStore) })
	t.Run("ConcurrentConsumeDevice", func(t *testing.T) { testConcurrentConsumeDevice(t, newStore) })
	t.Run("RefreshTokens", func(t *testing.T) { testRefreshTokens(t, newStore) })
	t.Run("RotateRefreshToken", func(t *testing.T) { testRotateRefreshToken(t, newStore) })
	t.Run("ConcurrentRotateRefreshToken", func(t *testing.T) { testConcurrentRotate(t, newStore) })
	t.Run("RevokeRefreshTokens", func(t *testing.T) { testRevokeRefreshTokens(t, newStore) })
	t.Run("Revocations", func(t *testing.T) { testRevocations(t, newStore) })
	t.Run("CleanupOAuth", func(t *testing.T) { testCleanupOAuth(t, newStore) })
}

// codeHash is the hex SHA-256 of a code, as the oauth package stores it.
func codeHash(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

func device(code, userCode string, expires time.Time) oauth.DeviceAuthorization {
	return oauth.DeviceAuthorization{
		DeviceCodeHash: codeHash(code),
		UserCode:       userCode,
		ClientID:       "cli-" + code,
		Audience:       "https://warehouse.example.com",
		Scopes:         []string{"warehouse:read", "openid", "ünïcode:<&>"},
		Status:         oauth.DevicePending,
		CreatedAt:      base,
		ExpiresAt:      expires,
		Interval:       5 * time.Second,
	}
}

func assertDevice(t *testing.T, want, got oauth.DeviceAuthorization) {
	t.Helper()
	assertSameTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
	assertSameTime(t, want.ExpiresAt, got.ExpiresAt, "ExpiresAt")
	assertSameTime(t, want.LastPolledAt, got.LastPolledAt, "LastPolledAt")
	assert.Equal(t, want.LastPolledAt.IsZero(), got.LastPolledAt.IsZero(), "LastPolledAt.IsZero")
	want.CreatedAt, want.ExpiresAt, want.LastPolledAt = time.Time{}, time.Time{}, time.Time{}
	got.CreatedAt, got.ExpiresAt, got.LastPolledAt = time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

// deviceIs asserts that the authorization with d's device code hash is
// stored as want.
func deviceIs(t *testing.T, s OAuthStore, want oauth.DeviceAuthorization) {
	t.Helper()
	got, err := s.DeviceByCode(t.Context(), want.DeviceCodeHash)
	require.NoError(t, err)
	assertDevice(t, want, got)
}

func testDevices(t *testing.T, newStore func(t *testing.T) OAuthStore) {
	ctx := t.Context()
	exp := base.Add(10 * time.Minute)
	t.Run("create and read", func(t *testing.T) {
		s := newStore(t)
		d := device("dc-1", "WDJBMJHT", exp)
		require.NoError(t, s.CreateDevice(ctx, d))
		deviceIs(t, s, d)
		got, err := s.DeviceByUserCode(ctx, d.UserCode, base.Add(time.Minute))
		require.NoError(t, err)
		assertDevice(t, d, got)

		// Empty status means pending; empty scopes come back nil; an
		// interval that is no whole number of microseconds round-trips.
		bare := device("dc-2", "BDWPQRST", exp)
		bare.Status, bare.Scopes, bare.Audience, bare.Interval = "", []string{}, "", 7500*time.Millisecond+1
		require.NoError(t, s.CreateDevice(ctx, bare))
		want := bare
		want.Status, want.Scopes = oauth.DevicePending, nil
		deviceIs(t, s, want)
	})
	t.Run("unknown", func(t *testing.T) {
		s := newStore(t)
		d := device("dc-known", "KNOWNCDE", exp)
		require.NoError(t, s.CreateDevice(ctx, d))
		_, err := s.DeviceByCode(ctx, codeHash("dc-unknown"))
		require.ErrorIs(t, err, oauth.ErrNotFound)
		_, err = s.DeviceByUserCode(ctx, "UNKNOWNC", base)
		require.ErrorIs(t, err, oauth.ErrNotFound)
		_, err = s.DeviceByUserCode(ctx, "knowncde", base)
		require.ErrorIs(t, err, oauth.ErrNotFound, "user codes compare exactly")
		_, err = s.DeviceByUserCode(ctx, "", base)
		require.ErrorIs(t, err, oauth.ErrNotFound)
		_, err = s.DeviceByUserCode(ctx, d.UserCode, base)
		require.NoError(t, err, "positive control")
	})
	t.Run("expiry", func(t *testing.T) {
		s := newStore(t)
		d := device("dc-exp", "EXPIRING", exp)
		require.NoError(t, s.CreateDevice(ctx, d))
		_, err := s.DeviceByUserCode(ctx, d.UserCode, exp.Add(-time.Microsecond))
		require.NoError(t, err, "one microsecond before expiry")
		_, err = s.DeviceByUserCode(ctx, d.UserCode, exp)
		require.ErrorIs(t, err, oauth.ErrNotFound, "ExpiresAt == now is expired")
		_, err = s.DeviceByUserCode(ctx, d.UserCode, exp.Add(time.Hour))
		require.ErrorIs(t, err, oauth.ErrNotFound)
		deviceIs(t, s, d) // DeviceByCode returns it expired, for expired_token
	})
	t.Run("conflicts", func(t *testing.T) {
		s := newStore(t)
		d := device("dc-a", "AAAABBBB", exp)
		require.NoError(t, s.CreateDevice(ctx, d))
		sameCode := device("dc-a", "CCCCDDDD", exp.Add(time.Hour))
		require.ErrorIs(t, s.CreateDevice(ctx, sameCode), oauth.ErrConflict)
		sameUserCode := device("dc-b", "AAAABBBB", exp.Add(time.Hour))
		require.ErrorIs(t, s.CreateDevice(ctx, sameUserCode), oauth.ErrConflict)
		// Just before the live one expires, its codes are still taken.
		sameUserCode.CreatedAt = exp.Add(-time.Microsecond)
		require.ErrorIs(t, s.CreateDevice(ctx, sameUserCode), oauth.ErrConflict)
		deviceIs(t, s, d)
		_, err := s.DeviceByCode(ctx, sameUserCode.DeviceCodeHash)
		require.ErrorIs(t, err, oauth.ErrNotFound, "the refused one is not stored")
		require.NoError(t, s.CreateDevice(ctx, device("dc-b", "CCCCDDDD", exp)), "positive control")
	})
	t.Run("invalid", func(t *testing.T) {
		s := newStore(t)
		valid := device("dc-valid", "VALIDCDE", exp)
		for name, change := range map[string]func(d *oauth.DeviceAuthorization){
			"empty device code hash": func(d *oauth.DeviceAuthorization) { d.DeviceCodeHash = "" },
			"empty user code":        func(d *oauth.DeviceAuthorization) { d.UserCode = "" },
			"approved":               func(d *oauth.DeviceAuthorization) { d.Status = oauth.DeviceApproved },
			"consumed":               func(d *oauth.DeviceAuthorization) { d.Status = oauth.DeviceConsumed },
			"with a user":            func(d *oauth.DeviceAuthorization) { d.UserID = "user-1" },
			"negative interval":      func(d *oauth.DeviceAuthorization) { d.Interval = -time.Second },
		} {
			d := valid
			change(&d)
			err := s.CreateDevice(ctx, d)
			require.Error(t, err, name)
			assert.NotErrorIs(t, err, oauth.ErrConflict, name)
		}
		_, err := s.DeviceByUserCode(ctx, valid.UserCode, base)
		require.ErrorIs(t, err, oauth.ErrNotFound, "nothing was stored")
		require.NoError(t, s.CreateDevice(ctx, valid), "positive control")
	})
	t.Run("touch", func(t *testing.T) {
		s := newStore(t)
		d := device("dc-touch", "TOUCHCDE", exp)
		other := device("dc-other", "OTHERCDE", exp)
		require.NoError(t, s.CreateDevice(ctx, d))
		require.NoError(t, s.CreateDevice(ctx, other))
		polled := base.Add(90 * time.Second)
		require.NoError(t, s.TouchDevice(ctx, d.DeviceCodeHash, polled, 10*time.Second))
		want := d
		want.LastPolledAt, want.Interval = polled, 10*time.Second
		deviceIs(t, s, want)
		deviceIs(t, s, other)

		require.Error(t, s.TouchDevice(ctx, d.DeviceCodeHash, polled.Add(time.Minute), -time.Second))
		deviceIs(t, s, want)
		require.ErrorIs(t, s.TouchDevice(ctx, codeHash("dc-unknown"), polled, time.Second), oauth.ErrNotFound)
		// Polling an expired authorization is still recorded.
		require.NoError(t, s.TouchDevice(ctx, d.DeviceCodeHash, exp.Add(time.Minute), 15*time.Second))
		want.LastPolledAt, want.Interval = exp.Add(time.Minute), 15*time.Second
		deviceIs(t, s, want)
	})
}

// testDeviceCodesOfExpired checks that an expired authorization does not
// hold its codes: a new one may take its user code (the old one stays, for
// expired_token, without it) or its device code hash (replacing it).
func testDeviceCodesOfExpired(t *testing.T, newStore func(t *testing.T) OAuthStore) {
	ctx := t.Context()
	exp := base.Add(10 * time.Minute)
	t.Run("user code", func(t *testing.T) {
		s := newStore(t)
		old := device("dc-old", "REUSEDCD", exp)
		require.NoError(t, s.CreateDevice(ctx, old))
		next := device("dc-next", "REUSEDCD", exp.Add(10*time.Minute))
		next.CreatedAt = exp
		require.NoError(t, s.CreateDevice(ctx, next))

		got, err := s.DeviceByUserCode(ctx, "REUSEDCD", exp)
		require.NoError(t, err)
		assertDevice(t, next, got)
		released := old
		released.UserCode = ""
		deviceIs(t, s, released)
		// The expired one cannot be decided through the reused code.
		require.NoError(t, s.DecideDevice(ctx, "REUSEDCD", "user-1", true, exp))
		deviceIs(t, s, released)
		next.Status, next.UserID = oauth.DeviceApproved, "user-1"
		deviceIs(t, s, next)
		// And a third may take it again once the second has expired.
		third := device("dc-third", "REUSEDCD", exp.Add(time.Hour))
		third.CreatedAt = next.ExpiresAt
		require.NoError(t, s.CreateDevice(ctx, third))
		next.UserCode = ""
		deviceIs(t, s, next)
	})
	t.Run("device code hash", func(t *testing.T) {
		s := newStore(t)
		old := device("dc-same", "OLDUSERC", exp)
		require.NoError(t, s.CreateDevice(ctx, old))
		next := device("dc-same", "NEWUSERC", exp.Add(10*time.Minute))
		next.CreatedAt, next.ClientID = exp, "cli-new"
		require.NoError(t, s.CreateDevice(ctx, next))
		deviceIs(t, s, next)
		_, err := s.DeviceByUserCode(ctx, "OLDUSERC", base)
		require.ErrorIs(t, err, oauth.ErrNotFound, "the replaced authorization's user code is gone")
		// The freed user code is available again.
		again := device("dc-again", "OLDUSERC", exp.Add(time.Hour))
		again.CreatedAt = exp
		require.NoError(t, s.CreateDevice(ctx, again))
	})
}

func testDecideDevice(t *testing.T, newStore func(t *testing.T) OAuthStore) {
	ctx := t.Context()
	exp := base.Add(10 * time.Minute)
	now := base.Add(time.Minute)
	for _, approve := range []bool{true, false} {
		t.Run(fmt.Sprintf("approve=%v", approve), func(t *testing.T) {
			s := newStore(t)
			d := device("dc-decide", "DECIDEME", exp)
			bystander := device("dc-bystander", "BYSTANDR", exp)
			require.NoError(t, s.CreateDevice(ctx, d))
			require.NoError(t, s.CreateDevice(ctx, bystander))
			require.NoError(t, s.DecideDevice(ctx, d.UserCode, "user-1", approve, now))
			want := d
			want.UserID, want.Status = "user-1", oauth.DeviceDenied
			if approve {
				want.Status = oauth.DeviceApproved
			}
			deviceIs(t, s, want)
			deviceIs(t, s, bystander)

			// A second decision, either way, fails and changes nothing.
			for _, again := range []bool{true, false} {
				require.ErrorIs(t, s.DecideDevice(ctx, d.UserCode, "user-2", again, now), oauth.ErrConflict)
				deviceIs(t, s, want)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		s := newStore(t)
		d := device("dc-refused", "REFUSEDC", exp)
		require.NoError(t, s.CreateDevice(ctx, d))
		require.ErrorIs(t, s.DecideDevice(ctx, d.UserCode, "user-1", true, exp), oauth.ErrNotFound, "expired")
		require.ErrorIs(t, s.DecideDevice(ctx, "UNKNOWNC", "user-1", true, now), oauth.ErrNotFound)
		require.ErrorIs(t, s.DecideDevice(ctx, "", "user-1", true, now), oauth.ErrNotFound)
		err := s.DecideDevice(ctx, d.UserCode, "", true, now)
		require.Error(t, err, "empty user ID")
		assert.NotErrorIs(t, err, oauth.ErrConflict)
		deviceIs(t, s, d)
		require.NoError(t, s.DecideDevice(ctx, d.UserCode, "user-1", true, exp.Add(-time.Microsecond)), "positive control")
	})
	t.Run("consumed", func(t *testing.T) {
		s := newStore(t)
		d := device("dc-consumed", "CONSUMED", exp)
		require.NoError(t, s.CreateDevice(ctx, d))
		require.NoError(t, s.DecideDevice(ctx, d.UserCode, "user-1", true, now))
		require.NoError(t, s.ConsumeDevice(ctx, d.DeviceCodeHash))
		require.ErrorIs(t, s.DecideDevice(ctx, d.UserCode, "user-2", true, now), oauth.ErrConflict)
		want := d
		want.Status, want.UserID = oauth.DeviceConsumed, "user-1"
		deviceIs(t, s, want)
	})
}

func testConcurrentDecideDevice(t *testing.T, newStore func(t *testing.T) OAuthStore) {
	s := newStore(t)
	ctx := t.Context()
	d := device("dc-race-decide", "RACEDCDE", base.Add(time.Hour))
	require.NoError(t, s.CreateDevice(ctx, d))
	errs := race(Concurrency, func(i int) error {
		return s.DecideDevice(ctx, d.UserCode, fmt.Sprintf("user-%d", i), i%2 == 0, base)
	})
	w := exactlyOneWinner(t, errs, oauth.ErrConflict)
	if w < 0 {
		return
	}
	want := d
	want.UserID, want.Status = fmt.Sprintf("user-%d", w), oauth.DeviceDenied
	if w%2 == 0 {
		want.Status = oauth.DeviceApproved
	}
	deviceIs(t, s, want)
}

func testConsumeDevice(t *testing.T, newStore func(t *testing.T) OAuthStore) {
	ctx := t.Context()
	exp := base.Add(10 * time.Minute)
	s := newStore(t)
	d := device("dc-consume", "CONSUMEC", exp)
	denied := device("dc-denied", "DENIEDCD", exp)
	require.NoError(t, s.CreateDevice(ctx, d))
	require.NoError(t, s.CreateDevice(ctx, denied))

	require.ErrorIs(t, s.ConsumeDevice(ctx, d.DeviceCodeHash), oauth.ErrConflict, "pending")
	deviceIs(t, s, d)
	require.NoError(t, s.DecideDevice(ctx, denied.UserCode, "user-1", false, base))
	require.ErrorIs(t, s.ConsumeDevice(ctx, denied.DeviceCodeHash), oauth.ErrConflict, "denied")
	require.ErrorIs(t, s.ConsumeDevice(ctx, codeHash("dc-unknown")), oauth.ErrNotFound)

	require.NoError(t, s.DecideDevice(ctx, d.UserCode, "user-1", true, base))
	require.NoError(t, s.ConsumeDevice(ctx, d.DeviceCodeHash))
	want := d
	want.Status, want.UserID = oauth.DeviceConsumed, "user-1"
	deviceIs(t, s, want)
	require.ErrorIs(t, s.ConsumeDevice(ctx, d.DeviceCodeHash), oauth.ErrConflict, "consumed")
	deviceIs(t, s, want)
	denied.Status, denied.UserID = oauth.DeviceDenied, "user-1"
	deviceIs(t, s, denied)
}

func testConcurrentConsumeDevice(t *testing.T, newStore func(t *testing.T) OAuthStore) {
	s := newStore(t)
	ctx := t.Context()
	for round := range 3 {
		d := device(fmt.Sprintf("dc-race-%d", round), fmt.Sprintf("RACECDE%d", round), base.Add(time.Hour))
		require.NoError(t, s.CreateDevice(ctx, d))
		require.NoError(t, s.DecideDevice(ctx, d.UserCode, "user-1", true, base))
		errs := race(Concurrency, func(int) error { return s.ConsumeDevice(ctx, d.DeviceCodeHash) })
		exactlyOneWinner(t, errs, oauth.ErrConflict)
		d.Status, d.UserID = oauth.DeviceConsumed, "user-1"
		deviceIs(t, s, d)
	}
}

func refreshToken(name, family string) oauth.RefreshToken {
	return oauth.RefreshToken{
		Hash:            codeHash(name),
		FamilyID:        family,
		ClientID:        "cli-tool",
		UserID:          "user-1",
		Audience:        "https://warehouse.example.com",
		Scopes:          []string{"openid", "warehouse:read"},
		IssuedAt:        base,
		ExpiresAt:       base.Add(time.Hour),
		FamilyExpiresAt: base.Add(24 * time.Hour),
	}
}

// rotated returns the token that replaces old at IssuedAt + d.
func rotated(old oauth.RefreshToken, name string, d time.Duration) oauth.RefreshToken {
	next := old
	next.Hash = codeHash(name)
	next.IssuedAt = old.IssuedAt.Add(d)
	next.ExpiresAt = next.IssuedAt.Add(time.Hour)
	next.Scopes = []string{"warehouse:read"} // narrowed on refresh
	return next
}

func assertRefresh(t *testing.T, want, got oauth.RefreshToken) {
	t.Helper()
	assertSameTime(t, want.IssuedAt, got.IssuedAt, "IssuedAt")
	assertSameTime(t, want.ExpiresAt, got.ExpiresAt, "ExpiresAt")
	assertSameTime(t, want.FamilyExpiresAt, got.FamilyExpiresAt, "FamilyExpiresAt")
	want.IssuedAt, want.ExpiresAt, want.FamilyExpiresAt = time.Time{}, time.Time{}, time.Time{}
	got.IssuedAt, got.ExpiresAt, got.FamilyExpiresAt = time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

// refreshIs asserts that want is the current token of its family at now.
func refreshIs(t *testing.T, s OAuthStore, want oauth.RefreshToken, now time.Time) {
	t.Helper()
	got, err := s.RefreshTokenByHash(t.Context(), want.Hash, now)
	require.NoError(t, err)
	assertRefresh(t, want, got)
}

// refreshGone asserts that the token with hash is not current (and not a
// rotated one, which would revoke its family).
func refreshGone(t *testing.T, s OAuthStore, hash string, now time.Time) {
	t.Helper()
	_, err := s.RefreshTokenByHash(t.Context(), hash, now)
	require.ErrorIs(t, err, oauth.ErrNotFound)
}

func testRefreshTokens(t *testing.T, newStore func(t *testing.T) OAuthStore) {
	ctx := t.Context()
	t.Run("create and read", func(t *testing.T) {
		s := newStore(t)
		tok := refreshToken("rt-1", "fam-1")
		require.NoError(t, s.CreateRefreshToken(ctx, tok))
		refreshIs(t, s, tok, base.Add(time.Minute))
		bare := refreshToken("rt-2", "fam-2")
		bare.Scopes, bare.Audience = []string{}, ""
		require.NoError(t, s.CreateRefreshToken(ctx, bare))
		bare.Scopes = nil
		refreshIs(t, s, bare, base)
	})
	t.Run("duplicate and invalid", func(t *testing.T) {
		s := newStore(t)
		tok := refreshToken("rt-dup", "fam-1")
		require.NoError(t, s.CreateRefreshToken(ctx, tok))
		dup := refreshToken("rt-dup", "fam-2")
		dup.UserID = "user-2"
		require.ErrorIs(t, s.CreateRefreshToken(ctx, dup), oauth.ErrConflict)
		refreshIs(t, s, tok, base)
		for name, change := range map[string]func(r *oauth.RefreshToken){
			"empty hash":      func(r *oauth.RefreshToken) { r.Hash = "" },
			"empty family ID": func(r *oauth.RefreshToken) { r.FamilyID = "" },
		} {
			r := refreshToken("rt-invalid", "fam-3")
			change(&r)
			err := s.CreateRefreshToken(ctx, r)
			require.Error(t, err, name)
			assert.NotErrorIs(t, err, oauth.ErrConflict, name)
		}
		refreshGone(t, s, codeHash("rt-invalid"), base)
		require.NoError(t, s.CreateRefreshToken(ctx, refreshToken("rt-invalid", "fam-3")), "positive control")
	})
	t.Run("unknown and expired", func(t *testing.T) {
		s := newStore(t)
		tok := refreshToken("rt-exp", "fam-1")
		require.NoError(t, s.CreateRefreshToken(ctx, tok))
		refreshGone(t, s, codeHash("rt-unknown"), base)
		refreshGone(t, s, "", base)
		refreshIs(t, s, tok, tok.ExpiresAt.Add(-time.Microsecond))
		refreshGone(t, s, tok.Hash, tok.ExpiresAt)
		refreshGone(t, s, tok.Hash, tok.ExpiresAt.Add(time.Hour))

		// The family's expiry bounds a token that would live longer.
		long := refreshToken("rt-long", "fam-2")
		long.ExpiresAt = long.FamilyExpiresAt.Add(time.Hour)
		require.NoError(t, s.CreateRefreshToken(ctx, long))
		refreshIs(t, s, long, long.FamilyExpiresAt.Add(-time.Microsecond))
		refreshGone(t, s, long.Hash, long.FamilyExpiresAt)
	})
}

func testRotateRefreshToken(t *testing.T, newStore func(t *testing.T) OAuthStore) {
	ctx := t.Context()
	now := base.Add(30 * time.Minute)
	t.Run("chain", func(t *testing.T) {
		s := newStore(t)
		t1 := refreshToken("rt-1", "fam-1")
		other := refreshToken("rt-other", "fam-other")
		require.NoError(t, s.CreateRefreshToken(ctx, t1))
		require.NoError(t, s.CreateRefreshToken(ctx, other))
		t2 := rotated(t1, "rt-2", 30*time.Minute)
		require.NoError(t, s.RotateRefreshToken(ctx, t1.Hash, t2, now))
		refreshIs(t, s, t2, now)
		t3 := rotated(t2, "rt-3", 30*time.Minute)
		require.NoError(t, s.RotateRefreshToken(ctx, t2.Hash, t3, now.Add(30*time.Minute)))
		refreshIs(t, s, t3, now.Add(30*time.Minute))

		// Presenting a rotated token revokes the family, newest included.
		_, err := s.RefreshTokenByHash(ctx, t1.Hash, now.Add(time.Hour))
		require.ErrorIs(t, err, oauth.ErrRefreshReused)
		refreshGone(t, s, t3.Hash, now.Add(time.Hour))
		_, err = s.RefreshTokenByHash(ctx, t2.Hash, now.Add(time.Hour))
		require.ErrorIs(t, err, oauth.ErrRefreshReused, "a rotated token stays reused once its family is revoked")
		refreshIs(t, s, other, now)
	})
	t.Run("reused", func(t *testing.T) {
		s := newStore(t)
		t1 := refreshToken("rt-1", "fam-1")
		require.NoError(t, s.CreateRefreshToken(ctx, t1))
		t2 := rotated(t1, "rt-2", 30*time.Minute)
		require.NoError(t, s.RotateRefreshToken(ctx, t1.Hash, t2, now))
		t3 := rotated(t1, "rt-3", 30*time.Minute)
		require.ErrorIs(t, s.RotateRefreshToken(ctx, t1.Hash, t3, now), oauth.ErrRefreshReused)
		refreshGone(t, s, t2.Hash, now)
		refreshGone(t, s, t3.Hash, now) // not stored
		t4 := rotated(t2, "rt-4", 30*time.Minute)
		require.ErrorIs(t, s.RotateRefreshToken(ctx, t2.Hash, t4, now), oauth.ErrNotFound, "t2 is revoked")
		require.ErrorIs(t, s.RotateRefreshToken(ctx, t1.Hash, t4, now), oauth.ErrRefreshReused)
		refreshGone(t, s, t4.Hash, now)
	})
	t.Run("not current", func(t *testing.T) {
		s := newStore(t)
		t1 := refreshToken("rt-1", "fam-1")
		require.NoError(t, s.CreateRefreshToken(ctx, t1))
		next := rotated(t1, "rt-next", 30*time.Minute)
		require.ErrorIs(t, s.RotateRefreshToken(ctx, codeHash("rt-unknown"), next, now), oauth.ErrNotFound)
		require.ErrorIs(t, s.RotateRefreshToken(ctx, t1.Hash, next, t1.ExpiresAt), oauth.ErrNotFound, "expired")
		refreshGone(t, s, next.Hash, now)
		refreshIs(t, s, t1, now)

		short := refreshToken("rt-short", "fam-2")
		short.FamilyExpiresAt = short.ExpiresAt.Add(-time.Minute)
		require.NoError(t, s.CreateRefreshToken(ctx, short))
		shortNext := rotated(short, "rt-short-next", 0)
		shortNext.FamilyExpiresAt = short.FamilyExpiresAt
		require.ErrorIs(t, s.RotateRefreshToken(ctx, short.Hash, shortNext, short.FamilyExpiresAt), oauth.ErrNotFound, "family expired")

		require.NoError(t, s.RevokeRefreshFamily(ctx, "fam-1"))
		require.ErrorIs(t, s.RotateRefreshToken(ctx, t1.Hash, next, now), oauth.ErrNotFound, "revoked")
		refreshGone(t, s, next.Hash, now)
		require.NoError(t, s.RotateRefreshToken(ctx, short.Hash, shortNext, now), "positive control")
	})
	t.Run("invalid next", func(t *testing.T) {
		s := newStore(t)
		t1 := refreshToken("rt-1", "fam-1")
		taken := refreshToken("rt-taken", "fam-2")
		require.NoError(t, s.CreateRefreshToken(ctx, t1))
		require.NoError(t, s.CreateRefreshToken(ctx, taken))
		valid := rotated(t1, "rt-next", 30*time.Minute)
		for name, change := range map[string]func(r *oauth.RefreshToken){
			"empty hash":      func(r *oauth.RefreshToken) { r.Hash = "" },
			"same hash":       func(r *oauth.RefreshToken) { r.Hash = t1.Hash },
			"other family":    func(r *oauth.RefreshToken) { r.FamilyID = "fam-2" },
			"other client":    func(r *oauth.RefreshToken) { r.ClientID = "cli-other" },
			"other user":      func(r *oauth.RefreshToken) { r.UserID = "user-2" },
			"outlives family": func(r *oauth.RefreshToken) { r.FamilyExpiresAt = t1.FamilyExpiresAt.Add(time.Microsecond) },
		} {
			next := valid
			change(&next)
			err := s.RotateRefreshToken(ctx, t1.Hash, next, now)
			require.Error(t, err, name)
			for _, sentinel := range []error{oauth.ErrRefreshReused, oauth.ErrNotFound, oauth.ErrConflict} {
				assert.NotErrorIs(t, err, sentinel, name)
			}
			refreshIs(t, s, t1, now) // unchanged: still current
		}
		next := valid
		next.Hash = taken.Hash
		require.ErrorIs(t, s.RotateRefreshToken(ctx, t1.Hash, next, now), oauth.ErrConflict, "hash taken")
		refreshIs(t, s, t1, now)
		refreshIs(t, s, taken, now)

		// An earlier family expiry (the caller may shorten it) is fine.
		valid.FamilyExpiresAt = t1.FamilyExpiresAt.Add(-time.Hour)
		require.NoError(t, s.RotateRefreshToken(ctx, t1.Hash, valid, now), "positive control")
		refreshIs(t, s, valid, now)
	})
}

func testConcurrentRotate(t *testing.T, newStore func(t *testing.T) OAuthStore) {
	s := newStore(t)
	ctx := t.Context()
	now := base.Add(30 * time.Minute)
	for round := range 3 {
		family := fmt.Sprintf("fam-race-%d", round)
		old := refreshToken("rt-race-"+family, family)
		require.NoError(t, s.CreateRefreshToken(ctx, old))
		next := make([]oauth.RefreshToken, Concurrency)
		for i := range next {
			next[i] = rotated(old, fmt.Sprintf("rt-next-%s-%d", family, i), time.Minute)
		}
		errs := race(Concurrency, func(i int) error { return s.RotateRefreshToken(ctx, old.Hash, next[i], now) })
		w := exactlyOneWinner(t, errs, oauth.ErrRefreshReused)
		// The losers revoked the family after the winner had committed:
		// reuse detection also revokes the winner's new token.
		for i := range next {
			refreshGone(t, s, next[i].Hash, now)
		}
		_, err := s.RefreshTokenByHash(ctx, old.Hash, now)
		require.ErrorIs(t, err, oauth.ErrRefreshReused)
		if w >= 0 {
			require.ErrorIs(t, s.RotateRefreshToken(ctx, next[w].Hash, rotated(next[w], "rt-after-"+family, time.Minute), now),
				oauth.ErrNotFound, "the winner's token is revoked")
		}
	}
}

func testRevokeRefreshTokens(t *testing.T, newStore func(t *testing.T) OAuthStore) {
	ctx := t.Context()
	now := base.Add(30 * time.Minute)
	// setup stores, for user-1, family fam-1 (rotated once: t1 -> t2) and
	// fam-2, and for user-2 family fam-3; it returns the current tokens.
	setup := func(t *testing.T, s OAuthStore) (t2, u1, v1 oauth.RefreshToken) {
		t1 := refreshToken("rt-1", "fam-1")
		u1 = refreshToken("rt-u1", "fam-2")
		v1 = refreshToken("rt-v1", "fam-3")
		v1.UserID = "user-2"
		for _, r := range []oauth.RefreshToken{t1, u1, v1} {
			require.NoError(t, s.CreateRefreshToken(ctx, r))
		}
		t2 = rotated(t1, "rt-2", time.Minute)
		require.NoError(t, s.RotateRefreshToken(ctx, t1.Hash, t2, now))
		return t2, u1, v1
	}
	t.Run("family", func(t *testing.T) {
		s := newStore(t)
		t2, u1, v1 := setup(t, s)
		require.NoError(t, s.RevokeRefreshFamily(ctx, "fam-1"))
		refreshGone(t, s, t2.Hash, now)
		refreshIs(t, s, u1, now)
		refreshIs(t, s, v1, now)
		require.NoError(t, s.RevokeRefreshFamily(ctx, "fam-1"), "revoking twice")
		require.NoError(t, s.RevokeRefreshFamily(ctx, "fam-unknown"))
		require.Error(t, s.RevokeRefreshFamily(ctx, ""))
		refreshIs(t, s, u1, now)
	})
	t.Run("user", func(t *testing.T) {
		s := newStore(t)
		t2, u1, v1 := setup(t, s)
		// A third family of user-1, already revoked, does not count.
		w1 := refreshToken("rt-w1", "fam-4")
		require.NoError(t, s.CreateRefreshToken(ctx, w1))
		require.NoError(t, s.RevokeRefreshFamily(ctx, "fam-4"))

		n, err := s.RevokeUserRefreshTokens(ctx, "user-1")
		require.NoError(t, err)
		assert.Equal(t, int64(2), n)
		refreshGone(t, s, t2.Hash, now)
		refreshGone(t, s, u1.Hash, now)
		refreshIs(t, s, v1, now)
		n, err = s.RevokeUserRefreshTokens(ctx, "user-1")
		require.NoError(t, err)
		assert.Equal(t, int64(0), n, "nothing left to revoke")
		n, err = s.RevokeUserRefreshTokens(ctx, "user-unknown")
		require.NoError(t, err)
		assert.Equal(t, int64(0), n)
		_, err = s.RevokeUserRefreshTokens(ctx, "")
		require.Error(t, err)
		refreshIs(t, s, v1, now)
	})
}

func testRevocations(t *testing.T, newStore func(t *testing.T) OAuthStore) {
	ctx := t.Context()
	exp := base.Add(time.Hour)
	t.Run("revoke and check", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Revoke(ctx, "jti-1", exp))
		revoked, err := s.IsRevoked(ctx, "jti-1", base)
		require.NoError(t, err)
		assert.True(t, revoked)
		revoked, err = s.IsRevoked(ctx, "jti-2", base)
		require.NoError(t, err)
		assert.False(t, revoked)
		revoked, err = s.IsRevoked(ctx, "JTI-1", base)
		require.NoError(t, err)
		assert.False(t, revoked, "jti compares exactly")
		require.NoError(t, s.Revoke(ctx, "jti-1", exp), "revoking twice")
		revoked, err = s.IsRevoked(ctx, "jti-1", base)
		require.NoError(t, err)
		assert.True(t, revoked)
		// Until Cleanup, an entry still answers past its expiry: fail
		// closed for a token accepted with clock skew.
		revoked, err = s.IsRevoked(ctx, "jti-1", exp.Add(time.Minute))
		require.NoError(t, err)
		assert.True(t, revoked)
	})
	t.Run("empty jti", func(t *testing.T) {
		s := newStore(t)
		require.Error(t, s.Revoke(ctx, "", exp))
		_, err := s.IsRevoked(ctx, "", base)
		require.Error(t, err)
	})
	t.Run("the later expiry wins", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Revoke(ctx, "jti-long", exp))
		require.NoError(t, s.Revoke(ctx, "jti-long", exp.Add(-30*time.Minute)))
		require.NoError(t, s.Revoke(ctx, "jti-grown", exp.Add(-30*time.Minute)))
		require.NoError(t, s.Revoke(ctx, "jti-grown", exp))
		n, err := s.Cleanup(ctx, exp.Add(-time.Microsecond))
		require.NoError(t, err)
		assert.Equal(t, int64(0), n)
		for _, jti := range []string{"jti-long", "jti-grown"} {
			revoked, err := s.IsRevoked(ctx, jti, exp.Add(-time.Microsecond))
			require.NoError(t, err)
			assert.True(t, revoked, jti)
		}
	})
}

func testCleanupOAuth(t *testing.T, newStore func(t *testing.T) OAuthStore) {
	s := newStore(t)
	ctx := t.Context()
	now := base.Add(48 * time.Hour)

	// Revocations are deleted once their expiry is before now.
	require.NoError(t, s.Revoke(ctx, "jti-old", now.Add(-time.Microsecond)))
	require.NoError(t, s.Revoke(ctx, "jti-edge", now))
	require.NoError(t, s.Revoke(ctx, "jti-live", now.Add(time.Hour)))

	// Refresh tokens are deleted once their own or their family's expiry
	// is before now, used and revoked ones included.
	family := func(name string, exp, familyExp time.Time) oauth.RefreshToken {
		r := refreshToken(name, "fam-"+name)
		r.IssuedAt, r.ExpiresAt, r.FamilyExpiresAt = now.Add(-time.Hour), exp, familyExp
		require.NoError(t, s.CreateRefreshToken(ctx, r))
		return r
	}
	family("rt-old", now.Add(-time.Microsecond), now.Add(time.Hour))
	family("rt-family-old", now.Add(time.Hour), now.Add(-time.Microsecond))
	edge := family("rt-edge", now, now)
	live := family("rt-live", now.Add(time.Hour), now.Add(2*time.Hour))
	used := family("rt-used", now.Add(-time.Second), now.Add(2*time.Hour))
	usedNext := rotated(used, "rt-used-next", 0)
	usedNext.ExpiresAt = now.Add(time.Hour)
	require.NoError(t, s.RotateRefreshToken(ctx, used.Hash, usedNext, now.Add(-time.Minute)))
	revoked := family("rt-revoked", now.Add(-time.Second), now.Add(2*time.Hour))
	require.NoError(t, s.RevokeRefreshFamily(ctx, revoked.FamilyID))

	// Device authorizations are kept for store.DeviceRetention after
	// their expiry.
	cutoff := now.Add(-store.DeviceRetention)
	oldDevice := device("dc-old", "OLDDEVCE", cutoff.Add(-time.Microsecond))
	edgeDevice := device("dc-edge", "EDGEDEVC", cutoff)
	expiredDevice := device("dc-expired", "EXPDEVCE", now.Add(-time.Minute))
	liveDevice := device("dc-live", "LIVEDEVC", now.Add(time.Minute))
	for _, d := range []oauth.DeviceAuthorization{oldDevice, edgeDevice, expiredDevice, liveDevice} {
		require.NoError(t, s.CreateDevice(ctx, d))
	}

	n, err := s.Cleanup(ctx, now)
	require.NoError(t, err)
	// jti-old; rt-old, rt-family-old, rt-used, rt-revoked; dc-old.
	assert.Equal(t, int64(6), n)

	for jti, want := range map[string]bool{"jti-old": false, "jti-edge": true, "jti-live": true} {
		got, err := s.IsRevoked(ctx, jti, base)
		require.NoError(t, err)
		assert.Equal(t, want, got, jti)
	}
	before := now.Add(-time.Minute)
	refreshIs(t, s, edge, before)
	refreshIs(t, s, live, before)
	refreshIs(t, s, usedNext, before)
	for _, name := range []string{"rt-old", "rt-family-old", "rt-revoked"} {
		refreshGone(t, s, codeHash(name), before)
	}
	refreshGone(t, s, used.Hash, before) // deleted: no longer detected as reused
	refreshIs(t, s, usedNext, before)

	_, err = s.DeviceByCode(ctx, oldDevice.DeviceCodeHash)
	require.ErrorIs(t, err, oauth.ErrNotFound)
	for _, d := range []oauth.DeviceAuthorization{edgeDevice, expiredDevice, liveDevice} {
		deviceIs(t, s, d)
	}
	// The deleted authorization's user code is free.
	require.NoError(t, s.CreateDevice(ctx, device("dc-new", oldDevice.UserCode, now.Add(time.Hour))))
}
