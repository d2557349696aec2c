package signin_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/signin"
)

// TestConcurrentCompletion: when another instance completes the flow
// first (its delete wins), this completion grants nothing.
func TestConcurrentCompletion(t *testing.T) {
	e, secret := totpUser(t, nil)
	step := e.mustStart("alice", goodPW, signin.StageMFA)
	e.store.beforeDeleteFlow = func(id string) {
		require.NoError(t, e.mem.DeleteSignInFlow(e.ctx, id))
	}
	ns := e.sessions.count()
	_, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
	require.ErrorIs(t, err, signin.ErrNoFlow)
	e.requireNoSessionSince(ns)
}

// TestCorruptFlow: flow data that does not decode, or a pending TOTP
// secret that does not open, is an outage, not a grant.
func TestCorruptFlow(t *testing.T) {
	edits := map[string]func([]byte) []byte{
		"not JSON": func([]byte) []byte { return []byte("{") },
		"pending secret does not open": func(b []byte) []byte {
			var m map[string]any
			require.NoError(t, json.Unmarshal(b, &m))
			m["totp_secret"] = []byte("0123456789012345678901234567890123456789")
			out, err := json.Marshal(m)
			require.NoError(t, err)
			return out
		},
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.user("alice", goodPW)
			step := e.mustStart("alice", goodPW, signin.StageRegister)
			enr, err := e.svc.BeginTOTPRegistration(e.ctx, step.FlowID)
			require.NoError(t, err)
			e.store.flowData = edit
			ns := e.sessions.count()
			_, err = e.svc.BeginTOTPRegistration(e.ctx, step.FlowID)
			require.ErrorIs(t, err, signin.ErrUnavailable)
			_, err = e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, totpCode(t, enr.Secret, e.clock.Now()), "", addr)
			require.ErrorIs(t, err, signin.ErrUnavailable)
			e.requireNoSessionSince(ns)
		})
	}
}

// TestSecondFactorFailureStoreFaults: when the store fails while counting
// a wrong code, the answer is an outage; nothing is granted.
func TestSecondFactorFailureStoreFaults(t *testing.T) {
	for _, fault := range []string{"RecordFailure", "UpdateSignInFlow"} {
		t.Run(fault, func(t *testing.T) {
			e, secret := totpUser(t, nil)
			step := e.mustStart("alice", goodPW, signin.StageMFA)
			e.store.setFail(fault, true)
			_, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, wrongCode(t, secret, e.clock.Now()), addr)
			require.ErrorIs(t, err, signin.ErrUnavailable)
		})
	}
	t.Run("DeleteSignInFlow at the last failure", func(t *testing.T) {
		e, secret := totpUser(t, func(c *signin.Config) { c.Lockout.MaxFailures = 100 })
		step := e.mustStart("alice", goodPW, signin.StageMFA)
		for range 4 {
			_, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, wrongCode(t, secret, e.clock.Now()), addr)
			require.ErrorIs(t, err, signin.ErrInvalidCredentials)
		}
		e.store.setFail("DeleteSignInFlow", true)
		_, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, wrongCode(t, secret, e.clock.Now()), addr)
		require.ErrorIs(t, err, signin.ErrUnavailable)
	})
}

