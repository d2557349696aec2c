package signin_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/signin"
)

func failSuccessfulSignIn(a signin.Attempt) bool { return a.Event == "signin" && a.Success }

func TestAuditFailureUndoesSession(t *testing.T) {
	t.Run("Start", func(t *testing.T) {
		e := newEnv(t, mfaOff)
		alice := e.user("alice", goodPW)
		// The valid sign-in first.
		step, err := e.start("alice", goodPW)
		require.NoError(t, err)
		e.requireSession(step, alice, "password", signin.ACRPassword)

		e.audit.setFail(failSuccessfulSignIn)
		ns := e.sessions.count()
		step, err = e.start("alice", goodPW)
		require.ErrorIs(t, err, signin.ErrUnavailable)
		require.ErrorIs(t, err, errAudit)
		assert.Equal(t, signin.Step{}, step)
		e.sessions.mu.Lock()
		created := e.sessions.created[ns:]
		deleted := e.sessions.deleted
		e.sessions.mu.Unlock()
		require.Len(t, created, 1, "the session was created before the audit record")
		assert.Contains(t, deleted, created[0].ID)
		e.requireNotStored(created...)
	})
	t.Run("VerifyTOTP", func(t *testing.T) {
		e, secret := totpUser(t, nil)
		step := e.mustStart("alice", goodPW, signin.StageMFA)
		e.audit.setFail(failSuccessfulSignIn)
		ns := e.sessions.count()
		_, err := e.svc.VerifyTOTP(e.ctx, step.FlowID, totpCode(t, secret, e.clock.Now()), addr)
		require.ErrorIs(t, err, signin.ErrUnavailable)
		e.sessions.mu.Lock()
		created := e.sessions.created[ns:]
		e.sessions.mu.Unlock()
		require.Len(t, created, 1)
		e.requireNotStored(created...)
		// The flow was used up.
		_, err = e.svc.Flow(e.ctx, step.FlowID)
		require.ErrorIs(t, err, signin.ErrNoFlow)
	})
	t.Run("FinishTOTPRegistration", func(t *testing.T) {
		e := newEnv(t, nil)
		alice := e.user("alice", goodPW)
		step := e.mustStart("alice", goodPW, signin.StageRegister)
		enr, err := e.svc.BeginTOTPRegistration(e.ctx, step.FlowID)
		require.NoError(t, err)
		e.audit.setFail(func(signin.Attempt) bool { return true })
		ns := e.sessions.count()
		_, err = e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, totpCode(t, enr.Secret, e.clock.Now()), "", addr)
		require.ErrorIs(t, err, signin.ErrUnavailable)
		e.requireNoSessionSince(ns)
		assert.Empty(t, e.devices(alice.ID), "no device without its audit record")
		// The flow stays: with the audit log back, the same code
		// registers the device.
		e.audit.setFail(nil)
		done, err := e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, totpCode(t, enr.Secret, e.clock.Now()), "", addr)
		require.NoError(t, err)
		e.requireSession(done, alice, "password+totp", signin.ACRMFA)
		assert.Len(t, e.devices(alice.ID), 1)
	})
	t.Run("failure records", func(t *testing.T) {
		// An audit log that fails on refusals does not change them.
		e := newEnv(t, mfaOff)
		e.user("alice", goodPW)
		e.audit.setFail(func(a signin.Attempt) bool { return !a.Success })
		ns := e.sessions.count()
		_, err := e.start("alice", "wrong password")
		require.ErrorIs(t, err, signin.ErrInvalidCredentials)
		e.requireNoSessionSince(ns)
	})
}

