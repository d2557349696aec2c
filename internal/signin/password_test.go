package signin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/signin"
)

func mfaOff(c *signin.Config) { c.MFA = signin.MFAOff }

func TestStartPasswordOnly(t *testing.T) {
	e := newEnv(t, mfaOff)
	alice := e.user("alice", goodPW)
	n := e.audit.count()

	step, err := e.start("alice", goodPW)
	require.NoError(t, err)
	e.requireSession(step, alice, "password", signin.ACRPassword)
	assert.Equal(t, "alice", step.User.UserName)
	got := e.requireAttempts(n, "ok")
	assert.Equal(t, signin.Attempt{
		Event: "signin", Success: true, UserID: alice.ID, Credential: "password",
		Factors: []string{"password"}, Address: addr,
	}, got[0])
	assert.Equal(t, signin.MFAOff, e.svc.MFA())
}

// TestStartRefused starts from a valid sign-in and changes one thing per
// case; every refusal is the same error, audited with its reason.
func TestStartRefused(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(e *env, userID string)
		user   string
		pw     string
		reason string // "" for the valid baseline
		failed int    // failures counted against the account
	}{
		{name: "valid", user: "alice", pw: goodPW},
		{name: "wrong password", user: "alice", pw: goodPW + "x", reason: "invalid_password", failed: 1},
		{name: "password in other case", user: "alice", pw: strings.ToLower(goodPW), reason: "invalid_password", failed: 1},
		{name: "unknown user", user: "alicia", pw: goodPW, reason: "unknown_user"},
		{name: "user name in other case", user: "Alice", pw: goodPW, reason: "unknown_user"},
		{name: "no password", user: "alice", pw: goodPW, reason: "no_password", setup: func(e *env, id string) {
			// A second user without a password takes alice's name.
			_, err := e.mem.DirectoryUser(e.ctx, id)
			require.NoError(e.t, err)
			require.NoError(e.t, e.mem.DeleteDirectoryUser(e.ctx, id, 0, e.clock.Now()))
			e.user("alice", "")
		}},
		{name: "deactivated user", user: "alice", pw: goodPW, reason: "inactive_user", setup: func(e *env, id string) {
			e.setActive(id, false)
		}},
		{name: "deactivated user, wrong password", user: "alice", pw: goodPW + "x", reason: "invalid_password", failed: 1, setup: func(e *env, id string) {
			e.setActive(id, false)
		}},
		{name: "empty user name", user: "", pw: goodPW, reason: "invalid_request"},
		{name: "empty password", user: "alice", pw: "", reason: "invalid_request"},
		{name: "user name over 256 bytes", user: "alice" + strings.Repeat("a", 252), pw: goodPW, reason: "invalid_request"},
		{name: "password over 4096 bytes", user: "alice", pw: goodPW + strings.Repeat("x", 4097-len(goodPW)), reason: "invalid_request"},
		{name: "malformed stored hash", user: "alice", pw: goodPW, reason: "malformed_hash", setup: func(e *env, id string) {
			e.setHash(id, "$argon2id$v=19$m=64,t=1,p=1$not-base64!$AAAA")
		}},
		{name: "stored hash of another algorithm", user: "alice", pw: goodPW, reason: "malformed_hash", setup: func(e *env, id string) {
			e.setHash(id, "$2b$10$abcdefghijklmnopqrstuv")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, mfaOff)
			alice := e.user("alice", goodPW)
			if tc.setup != nil {
				tc.setup(e, alice.ID)
			}
			user, err := e.mem.UserByAttribute(e.ctx, "user_name", "alice")
			require.NoError(t, err)
			n, ns := e.audit.count(), e.sessions.count()

			step, err := e.start(tc.user, tc.pw)
			if tc.reason == "" {
				require.NoError(t, err)
				e.requireSession(step, user, "password", signin.ACRPassword)
				e.requireAttempts(n, "ok")
				return
			}
			require.ErrorIs(t, err, signin.ErrInvalidCredentials)
			assert.Equal(t, signin.Step{}, step)
			e.requireNoSessionSince(ns)
			got := e.requireAttempts(n, tc.reason)
			assert.False(t, got[0].Success)
			assert.Equal(t, "signin", got[0].Event)
			assert.Equal(t, "password", got[0].Credential)
			assert.Equal(t, addr, got[0].Address)
			switch tc.reason {
			case "unknown_user", "invalid_request":
				assert.Empty(t, got[0].UserID)
			default:
				assert.Equal(t, user.ID, got[0].UserID)
			}
			assert.Equal(t, tc.failed, e.lockout(user.ID).Failures, "failures counted")
		})
	}
}

