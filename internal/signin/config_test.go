package signin_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/signin"
)

// TestNewConfig starts from a valid Config and changes one thing.
func TestNewConfig(t *testing.T) {
	cases := []struct {
		name string
		mod  func(c *signin.Config)
		want string // "" valid, else part of the error
	}{
		{"valid", func(*signin.Config) {}, ""},
		{"RPID a parent domain", func(c *signin.Config) { c.RPID = "example.com" }, ""},
		{"RPID the host", func(c *signin.Config) { c.RPID = "gw.example.com" }, ""},
		{"http with a port", func(c *signin.Config) { c.ExternalURL = "http://localhost:8080" }, ""},
		{"all policies", func(c *signin.Config) {
			c.MFA, c.NoDevice = signin.MFAOff, signin.NoDeviceRefuse
			c.Lockout = signin.LockoutPolicy{MaxFailures: 1, Base: time.Second, Max: time.Second}
		}, ""},
		{"no Store", func(c *signin.Config) { c.Store = nil }, "required"},
		{"no Users", func(c *signin.Config) { c.Users = nil }, "required"},
		{"no Sessions", func(c *signin.Config) { c.Sessions = nil }, "required"},
		{"no Hasher", func(c *signin.Config) { c.Hasher = nil }, "required"},
		{"no Audit", func(c *signin.Config) { c.Audit = nil }, "required"},
		{"no SealKey", func(c *signin.Config) { c.SealKey = nil }, "SealKey"},
		{"short SealKey", func(c *signin.Config) { c.SealKey = c.SealKey[:16] }, "SealKey"},
		{"long SealKey", func(c *signin.Config) { c.SealKey = append(c.SealKey, 0) }, "SealKey"},
		{"bad MFA", func(c *signin.Config) { c.MFA = "optional" }, "MFA"},
		{"bad NoDevice", func(c *signin.Config) { c.NoDevice = "allow" }, "NoDevice"},
		{"negative MaxFailures", func(c *signin.Config) { c.Lockout.MaxFailures = -1 }, "Lockout"},
		{"negative Base", func(c *signin.Config) { c.Lockout.Base = -time.Second }, "Lockout"},
		{"Max below Base", func(c *signin.Config) { c.Lockout = signin.LockoutPolicy{Base: time.Hour, Max: time.Minute} }, "Lockout"},
		{"no ExternalURL", func(c *signin.Config) { c.ExternalURL = "" }, "ExternalURL"},
		{"relative ExternalURL", func(c *signin.Config) { c.ExternalURL = "/signin" }, "ExternalURL"},
		{"ftp ExternalURL", func(c *signin.Config) { c.ExternalURL = "ftp://gw.example.com" }, "ExternalURL"},
		{"unparsable ExternalURL", func(c *signin.Config) { c.ExternalURL = "https://gw example.com/%zz" }, "ExternalURL"},
		{"RPID another domain", func(c *signin.Config) { c.RPID = "example.org" }, "RPID"},
		{"RPID a string suffix, not a domain suffix", func(c *signin.Config) { c.RPID = "w.example.com" }, "RPID"},
		{"RPID a subdomain of the host", func(c *signin.Config) { c.RPID = "a.gw.example.com" }, "RPID"},
		{"negative MaxTOTP", func(c *signin.Config) { c.MaxTOTP = -1 }, "negative"},
		{"negative MaxWebAuthn", func(c *signin.Config) { c.MaxWebAuthn = -1 }, "negative"},
		{"negative FlowTTL", func(c *signin.Config) { c.FlowTTL = -time.Minute }, "negative"},
		{"negative AddressFailures", func(c *signin.Config) { c.AddressFailures = -1 }, "negative"},
		{"negative AddressWindow", func(c *signin.Config) { c.AddressWindow = -time.Minute }, "negative"},
	}
	base := newEnv(t, nil).cfg
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.SealKey = append([]byte(nil), base.SealKey...)
			tc.mod(&cfg)
			svc, err := signin.New(cfg)
			if tc.want == "" {
				require.NoError(t, err)
				require.NotNil(t, svc)
				return
			}
			require.Error(t, err)
			assert.Nil(t, svc)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestNewReportsEveryProblem: one error names all of them.
func TestNewReportsEveryProblem(t *testing.T) {
	_, err := signin.New(signin.Config{MFA: "x", ExternalURL: "ftp://x"})
	require.Error(t, err)
	for _, want := range []string{"required", "SealKey", "MFA", "ExternalURL"} {
		assert.Contains(t, err.Error(), want)
	}
}

// TestRPIDParentDomain: a key registered for a parent-domain RP ID signs
// in (its rpIdHash is of the RP ID, the origin is the gateway's).
func TestRPIDParentDomain(t *testing.T) {
	e := newRealTimeEnv(t, func(c *signin.Config) { c.RPID = "example.com" })
	alice := e.user("alice", goodPW)
	key := newSoftKey(t)
	step := e.mustStart("alice", goodPW, signin.StageRegister)
	options, err := e.svc.BeginWebAuthnRegistration(e.ctx, step.FlowID)
	require.NoError(t, err)
	// The host's own hash is wrong now.
	_, err = e.svc.FinishWebAuthnRegistration(e.ctx, step.FlowID, key.create(t, options, ceremony{}), "", addr)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	options, err = e.svc.BeginWebAuthnRegistration(e.ctx, step.FlowID)
	require.NoError(t, err)
	done, err := e.svc.FinishWebAuthnRegistration(e.ctx, step.FlowID, key.create(t, options, ceremony{rpID: "example.com"}), "", addr)
	require.NoError(t, err)
	e.requireSession(done, alice, "password+webauthn", signin.ACRMFA)
}
