package signin_test

import (
	"bytes"
	"encoding/base32"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/signin"
)

const step30 = 30 * time.Second

func TestTOTPRegistration(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.user("alice", goodPW)
	step := e.mustStart("alice", goodPW, signin.StageRegister)

	// FinishTOTPRegistration before BeginTOTPRegistration: no secret yet.
	_, err := e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, "123456", "", addr)
	require.ErrorIs(t, err, signin.ErrWrongStage)

	enr, err := e.svc.BeginTOTPRegistration(e.ctx, step.FlowID)
	require.NoError(t, err)
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(enr.Secret)
	require.NoError(t, err)
	assert.Len(t, raw, 20)
	u, err := url.Parse(enr.URL)
	require.NoError(t, err)
	assert.Equal(t, "otpauth", u.Scheme)
	assert.Equal(t, "totp", u.Host)
	assert.Equal(t, "/Gatehouse:alice", u.Path)
	q := u.Query()
	assert.Equal(t, enr.Secret, q.Get("secret"))
	assert.Equal(t, "Gatehouse", q.Get("issuer"))
	assert.Equal(t, "30", q.Get("period"))
	assert.Equal(t, "6", q.Get("digits"))
	assert.Equal(t, "SHA1", q.Get("algorithm"))
	assert.True(t, bytes.HasPrefix(enr.QRCode, []byte("\x89PNG\r\n\x1a\n")), "a PNG")

	again, err := e.svc.BeginTOTPRegistration(e.ctx, step.FlowID)
	require.NoError(t, err)
	assert.Equal(t, enr.Secret, again.Secret, "the secret is kept in the flow")
	assert.Equal(t, enr.URL, again.URL)

	// Bad device names are refused and do not count.
	code := totpCode(t, enr.Secret, e.clock.Now())
	for _, name := range []string{strings.Repeat("n", 65), "my\nphone", "tab\tname", "bad\xffutf8"} {
		_, err = e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, code, name, addr)
		require.ErrorIs(t, err, signin.ErrBadRequest, "name %q", name)
	}
	assert.Zero(t, e.lockout(alice.ID).Failures)

	// A wrong code fails and counts.
	n, ns := e.audit.count(), e.sessions.count()
	_, err = e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, wrongCode(t, enr.Secret, e.clock.Now()), "", addr)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	got := e.requireAttempts(n, "invalid_totp")
	assert.Equal(t, "mfa.register", got[0].Event)
	assert.Equal(t, "totp", got[0].Credential)
	assert.Equal(t, alice.ID, got[0].UserID)
	assert.Equal(t, 1, e.lockout(alice.ID).Failures)
	assert.Empty(t, e.devices(alice.ID))
	e.requireNoSessionSince(ns)

	// The right code (typed with a space) registers the device and signs in.
	n = e.audit.count()
	done, err := e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, code[:3]+" "+code[3:], "  ", addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+totp", signin.ACRMFA)
	devices := e.devices(alice.ID)
	require.Len(t, devices, 1)
	d := devices[0]
	assert.Equal(t, signin.KindTOTP, d.Kind)
	assert.Equal(t, "Authenticator app", d.Name, "the default name")
	assert.Equal(t, e.clock.Now().Unix()/30, d.LastStep)
	assert.True(t, d.CreatedAt.Equal(e.clock.Now()))
	assert.Empty(t, d.CredentialID)
	assert.NotEmpty(t, d.Secret)
	assert.False(t, bytes.Contains(d.Secret, raw), "the raw secret is not stored")
	assert.False(t, bytes.Contains(d.Secret, []byte(enr.Secret)), "the base32 secret is not stored")
	assert.Len(t, d.Secret, 12+20+16, "AES-GCM nonce, secret and tag")
	got = e.requireAttempts(n, "ok", "ok")
	assert.Equal(t, signin.Attempt{Event: "mfa.register", Success: true, UserID: alice.ID, Credential: "totp", DeviceID: d.ID, Address: addr}, got[0])
	assert.Equal(t, signin.Attempt{
		Event: "signin", Success: true, UserID: alice.ID, Credential: "totp",
		Factors: []string{"password", "totp"}, DeviceID: d.ID, Address: addr,
	}, got[1])
	assert.Zero(t, e.lockout(alice.ID).Failures, "a success resets the count")

	// The flow is single use.
	ns = e.sessions.count()
	_, err = e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, code, "", addr)
	require.ErrorIs(t, err, signin.ErrNoFlow)
	_, err = e.svc.BeginTOTPRegistration(e.ctx, step.FlowID)
	require.ErrorIs(t, err, signin.ErrNoFlow)
	e.requireNoSessionSince(ns)
	assert.Len(t, e.devices(alice.ID), 1)

	// The user now has a device: the next sign-in asks for it.
	step = e.mustStart("alice", goodPW, signin.StageMFA)
	assert.Equal(t, []signin.DeviceKind{signin.KindTOTP}, step.Methods)
}

