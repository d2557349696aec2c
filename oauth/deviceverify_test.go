package oauth

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalizeUserCode(t *testing.T) {
	for _, in := range []string{"BCDF-GHJK", "bcdf-ghjk", "BCDFGHJK", " bcdf ghjk ", "Bc-Df-Gh-Jk", "B C D F G H J K"} {
		got, err := NormalizeUserCode(in)
		require.NoError(t, err, in)
		assert.Equal(t, "BCDFGHJK", got, in)
	}
	for _, in := range []string{
		"",
		"BCDF-GHJ",       // 7
		"BCDF-GHJKL",     // 9
		"ABCD-FGHJ",      // vowel
		"BCDF-GHJ1",      // digit
		"BCDF_GHJK",      // other separator
		"BCDF\tGHJK",     // tab
		"BCDF-GHJ\u017F", // U+017F, upper-cases to S in Unicode
		"BCDF-GHJ\u212A", // Kelvin sign, lower-cases to k in Unicode
		"\uFF22CDF-GHJK", // full-width B
		strings.Repeat("-", maxUserCodeInput) + "BCDFGHJK",
	} {
		_, err := NormalizeUserCode(in)
		assert.ErrorIs(t, err, ErrInvalidUserCode, "%q", in)
	}
	assert.Equal(t, "BCDF-GHJK", FormatUserCode("BCDFGHJK"))
}

func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "BCDFGHJK", "ABCD-EFGH", "BCDF-GHJ\u017F", "", "--------", "zzzz-zzzz "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeUserCode(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidUserCode) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(got) != UserCodeLength {
			t.Fatalf("%q normalized to %q", in, got)
		}
		for i := 0; i < len(got); i++ {
			if !strings.Contains(UserCodeAlphabet, got[i:i+1]) {
				t.Fatalf("%q normalized to %q outside the alphabet", in, got)
			}
		}
		for _, again := range []string{got, FormatUserCode(got), strings.ToLower(in), strings.ToUpper(in)} {
			if n, err := NormalizeUserCode(again); err != nil || n != got {
				t.Fatalf("%q: %q normalizes to %q, %v; want %q", in, again, n, err, got)
			}
		}
	})
}

func TestDeviceVerifierLookup(t *testing.T) {
	f := newDeviceFixture(t)
	m := f.authorize(t, "cli", url.Values{"scope": {"read"}})
	code := m["user_code"].(string)
	p, err := f.verifier.Lookup(t.Context(), code) // positive control
	require.NoError(t, err)
	assert.Equal(t, DevicePrompt{UserCode: code, ClientID: "cli", Audience: "warehouse", Scopes: []string{"read"},
		ExpiresAt: testNow.Add(DefaultDeviceCodeLifetime)}, p)

	_, err = f.verifier.Lookup(t.Context(), "BCDF-GHJ")
	assert.ErrorIs(t, err, ErrInvalidUserCode)
	other := "BCDF-GHJK"
	if strings.ReplaceAll(code, "-", "") == "BCDFGHJK" {
		other = "ZZZZ-ZZZZ"
	}
	_, err = f.verifier.Lookup(t.Context(), other)
	assert.ErrorIs(t, err, ErrNotFound, "unknown code")

	t.Run("client no longer allowed the device grant", func(t *testing.T) {
		f.clients["cli"].GrantTypes = []string{GrantRefreshToken}
		defer func() { f.clients["cli"].GrantTypes = []string{GrantDeviceCode, GrantRefreshToken} }()
		_, err := f.verifier.Lookup(t.Context(), code)
		assert.ErrorIs(t, err, ErrNotFound)
		assert.ErrorIs(t, f.verifier.Decide(t.Context(), code, "user-1", true), ErrNotFound)
	})
	t.Run("client removed", func(t *testing.T) {
		c := f.clients["cli"]
		delete(f.clients, "cli")
		defer func() { f.clients["cli"] = c }()
		_, err := f.verifier.Lookup(t.Context(), code)
		assert.ErrorIs(t, err, ErrNotFound)
	})
	t.Run("decided", func(t *testing.T) {
		require.NoError(t, f.verifier.Decide(t.Context(), code, "user-1", false))
		_, err := f.verifier.Lookup(t.Context(), code)
		assert.ErrorIs(t, err, ErrNotFound)
		assert.ErrorIs(t, f.verifier.Decide(t.Context(), code, "user-1", true), ErrNotFound, "a decision is final")
		d, _ := f.devices.get(hashToken(m["device_code"].(string)))
		assert.Equal(t, DeviceDenied, d.Status)
	})
	t.Run("expired", func(t *testing.T) {
		code := f.authorize(t, "cli", nil)["user_code"].(string)
		_, err := f.verifier.Lookup(t.Context(), code)
		require.NoError(t, err)
		f.clock.Advance(DefaultDeviceCodeLifetime)
		_, err = f.verifier.Lookup(t.Context(), code)
		assert.ErrorIs(t, err, ErrNotFound)
		assert.ErrorIs(t, f.verifier.Decide(t.Context(), code, "user-1", true), ErrNotFound)
	})
}

