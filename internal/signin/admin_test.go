package signin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/signin"
	"github.com/gatehouse-dev/gatehouse/sp"
)

func TestSetPassword(t *testing.T) {
	cases := []struct {
		name   string
		pw     string
		policy bool // refused by the policy
	}{
		{"valid", goodPW, false},
		{"too short", "Tangerine-7", true},
		{"too long", strings.Repeat("Tangerine-", 13), true},
		{"contains the user name", "xx-Carol.Smith-Lighthouse", true},
		{"contains the e-mail local part", "zz-carol.smith-quartz", true},
		{"contains a display name word", "Fitzgerald-Lighthouse-44", true},
		{"one character repeated", strings.Repeat("z", 20), true},
		{"control character", "Tangerine\tLighthouse-71", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, mfaOff)
			u, err := e.mem.CreateUser(e.ctx, sp.User{UserName: "carol.smith", Email: "carol.smith@example.com", DisplayName: "Carol Fitzgerald", Active: true})
			require.NoError(t, err)
			err = e.svc.SetPassword(e.ctx, u.ID, tc.pw)
			if tc.policy {
				require.ErrorIs(t, err, signin.ErrPolicy)
				var pe *password.PolicyError
				require.ErrorAs(t, err, &pe, "the policy's reason is kept")
				_, err = e.mem.Password(e.ctx, u.ID)
				require.ErrorIs(t, err, signin.ErrNotFound, "nothing stored")
				return
			}
			require.NoError(t, err)
			st, err := e.svc.Status(e.ctx, u.ID)
			require.NoError(t, err)
			assert.True(t, st.HasPassword)
			assert.True(t, st.PasswordUpdatedAt.Equal(e.clock.Now()))
			step, err := e.start("carol.smith", tc.pw)
			require.NoError(t, err)
			e.requireSession(step, u, "password", signin.ACRPassword)
		})
	}
}

func TestSetPasswordReplacesAndUnlocks(t *testing.T) {
	e := newEnv(t, func(c *signin.Config) {
		c.MFA = signin.MFAOff
		c.Lockout.MaxFailures = 1
	})
	alice := e.user("alice", goodPW)
	_, err := e.start("alice", "wrong password")
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	_, err = e.start("alice", goodPW)
	var re *signin.RetryError
	require.ErrorAs(t, err, &re)

	const newPW = "Velvet-Harbour-Compass-38"
	require.NoError(t, e.svc.SetPassword(e.ctx, alice.ID, newPW))
	assert.Equal(t, signin.Lockout{}, e.lockout(alice.ID), "a new password clears the lock")
	_, err = e.start("alice", goodPW)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials, "the old password no longer works")
	require.NoError(t, e.svc.Unlock(e.ctx, alice.ID))
	step, err := e.start("alice", newPW)
	require.NoError(t, err)
	e.requireSession(step, alice, "password", signin.ACRPassword)
	// A policy refusal keeps the current password.
	before := e.storedHash(alice.ID)
	require.ErrorIs(t, e.svc.SetPassword(e.ctx, alice.ID, "short"), signin.ErrPolicy)
	assert.Equal(t, before, e.storedHash(alice.ID))
}

func TestAdminUnknownUser(t *testing.T) {
	e := newEnv(t, nil)
	require.ErrorIs(t, e.svc.SetPassword(e.ctx, "no-such-user", goodPW), sp.ErrNotFound)
	_, err := e.svc.Status(e.ctx, "no-such-user")
	require.ErrorIs(t, err, sp.ErrNotFound)
	require.ErrorIs(t, e.svc.Unlock(e.ctx, "no-such-user"), sp.ErrNotFound)
	require.ErrorIs(t, e.svc.DeleteDevice(e.ctx, "no-such-user", "mfa_x"), sp.ErrNotFound)
}