func TestTOTPRegistrationSecretsDiffer(t *testing.T) {
	e := newEnv(t, nil)
	e.user("alice", goodPW)
	a := e.mustStart("alice", goodPW, signin.StageRegister)
	b := e.mustStart("alice", goodPW, signin.StageRegister)
	ea, err := e.svc.BeginTOTPRegistration(e.ctx, a.FlowID)
	require.NoError(t, err)
	eb, err := e.svc.BeginTOTPRegistration(e.ctx, b.FlowID)
	require.NoError(t, err)
	assert.NotEqual(t, ea.Secret, eb.Secret)
	// A code for one flow's secret does not complete the other.
	_, err = e.svc.FinishTOTPRegistration(e.ctx, b.FlowID, totpCode(t, ea.Secret, e.clock.Now()), "", addr)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
}

// totpUser is alice with an authenticator app registered at fixedStart,
// and the clock moved on five steps.
func totpUser(t *testing.T, mod func(*signin.Config)) (*env, string) {
	e := newEnv(t, mod)
	alice := e.user("alice", goodPW)
	secret, _ := e.registerTOTP(alice, goodPW)
	e.clock.Advance(5 * step30)
	return e, secret
}

func TestTOTPSignIn(t *testing.T) {
	e, secret := totpUser(t, nil)
	alice, err := e.mem.UserByAttribute(e.ctx, "user_name", "alice")
	require.NoError(t, err)
	dev := e.devices(alice.ID)[0]

	step := e.mustStart("alice", goodPW, signin.StageMFA)
	n := e.audit.count()
	code := totpCode(t, secret, e.clock.Now())
	done, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, code, addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+totp", signin.ACRMFA)
	got := e.requireAttempts(n, "ok")
	assert.Equal(t, signin.Attempt{
		Event: "signin", Success: true, UserID: alice.ID, Credential: "totp",
		Factors: []string{"password", "totp"}, DeviceID: dev.ID, Address: addr,
	}, got[0])
	dev = e.devices(alice.ID)[0]
	assert.Equal(t, e.clock.Now().Unix()/30, dev.LastStep)
	assert.True(t, dev.LastUsedAt.Equal(e.clock.Now()))

	// The same code again, in a new flow: a replay.
	step = e.mustStart("alice", goodPW, signin.StageMFA)
	n, ns := e.audit.count(), e.sessions.count()
	_, err = e.svc.VerifyTOTP(e.ctx, step.FlowID, code, addr)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	got = e.requireAttempts(n, "totp_replay")
	assert.Equal(t, dev.ID, got[0].DeviceID)
	assert.Equal(t, 1, e.lockout(alice.ID).Failures)
	e.requireNoSessionSince(ns)

	// The next step's code completes the same flow.
	e.clock.Advance(step30)
	done, err = e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+totp", signin.ACRMFA)
}

