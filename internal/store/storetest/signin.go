package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/signin"
)

// SignInConcurrency is the number of goroutines racing in RunSignIn's
// device, TOTP and flow cases (failures race with Concurrency).
const SignInConcurrency = 16

// RunSignIn runs the conformance cases of the built-in sign-in's
// credential store (signin.CredentialStore) and of its interplay with
// user deletion and Cleanup. newStore must return a new, empty store for
// each call and register its own cleanup with t.Cleanup. Run calls it.
func RunSignIn(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("Password", func(t *testing.T) { testSignInPassword(t, newStore) })
	t.Run("Lockout", func(t *testing.T) { testSignInLockout(t, newStore) })
	t.Run("ConcurrentRecordFailure", func(t *testing.T) { testSignInConcurrentFailures(t, newStore) })
	t.Run("Devices", func(t *testing.T) { testSignInDevices(t, newStore) })
	t.Run("DeviceLimit", func(t *testing.T) { testSignInDeviceLimit(t, newStore) })
	t.Run("ConcurrentAddMFADevice", func(t *testing.T) { testSignInConcurrentAdd(t, newStore) })
	t.Run("TOTPStep", func(t *testing.T) { testSignInTOTPStep(t, newStore) })
	t.Run("WebAuthn", func(t *testing.T) { testSignInWebAuthn(t, newStore) })
	t.Run("DeleteMFADevice", func(t *testing.T) { testSignInDeleteDevice(t, newStore) })
	t.Run("Flows", func(t *testing.T) { testSignInFlows(t, newStore) })
	t.Run("ConcurrentDeleteFlow", func(t *testing.T) { testSignInConcurrentDeleteFlow(t, newStore) })
	t.Run("DeleteUser", func(t *testing.T) { testSignInDeleteUser(t, newStore) })
	t.Run("Cleanup", func(t *testing.T) { testSignInCleanup(t, newStore) })
	t.Run("Copies", func(t *testing.T) { testSignInCopies(t, newStore) })
}

// subMicro is added to times passed in to check that stores keep them to
// the microsecond: what comes back is the time truncated.
const subMicro = 789 * time.Nanosecond

// signInUser creates a directory user and returns its ID.
func signInUser(t *testing.T, s Store, name string) string {
	t.Helper()
	return mustCreateUser(t, s, dirUser(name), base).ID
}

// totpDevice returns a TOTP device of the user created at base + offset.
func totpDevice(id, userID string, offset time.Duration) signin.MFADevice {
	return signin.MFADevice{
		ID:        id,
		UserID:    userID,
		Kind:      signin.KindTOTP,
		Name:      "phone " + id + " <ünïcode>",
		CreatedAt: base.Add(offset),
		Secret:    []byte("sealed\x00secret-" + id),
	}
}

// webAuthnDevice returns a WebAuthn device of the user created at base +
// offset, with the credential ID "cred-" + id.
func webAuthnDevice(id, userID string, offset time.Duration) signin.MFADevice {
	return signin.MFADevice{
		ID:           id,
		UserID:       userID,
		Kind:         signin.KindWebAuthn,
		Name:         "key " + id,
		CreatedAt:    base.Add(offset),
		CredentialID: []byte("cred-\x00\xff" + id),
		Credential:   []byte(`{"id":"` + id + `","publicKey":"AQID"}`),
		SignCount:    5,
	}
}

func mustDevices(t *testing.T, s Store, userID string) []signin.MFADevice {
	t.Helper()
	got, err := s.MFADevices(t.Context(), userID)
	require.NoError(t, err)
	return got
}

func mustDevice(t *testing.T, s Store, userID, id string) signin.MFADevice {
	t.Helper()
	for _, d := range mustDevices(t, s, userID) {
		if d.ID == id {
			return d
		}
	}
	require.Failf(t, "device missing", "user %s has no device %s", userID, id)
	return signin.MFADevice{}
}