// TestStartLongestInputs: the longest accepted user name and password
// reach the store (a user of that name signs in).
func TestStartLongestInputs(t *testing.T) {
	e := newEnv(t, mfaOff)
	name := "a" + strings.Repeat("b", 255)
	pw := strings.Repeat("p", 4096)
	u := e.user(name, pw)
	step, err := e.start(name, pw)
	require.NoError(t, err)
	e.requireSession(step, u, "password", signin.ACRPassword)
}

func TestLockout(t *testing.T) {
	const base, maxLock = time.Minute, 4 * time.Minute
	e := newEnv(t, func(c *signin.Config) {
		c.MFA = signin.MFAOff
		c.Lockout = signin.LockoutPolicy{MaxFailures: 3, Base: base, Max: maxLock}
	})
	alice := e.user("alice", goodPW)
	bob := e.user("bob", goodPW)

	wrong := func() {
		t.Helper()
		_, err := e.start("alice", "wrong password")
		require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	}
	requireLocked := func(pw string, want time.Duration) {
		t.Helper()
		n, ns := e.audit.count(), e.sessions.count()
		_, err := e.start("alice", pw)
		var re *signin.RetryError
		require.ErrorAs(t, err, &re)
		assert.True(t, re.Locked)
		assert.Equal(t, want, re.RetryAfter)
		assert.Contains(t, re.Error(), "locked")
		e.requireNoSessionSince(ns)
		got := e.requireAttempts(n, "locked")
		assert.Equal(t, alice.ID, got[0].UserID)
	}

	// Failures below the maximum do not lock.
	wrong()
	wrong()
	assert.Equal(t, signin.Lockout{Failures: 2}, e.lockout(alice.ID))
	// The third locks for Base; even the right password is refused.
	wrong()
	assert.Equal(t, 3, e.lockout(alice.ID).Failures)
	requireLocked(goodPW, base)
	e.clock.Advance(base / 2)
	requireLocked(goodPW, base/2)
	requireLocked("wrong password", base/2)
	assert.Equal(t, 3, e.lockout(alice.ID).Failures, "attempts while locked do not count")

	// Another user is not affected.
	step, err := e.start("bob", goodPW)
	require.NoError(t, err)
	e.requireSession(step, bob, "password", signin.ACRPassword)

	// After the lock, each further failure doubles it, up to Max.
	for _, want := range []time.Duration{2 * base, 4 * base, maxLock, maxLock} {
		e.clock.Advance(e.lockout(alice.ID).LockedUntil.Sub(e.clock.Now()))
		wrong()
		requireLocked(goodPW, want)
	}

	// The lock expires with the clock; a success resets the count.
	e.clock.Advance(maxLock)
	step, err = e.start("alice", goodPW)
	require.NoError(t, err)
	e.requireSession(step, alice, "password", signin.ACRPassword)
	assert.Equal(t, signin.Lockout{}, e.lockout(alice.ID))
	wrong()
	wrong()
	assert.Equal(t, signin.Lockout{Failures: 2}, e.lockout(alice.ID), "counting starts again")

	// Unlock (an administrator) clears a lock.
	wrong()
	requireLocked(goodPW, base)
	require.NoError(t, e.svc.Unlock(e.ctx, alice.ID))
	assert.Equal(t, signin.Lockout{}, e.lockout(alice.ID))
	step, err = e.start("alice", goodPW)
	require.NoError(t, err)
	e.requireSession(step, alice, "password", signin.ACRPassword)
}

func TestLockoutDefaults(t *testing.T) {
	e := newEnv(t, mfaOff)
	e.user("alice", goodPW)
	for range 5 {
		_, err := e.start("alice", "wrong password")
		require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	}
	_, err := e.start("alice", goodPW)
	var re *signin.RetryError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, signin.RetryError{Locked: true, RetryAfter: time.Minute}, *re, "5 failures lock for a minute by default")
}