// TestTOTPCodes starts from the current code and changes it.
func TestTOTPCodes(t *testing.T) {
	cases := []struct {
		name   string
		code   func(e *env, secret, bobSecret string) string
		reason string // "" accepted
	}{
		{"current", func(e *env, s, _ string) string { return totpCode(e.t, s, e.clock.Now()) }, ""},
		{"with spaces and dashes", func(e *env, s, _ string) string {
			c := totpCode(e.t, s, e.clock.Now())
			return " " + c[:3] + "-" + c[3:] + "\u00a0"
		}, ""},
		{"previous step", func(e *env, s, _ string) string { return totpCode(e.t, s, e.clock.Now().Add(-step30)) }, ""},
		{"next step", func(e *env, s, _ string) string { return totpCode(e.t, s, e.clock.Now().Add(step30)) }, ""},
		{"two steps ago", func(e *env, s, _ string) string { return totpCode(e.t, s, e.clock.Now().Add(-2*step30)) }, "invalid_totp"},
		{"two steps ahead", func(e *env, s, _ string) string { return totpCode(e.t, s, e.clock.Now().Add(2*step30)) }, "invalid_totp"},
		{"another user's secret", func(e *env, _, b string) string { return totpCode(e.t, b, e.clock.Now()) }, "invalid_totp"},
		{"five digits", func(e *env, s, _ string) string { return totpCode(e.t, s, e.clock.Now())[1:] }, "invalid_totp"},
		{"seven digits", func(e *env, s, _ string) string { return totpCode(e.t, s, e.clock.Now()) + "0" }, "invalid_totp"},
		{"letter", func(e *env, s, _ string) string { return "a" + totpCode(e.t, s, e.clock.Now())[1:] }, "invalid_totp"},
		{"empty", func(*env, string, string) string { return "" }, "invalid_totp"},
		{"fullwidth digits", func(e *env, s, _ string) string {
			return strings.Map(func(r rune) rune { return r - '0' + '０' }, totpCode(e.t, s, e.clock.Now()))
		}, "invalid_totp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, secret := totpUser(t, nil)
			bob := e.user("bob", goodPW)
			e.clock.Advance(-5 * step30)
			bobSecret, _ := e.registerTOTP(bob, goodPW)
			e.clock.Advance(5 * step30)
			alice, err := e.mem.UserByAttribute(e.ctx, "user_name", "alice")
			require.NoError(t, err)

			step := e.mustStart("alice", goodPW, signin.StageMFA)
			n, ns := e.audit.count(), e.sessions.count()
			done, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, tc.code(e, secret, bobSecret), otherAddr)
			if tc.reason == "" {
				require.NoError(t, err)
				e.requireSession(done, alice, "password+totp", signin.ACRMFA)
				return
			}
			require.ErrorIs(t, err, signin.ErrInvalidCredentials)
			e.requireNoSessionSince(ns)
			got := e.requireAttempts(n, tc.reason)
			assert.Equal(t, signin.Attempt{Event: "signin", Reason: tc.reason, UserID: alice.ID, Credential: "totp", Address: otherAddr}, got[0])
			assert.Equal(t, 1, e.lockout(alice.ID).Failures)
			// The flow goes on.
			_, err = e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
			require.NoError(t, err)
		})
	}
}

func TestTOTPOlderStepAfterNewer(t *testing.T) {
	e, secret := totpUser(t, nil)
	step := e.mustStart("alice", goodPW, signin.StageMFA)
	_, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now().Add(step30)), addr)
	require.NoError(t, err)
	// The current code is older than the one just used.
	step = e.mustStart("alice", goodPW, signin.StageMFA)
	n := e.audit.count()
	_, err = e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	e.requireAttempts(n, "totp_replay")
}