func deviceIDs(ds []signin.MFADevice) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func testSignInPassword(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	ctx := t.Context()
	alice, bob := signInUser(t, s, "alice"), signInUser(t, s, "bob")

	_, err := s.Password(ctx, alice)
	require.ErrorIs(t, err, signin.ErrNotFound, "no password set")
	assert.ErrorIs(t, s.SetPassword(ctx, "no-such-user", "$argon2id$x", base), signin.ErrNotFound)
	_, err = s.Password(ctx, "no-such-user")
	assert.ErrorIs(t, err, signin.ErrNotFound)

	require.NoError(t, s.SetPassword(ctx, alice, "$argon2id$v=19$m=65536,t=3,p=4$first", base.Add(subMicro)))
	got, err := s.Password(ctx, alice)
	require.NoError(t, err)
	assert.Equal(t, signin.Password{UserID: alice, Hash: "$argon2id$v=19$m=65536,t=3,p=4$first", UpdatedAt: base}, got)
	_, err = s.Password(ctx, bob)
	assert.ErrorIs(t, err, signin.ErrNotFound, "another user's password is not set")

	// Replacing.
	later := base.Add(time.Hour)
	require.NoError(t, s.SetPassword(ctx, alice, "$argon2id$second", later))
	got, err = s.Password(ctx, alice)
	require.NoError(t, err)
	assert.Equal(t, signin.Password{UserID: alice, Hash: "$argon2id$second", UpdatedAt: later}, got)

	// SetPassword clears the failures and the lock, the user's only.
	lock := func(int) time.Duration { return time.Hour }
	for _, u := range []string{alice, bob} {
		_, err = s.RecordFailure(ctx, u, later, lock)
		require.NoError(t, err)
	}
	require.NoError(t, s.SetPassword(ctx, alice, "$argon2id$third", later.Add(time.Second)))
	l, err := s.Lockout(ctx, alice)
	require.NoError(t, err)
	assert.Equal(t, signin.Lockout{}, l)
	l, err = s.Lockout(ctx, bob)
	require.NoError(t, err)
	assert.Equal(t, signin.Lockout{Failures: 1, LockedUntil: later.Add(time.Hour)}, l)

	// SetPassword for a user without one (bob) creates it and clears too.
	require.NoError(t, s.SetPassword(ctx, bob, "$argon2id$bob", later))
	l, err = s.Lockout(ctx, bob)
	require.NoError(t, err)
	assert.Equal(t, signin.Lockout{}, l)
	got, err = s.Password(ctx, bob)
	require.NoError(t, err)
	assert.Equal(t, "$argon2id$bob", got.Hash)
}

func testSignInLockout(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	ctx := t.Context()
	alice, bob := signInUser(t, s, "alice"), signInUser(t, s, "bob")

	l, err := s.Lockout(ctx, alice)
	require.NoError(t, err)
	assert.Equal(t, signin.Lockout{}, l, "no failures yet")
	l, err = s.Lockout(ctx, "no-such-user")
	require.NoError(t, err)
	assert.Equal(t, signin.Lockout{}, l)

	var seen []int
	// Locks from the third failure on, for n minutes, but not on the
	// fourth: then the lock stays as it is.
	lockFor := func(n int) time.Duration {
		seen = append(seen, n)
		if n < 3 || n == 4 {
			return 0
		}
		return time.Duration(n) * time.Minute
	}
	now := base.Add(subMicro)
	want := []signin.Lockout{
		{Failures: 1},
		{Failures: 2},
		{Failures: 3, LockedUntil: base.Add(3 * time.Minute)},
		{Failures: 4, LockedUntil: base.Add(3 * time.Minute)},
		{Failures: 5, LockedUntil: base.Add(time.Second + 5*time.Minute)},
	}
	for i, w := range want {
		at := now
		if i == 4 {
			at = now.Add(time.Second)
		}
		// Alice has no password: failures count anyway.
		got, err := s.RecordFailure(ctx, alice, at, lockFor)
		require.NoError(t, err)
		assert.Equal(t, w, got, "failure %d", i+1)
		stored, err := s.Lockout(ctx, alice)
		require.NoError(t, err)
		assert.Equal(t, w, stored, "failure %d stored", i+1)
	}
	assert.Equal(t, []int{1, 2, 3, 4, 5}, seen, "lockFor gets the new count")

	l, err = s.Lockout(ctx, bob)
	require.NoError(t, err)
	assert.Equal(t, signin.Lockout{}, l, "another user's failures do not count")
	_, err = s.RecordFailure(ctx, "no-such-user", now, lockFor)
	assert.ErrorIs(t, err, signin.ErrNotFound)

	require.NoError(t, s.ResetFailures(ctx, alice))
	l, err = s.Lockout(ctx, alice)
	require.NoError(t, err)
	assert.Equal(t, signin.Lockout{}, l)
	require.NoError(t, s.ResetFailures(ctx, alice), "nothing to clear")
	require.NoError(t, s.ResetFailures(ctx, "no-such-user"))

	// Counting starts again from zero.
	got, err := s.RecordFailure(ctx, alice, now, lockFor)
	require.NoError(t, err)
	assert.Equal(t, signin.Lockout{Failures: 1}, got)
}

