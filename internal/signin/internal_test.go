package signin

import (
	"bytes"
	"encoding/base32"
	"math"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSealer(t *testing.T) {
	s, err := newSealer(bytes.Repeat([]byte{1}, 32))
	require.NoError(t, err)
	plain := []byte("twenty byte secret!!")
	sealed := s.seal(plain, "totp:u1:d1")
	assert.NotContains(t, string(sealed), string(plain))
	again := s.seal(plain, "totp:u1:d1")
	assert.NotEqual(t, sealed, again, "a fresh nonce each time")

	got, err := s.open(sealed, "totp:u1:d1")
	require.NoError(t, err)
	assert.Equal(t, plain, got)

	other, err := newSealer(bytes.Repeat([]byte{2}, 32))
	require.NoError(t, err)
	cases := map[string]func() ([]byte, error){
		"other associated data": func() ([]byte, error) { return s.open(sealed, "totp:u2:d1") },
		"other key":             func() ([]byte, error) { return other.open(sealed, "totp:u1:d1") },
		"flipped bit": func() ([]byte, error) {
			b := bytes.Clone(sealed)
			b[len(b)/2] ^= 1
			return s.open(b, "totp:u1:d1")
		},
		"truncated":  func() ([]byte, error) { return s.open(sealed[:len(sealed)-1], "totp:u1:d1") },
		"too short":  func() ([]byte, error) { return s.open(sealed[:27], "totp:u1:d1") },
		"empty":      func() ([]byte, error) { return s.open(nil, "totp:u1:d1") },
		"nonce only": func() ([]byte, error) { return s.open(sealed[:12], "totp:u1:d1") },
	}
	for name, open := range cases {
		got, err := open()
		assert.ErrorIs(t, err, errUnseal, name)
		assert.Nil(t, got, name)
	}
	for _, n := range []int{0, 16, 31, 33, 64} {
		_, err := newSealer(make([]byte, n))
		assert.Error(t, err, "%d-byte key", n)
	}
}

func TestLockFor(t *testing.T) {
	s := &Service{lockout: LockoutPolicy{MaxFailures: 3, Base: time.Minute, Max: 10 * time.Minute}}
	want := map[int]time.Duration{
		0: 0, 1: 0, 2: 0,
		3: time.Minute, 4: 2 * time.Minute, 5: 4 * time.Minute, 6: 8 * time.Minute,
		7: 10 * time.Minute, 8: 10 * time.Minute, 40: 10 * time.Minute, math.MaxInt: 10 * time.Minute,
	}
	for n, d := range want {
		assert.Equal(t, d, s.lockFor(n), "after %d failures", n)
	}
	// A zero Base never locks.
	s.lockout.Base = 0
	assert.Equal(t, time.Duration(0), s.lockFor(100))
}

// TestLockForNoCap: with Max as large as a Duration goes ("no cap"), the
// lock keeps growing and never turns negative.
func TestLockForNoCap(t *testing.T) {
	s := &Service{lockout: LockoutPolicy{MaxFailures: 5, Base: time.Minute, Max: math.MaxInt64}}
	prev := time.Duration(0)
	for n := 5; n < 5+64; n++ {
		d := s.lockFor(n)
		if d < prev {
			t.Fatalf("lockFor(%d) = %v after lockFor(%d) = %v: the doubling overflowed", n, d, n-1, prev)
		}
		prev = d
	}
}

func TestMatchTOTP(t *testing.T) {
	raw := []byte("12345678901234567890") // the RFC 6238 SHA-1 secret
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)
	now := time.Unix(59, 0) // RFC 6238 test vector: 94287082 (8 digits), step 1
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		require.NoError(t, err)
		return c
	}
	assert.Equal(t, "287082", code(now), "RFC 6238 vector, six digits")

	now = time.Unix(1111111109, 0) // RFC 6238: 07081804, step 37037036
	assert.Equal(t, "081804", code(now))
	for off, ok := range map[int64]bool{-2: false, -1: true, 0: true, 1: true, 2: false} {
		at := now.Add(time.Duration(off) * 30 * time.Second)
		step, got := matchTOTP(code(at), secret, now)
		if !ok {
			// Another step's code may coincide; it must then name that step.
			if got {
				assert.NotEqual(t, totpStep(at), step)
			}
			continue
		}
		assert.True(t, got, "offset %d", off)
		assert.Equal(t, totpStep(at), step, "offset %d", off)
	}
	for _, bad := range []string{"", "08180", "0818040", "08180a", "+81804", " 81804", "０81804"} {
		_, got := matchTOTP(bad, secret, now)
		assert.False(t, got, "%q", bad)
	}
	assert.Equal(t, "081804", normalizeCode(" 081-804\u00a0"))
	assert.Equal(t, "08\t1804", normalizeCode("08\t1804"), "only spaces and dashes are dropped")
}

func TestDeviceName(t *testing.T) {
	for in, want := range map[string]string{
		"":                                    "def",
		"   ":                                 "def",
		" Phone ":                             "Phone",
		"Téléphone 📱":                         "Téléphone 📱",
		string(bytes.Repeat([]byte("é"), 64)): string(bytes.Repeat([]byte("é"), 64)),
	} {
		got, err := deviceName(in, "def")
		require.NoError(t, err, "%q", in)
		assert.Equal(t, want, got)
	}
	for _, in := range []string{string(bytes.Repeat([]byte("é"), 65)), "a\x00b", "a\nb", "a\u0085b", "a\xffb", "a\uFFFDb"} {
		_, err := deviceName(in, "def")
		assert.ErrorIs(t, err, ErrBadRequest, "%q", in)
	}
}

func TestSecrets(t *testing.T) {
	a, b := newSecret(), newSecret()
	assert.NotEqual(t, a, b)
	assert.True(t, validSecret(a))
	assert.Len(t, a, 43)
	for _, bad := range []string{"", a[:42], a + "A", a[:42] + "=", a[:42] + "+", a[:42] + "/"} {
		assert.False(t, validSecret(bad), "%q", bad)
	}
	id := newDeviceID()
	assert.Len(t, id, 4+22)
	assert.Equal(t, webAuthnUserID("u1"), webAuthnUserID("u1"))
	assert.NotEqual(t, webAuthnUserID("u1"), webAuthnUserID("u2"))
	assert.Len(t, webAuthnUserID("u1"), 32)
}

func TestKinds(t *testing.T) {
	assert.Nil(t, kinds(nil))
	assert.Equal(t, []DeviceKind{KindTOTP, KindWebAuthn}, kinds([]MFADevice{{Kind: KindWebAuthn}, {Kind: KindTOTP}, {Kind: KindWebAuthn}}))
	assert.Equal(t, []DeviceKind{KindWebAuthn}, kinds([]MFADevice{{Kind: KindWebAuthn}}))
}

func TestRetryErrorMessage(t *testing.T) {
	assert.Equal(t, "signin: account locked for 1m30s after repeated failures", (&RetryError{Locked: true, RetryAfter: 90*time.Second + 200*time.Millisecond}).Error())
	assert.Equal(t, "signin: too many failures from this address; retry in 5s", (&RetryError{RetryAfter: 5 * time.Second}).Error())
}