func TestTOTPFlowFailures(t *testing.T) {
	e, secret := totpUser(t, func(c *signin.Config) { c.Lockout.MaxFailures = 100 })
	alice, err := e.mem.UserByAttribute(e.ctx, "user_name", "alice")
	require.NoError(t, err)
	step := e.mustStart("alice", goodPW, signin.StageMFA)
	good := totpCode(t, secret, e.clock.Now())
	n, ns := e.audit.count(), e.sessions.count()
	for i := range 4 {
		_, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, wrongCode(t, secret, e.clock.Now()), addr)
		require.ErrorIs(t, err, signin.ErrInvalidCredentials, "failure %d", i+1)
	}
	_, err = e.svc.VerifyTOTP(e.ctx, step.FlowID, wrongCode(t, secret, e.clock.Now()), addr)
	require.ErrorIs(t, err, signin.ErrNoFlow, "the fifth failure ends the flow")
	_, err = e.svc.VerifyTOTP(e.ctx, step.FlowID, good, addr)
	require.ErrorIs(t, err, signin.ErrNoFlow, "even the right code")
	_, err = e.svc.Flow(e.ctx, step.FlowID)
	require.ErrorIs(t, err, signin.ErrNoFlow)
	e.requireNoSessionSince(ns)
	e.requireAttempts(n, "invalid_totp", "invalid_totp", "invalid_totp", "invalid_totp", "invalid_totp")
	assert.Equal(t, 5, e.lockout(alice.ID).Failures)

	// A new flow works.
	step = e.mustStart("alice", goodPW, signin.StageMFA)
	done, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, good, addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+totp", signin.ACRMFA)
}

func TestTOTPFailuresLockTheAccount(t *testing.T) {
	e, secret := totpUser(t, func(c *signin.Config) {
		c.Lockout = signin.LockoutPolicy{MaxFailures: 2, Base: time.Minute, Max: time.Hour}
	})
	alice, err := e.mem.UserByAttribute(e.ctx, "user_name", "alice")
	require.NoError(t, err)
	step := e.mustStart("alice", goodPW, signin.StageMFA)
	good := totpCode(t, secret, e.clock.Now())
	for range 2 {
		_, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, wrongCode(t, secret, e.clock.Now()), addr)
		require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	}
	ns := e.sessions.count()
	_, err = e.svc.VerifyTOTP(e.ctx, step.FlowID, good, addr)
	var re *signin.RetryError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, signin.RetryError{Locked: true, RetryAfter: time.Minute}, *re)
	_, err = e.start("alice", goodPW)
	require.ErrorAs(t, err, &re)
	assert.True(t, re.Locked)
	e.requireNoSessionSince(ns)

	// After the lock the flow (still alive) completes.
	e.clock.Advance(time.Minute)
	done, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+totp", signin.ACRMFA)
}

func TestTOTPDeactivatedMidFlow(t *testing.T) {
	e, secret := totpUser(t, nil)
	alice, err := e.mem.UserByAttribute(e.ctx, "user_name", "alice")
	require.NoError(t, err)
	step := e.mustStart("alice", goodPW, signin.StageMFA)
	e.setActive(alice.ID, false)
	n, ns := e.audit.count(), e.sessions.count()
	_, err = e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
	require.ErrorIs(t, err, signin.ErrNoFlow)
	// Reactivating does not bring the flow back.
	e.setActive(alice.ID, true)
	_, err = e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
	require.ErrorIs(t, err, signin.ErrNoFlow)
	e.requireNoSessionSince(ns)
	e.requireAttempts(n)
	assert.Equal(t, fixedStart.Unix()/30, e.devices(alice.ID)[0].LastStep, "the code was not used")
}