func testSignInConcurrentFailures(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	alice := signInUser(t, s, "alice")
	results := make([]signin.Lockout, Concurrency)
	errs := race(Concurrency, func(i int) error {
		var err error
		results[i], err = s.RecordFailure(context.Background(), alice, base, func(n int) time.Duration {
			return time.Duration(n) * time.Second
		})
		return err
	})
	counts := []int{}
	for i, err := range errs {
		require.NoError(t, err, "goroutine %d", i)
		counts = append(counts, results[i].Failures)
		assert.Equal(t, base.Add(time.Duration(results[i].Failures)*time.Second), results[i].LockedUntil, "goroutine %d", i)
	}
	slices.Sort(counts)
	want := []int{}
	for n := 1; n <= Concurrency; n++ {
		want = append(want, n)
	}
	assert.Equal(t, want, counts, "each call saw its own new count")
	l, err := s.Lockout(t.Context(), alice)
	require.NoError(t, err)
	assert.Equal(t, signin.Lockout{Failures: Concurrency, LockedUntil: base.Add(Concurrency * time.Second)}, l)
}

func testSignInDevices(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	ctx := t.Context()
	alice, bob := signInUser(t, s, "alice"), signInUser(t, s, "bob")

	got := mustDevices(t, s, alice)
	assert.NotNil(t, got, "an empty slice, not nil")
	assert.Empty(t, got)

	// Ordered by CreatedAt, then ID (byte order), whatever the order of
	// insertion.
	t2 := totpDevice("t2", alice, 2*time.Second)
	t2.CreatedAt = t2.CreatedAt.Add(subMicro)
	t2.LastUsedAt = base.Add(3*time.Second + subMicro)
	t2.LastStep = 42
	w1 := webAuthnDevice("w1", alice, time.Second)
	wB := webAuthnDevice("B", alice, 2*time.Second) // 'B' < 't' in byte order
	t0 := totpDevice("t0", alice, 0)
	for _, d := range []signin.MFADevice{t2, w1, wB, t0} {
		require.NoError(t, s.AddMFADevice(ctx, d, 10))
	}
	require.NoError(t, s.AddMFADevice(ctx, totpDevice("bob-t", bob, -time.Hour), 10))

	t2.CreatedAt, t2.LastUsedAt = base.Add(2*time.Second), base.Add(3*time.Second)
	assert.Equal(t, []signin.MFADevice{t0, w1, wB, t2}, mustDevices(t, s, alice))
	assert.Equal(t, []string{"bob-t"}, deviceIDs(mustDevices(t, s, bob)))

	// By credential ID: WebAuthn devices only.
	byCred, err := s.MFADeviceByCredentialID(ctx, w1.CredentialID)
	require.NoError(t, err)
	assert.Equal(t, w1, byCred)
	_, err = s.MFADeviceByCredentialID(ctx, append(slices.Clone(w1.CredentialID), 'x'))
	assert.ErrorIs(t, err, signin.ErrNotFound)
	_, err = s.MFADeviceByCredentialID(ctx, nil)
	assert.ErrorIs(t, err, signin.ErrNotFound, "TOTP devices have no credential ID")

	// Conflicts: an existing ID (of any user), an existing credential ID
	// (of any user).
	sameID := webAuthnDevice("t0", bob, 0)
	assert.ErrorIs(t, s.AddMFADevice(ctx, sameID, 10), signin.ErrConflict)
	sameCred := webAuthnDevice("bob-w", bob, 0)
	sameCred.CredentialID = slices.Clone(w1.CredentialID)
	assert.ErrorIs(t, s.AddMFADevice(ctx, sameCred, 10), signin.ErrConflict)
	assert.Equal(t, []string{"bob-t"}, deviceIDs(mustDevices(t, s, bob)), "nothing stored on conflict")
	// Positive control: with its own credential ID it is accepted.
	require.NoError(t, s.AddMFADevice(ctx, webAuthnDevice("bob-w", bob, 0), 10))
	assert.Equal(t, []string{"bob-t", "bob-w"}, deviceIDs(mustDevices(t, s, bob)))

	// A user that does not exist.
	assert.ErrorIs(t, s.AddMFADevice(ctx, totpDevice("ghost-t", "no-such-user", 0), 10), signin.ErrNotFound)
	got, err = s.MFADevices(ctx, "no-such-user")
	require.NoError(t, err)
	assert.Empty(t, got)

	// Devices no store keeps are refused.
	for name, d := range map[string]signin.MFADevice{
		"no ID":              totpDevice("", alice, 0),
		"no user":            totpDevice("x1", "", 0),
		"unknown kind":       func() signin.MFADevice { d := totpDevice("x2", alice, 0); d.Kind = "sms"; return d }(),
		"webauthn no cred":   func() signin.MFADevice { d := webAuthnDevice("x3", alice, 0); d.CredentialID = nil; return d }(),
		"totp with cred":     func() signin.MFADevice { d := totpDevice("x4", alice, 0); d.CredentialID = []byte("c"); return d }(),
		"webauthn empty cid": func() signin.MFADevice { d := webAuthnDevice("x5", alice, 0); d.CredentialID = []byte{}; return d }(),
	} {
		assert.Error(t, s.AddMFADevice(ctx, d, 10), name)
	}
	assert.Equal(t, []string{"t0", "w1", "B", "t2"}, deviceIDs(mustDevices(t, s, alice)), "refused devices are not stored")
}