func TestStoreFailure(t *testing.T) {
	start := func(name, pw string) func(e *env, _, _ string) error {
		return func(e *env, _, _ string) error {
			_, err := e.start(name, pw)
			return err
		}
	}
	mfaFlow := func(e *env) string { return e.mustStart("alice", goodPW, signin.StageMFA).FlowID }
	regFlow := func(e *env) string { return e.mustStart("newbie", goodPW, signin.StageRegister).FlowID }
	verify := func(e *env, flowID, secret string) error {
		_, err := e.svc.VerifyTOTP(e.ctx, flowID, totpCode(e.t, secret, e.clock.Now()), addr)
		return err
	}
	beginReg := func(e *env, flowID, _ string) error {
		_, err := e.svc.BeginTOTPRegistration(e.ctx, flowID)
		return err
	}
	// finishReg begins the registration without the fault (it is set only
	// for the store methods the finish step uses).
	finishReg := func(e *env, flowID, _ string) error {
		e.store.mu.Lock()
		saved := e.store.fail
		e.store.fail = map[string]bool{}
		e.store.mu.Unlock()
		enr, err := e.svc.BeginTOTPRegistration(e.ctx, flowID)
		require.NoError(e.t, err)
		e.store.mu.Lock()
		e.store.fail = saved
		e.store.mu.Unlock()
		_, err = e.svc.FinishTOTPRegistration(e.ctx, flowID, totpCode(e.t, enr.Secret, e.clock.Now()), "", addr)
		return err
	}
	cases := []struct {
		name     string
		fault    string // a faultyStore method, or "Sessions.Create"
		mfaOff   bool
		prepare  func(e *env) string // returns the flow ID act uses
		act      func(e *env, flowID, secret string) error
		baseline error // what act returns without the fault
	}{
		{"user lookup", "UserByAttribute", true, nil, start("alice", goodPW), nil},
		{"lockout lookup", "Lockout", true, nil, start("alice", goodPW), nil},
		{"password lookup", "Password", true, nil, start("alice", goodPW), nil},
		{"failure count", "RecordFailure", true, nil, start("alice", "wrong password"), signin.ErrInvalidCredentials},
		{"failure reset", "ResetFailures", true, nil, start("alice", goodPW), nil},
		{"session create", "Sessions.Create", true, nil, start("alice", goodPW), nil},
		{"device lookup at start", "MFADevices", false, nil, start("alice", goodPW), nil},
		{"flow save at start", "SaveSignInFlow", false, nil, start("newbie", goodPW), nil},
		{"flow lookup", "SignInFlow", false, mfaFlow, verify, nil},
		{"flow user lookup", "GetUser", false, mfaFlow, verify, nil},
		{"device lookup at verify", "MFADevices", false, mfaFlow, verify, nil},
		{"lockout lookup at verify", "Lockout", false, mfaFlow, verify, nil},
		{"TOTP use", "UseTOTPStep", false, mfaFlow, verify, nil},
		{"flow delete", "DeleteSignInFlow", false, mfaFlow, verify, nil},
		{"failure reset at verify", "ResetFailures", false, mfaFlow, verify, nil},
		{"session create at verify", "Sessions.Create", false, mfaFlow, verify, nil},
		{"flow save at registration", "UpdateSignInFlow", false, regFlow, beginReg, nil},
		{"device add", "AddMFADevice", false, regFlow, finishReg, nil},
		{"flow delete at registration", "DeleteSignInFlow", false, regFlow, finishReg, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e *env
			var secret string
			if tc.mfaOff {
				e = newEnv(t, mfaOff)
				e.user("alice", goodPW)
			} else {
				e, secret = totpUser(t, nil)
			}
			e.user("newbie", goodPW)
			prepare := tc.prepare
			if prepare == nil {
				prepare = func(*env) string { return "" }
			}
			// The same steps work without the fault.
			err := tc.act(e, prepare(e), secret)
			if tc.baseline == nil {
				require.NoError(t, err, "valid baseline")
			} else {
				require.ErrorIs(t, err, tc.baseline, "valid baseline")
			}
			e.clock.Advance(step30) // a fresh TOTP step
			if tc.name == "device add" || tc.name == "flow delete at registration" {
				// The baseline registered newbie's device; start over.
				for _, d := range e.devices(e.userID("newbie")) {
					require.NoError(t, e.mem.DeleteMFADevice(e.ctx, d.UserID, d.ID))
				}
			}

			flowID := prepare(e)
			ns, nd := e.sessions.count(), len(e.devices(e.userID("newbie")))
			if tc.fault == "Sessions.Create" {
				e.sessions.mu.Lock()
				e.sessions.failCreate = true
				e.sessions.mu.Unlock()
			} else {
				e.store.setFail(tc.fault, true)
			}
			err = tc.act(e, flowID, secret)
			require.ErrorIs(t, err, signin.ErrUnavailable)
			require.NotErrorIs(t, err, signin.ErrInvalidCredentials)
			e.requireNoSessionSince(ns)
			if tc.fault != "AddMFADevice" && tc.fault != "DeleteSignInFlow" {
				assert.Len(t, e.devices(e.userID("newbie")), nd)
			}
		})
	}
}

func (e *env) userID(name string) string {
	e.t.Helper()
	u, err := e.mem.UserByAttribute(e.ctx, "user_name", name)
	require.NoError(e.t, err)
	return u.ID
}