func TestAddressLimit(t *testing.T) {
	e := newEnv(t, func(c *signin.Config) {
		c.MFA = signin.MFAOff
		c.AddressFailures = 3
		c.AddressWindow = 3 * time.Minute
		c.Lockout.MaxFailures = 100
	})
	alice := e.user("alice", goodPW)
	e.user("bob", goodPW)

	// Successes are refunded: any number of them.
	for range 5 {
		step, err := e.start("alice", goodPW)
		require.NoError(t, err)
		e.requireSession(step, alice, "password", signin.ACRPassword)
	}
	// Three failures from one address (with different users) are allowed.
	for _, u := range []string{"alice", "bob", "nobody"} {
		_, err := e.start(u, "wrong password")
		require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	}
	// The fourth attempt, even the right password, is refused.
	n, ns := e.audit.count(), e.sessions.count()
	_, err := e.start("alice", goodPW)
	var re *signin.RetryError
	require.ErrorAs(t, err, &re)
	assert.False(t, re.Locked)
	assert.Equal(t, time.Minute, re.RetryAfter)
	assert.Contains(t, re.Error(), "address")
	e.requireNoSessionSince(ns)
	got := e.requireAttempts(n, "address_limited")
	assert.Empty(t, got[0].UserID, "the address limit is checked before the user is looked up")
	assert.Equal(t, addr, got[0].Address)
	assert.Equal(t, 1, e.lockout(alice.ID).Failures, "the refused attempt did not count against the account")

	// Another address is not affected; the same host on another port is.
	step, err := e.svc.Start(e.ctx, "alice", goodPW, returnTo, otherAddr)
	require.NoError(t, err)
	e.requireSession(step, alice, "password", signin.ACRPassword)
	_, err = e.svc.Start(e.ctx, "alice", goodPW, returnTo, "192.0.2.10:1")
	require.ErrorAs(t, err, &re)

	// The window moves on.
	e.clock.Advance(time.Minute)
	step, err = e.start("alice", goodPW)
	require.NoError(t, err)
	e.requireSession(step, alice, "password", signin.ACRPassword)
}

// TestAddressLimitRefunds: a store outage and a refused user without a
// device do not count against the address; wrong passwords do.
func TestAddressLimitRefunds(t *testing.T) {
	e := newEnv(t, func(c *signin.Config) {
		c.AddressFailures = 1
		c.NoDevice = signin.NoDeviceRefuse
	})
	e.user("alice", goodPW)
	for range 3 {
		e.store.setFail("Password", true)
		_, err := e.start("alice", goodPW)
		require.ErrorIs(t, err, signin.ErrUnavailable)
		e.store.setFail("Password", false)
		_, err = e.start("alice", goodPW)
		require.ErrorIs(t, err, signin.ErrNoDevice)
	}
	_, err := e.start("alice", "wrong password")
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	_, err = e.start("alice", goodPW)
	var re *signin.RetryError
	require.ErrorAs(t, err, &re)
	assert.False(t, re.Locked)
}

func TestRehash(t *testing.T) {
	old := tinyParams()
	old.Iterations = 2
	oldHasher, err := password.New(password.Config{Params: old})
	require.NoError(t, err)
	const current, previous = "$argon2id$v=19$m=64,t=1,p=1$", "$argon2id$v=19$m=64,t=2,p=1$"

	t.Run("password only", func(t *testing.T) {
		e := newEnv(t, mfaOff)
		alice := e.user("alice", "")
		e.setHash(alice.ID, e.hash(oldHasher, goodPW))
		require.True(t, strings.HasPrefix(e.storedHash(alice.ID), previous))

		step, err := e.start("alice", goodPW)
		require.NoError(t, err)
		e.requireSession(step, alice, "password", signin.ACRPassword)
		h := e.storedHash(alice.ID)
		assert.True(t, strings.HasPrefix(h, current), "rehashed: %s", h)
		ok, rehash, err := e.hasher.Verify(e.ctx, h, goodPW)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.False(t, rehash)

		// The next sign-in keeps the hash.
		_, err = e.start("alice", goodPW)
		require.NoError(t, err)
		assert.Equal(t, h, e.storedHash(alice.ID))
	})

	t.Run("only when the sign-in completes", func(t *testing.T) {
		e := newEnv(t, nil)
		alice := e.user("alice", goodPW)
		secret, _ := e.registerTOTP(alice, goodPW)
		e.setHash(alice.ID, e.hash(oldHasher, goodPW))
		oldHash := e.storedHash(alice.ID)

		step := e.mustStart("alice", goodPW, signin.StageMFA)
		assert.Equal(t, oldHash, e.storedHash(alice.ID), "not stored before the second factor")
		_, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, wrongCode(t, secret, e.clock.Now()), addr)
		require.ErrorIs(t, err, signin.ErrInvalidCredentials)
		assert.Equal(t, oldHash, e.storedHash(alice.ID), "not stored after a wrong code")
		e.clock.Advance(30 * time.Second)
		done, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
		require.NoError(t, err)
		e.requireSession(done, alice, "password+totp", signin.ACRMFA)
		assert.True(t, strings.HasPrefix(e.storedHash(alice.ID), current))
	})

	t.Run("a failed store does not stop the sign-in", func(t *testing.T) {
		e := newEnv(t, mfaOff)
		alice := e.user("alice", "")
		e.setHash(alice.ID, e.hash(oldHasher, goodPW))
		oldHash := e.storedHash(alice.ID)
		e.store.setFail("SetPassword", true)
		step, err := e.start("alice", goodPW)
		require.NoError(t, err)
		e.requireSession(step, alice, "password", signin.ACRPassword)
		assert.Equal(t, oldHash, e.storedHash(alice.ID))
	})
}