func testSignInDeviceLimit(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	ctx := t.Context()
	alice, bob := signInUser(t, s, "alice"), signInUser(t, s, "bob")
	require.NoError(t, s.AddMFADevice(ctx, totpDevice("t1", alice, 0), 2))
	require.NoError(t, s.AddMFADevice(ctx, totpDevice("t2", alice, time.Second), 2))
	assert.ErrorIs(t, s.AddMFADevice(ctx, totpDevice("t3", alice, 2*time.Second), 2), signin.ErrTooManyDevices)
	assert.Equal(t, []string{"t1", "t2"}, deviceIDs(mustDevices(t, s, alice)), "a refused device is not stored")
	// The limit is per kind and per user.
	require.NoError(t, s.AddMFADevice(ctx, webAuthnDevice("w1", alice, 3*time.Second), 2))
	require.NoError(t, s.AddMFADevice(ctx, totpDevice("bob-t1", bob, 0), 2))
	// A limit of 0 admits nothing; a higher one admits more.
	assert.ErrorIs(t, s.AddMFADevice(ctx, webAuthnDevice("w2", bob, 0), 0), signin.ErrTooManyDevices)
	require.NoError(t, s.AddMFADevice(ctx, totpDevice("t3", alice, 2*time.Second), 3))
	// Deleting a device frees its place.
	assert.ErrorIs(t, s.AddMFADevice(ctx, totpDevice("t4", alice, 4*time.Second), 3), signin.ErrTooManyDevices)
	require.NoError(t, s.DeleteMFADevice(ctx, alice, "t1"))
	require.NoError(t, s.AddMFADevice(ctx, totpDevice("t4", alice, 4*time.Second), 3))
	assert.Equal(t, []string{"t2", "t3", "w1", "t4"}, deviceIDs(mustDevices(t, s, alice)))
}

func testSignInConcurrentAdd(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	const max = 2
	// Several rounds: without the atomicity under test, a round exceeds
	// the limit only when the racers' counts interleave.
	for round := range 5 {
		user := signInUser(t, s, fmt.Sprintf("user%d", round))
		errs := race(SignInConcurrency, func(i int) error {
			d := totpDevice(fmt.Sprintf("t%d-%02d", round, i), user, time.Duration(i)*time.Second)
			return s.AddMFADevice(context.Background(), d, max)
		})
		ok := 0
		for i, err := range errs {
			if err == nil {
				ok++
				continue
			}
			assert.ErrorIs(t, err, signin.ErrTooManyDevices, "round %d, goroutine %d", round, i)
		}
		assert.Equal(t, max, ok, "round %d", round)
		assert.Len(t, mustDevices(t, s, user), max, "round %d", round)
	}
}