func TestTOTPFlowExpires(t *testing.T) {
	e, secret := totpUser(t, func(c *signin.Config) { c.FlowTTL = 2 * time.Minute })
	step := e.mustStart("alice", goodPW, signin.StageMFA)
	assert.Equal(t, e.clock.Now().Add(2*time.Minute), step.ExpiresAt)
	e.clock.Advance(2*time.Minute - time.Second)
	_, err := e.svc.Flow(e.ctx, step.FlowID)
	require.NoError(t, err, "alive until ExpiresAt")
	e.clock.Advance(time.Second)
	ns := e.sessions.count()
	_, err = e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
	require.ErrorIs(t, err, signin.ErrNoFlow)
	e.requireNoSessionSince(ns)
}

func TestWrongStage(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.user("alice", goodPW)
	bob := e.user("bob", goodPW)
	e.registerTOTP(bob, goodPW)
	reg := e.mustStart("alice", goodPW, signin.StageRegister)
	mfa := e.mustStart("bob", goodPW, signin.StageMFA)
	_, err := e.svc.BeginTOTPRegistration(e.ctx, reg.FlowID)
	require.NoError(t, err)

	calls := []struct {
		name string
		flow string
		call func(flowID string) error
	}{
		{"VerifyTOTP during register", reg.FlowID, func(id string) error {
			_, err := e.svc.VerifyTOTP(e.ctx, id, "123456", addr)
			return err
		}},
		{"BeginWebAuthn during register", reg.FlowID, func(id string) error {
			_, err := e.svc.BeginWebAuthn(e.ctx, id)
			return err
		}},
		{"FinishWebAuthn during register", reg.FlowID, func(id string) error {
			_, err := e.svc.FinishWebAuthn(e.ctx, id, []byte("{}"), addr)
			return err
		}},
		{"BeginTOTPRegistration during mfa", mfa.FlowID, func(id string) error {
			_, err := e.svc.BeginTOTPRegistration(e.ctx, id)
			return err
		}},
		{"FinishTOTPRegistration during mfa", mfa.FlowID, func(id string) error {
			_, err := e.svc.FinishTOTPRegistration(e.ctx, id, "123456", "", addr)
			return err
		}},
		{"BeginWebAuthnRegistration during mfa", mfa.FlowID, func(id string) error {
			_, err := e.svc.BeginWebAuthnRegistration(e.ctx, id)
			return err
		}},
		{"FinishWebAuthnRegistration during mfa", mfa.FlowID, func(id string) error {
			_, err := e.svc.FinishWebAuthnRegistration(e.ctx, id, []byte("{}"), "", addr)
			return err
		}},
		{"BeginWebAuthn without a security key", mfa.FlowID, func(id string) error {
			_, err := e.svc.BeginWebAuthn(e.ctx, id)
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			n, ns := e.audit.count(), e.sessions.count()
			require.ErrorIs(t, c.call(c.flow), signin.ErrWrongStage)
			e.requireAttempts(n)
			e.requireNoSessionSince(ns)
			assert.Zero(t, e.lockout(alice.ID).Failures)
			assert.Zero(t, e.lockout(bob.ID).Failures)
		})
	}
	// Unknown flows are ErrNoFlow for every step.
	for _, c := range calls {
		require.ErrorIs(t, c.call(strings.Repeat("A", 43)), signin.ErrNoFlow, c.name)
	}
	// Both flows are still usable.
	_, err = e.svc.Flow(e.ctx, reg.FlowID)
	require.NoError(t, err)
	_, err = e.svc.Flow(e.ctx, mfa.FlowID)
	require.NoError(t, err)
}