func TestMFARequiredStages(t *testing.T) {
	t.Run("no device, register", func(t *testing.T) {
		e := newEnv(t, nil)
		alice := e.user("alice", goodPW)
		assert.Equal(t, signin.MFARequired, e.svc.MFA(), "the default")
		n, ns := e.audit.count(), e.sessions.count()
		step, err := e.start("alice", goodPW)
		require.NoError(t, err)
		assert.Equal(t, signin.StageRegister, step.Stage)
		assert.Len(t, step.FlowID, 43)
		assert.Equal(t, alice.ID, step.User.ID)
		assert.Equal(t, returnTo, step.ReturnTo)
		assert.Equal(t, e.clock.Now().Add(10*time.Minute), step.ExpiresAt, "default FlowTTL")
		assert.Empty(t, step.Methods)
		assert.Empty(t, step.Session.ID)
		e.requireNoSessionSince(ns)
		e.requireAttempts(n) // nothing final yet

		got, err := e.svc.Flow(e.ctx, step.FlowID)
		require.NoError(t, err)
		assert.Equal(t, step, got)
	})
	t.Run("no device, refuse", func(t *testing.T) {
		e := newEnv(t, func(c *signin.Config) { c.NoDevice = signin.NoDeviceRefuse })
		alice := e.user("alice", goodPW)
		n, ns := e.audit.count(), e.sessions.count()
		_, err := e.start("alice", goodPW)
		require.ErrorIs(t, err, signin.ErrNoDevice)
		e.requireNoSessionSince(ns)
		got := e.requireAttempts(n, "no_mfa_device")
		assert.Equal(t, alice.ID, got[0].UserID)
	})
	t.Run("devices", func(t *testing.T) {
		e := newEnv(t, nil)
		alice := e.user("alice", goodPW)
		e.registerTOTP(alice, goodPW)
		ns := e.sessions.count()
		step := e.mustStart("alice", goodPW, signin.StageMFA)
		assert.Equal(t, []signin.DeviceKind{signin.KindTOTP}, step.Methods)
		e.requireNoSessionSince(ns)

		require.NoError(t, e.mem.AddMFADevice(e.ctx, signin.MFADevice{
			ID: "wa1", UserID: alice.ID, Kind: signin.KindWebAuthn, CredentialID: []byte{1, 2, 3}, CreatedAt: e.clock.Now().Add(-time.Hour),
		}, 10))
		step = e.mustStart("alice", goodPW, signin.StageMFA)
		assert.Equal(t, []signin.DeviceKind{signin.KindTOTP, signin.KindWebAuthn}, step.Methods, "TOTP first")
		got, err := e.svc.Flow(e.ctx, step.FlowID)
		require.NoError(t, err)
		assert.Equal(t, step, got)
	})
}

func TestFlowAndCancel(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.user("alice", goodPW)
	secret, _ := e.registerTOTP(alice, goodPW)
	step := e.mustStart("alice", goodPW, signin.StageMFA)

	for _, id := range []string{"", "short", strings.Repeat("*", 43), strings.Repeat("A", 43)} {
		_, err := e.svc.Flow(e.ctx, id)
		assert.ErrorIs(t, err, signin.ErrNoFlow, "flow %q", id)
		assert.NoError(t, e.svc.Cancel(e.ctx, id), "cancel %q", id)
	}
	require.NoError(t, e.svc.Cancel(e.ctx, step.FlowID))
	_, err := e.svc.Flow(e.ctx, step.FlowID)
	require.ErrorIs(t, err, signin.ErrNoFlow)
	e.clock.Advance(30 * time.Second)
	_, err = e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
	require.ErrorIs(t, err, signin.ErrNoFlow, "a cancelled flow does not complete")
	require.NoError(t, e.svc.Cancel(e.ctx, step.FlowID), "cancelling twice")
}