func testSignInTOTPStep(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	ctx := t.Context()
	alice := signInUser(t, s, "alice")
	d := totpDevice("t1", alice, 0)
	other := totpDevice("t2", alice, time.Second)
	w := webAuthnDevice("w1", alice, 2*time.Second)
	for _, x := range []signin.MFADevice{d, other, w} {
		require.NoError(t, s.AddMFADevice(ctx, x, 10))
	}

	at := base.Add(time.Minute + subMicro)
	require.NoError(t, s.UseTOTPStep(ctx, d.ID, 100, at))
	got := mustDevice(t, s, alice, d.ID)
	assert.Equal(t, int64(100), got.LastStep)
	assert.Equal(t, base.Add(time.Minute), got.LastUsedAt)
	assert.Equal(t, other, mustDevice(t, s, alice, other.ID), "another device is unchanged")

	later := base.Add(2 * time.Minute)
	assert.ErrorIs(t, s.UseTOTPStep(ctx, d.ID, 100, later), signin.ErrReplay, "the same step")
	assert.ErrorIs(t, s.UseTOTPStep(ctx, d.ID, 99, later), signin.ErrReplay, "an earlier step")
	got = mustDevice(t, s, alice, d.ID)
	assert.Equal(t, int64(100), got.LastStep, "a replay changes nothing")
	assert.Equal(t, base.Add(time.Minute), got.LastUsedAt, "a replay changes nothing")
	require.NoError(t, s.UseTOTPStep(ctx, d.ID, 101, later))
	got = mustDevice(t, s, alice, d.ID)
	assert.Equal(t, int64(101), got.LastStep)
	assert.Equal(t, later, got.LastUsedAt)
	// The first use of another device may use a step already used on d.
	require.NoError(t, s.UseTOTPStep(ctx, other.ID, 100, later))

	assert.ErrorIs(t, s.UseTOTPStep(ctx, "no-such-device", 200, later), signin.ErrNotFound)
	assert.ErrorIs(t, s.UseTOTPStep(ctx, w.ID, 200, later), signin.ErrNotFound, "not a TOTP device")
	assert.Equal(t, w, mustDevice(t, s, alice, w.ID))

	// Of concurrent calls with one step exactly one succeeds.
	for round := range 3 {
		step := int64(200 + round)
		errs := race(SignInConcurrency, func(int) error {
			return s.UseTOTPStep(context.Background(), d.ID, step, later)
		})
		exactlyOneWinner(t, errs, signin.ErrReplay)
		assert.Equal(t, step, mustDevice(t, s, alice, d.ID).LastStep)
	}
}

func testSignInWebAuthn(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	ctx := t.Context()
	alice := signInUser(t, s, "alice")
	w := webAuthnDevice("w1", alice, 0)
	totp := totpDevice("t1", alice, time.Second)
	require.NoError(t, s.AddMFADevice(ctx, w, 10))
	require.NoError(t, s.AddMFADevice(ctx, totp, 10))

	at := base.Add(time.Minute + subMicro)
	newCred := []byte(`{"id":"w1","publicKey":"AQID","flags":{"backupState":true}}`)
	require.NoError(t, s.UseWebAuthn(ctx, w.ID, 5, 9, newCred, at))
	want := w
	want.Credential, want.SignCount, want.LastUsedAt = newCred, 9, base.Add(time.Minute)
	assert.Equal(t, want, mustDevice(t, s, alice, w.ID))
	byCred, err := s.MFADeviceByCredentialID(ctx, w.CredentialID)
	require.NoError(t, err)
	assert.Equal(t, want, byCred)

	// The old counter no longer matches: nothing changes.
	later := base.Add(time.Hour)
	assert.ErrorIs(t, s.UseWebAuthn(ctx, w.ID, 5, 10, []byte(`{"stale":true}`), later), signin.ErrConflict)
	assert.ErrorIs(t, s.UseWebAuthn(ctx, w.ID, 10, 11, []byte(`{"ahead":true}`), later), signin.ErrConflict)
	assert.Equal(t, want, mustDevice(t, s, alice, w.ID))
	// An authenticator without a counter keeps 0.
	require.NoError(t, s.UseWebAuthn(ctx, w.ID, 9, 0, newCred, later))
	require.NoError(t, s.UseWebAuthn(ctx, w.ID, 0, 0, newCred, later))
	// The full uint32 range round-trips.
	require.NoError(t, s.UseWebAuthn(ctx, w.ID, 0, ^uint32(0), newCred, later))
	assert.Equal(t, ^uint32(0), mustDevice(t, s, alice, w.ID).SignCount)

	assert.ErrorIs(t, s.UseWebAuthn(ctx, "no-such-device", 0, 1, newCred, later), signin.ErrNotFound)
	assert.ErrorIs(t, s.UseWebAuthn(ctx, totp.ID, 0, 1, newCred, later), signin.ErrNotFound, "not a WebAuthn device")
	assert.Equal(t, totp, mustDevice(t, s, alice, totp.ID))

	// Of concurrent uses with one old counter exactly one succeeds.
	errs := race(SignInConcurrency, func(i int) error {
		return s.UseWebAuthn(context.Background(), w.ID, ^uint32(0), uint32(i+1), newCred, later)
	})
	winner := exactlyOneWinner(t, errs, signin.ErrConflict)
	assert.Equal(t, uint32(winner+1), mustDevice(t, s, alice, w.ID).SignCount)
}