func TestStatusAndDeleteDevice(t *testing.T) {
	e := newEnv(t, func(c *signin.Config) { c.Lockout.MaxFailures = 2 })
	alice := e.user("alice", goodPW)
	bob := e.user("bob", goodPW)
	nobody := e.user("nobody", "")

	st, err := e.svc.Status(e.ctx, nobody.ID)
	require.NoError(t, err)
	assert.Equal(t, signin.Status{Devices: []signin.MFADevice{}}, st)

	secret1, dev1 := e.registerTOTP(alice, goodPW)
	e.clock.Advance(time.Minute)
	_, dev2 := e.registerTOTPNamed(alice, "tablet")
	require.NoError(t, e.mem.AddMFADevice(e.ctx, signin.MFADevice{
		ID: "mfa_key", UserID: alice.ID, Kind: signin.KindWebAuthn, Name: "key", CreatedAt: e.clock.Now().Add(time.Second),
		CredentialID: []byte{9, 9, 9}, Credential: []byte(`{"id":"CQkJ"}`), SignCount: 7,
	}, 10))
	_, bobDev := e.registerTOTP(bob, goodPW)

	// Two failures lock alice.
	step := e.mustStart("alice", goodPW, signin.StageMFA)
	for range 2 {
		_, err = e.svc.VerifyTOTP(e.ctx, step.FlowID, wrongCode(t, secret1, e.clock.Now()), addr)
		require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	}
	st, err = e.svc.Status(e.ctx, alice.ID)
	require.NoError(t, err)
	assert.True(t, st.HasPassword)
	assert.Equal(t, 2, st.Failures)
	assert.True(t, st.LockedUntil.Equal(e.clock.Now().Add(time.Minute)))
	require.Len(t, st.Devices, 3)
	assert.Equal(t, []string{dev1.ID, dev2.ID, "mfa_key"}, []string{st.Devices[0].ID, st.Devices[1].ID, st.Devices[2].ID})
	for _, d := range st.Devices {
		assert.Nil(t, d.Secret, "no secrets: %s", d.ID)
		assert.Nil(t, d.Credential, "no credential: %s", d.ID)
	}
	assert.Equal(t, []byte{9, 9, 9}, st.Devices[2].CredentialID)
	assert.Equal(t, uint32(7), st.Devices[2].SignCount)
	assert.NotEmpty(t, e.devices(alice.ID)[0].Secret, "the store still has the secret")

	// An expired lock is not reported; the count is.
	e.clock.Advance(time.Minute)
	st, err = e.svc.Status(e.ctx, alice.ID)
	require.NoError(t, err)
	assert.True(t, st.LockedUntil.IsZero())
	assert.Equal(t, 2, st.Failures)
	require.NoError(t, e.svc.Unlock(e.ctx, alice.ID))
	st, err = e.svc.Status(e.ctx, alice.ID)
	require.NoError(t, err)
	assert.Zero(t, st.Failures)

	// Another user's device is not found, and stays.
	require.ErrorIs(t, e.svc.DeleteDevice(e.ctx, alice.ID, bobDev.ID), sp.ErrNotFound)
	assert.Len(t, e.devices(bob.ID), 1)
	require.ErrorIs(t, e.svc.DeleteDevice(e.ctx, alice.ID, "mfa_none"), sp.ErrNotFound)

	require.NoError(t, e.svc.DeleteDevice(e.ctx, alice.ID, dev1.ID))
	require.ErrorIs(t, e.svc.DeleteDevice(e.ctx, alice.ID, dev1.ID), sp.ErrNotFound, "deleted once")
	st, err = e.svc.Status(e.ctx, alice.ID)
	require.NoError(t, err)
	require.Len(t, st.Devices, 2)
	step = e.mustStart("alice", goodPW, signin.StageMFA)
	assert.Equal(t, []signin.DeviceKind{signin.KindTOTP, signin.KindWebAuthn}, step.Methods)

	require.NoError(t, e.svc.DeleteDevice(e.ctx, alice.ID, "mfa_key"))
	step = e.mustStart("alice", goodPW, signin.StageMFA)
	assert.Equal(t, []signin.DeviceKind{signin.KindTOTP}, step.Methods)
	require.NoError(t, e.svc.DeleteDevice(e.ctx, alice.ID, dev2.ID))
	// Without devices the next sign-in registers one.
	step = e.mustStart("alice", goodPW, signin.StageRegister)
	assert.Empty(t, step.Methods)
	assert.Len(t, e.devices(bob.ID), 1)
}

// registerTOTPNamed registers another authenticator app for a user who
// already has a device: an administrator-free path does not exist, so it
// goes through a registration flow started while the user had none.
func (e *env) registerTOTPNamed(user sp.User, name string) (string, signin.MFADevice) {
	e.t.Helper()
	// Hide the user's devices so Start offers registration.
	saved := e.devices(user.ID)
	for _, d := range saved {
		require.NoError(e.t, e.mem.DeleteMFADevice(e.ctx, user.ID, d.ID))
	}
	step := e.mustStart(user.UserName, goodPW, signin.StageRegister)
	for _, d := range saved {
		require.NoError(e.t, e.mem.AddMFADevice(e.ctx, d, 10))
	}
	enr, err := e.svc.BeginTOTPRegistration(e.ctx, step.FlowID)
	require.NoError(e.t, err)
	_, err = e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, totpCode(e.t, enr.Secret, e.clock.Now()), name, addr)
	require.NoError(e.t, err)
	for _, d := range e.devices(user.ID) {
		if d.Name == name {
			return enr.Secret, d
		}
	}
	require.FailNow(e.t, "device missing")
	return "", signin.MFADevice{}
}