func TestTOTPTooManyDevices(t *testing.T) {
	e := newEnv(t, func(c *signin.Config) { c.MaxTOTP = 2 })
	alice := e.user("alice", goodPW)
	step := e.mustStart("alice", goodPW, signin.StageRegister)
	enr, err := e.svc.BeginTOTPRegistration(e.ctx, step.FlowID)
	require.NoError(t, err)
	// Meanwhile two devices were registered elsewhere.
	for _, id := range []string{"mfa_one", "mfa_two"} {
		require.NoError(t, e.mem.AddMFADevice(e.ctx, signin.MFADevice{
			ID: id, UserID: alice.ID, Kind: signin.KindTOTP, Name: id, CreatedAt: e.clock.Now(), Secret: []byte("sealed"),
		}, 2))
	}
	n, ns := e.audit.count(), e.sessions.count()
	_, err = e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, totpCode(t, enr.Secret, e.clock.Now()), "", addr)
	require.ErrorIs(t, err, signin.ErrTooManyDevices)
	got := e.requireAttempts(n, "too_many_devices")
	assert.Equal(t, "mfa.register", got[0].Event)
	assert.Equal(t, alice.ID, got[0].UserID)
	e.requireNoSessionSince(ns)
	assert.Len(t, e.devices(alice.ID), 2)

	// With one device deleted, the third registers.
	require.NoError(t, e.svc.DeleteDevice(e.ctx, alice.ID, "mfa_one"))
	done, err := e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, totpCode(t, enr.Secret, e.clock.Now()), "", addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+totp", signin.ACRMFA)
	assert.Len(t, e.devices(alice.ID), 2)
}

// TestTOTPSealedSecretBinding: a sealed secret moved to another user's
// device, or read with another key, does not open.
func TestTOTPSealedSecretBinding(t *testing.T) {
	e, secret := totpUser(t, nil)
	alice, err := e.mem.UserByAttribute(e.ctx, "user_name", "alice")
	require.NoError(t, err)
	aliceDev := e.devices(alice.ID)[0]

	bob := e.user("bob", goodPW)
	require.NoError(t, e.mem.AddMFADevice(e.ctx, signin.MFADevice{
		ID: aliceDev.ID + "x", UserID: bob.ID, Kind: signin.KindTOTP, CreatedAt: e.clock.Now(), Secret: aliceDev.Secret,
	}, 2))
	step := e.mustStart("bob", goodPW, signin.StageMFA)
	n := e.audit.count()
	_, err = e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	e.requireAttempts(n, "invalid_totp")

	cfg := e.cfg
	cfg.SealKey = bytes.Repeat([]byte{7}, 32)
	other, err := signin.New(cfg)
	require.NoError(t, err)
	step, err = other.Start(e.ctx, "alice", goodPW, returnTo, addr)
	require.NoError(t, err)
	_, err = other.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)

	// The right key opens it.
	step = e.mustStart("alice", goodPW, signin.StageMFA)
	done, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+totp", signin.ACRMFA)
}

// TestTOTPParallelGuessesAreBounded: wrong codes sent in parallel are each
// charged to the user and the address before they are checked, so no more
// of them reach the check than the limit allows, however many arrive
// before the first failure is counted in the store.
func TestTOTPParallelGuessesAreBounded(t *testing.T) {
	const limit = 3
	e, secret := totpUser(t, func(c *signin.Config) {
		c.Lockout.MaxFailures = 100
		c.AddressFailures = limit
	})
	step := e.mustStart("alice", goodPW, signin.StageMFA)
	n := e.audit.count()
	const guesses = 20
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		checked, limited int
	)
	for range guesses {
		wg.Go(func() {
			_, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, wrongCode(t, secret, e.clock.Now()), addr)
			mu.Lock()
			defer mu.Unlock()
			var re *signin.RetryError
			switch {
			case errors.As(err, &re):
				limited++
			case errors.Is(err, signin.ErrInvalidCredentials), errors.Is(err, signin.ErrNoFlow):
				checked++
			default:
				t.Errorf("unexpected %v", err)
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, checked, limit, "guesses that reached the code check")
	assert.Equal(t, guesses, checked+limited)
	reasons := map[string]int{}
	for _, at := range e.audit.since(n) {
		reasons[at.Reason]++
	}
	assert.Equal(t, limited, reasons["rate_limited"], "each refused guess is audited")

	// The right code is refused too while the limit holds: it is not
	// checked.
	_, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
	var re *signin.RetryError
	require.ErrorAs(t, err, &re)
}