func testSignInDeleteDevice(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	ctx := t.Context()
	alice, bob := signInUser(t, s, "alice"), signInUser(t, s, "bob")
	w := webAuthnDevice("w1", alice, 0)
	require.NoError(t, s.AddMFADevice(ctx, w, 10))
	require.NoError(t, s.AddMFADevice(ctx, totpDevice("t1", alice, time.Second), 10))

	assert.ErrorIs(t, s.DeleteMFADevice(ctx, bob, w.ID), signin.ErrNotFound, "another user's device")
	assert.Equal(t, []string{"w1", "t1"}, deviceIDs(mustDevices(t, s, alice)))
	assert.ErrorIs(t, s.DeleteMFADevice(ctx, alice, "no-such-device"), signin.ErrNotFound)

	require.NoError(t, s.DeleteMFADevice(ctx, alice, w.ID))
	assert.Equal(t, []string{"t1"}, deviceIDs(mustDevices(t, s, alice)))
	assert.ErrorIs(t, s.DeleteMFADevice(ctx, alice, w.ID), signin.ErrNotFound, "deleted once")
	_, err := s.MFADeviceByCredentialID(ctx, w.CredentialID)
	assert.ErrorIs(t, err, signin.ErrNotFound)
	assert.ErrorIs(t, s.UseWebAuthn(ctx, w.ID, 5, 6, nil, base), signin.ErrNotFound)
	// The credential ID and the device ID are free again.
	again := webAuthnDevice("w1", bob, 0)
	require.NoError(t, s.AddMFADevice(ctx, again, 10))
	got, err := s.MFADeviceByCredentialID(ctx, w.CredentialID)
	require.NoError(t, err)
	assert.Equal(t, again, got)
}

// signInFlow returns a flow of the user created at base, expiring at
// base + lifetime.
func signInFlow(id, userID string, lifetime time.Duration) signin.Flow {
	return signin.Flow{
		ID:        id,
		UserID:    userID,
		Stage:     "mfa",
		Data:      []byte(`{"challenge":"\u0000` + id + `"}`),
		CreatedAt: base,
		ExpiresAt: base.Add(lifetime),
	}
}

func testSignInFlows(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	ctx := t.Context()
	alice := signInUser(t, s, "alice")

	f := signInFlow("flow-secret-1", alice, 5*time.Minute)
	in := f
	in.CreatedAt, in.ExpiresAt = in.CreatedAt.Add(subMicro), in.ExpiresAt.Add(subMicro)
	require.NoError(t, s.SaveSignInFlow(ctx, in))
	got, err := s.SignInFlow(ctx, f.ID, base)
	require.NoError(t, err)
	assert.Equal(t, f, got)
	_, err = s.SignInFlow(ctx, "flow-secret-2", base)
	assert.ErrorIs(t, err, signin.ErrNotFound)

	// Expiry: live one microsecond before ExpiresAt, gone at it.
	_, err = s.SignInFlow(ctx, f.ID, f.ExpiresAt.Add(-time.Microsecond))
	require.NoError(t, err)
	_, err = s.SignInFlow(ctx, f.ID, f.ExpiresAt)
	assert.ErrorIs(t, err, signin.ErrNotFound)

	// Replacing keeps one flow under the ID.
	next := f
	next.Stage, next.Data, next.ExpiresAt = "totp-enroll", []byte("sealed totp secret"), base.Add(time.Hour)
	require.NoError(t, s.SaveSignInFlow(ctx, next))
	got, err = s.SignInFlow(ctx, f.ID, f.ExpiresAt)
	require.NoError(t, err, "the replacement's expiry applies")
	assert.Equal(t, next, got)

	// Empty data round-trips as nil; a flow whose user is not known yet
	// has an empty UserID; a user that does not exist is ErrNotFound.
	anon := signInFlow("flow-anon", "", time.Minute)
	anon.Data = []byte{}
	require.NoError(t, s.SaveSignInFlow(ctx, anon))
	got, err = s.SignInFlow(ctx, anon.ID, base)
	require.NoError(t, err)
	anon.Data = nil
	assert.Equal(t, anon, got)
	assert.ErrorIs(t, s.SaveSignInFlow(ctx, signInFlow("flow-ghost", "no-such-user", time.Minute)), signin.ErrNotFound)
	_, err = s.SignInFlow(ctx, "flow-ghost", base)
	assert.ErrorIs(t, err, signin.ErrNotFound)
	assert.Error(t, s.SaveSignInFlow(ctx, signInFlow("", alice, time.Minute)), "empty ID")

	// Updating changes stage, data and expiry of the stored flow only.
	upd := next
	upd.Stage, upd.Data, upd.ExpiresAt = "mfa", []byte("two failures"), base.Add(2*time.Hour)
	require.NoError(t, s.UpdateSignInFlow(ctx, upd))
	got, err = s.SignInFlow(ctx, f.ID, base)
	require.NoError(t, err)
	assert.Equal(t, upd, got)
	assert.ErrorIs(t, s.UpdateSignInFlow(ctx, signInFlow("no-such-flow", alice, time.Minute)), signin.ErrNotFound)

	// Deleting: once; an update afterwards does not bring it back.
	require.NoError(t, s.DeleteSignInFlow(ctx, f.ID))
	_, err = s.SignInFlow(ctx, f.ID, base)
	assert.ErrorIs(t, err, signin.ErrNotFound)
	assert.ErrorIs(t, s.UpdateSignInFlow(ctx, upd), signin.ErrNotFound)
	_, err = s.SignInFlow(ctx, f.ID, base)
	assert.ErrorIs(t, err, signin.ErrNotFound, "an ended flow stays ended")
	assert.ErrorIs(t, s.DeleteSignInFlow(ctx, f.ID), signin.ErrNotFound)
	assert.ErrorIs(t, s.DeleteSignInFlow(ctx, "no-such-flow"), signin.ErrNotFound)
	_, err = s.SignInFlow(ctx, anon.ID, base)
	require.NoError(t, err, "another flow stays")
}