func TestOtherStoreFaults(t *testing.T) {
	e, _ := totpUser(t, nil)
	alice := e.userID("alice")
	step := e.mustStart("alice", goodPW, signin.StageMFA)

	e.store.setFail("MFADevices", true)
	_, err := e.svc.Flow(e.ctx, step.FlowID)
	require.ErrorIs(t, err, signin.ErrUnavailable)
	_, err = e.svc.BeginWebAuthn(e.ctx, step.FlowID)
	require.ErrorIs(t, err, signin.ErrUnavailable)
	_, err = e.svc.Status(e.ctx, alice)
	require.ErrorIs(t, err, errStore)
	e.store.setFail("MFADevices", false)

	e.store.setFail("DeleteSignInFlow", true)
	require.ErrorIs(t, e.svc.Cancel(e.ctx, step.FlowID), signin.ErrUnavailable)
	e.store.setFail("DeleteSignInFlow", false)

	for _, m := range []string{"Password", "Lockout"} {
		e.store.setFail(m, true)
		_, err = e.svc.Status(e.ctx, alice)
		require.ErrorIs(t, err, errStore, m)
		e.store.setFail(m, false)
	}

	before := e.storedHash(alice)
	e.store.setFail("SetPassword", true)
	require.ErrorIs(t, e.svc.SetPassword(e.ctx, alice, "Velvet-Harbour-Compass-38"), errStore)
	e.store.setFail("SetPassword", false)
	assert.Equal(t, before, e.storedHash(alice))

	e.store.setFail("DeleteMFADevice", true)
	require.ErrorIs(t, e.svc.DeleteDevice(e.ctx, alice, e.devices(alice)[0].ID), errStore)
	e.store.setFail("DeleteMFADevice", false)
	assert.Len(t, e.devices(alice), 1)
}

// TestWebAuthnCounterConflict: the key's counter changed between the
// lookup and the update (another instance used it at the same time).
func TestWebAuthnCounterConflict(t *testing.T) {
	e := newRealTimeEnv(t, nil)
	alice := e.user("alice", goodPW)
	key := newSoftKey(t)
	e.registerKey(alice, key, "")
	flowID, options := e.beginAssertion("alice")
	e.store.failWith = signin.ErrConflict
	e.store.setFail("UseWebAuthn", true)
	n, ns := e.audit.count(), e.sessions.count()
	_, err := e.svc.FinishWebAuthn(e.ctx, flowID, key.get(t, options, ceremony{}), addr)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	e.requireAttempts(n, "webauthn_counter_conflict")
	e.requireNoSessionSince(ns)
}

// TestWebAuthnUndecodableCredential: a stored credential that does not
// decode is skipped; the user's other keys still work.
func TestWebAuthnUndecodableCredential(t *testing.T) {
	e := newRealTimeEnv(t, nil)
	alice := e.user("alice", goodPW)
	bad := signin.MFADevice{ID: "mfa_bad", UserID: alice.ID, Kind: signin.KindWebAuthn, CreatedAt: e.clock.Now(), CredentialID: []byte{1}, Credential: []byte("{")}
	require.NoError(t, e.mem.AddMFADevice(e.ctx, bad, 10))
	step := e.mustStart("alice", goodPW, signin.StageMFA)
	_, err := e.svc.BeginWebAuthn(e.ctx, step.FlowID)
	require.ErrorIs(t, err, signin.ErrWrongStage, "no usable key")

	// With a good key as well, sign-in works.
	require.NoError(t, e.mem.DeleteMFADevice(e.ctx, alice.ID, bad.ID))
	key := newSoftKey(t)
	e.registerKey(alice, key, "")
	require.NoError(t, e.mem.AddMFADevice(e.ctx, bad, 10))
	flowID, options := e.beginAssertion("alice")
	done, err := e.svc.FinishWebAuthn(e.ctx, flowID, key.get(t, options, ceremony{}), addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+webauthn", signin.ACRMFA)
}

// TestWebAuthnLockedMidFlow: a lock taken during the flow (failures
// elsewhere) stops the assertion.
func TestWebAuthnLockedMidFlow(t *testing.T) {
	e := newRealTimeEnv(t, func(c *signin.Config) { c.Lockout.MaxFailures = 1 })
	alice := e.user("alice", goodPW)
	key := newSoftKey(t)
	e.registerKey(alice, key, "")
	flowID, options := e.beginAssertion("alice")
	_, err := e.start("alice", "wrong password")
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	ns := e.sessions.count()
	_, err = e.svc.FinishWebAuthn(e.ctx, flowID, key.get(t, options, ceremony{}), addr)
	var re *signin.RetryError
	require.ErrorAs(t, err, &re)
	assert.True(t, re.Locked)
	e.requireNoSessionSince(ns)
}
