package signin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/signin"
)

// TestStartEnrollment: a signed-in user adds a second authenticator app
// after typing the password again; the per-kind limit still holds.
func TestStartEnrollment(t *testing.T) {
	e := newEnv(t, nil)
	u := e.user("alice", "correct horse battery staple")
	e.registerTOTP(u, "correct horse battery staple")
	e.clock.Advance(time.Minute)

	step, err := e.svc.StartEnrollment(e.ctx, u.ID, "correct horse battery staple", returnTo, addr)
	require.NoError(t, err)
	require.Equal(t, signin.StageRegister, step.Stage)
	enr, err := e.svc.BeginTOTPRegistration(e.ctx, step.FlowID)
	require.NoError(t, err)
	done, err := e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, totpCode(t, enr.Secret, e.clock.Now()), "tablet", addr)
	require.NoError(t, err)
	e.requireSession(done, u, "password+totp", signin.ACRMFA)
	require.Len(t, e.devices(u.ID), 2)

	// A third app: the registration is refused and nothing is stored.
	step, err = e.svc.StartEnrollment(e.ctx, u.ID, "correct horse battery staple", returnTo, addr)
	require.NoError(t, err)
	enr, err = e.svc.BeginTOTPRegistration(e.ctx, step.FlowID)
	require.NoError(t, err)
	_, err = e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, totpCode(t, enr.Secret, e.clock.Now()), "third", addr)
	require.ErrorIs(t, err, signin.ErrTooManyDevices)
	assert.Len(t, e.devices(u.ID), 2)
}

// TestStartEnrollmentRefusals: each starts from the valid enrollment and
// changes one thing; none creates a flow, and a wrong password counts.
func TestStartEnrollmentRefusals(t *testing.T) {
	const pw = "correct horse battery staple"
	tests := []struct {
		name    string
		prepare func(e *env, userID string) (id, password string)
		reason  string
		counts  bool
	}{
		{"wrong password", func(e *env, id string) (string, string) { return id, pw + "!" }, "invalid_password", true},
		{"empty password", func(e *env, id string) (string, string) { return id, "" }, "invalid_request", false},
		{"oversized password", func(e *env, id string) (string, string) { return id, strings.Repeat("a", 5000) }, "invalid_request", false},
		{"unknown user", func(e *env, id string) (string, string) { return "no-such-user", pw }, "unknown_user", false},
		{"deactivated user", func(e *env, id string) (string, string) { e.setActive(id, false); return id, pw }, "inactive_user", false},
		{"malformed hash", func(e *env, id string) (string, string) { e.setHash(id, "$argon2id$v=19$broken"); return id, pw }, "malformed_hash", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			u := e.user("alice", pw)
			// Positive control.
			_, err := e.svc.StartEnrollment(e.ctx, u.ID, pw, returnTo, addr)
			require.NoError(t, err)

			n := e.audit.count()
			id, p := tc.prepare(e, u.ID)
			_, err = e.svc.StartEnrollment(e.ctx, id, p, returnTo, addr)
			require.ErrorIs(t, err, signin.ErrInvalidCredentials)
			e.requireAttempts(n, tc.reason)
			if tc.counts {
				assert.Equal(t, 1, e.lockout(u.ID).Failures)
			} else {
				assert.Zero(t, e.lockout(u.ID).Failures)
			}
		})
	}
}

// TestStartEnrollmentLocked: a locked account cannot add a device, even
// with the right password.
func TestStartEnrollmentLocked(t *testing.T) {
	e := newEnv(t, func(c *signin.Config) {
		c.Lockout = signin.LockoutPolicy{MaxFailures: 2, Base: time.Minute, Max: time.Hour}
	})
	u := e.user("alice", "correct horse battery staple")
	for range 2 {
		_, err := e.svc.StartEnrollment(e.ctx, u.ID, "wrong password!", returnTo, addr)
		require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	}
	_, err := e.svc.StartEnrollment(e.ctx, u.ID, "correct horse battery staple", returnTo, addr)
	var retry *signin.RetryError
	require.ErrorAs(t, err, &retry)
	assert.True(t, retry.Locked)
}