func testSignInConcurrentDeleteFlow(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	alice := signInUser(t, s, "alice")
	for round := range 3 {
		f := signInFlow(fmt.Sprintf("flow-race-%d", round), alice, time.Minute)
		require.NoError(t, s.SaveSignInFlow(t.Context(), f))
		errs := race(SignInConcurrency, func(int) error {
			return s.DeleteSignInFlow(context.Background(), f.ID)
		})
		exactlyOneWinner(t, errs, signin.ErrNotFound)
		_, err := s.SignInFlow(t.Context(), f.ID, base)
		assert.ErrorIs(t, err, signin.ErrNotFound)
	}
}

func testSignInDeleteUser(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	ctx := t.Context()
	alice, bob := signInUser(t, s, "alice"), signInUser(t, s, "bob")
	lock := func(int) time.Duration { return time.Hour }
	for _, u := range []string{alice, bob} {
		require.NoError(t, s.SetPassword(ctx, u, "$argon2id$"+u, base))
		_, err := s.RecordFailure(ctx, u, base, lock)
		require.NoError(t, err)
		require.NoError(t, s.AddMFADevice(ctx, totpDevice("t-"+u, u, 0), 10))
		require.NoError(t, s.AddMFADevice(ctx, webAuthnDevice("w-"+u, u, 0), 10))
		require.NoError(t, s.SaveSignInFlow(ctx, signInFlow("flow-"+u, u, time.Hour)))
	}

	require.NoError(t, s.DeleteDirectoryUser(ctx, alice, 0, base.Add(time.Minute)))

	check := func(t *testing.T, u string, gone bool) {
		t.Helper()
		_, err := s.Password(ctx, u)
		l, lerr := s.Lockout(ctx, u)
		require.NoError(t, lerr)
		_, cerr := s.MFADeviceByCredentialID(ctx, webAuthnDevice("w-"+u, u, 0).CredentialID)
		_, ferr := s.SignInFlow(ctx, "flow-"+u, base)
		if gone {
			assert.ErrorIs(t, err, signin.ErrNotFound, "password")
			assert.Equal(t, signin.Lockout{}, l, "lockout")
			assert.Empty(t, mustDevices(t, s, u), "devices")
			assert.ErrorIs(t, cerr, signin.ErrNotFound, "device by credential ID")
			assert.ErrorIs(t, ferr, signin.ErrNotFound, "flow")
			assert.ErrorIs(t, s.UseTOTPStep(ctx, "t-"+u, 1, base), signin.ErrNotFound, "totp device")
			return
		}
		assert.NoError(t, err, "password")
		assert.Equal(t, signin.Lockout{Failures: 1, LockedUntil: base.Add(time.Hour)}, l, "lockout")
		assert.Equal(t, []string{"t-" + u, "w-" + u}, deviceIDs(mustDevices(t, s, u)), "devices")
		assert.NoError(t, cerr, "device by credential ID")
		assert.NoError(t, ferr, "flow")
	}
	check(t, alice, true)
	check(t, bob, false)

	// A new user with the deleted one's ID inherits nothing, and the
	// device and credential IDs are free again.
	u := dirUser("alice2")
	u.ID = alice
	mustCreateUser(t, s, u, base.Add(time.Hour))
	check(t, alice, true)
	require.NoError(t, s.AddMFADevice(ctx, webAuthnDevice("w-"+alice, alice, 0), 10))
	require.NoError(t, s.AddMFADevice(ctx, totpDevice("t-"+alice, alice, 0), 10))
	assert.ErrorIs(t, s.AddMFADevice(ctx, totpDevice("t-"+bob, alice, 0), 10), signin.ErrConflict, "positive control")
}