// conflictDevices lets a decision race: DecideDevice finds the
// authorization already decided.
type conflictDevices struct{ *memDevices }

func (conflictDevices) DecideDevice(_ context.Context, _, _ string, _ bool, _ time.Time) error {
	return ErrConflict
}

func TestDeviceVerifierDecide(t *testing.T) {
	t.Run("audited before it is stored, not stored if the audit fails", func(t *testing.T) {
		f := newDeviceFixture(t)
		m := f.authorize(t, "cli", nil)
		code := m["user_code"].(string)
		f.audit.failOn(AuditApproved)
		err := f.verifier.Decide(t.Context(), code, "user-1", true)
		require.Error(t, err)
		d, _ := f.devices.get(hashToken(m["device_code"].(string)))
		assert.Equal(t, DevicePending, d.Status)
		requireOAuthError(t, f.poll("cli", m["device_code"].(string)), ErrAuthorizationPending)
		f.audit.fail = nil
		require.NoError(t, f.verifier.Decide(t.Context(), code, "user-1", true))
		assert.Equal(t, AuditApproved, f.audit.last().Outcome)
	})
	t.Run("refused decisions are audited without the code", func(t *testing.T) {
		f := newDeviceFixture(t)
		assert.ErrorIs(t, f.verifier.Decide(t.Context(), "AEIO-UAEI", "user-1", true), ErrInvalidUserCode)
		ev := f.audit.last()
		assert.Equal(t, AuditEvent{Action: AuditActionDeviceDecision, Outcome: AuditRefused, GrantType: GrantDeviceCode,
			Subject: "user-1", Reason: "invalid user code"}, ev)
		assert.ErrorIs(t, f.verifier.Decide(t.Context(), "BCDF-GHJK", "user-1", true), ErrNotFound)
		assert.Equal(t, "no such pending authorization", f.audit.last().Reason)
	})
	t.Run("lost race", func(t *testing.T) {
		f := newDeviceFixture(t)
		code := f.authorize(t, "cli", nil)["user_code"].(string)
		v, err := NewDeviceVerifier(DeviceVerifierConfig{Devices: conflictDevices{f.devices}, Clients: f.clients, Now: f.clock.Now, Audit: f.audit})
		require.NoError(t, err)
		assert.ErrorIs(t, v.Decide(t.Context(), code, "user-1", true), ErrConflict)
		ev := f.audit.last()
		assert.Equal(t, AuditRefused, ev.Outcome)
		assert.Equal(t, "already decided", ev.Reason)
	})
	t.Run("user required", func(t *testing.T) {
		f := newDeviceFixture(t)
		code := f.authorize(t, "cli", nil)["user_code"].(string)
		assert.Error(t, f.verifier.Decide(t.Context(), code, "", true))
		_, err := f.verifier.Lookup(t.Context(), code)
		assert.NoError(t, err, "still pending")
	})
	t.Run("config", func(t *testing.T) {
		_, err := NewDeviceVerifier(DeviceVerifierConfig{Clients: memClients{}})
		assert.Error(t, err)
		_, err = NewDeviceVerifier(DeviceVerifierConfig{Devices: newMemDevices()})
		assert.Error(t, err)
	})
}