func testSignInCleanup(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	ctx := t.Context()
	alice := signInUser(t, s, "alice")
	now := base.Add(time.Hour)
	require.NoError(t, s.SaveSignInFlow(ctx, signInFlow("flow-old", alice, time.Hour-time.Minute)))
	require.NoError(t, s.SaveSignInFlow(ctx, signInFlow("flow-edge", "", time.Hour)))
	require.NoError(t, s.SaveSignInFlow(ctx, signInFlow("flow-live", alice, time.Hour+time.Microsecond)))
	require.NoError(t, s.SetPassword(ctx, alice, "$argon2id$alice", base))
	require.NoError(t, s.AddMFADevice(ctx, totpDevice("t1", alice, 0), 10))
	_, err := s.RecordFailure(ctx, alice, base, func(int) time.Duration { return time.Minute })
	require.NoError(t, err)

	n, err := s.Cleanup(ctx, now)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)

	_, err = s.SignInFlow(ctx, "flow-live", now)
	require.NoError(t, err, "a live flow survives")
	for _, id := range []string{"flow-old", "flow-edge"} {
		// DeleteSignInFlow ignores expiry: it tells whether the row is
		// still stored.
		assert.ErrorIs(t, s.DeleteSignInFlow(ctx, id), signin.ErrNotFound, "%s is really gone", id)
	}
	_, err = s.Password(ctx, alice)
	require.NoError(t, err, "passwords are not cleaned up")
	assert.Len(t, mustDevices(t, s, alice), 1, "devices are not cleaned up")
	l, err := s.Lockout(ctx, alice)
	require.NoError(t, err)
	assert.Equal(t, 1, l.Failures, "an expired lock is not cleaned up")
}

func testSignInCopies(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	ctx := t.Context()
	alice := signInUser(t, s, "alice")

	// What the caller passes in is copied.
	w := webAuthnDevice("w1", alice, 0)
	totp := totpDevice("t1", alice, time.Second)
	in, inTOTP := w, totp
	in.CredentialID, in.Credential = slices.Clone(w.CredentialID), slices.Clone(w.Credential)
	inTOTP.Secret = slices.Clone(totp.Secret)
	require.NoError(t, s.AddMFADevice(ctx, in, 10))
	require.NoError(t, s.AddMFADevice(ctx, inTOTP, 10))
	in.CredentialID[0], in.Credential[0], inTOTP.Secret[0] = 'X', 'X', 'X'
	f := signInFlow("flow-1", alice, time.Hour)
	inFlow := f
	inFlow.Data = slices.Clone(f.Data)
	require.NoError(t, s.SaveSignInFlow(ctx, inFlow))
	inFlow.Data[0] = 'X'
	cred := []byte(`{"new":true}`)
	require.NoError(t, s.UseWebAuthn(ctx, w.ID, w.SignCount, 6, cred, base))
	cred[0] = 'X'
	w.Credential, w.SignCount, w.LastUsedAt = []byte(`{"new":true}`), 6, base
	assert.Equal(t, []signin.MFADevice{w, totp}, mustDevices(t, s, alice))

	// What the store returns is the caller's own.
	list := mustDevices(t, s, alice)
	list[0].CredentialID[0], list[0].Credential[0], list[1].Secret[0] = 'Y', 'Y', 'Y'
	list[0].Name = "changed"
	byCred, err := s.MFADeviceByCredentialID(ctx, w.CredentialID)
	require.NoError(t, err)
	byCred.CredentialID[0], byCred.Credential[0] = 'Z', 'Z'
	assert.Equal(t, []signin.MFADevice{w, totp}, mustDevices(t, s, alice))
	got, err := s.SignInFlow(ctx, f.ID, base)
	require.NoError(t, err)
	got.Data[0] = 'Y'
	got, err = s.SignInFlow(ctx, f.ID, base)
	require.NoError(t, err)
	assert.Equal(t, f, got)
}
