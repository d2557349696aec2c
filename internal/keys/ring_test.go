package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// ecOpts keeps the tests fast: ECDSA keys generate in microseconds.
func ecOpts() RingOptions {
	return RingOptions{Algorithm: AlgorithmECDSAP256, CommonName: "Gatehouse IdP", Now: func() time.Time { return testNow }}
}

// testClock is a settable clock, safe for concurrent use; each ring (each
// simulated process) may have its own.
type testClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *testClock {
	c := &testClock{}
	c.Set(t)
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// clockOpts is ecOpts on the given clock.
func clockOpts(c *testClock) RingOptions {
	o := ecOpts()
	o.Now = c.Now
	return o
}

func openRing(t *testing.T, dir string, opts RingOptions) *Ring {
	t.Helper()
	r, err := OpenRing(dir, "idp-signing", opts)
	require.NoError(t, err)
	return r
}

func ringFile(dir string, role Role, ext string) string {
	return filepath.Join(dir, "idp-signing."+string(role)+"."+ext)
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	require.NoError(t, err)
	return true
}

// requireConsistent checks that the signer belongs to the certificate by
// signing with it and verifying with the certificate's key.
func requireConsistent(t testing.TB, s crypto.Signer, c *x509.Certificate) {
	t.Helper()
	if pub, ok := c.PublicKey.(ed25519.PublicKey); ok {
		msg := []byte("gatehouse")
		sig, err := s.Sign(rand.Reader, msg, crypto.Hash(0))
		require.NoError(t, err)
		require.True(t, ed25519.Verify(pub, msg, sig), "signer and certificate do not match")
		return
	}
	digest := sha256.Sum256([]byte("gatehouse"))
	sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
	require.NoError(t, err)
	switch pub := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		require.True(t, ecdsa.VerifyASN1(pub, digest[:], sig), "signer and certificate do not match")
	case *rsa.PublicKey:
		require.NoError(t, rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig))
	default:
		t.Fatalf("unexpected key type %T", pub)
	}
}

func TestRingFirstOpenGenerates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	r := openRing(t, dir, RingOptions{CommonName: "Gatehouse IdP", Now: func() time.Time { return testNow }})

	s, c := r.Current()
	requireConsistent(t, s, c)
	assert.Equal(t, "Gatehouse IdP", c.Subject.CommonName)
	assert.Equal(t, "RSA-2048", Algorithm(c.PublicKey), "RSA-2048 by default")
	assert.Equal(t, testNow.Add(DefaultValidity), c.NotAfter)
	assert.Equal(t, []*x509.Certificate{c}, r.PublishedCertificates())

	for _, ext := range []string{"key", "crt"} {
		st, err := os.Stat(ringFile(dir, RoleCurrent, ext))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), ext)
		assert.False(t, exists(t, ringFile(dir, RoleNext, ext)))
	}
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())

	// Opening again loads the same key; options only apply to new keys.
	r2 := openRing(t, dir, RingOptions{Algorithm: AlgorithmECDSAP256, CommonName: "other"})
	s2, c2 := r2.Current()
	assert.True(t, c.Equal(c2))
	assert.True(t, publicKeysEqual(s.Public(), s2.Public()))

	keys := r.Keys()
	require.Len(t, keys, 1)
	assert.Equal(t, RoleCurrent, keys[0].Role)
	assert.Equal(t, "RSA-2048", keys[0].Algorithm)
	assert.Equal(t, Fingerprint(c), keys[0].Fingerprint)
}

func TestRingRotateAndActivate(t *testing.T) {
	dir := t.TempDir()
	clock := newClock(testNow)
	r := openRing(t, dir, clockOpts(clock))
	s0, c0 := r.Current()

	next, err := r.Rotate()
	require.NoError(t, err)
	s, c := r.Current()
	assert.True(t, c.Equal(c0), "rotate must not change the signing key")
	assert.True(t, publicKeysEqual(s0.Public(), s.Public()))
	assert.Equal(t, []*x509.Certificate{c0, next}, r.PublishedCertificates(), "current first, then next")
	assert.False(t, next.Equal(c0))
	assert.True(t, exists(t, ringFile(dir, RoleNext, "key")))

	ctxCerts, err := r.Certificates(context.Background())
	require.NoError(t, err)
	assert.Equal(t, r.PublishedCertificates(), ctxCerts)
	ks, kc, err := r.SigningKey(context.Background())
	require.NoError(t, err)
	assert.True(t, s == ks)
	assert.True(t, c == kc)

	require.NoError(t, r.Activate())
	s1, c1 := r.Current()
	assert.True(t, c1.Equal(next), "activate makes next current")
	requireConsistent(t, s1, c1)
	assert.Equal(t, []*x509.Certificate{c1, c0}, r.PublishedCertificates(), "previous is published during the grace period")
	clock.Advance(DefaultPreviousGrace)
	assert.Equal(t, []*x509.Certificate{c1}, r.PublishedCertificates(), "then no longer")
	assert.False(t, exists(t, ringFile(dir, RoleNext, "key")))
	assert.False(t, exists(t, ringFile(dir, RoleNext, "crt")))

	var roles []Role
	for _, k := range r.Keys() {
		roles = append(roles, k.Role)
	}
	assert.Equal(t, []Role{RoleCurrent, RolePrevious}, roles)
	assert.True(t, r.Keys()[1].Certificate.Equal(c0), "the old current key is kept as previous")
	for _, ext := range []string{"key", "crt"} {
		st, err := os.Stat(ringFile(dir, RolePrevious, ext))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	}

	// A second cycle replaces previous.
	_, err = r.Rotate()
	require.NoError(t, err)
	require.NoError(t, r.Activate())
	assert.True(t, r.Keys()[1].Certificate.Equal(c1))
}

func TestRingRotateTwiceAndActivateWithoutNext(t *testing.T) {
	r := openRing(t, t.TempDir(), ecOpts())

	require.ErrorIs(t, r.Activate(), ErrNoNextKey)
	require.ErrorContains(t, r.Activate(), "gatehouse keys rotate")

	next, err := r.Rotate() // positive control
	require.NoError(t, err)
	_, err = r.Rotate()
	require.ErrorIs(t, err, ErrNextKeyExists)
	assert.ErrorContains(t, err, "gatehouse keys activate")
	assert.Equal(t, next, r.PublishedCertificates()[1], "the failed rotation changed nothing")

	require.NoError(t, r.Activate()) // positive control
	require.ErrorIs(t, r.Activate(), ErrNoNextKey)
}

// TestRingOtherProcessView opens the folder twice, as the server and the
// command line do.
func TestRingOtherProcessView(t *testing.T) {
	dir := t.TempDir()
	server := openRing(t, dir, ecOpts())
	cli := openRing(t, dir, ecOpts())
	_, c0 := server.Current()

	changed, err := server.Reload()
	require.NoError(t, err)
	assert.False(t, changed)

	next, err := cli.Rotate()
	require.NoError(t, err)
	assert.Len(t, server.PublishedCertificates(), 1, "not seen before Reload")
	changed, err = server.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, []*x509.Certificate{c0, next}, server.PublishedCertificates())
	_, c := server.Current()
	assert.True(t, c.Equal(c0))
	changed, err = server.Reload()
	require.NoError(t, err)
	assert.False(t, changed)

	require.NoError(t, cli.Activate())
	changed, err = server.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	s, c := server.Current()
	assert.True(t, c.Equal(next))
	requireConsistent(t, s, c)
	assert.Equal(t, []*x509.Certificate{c, c0}, server.PublishedCertificates(), "previous during its grace period")

	// The server's view rotates too; the CLI's stale view is refreshed by the
	// lock-held re-read, so it refuses a second rotation.
	_, err = server.Rotate()
	require.NoError(t, err)
	_, err = cli.Rotate()
	require.ErrorIs(t, err, ErrNextKeyExists)
}

// TestRingConcurrentReaders runs readers in this process and reloads of a
// second view while keys rotate and activate. Run with -race.
func TestRingConcurrentReaders(t *testing.T) {
	dir := t.TempDir()
	w := openRing(t, dir, ecOpts())
	other := openRing(t, dir, ecOpts())

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	check := func(r *Ring) {
		s, c, err := r.SigningKey(context.Background())
		if err != nil {
			report(err)
			return
		}
		if !publicKeysEqual(s.Public(), c.PublicKey) {
			report(errors.New("signer and certificate do not match"))
		}
		certs, err := r.Certificates(context.Background())
		if err != nil {
			report(err)
			return
		}
		if len(certs) < 1 || len(certs) > 3 {
			report(errors.New("wrong number of published certificates"))
		}
	}
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				check(w)
			}
		})
	}
	wg.Go(func() {
		for !stop.Load() {
			if _, err := other.Reload(); err != nil {
				report(err)
			}
			check(other)
		}
	})
	for range 10 {
		_, err := w.Rotate()
		require.NoError(t, err)
		require.NoError(t, w.Activate())
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_, err := other.Reload()
	require.NoError(t, err)
	_, c1 := w.Current()
	_, c2 := other.Current()
	assert.True(t, c1.Equal(c2))
}

func TestRingConcurrentRotations(t *testing.T) {
	dir := t.TempDir()
	a := openRing(t, dir, ecOpts())
	b := openRing(t, dir, ecOpts())
	var ok, exists atomic.Int32
	var wg sync.WaitGroup
	for _, r := range []*Ring{a, b, a, b} {
		wg.Go(func() {
			_, err := r.Rotate()
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrNextKeyExists):
				exists.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), ok.Load(), "exactly one rotation wins")
	assert.Equal(t, int32(3), exists.Load())
}

func TestRingECDSA(t *testing.T) {
	dir := t.TempDir()
	r := openRing(t, dir, ecOpts())
	s, c := r.Current()
	requireConsistent(t, s, c)
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	require.True(t, ok)
	assert.Equal(t, elliptic.P256(), pub.Curve)
	assert.Equal(t, "ECDSA-P256", r.Keys()[0].Algorithm)

	// Without an algorithm, a rotation keeps the current key's.
	cli := openRing(t, dir, RingOptions{})
	next, err := cli.Rotate()
	require.NoError(t, err)
	assert.Equal(t, "ECDSA-P256", Algorithm(next.PublicKey))
	assert.Equal(t, "Gatehouse idp-signing", next.Subject.CommonName, "default common name")

	_, err = OpenRing(t.TempDir(), "x", RingOptions{Algorithm: "DSA-1024"})
	require.ErrorIs(t, err, ErrInvalidOptions)
}

func TestRingEd25519(t *testing.T) {
	dir := t.TempDir()
	clock := newClock(testNow)
	opts := RingOptions{Algorithm: AlgorithmEd25519, CommonName: "Gatehouse OAuth", Now: clock.Now}
	r, err := OpenRing(dir, "oauth-signing", opts)
	require.NoError(t, err)
	s, c := r.Current()
	requireConsistent(t, s, c)
	_, ok := c.PublicKey.(ed25519.PublicKey)
	require.True(t, ok, "%T", c.PublicKey)
	assert.Equal(t, AlgorithmEd25519, Algorithm(c.PublicKey))
	assert.Equal(t, AlgorithmEd25519, r.Keys()[0].Algorithm)
	require.NoError(t, c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature), "self-signed with the Ed25519 key")
	assert.Equal(t, x509.PureEd25519, c.SignatureAlgorithm)
	assert.Equal(t, testNow.Add(DefaultValidity), c.NotAfter)

	// Rotate and activate as with the other algorithms; without an
	// algorithm a rotation keeps Ed25519.
	cli, err := OpenRing(dir, "oauth-signing", RingOptions{AllowEd25519: true, Now: clock.Now})
	require.NoError(t, err)
	next, err := cli.Rotate()
	require.NoError(t, err)
	assert.Equal(t, AlgorithmEd25519, Algorithm(next.PublicKey))
	changed, err := r.Reload()
	require.NoError(t, err)
	require.True(t, changed)
	assert.Equal(t, []*x509.Certificate{c, next}, r.PublishedCertificates())
	require.NoError(t, cli.Activate())
	_, err = r.Reload()
	require.NoError(t, err)
	s1, c1 := r.Current()
	assert.True(t, c1.Equal(next))
	requireConsistent(t, s1, c1)
	assert.Equal(t, []*x509.Certificate{c1, c}, r.PublishedCertificates(), "previous published during the grace period")

	// A ring that does not allow Ed25519 (one that signs SAML) refuses
	// the same files as damage, and never replaces them.
	before := snapshotDir(t, dir)
	_, err = OpenRing(dir, "oauth-signing", RingOptions{Algorithm: AlgorithmECDSAP256})
	require.ErrorIs(t, err, ErrCorrupt)
	assert.ErrorContains(t, err, "an Ed25519 key is not allowed")
	assert.Equal(t, before, snapshotDir(t, dir))

	// Moving from ECDSA to Ed25519 by rotation.
	dir2 := t.TempDir()
	ec, err := OpenRing(dir2, "oauth-signing", RingOptions{Algorithm: AlgorithmECDSAP256, AllowEd25519: true})
	require.NoError(t, err)
	toEd, err := OpenRing(dir2, "oauth-signing", RingOptions{Algorithm: AlgorithmEd25519})
	require.NoError(t, err)
	next, err = toEd.Rotate()
	require.NoError(t, err)
	assert.Equal(t, AlgorithmEd25519, Algorithm(next.PublicKey))
	require.NoError(t, toEd.Activate())
	_, err = ec.Reload()
	require.NoError(t, err)
	_, cur := ec.Current()
	assert.Equal(t, AlgorithmEd25519, Algorithm(cur.PublicKey))
}

func TestOpenRingInvalidOptions(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", ".hidden", "a/b", "../x", "a b"} {
		_, err := OpenRing(dir, name, ecOpts())
		require.ErrorIs(t, err, ErrInvalidOptions, "name %q", name)
	}
	_, err := OpenRing("", "idp-signing", ecOpts())
	require.ErrorIs(t, err, ErrInvalidOptions)
	opts := ecOpts()
	opts.Validity = -time.Hour
	_, err = OpenRing(dir, "idp-signing", opts)
	require.ErrorIs(t, err, ErrInvalidOptions)
	opts = ecOpts()
	opts.PreviousGrace = -time.Second
	_, err = OpenRing(dir, "idp-signing", opts)
	require.ErrorIs(t, err, ErrInvalidOptions)
	_, err = OpenRing(dir, "idp-signing.v2", ecOpts()) // positive control
	require.NoError(t, err)
}

func pemOf(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// TestRingCorruptFiles starts from a valid ring with current, next and
// previous keys and damages one thing. Opening fails and nothing is
// rewritten; an open ring's Reload fails and keeps its keys.
func TestRingCorruptFiles(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	weakKeyDER, err := x509.MarshalPKCS8PrivateKey(weak)
	require.NoError(t, err)
	weakKeyPEM := pemOf(t, "PRIVATE KEY", weakKeyDER)
	weakCert, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(1)}, &x509.Certificate{SerialNumber: big.NewInt(1)}, weak.Public(), weak)
	require.NoError(t, err)

	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string // empty: must succeed
	}{
		{"unchanged", func(*testing.T, string) {}, ""},
		{"current key garbage", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(ringFile(dir, RoleCurrent, "key"), []byte("junk"), 0o600))
		}, "no PKCS#8 PRIVATE KEY block"},
		{"current certificate empty", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(ringFile(dir, RoleCurrent, "crt"), nil, 0o600))
		}, "no CERTIFICATE block"},
		{"current certificate of the next key", func(t *testing.T, dir string) {
			copyFile(t, ringFile(dir, RoleNext, "crt"), ringFile(dir, RoleCurrent, "crt"))
		}, "does not match"},
		{"next key missing", func(t *testing.T, dir string) {
			// A next certificate without its key (the reverse is an
			// interrupted rotation).
			require.NoError(t, os.Remove(ringFile(dir, RoleNext, "key")))
		}, "must both exist or both be absent"},
		{"previous key missing", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(ringFile(dir, RolePrevious, "key")))
		}, "must both exist or both be absent"},
		{"current pair missing", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(ringFile(dir, RoleCurrent, "key")))
			require.NoError(t, os.Remove(ringFile(dir, RoleCurrent, "crt")))
		}, "no current key"},
		{"next is the current key", func(t *testing.T, dir string) {
			copyFile(t, ringFile(dir, RoleCurrent, "key"), ringFile(dir, RoleNext, "key"))
			copyFile(t, ringFile(dir, RoleCurrent, "crt"), ringFile(dir, RoleNext, "crt"))
		}, "the next key is the current key"},
		{"weak next key", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(ringFile(dir, RoleNext, "key"), weakKeyPEM, 0o600))
			require.NoError(t, os.WriteFile(ringFile(dir, RoleNext, "crt"), pemOf(t, "CERTIFICATE", weakCert), 0o600))
		}, "shorter than 2048 bits"},
		{"activation record garbage", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(recordFile(dir), []byte("junk\n"), 0o600))
		}, "activation record"},
		{"activation record time damaged", func(t *testing.T, dir string) {
			b, err := os.ReadFile(recordFile(dir))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(recordFile(dir), bytes.Replace(b, []byte("T12:"), []byte("T1x:"), 1), 0o600))
		}, "activation record: time"},
		{"current key deleted by hand", func(t *testing.T, dir string) {
			// Not an interrupted activation: previous.key does not belong
			// to current.crt.
			require.NoError(t, os.Remove(ringFile(dir, RoleCurrent, "key")))
		}, "must both exist or both be absent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r := openRing(t, dir, ecOpts())
			_, err := r.Rotate()
			require.NoError(t, err)
			require.NoError(t, r.Activate())
			_, err = r.Rotate()
			require.NoError(t, err)
			_, c := r.Current()
			published := r.PublishedCertificates()

			tc.damage(t, dir)
			before := snapshotDir(t, dir)

			_, openErr := OpenRing(dir, "idp-signing", ecOpts())
			_, reloadErr := r.Reload()
			if tc.want == "" {
				require.NoError(t, openErr)
				require.NoError(t, reloadErr)
				return
			}
			require.ErrorIs(t, openErr, ErrCorrupt)
			assert.ErrorContains(t, openErr, tc.want)
			require.ErrorIs(t, reloadErr, ErrCorrupt)
			assert.Equal(t, before, snapshotDir(t, dir), "damaged files are never replaced")
			_, c2 := r.Current()
			assert.True(t, c == c2, "a failed Reload keeps the keys in use")
			assert.Equal(t, published, r.PublishedCertificates())

			_, err = r.Rotate()
			require.Error(t, err)
			require.Error(t, r.Activate())
			assert.Equal(t, before, snapshotDir(t, dir))
		})
	}
}

// journalFor is the activation journal Activate writes: the certificate
// activated, the time, the certificate retired.
func journalFor(next *x509.Certificate, at time.Time, cur *x509.Certificate) []byte {
	return []byte(Fingerprint(next) + "\n" + at.UTC().Format(time.RFC3339Nano) + "\n" + Fingerprint(cur) + "\n")
}

func journalFile(dir string) string { return filepath.Join(dir, "idp-signing.activating") }
func recordFile(dir string) string  { return filepath.Join(dir, "idp-signing.activated") }

// interruptActivation does what Activate does up to its done-th rename
// (0 to 4) and stops, as a crashed process would, with the given journal.
func interruptActivation(t *testing.T, dir string, journal []byte, done int) {
	t.Helper()
	require.NoError(t, os.WriteFile(journalFile(dir), journal, 0o600))
	steps := [][2]string{
		{ringFile(dir, RoleCurrent, "key"), ringFile(dir, RolePrevious, "key")},
		{ringFile(dir, RoleCurrent, "crt"), ringFile(dir, RolePrevious, "crt")},
		{ringFile(dir, RoleNext, "key"), ringFile(dir, RoleCurrent, "key")},
		{ringFile(dir, RoleNext, "crt"), ringFile(dir, RoleCurrent, "crt")},
	}
	for _, s := range steps[:done] {
		require.NoError(t, os.Rename(s[0], s[1]))
	}
}

// TestRingInterruptedActivation stops an activation after each of its
// renames. Reload fails closed; Open and Activate finish it, with the
// activation time the journal recorded, not the finisher's clock.
func TestRingInterruptedActivation(t *testing.T) {
	crashedAt := testNow.Add(time.Hour)
	for done := 1; done <= 3; done++ {
		for _, finisher := range []string{"open", "activate"} {
			t.Run(fmt.Sprintf("%d renames then %s", done, finisher), func(t *testing.T) {
				dir := t.TempDir()
				clock := newClock(testNow)
				r := openRing(t, dir, clockOpts(clock))
				_, c0 := r.Current()
				next, err := r.Rotate()
				require.NoError(t, err)
				_, inUse := r.Current()
				interruptActivation(t, dir, journalFor(next, crashedAt, c0), done)

				_, err = r.Reload()
				require.ErrorIs(t, err, ErrInterruptedActivation)
				_, c := r.Current()
				assert.True(t, c == inUse, "keys in use are kept")

				clock.Set(crashedAt.Add(5 * time.Minute)) // finished later
				if finisher == "open" {
					r = openRing(t, dir, clockOpts(clock))
				} else {
					require.NoError(t, r.Activate())
				}
				s, c := r.Current()
				assert.True(t, c.Equal(next))
				requireConsistent(t, s, c)
				keys := r.Keys()
				require.Len(t, keys, 2)
				assert.True(t, keys[1].Certificate.Equal(c0))
				assert.True(t, keys[1].Published)
				assert.Equal(t, crashedAt.Add(DefaultPreviousGrace), keys[1].PublishedUntil, "the journal's time, not the finisher's")
				assert.Equal(t, []*x509.Certificate{c, c0}, r.PublishedCertificates())
				clock.Set(crashedAt.Add(DefaultPreviousGrace))
				assert.Equal(t, []*x509.Certificate{c}, r.PublishedCertificates())

				require.ErrorIs(t, r.Activate(), ErrNoNextKey, "activated once only")
				assert.False(t, exists(t, journalFile(dir)))
				rec, err := os.ReadFile(recordFile(dir))
				require.NoError(t, err)
				assert.Equal(t, journalFor(next, crashedAt, c0), rec, "the journal became the record")
			})
		}
	}
}

// TestRingInterruptedLegacyActivation: a journal written before the grace
// period existed names the activated certificate only. The activation is
// finished as before and the previous key is not published.
func TestRingInterruptedLegacyActivation(t *testing.T) {
	for _, done := range []int{2, 4} {
		t.Run(fmt.Sprint(done), func(t *testing.T) {
			dir := t.TempDir()
			r := openRing(t, dir, ecOpts())
			_, c0 := r.Current()
			next, err := r.Rotate()
			require.NoError(t, err)
			interruptActivation(t, dir, []byte(Fingerprint(next)+"\n"), done)

			r = openRing(t, dir, ecOpts())
			_, c := r.Current()
			assert.True(t, c.Equal(next))
			keys := r.Keys()
			require.Len(t, keys, 2)
			assert.True(t, keys[1].Certificate.Equal(c0))
			assert.False(t, keys[1].Published)
			assert.True(t, keys[1].PublishedUntil.IsZero())
			assert.Equal(t, []*x509.Certificate{c}, r.PublishedCertificates())
			require.ErrorIs(t, r.Activate(), ErrNoNextKey) // a writer cleans up
			assert.False(t, exists(t, journalFile(dir)))
			assert.False(t, exists(t, recordFile(dir)))
		})
	}
}

// TestRingStaleJournal: an activation that stopped before its first rename
// left consistent keys; the journal is ignored by readers and removed by
// the next writer, and the record of the activation before stays. One that
// stopped after its last rename left consistent keys too; readers take the
// activation time from the journal, and the next writer turns it into the
// record.
func TestRingStaleJournal(t *testing.T) {
	firstAt, crashedAt := testNow, testNow.Add(5*time.Minute)
	for _, done := range []int{0, 4} {
		t.Run(fmt.Sprint(done), func(t *testing.T) {
			dir := t.TempDir()
			clock := newClock(firstAt)
			r := openRing(t, dir, clockOpts(clock))
			_, c0 := r.Current()
			c1 := rotateAndActivate(t, r)
			firstRecord, err := os.ReadFile(recordFile(dir))
			require.NoError(t, err)
			next, err := r.Rotate() // during the first grace period
			require.NoError(t, err)
			interruptActivation(t, dir, journalFor(next, crashedAt, c1), done)
			clock.Set(crashedAt.Add(time.Minute))

			// A reader that does not repair.
			changed, err := r.Reload()
			require.NoError(t, err)
			assert.True(t, changed)
			if done == 0 {
				_, c := r.Current()
				assert.True(t, c.Equal(c1))
				assert.Equal(t, []*x509.Certificate{c1, next, c0}, r.PublishedCertificates(), "the first activation's grace period")
			} else {
				_, c := r.Current()
				assert.True(t, c.Equal(next))
				assert.Equal(t, []*x509.Certificate{next, c1}, r.PublishedCertificates(), "the time in the journal counts")
				assert.Equal(t, crashedAt.Add(DefaultPreviousGrace), r.Keys()[1].PublishedUntil)
			}

			r2 := openRing(t, dir, clockOpts(clock))
			_, c := r2.Current()
			want := map[int]*x509.Certificate{0: c1, 4: next}[done]
			assert.True(t, c.Equal(want))
			if done == 0 {
				// A writer removes the journal of an activation that did
				// not happen, and the record stays, before activating.
				_, err := r2.Rotate()
				require.ErrorIs(t, err, ErrNextKeyExists)
				assert.False(t, exists(t, journalFile(dir)))
				rec, err := os.ReadFile(recordFile(dir))
				require.NoError(t, err)
				assert.Equal(t, firstRecord, rec)
				require.NoError(t, r2.Activate())
				rec, err = os.ReadFile(recordFile(dir))
				require.NoError(t, err)
				assert.Equal(t, journalFor(next, clock.Now(), c1), rec)
			} else {
				require.ErrorIs(t, r2.Activate(), ErrNoNextKey)
				assert.False(t, exists(t, journalFile(dir)))
				rec, err := os.ReadFile(recordFile(dir))
				require.NoError(t, err)
				assert.Equal(t, journalFor(next, crashedAt, c1), rec, "the journal became the record")
				assert.Equal(t, crashedAt.Add(DefaultPreviousGrace), r2.Keys()[1].PublishedUntil)
			}
			_, c = r2.Current()
			assert.True(t, c.Equal(next))
			assert.Equal(t, []*x509.Certificate{next, c1}, r2.PublishedCertificates())
		})
	}
}

// TestRingMissingCurrentIsNotAnActivation: the files an activation leaves
// after its second rename, without its journal, are damage.
func TestRingMissingCurrentIsNotAnActivation(t *testing.T) {
	dir := t.TempDir()
	r := openRing(t, dir, ecOpts())
	_, c0 := r.Current()
	next, err := r.Rotate()
	require.NoError(t, err)
	interruptActivation(t, dir, journalFor(next, testNow, c0), 2)
	require.NoError(t, os.Remove(journalFile(dir)))
	_, err = OpenRing(dir, "idp-signing", ecOpts())
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorIs(t, r.Activate(), ErrCorrupt)
	assert.False(t, exists(t, ringFile(dir, RoleCurrent, "key")), "nothing promoted")
}

func TestRingInterruptedRotation(t *testing.T) {
	dir := t.TempDir()
	r := openRing(t, dir, ecOpts())
	_, err := r.Rotate()
	require.NoError(t, err)
	require.NoError(t, os.Remove(ringFile(dir, RoleNext, "crt")))

	_, err = r.Reload()
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorIs(t, r.Activate(), ErrNoNextKey, "the unpublished key is never activated")
	assert.False(t, exists(t, ringFile(dir, RoleNext, "key")), "and was removed")

	_, err = r.Rotate()
	require.NoError(t, err)
	require.NoError(t, os.Remove(ringFile(dir, RoleNext, "crt")))
	r2 := openRing(t, dir, ecOpts())
	assert.Len(t, r2.PublishedCertificates(), 1)
	assert.False(t, exists(t, ringFile(dir, RoleNext, "key")))
	_, err = r2.Rotate()
	require.NoError(t, err)
	assert.Len(t, r2.PublishedCertificates(), 2)
}

func TestRingWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		server := openRing(t, dir, ecOpts())
		cli := openRing(t, dir, ecOpts())
		ctx, cancel := context.WithCancel(t.Context())
		var changes atomic.Int32
		done := make(chan struct{})
		go func() {
			server.Watch(ctx, time.Minute, func() { changes.Add(1) })
			close(done)
		}()

		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, int32(0), changes.Load(), "no change, no callback")

		next, err := cli.Rotate()
		require.NoError(t, err)
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, int32(1), changes.Load())
		assert.Equal(t, next, server.PublishedCertificates()[1])

		// A damaged file: Watch logs, keeps the keys, and recovers.
		good, err := os.ReadFile(ringFile(dir, RoleNext, "crt"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(ringFile(dir, RoleNext, "crt"), []byte("junk"), 0o600))
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, int32(1), changes.Load())
		assert.Len(t, server.PublishedCertificates(), 2)
		require.NoError(t, os.WriteFile(ringFile(dir, RoleNext, "crt"), good, 0o600))

		require.NoError(t, cli.Activate())
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, int32(2), changes.Load())
		_, c := server.Current()
		assert.True(t, c.Equal(next))

		cancel()
		<-done
	})
}

func TestFingerprint(t *testing.T) {
	r := openRing(t, t.TempDir(), ecOpts())
	_, c := r.Current()
	fp := Fingerprint(c)
	sum := sha256.Sum256(c.Raw)
	assert.Len(t, fp, 32*3-1)
	assert.Regexp(t, `^([0-9A-F]{2}:){31}[0-9A-F]{2}$`, fp)
	assert.Equal(t, sum[0], mustHexByte(t, fp[:2]))
	assert.Equal(t, sum[31], mustHexByte(t, fp[len(fp)-2:]))
}

func mustHexByte(t *testing.T, s string) byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	require.Len(t, b, 1)
	return b[0]
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o600))
}

// snapshotDir returns the names and contents of the folder's files, lock
// file aside.
func snapshotDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string][]byte{}
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".lock" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = bytes.Clone(b)
	}
	return out
}

// TestRingPreviousGrace: after an activation the previous certificate is
// published, after the current one, until the grace period measured from
// the activation time ends; the command line that activated and a server
// that reloads later see the same, and neither signs with the previous key.
func TestRingPreviousGrace(t *testing.T) {
	activatedAt := testNow.Add(time.Hour)
	dir := t.TempDir()
	cliClock, serverClock := newClock(testNow), newClock(testNow)
	cli := openRing(t, dir, clockOpts(cliClock))
	server := openRing(t, dir, clockOpts(serverClock))
	_, c0 := cli.Current()
	next, err := cli.Rotate()
	require.NoError(t, err)
	cliClock.Set(activatedAt)
	require.NoError(t, cli.Activate())
	assert.True(t, exists(t, recordFile(dir)), "the activation time is recorded in the folder")
	assert.False(t, exists(t, journalFile(dir)))

	// The server reloads 10 minutes after the activation: the grace period
	// still ends 15 minutes after the activation, not after the reload.
	serverClock.Set(activatedAt.Add(10 * time.Minute))
	changed, err := server.Reload()
	require.NoError(t, err)
	assert.True(t, changed)

	tests := []struct {
		after time.Duration
		want  []*x509.Certificate
	}{
		{0, []*x509.Certificate{next, c0}},
		{10 * time.Minute, []*x509.Certificate{next, c0}},
		{DefaultPreviousGrace - time.Nanosecond, []*x509.Certificate{next, c0}},
		{DefaultPreviousGrace, []*x509.Certificate{next}},
		{24 * time.Hour, []*x509.Certificate{next}},
	}
	for _, tc := range tests {
		for name, v := range map[string]struct {
			r     *Ring
			clock *testClock
		}{"cli": {cli, cliClock}, "server": {server, serverClock}} {
			v.clock.Set(activatedAt.Add(tc.after))
			assert.Equal(t, tc.want, v.r.PublishedCertificates(), "%s at +%s", name, tc.after)
			certs, err := v.r.Certificates(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tc.want, certs, "%s at +%s", name, tc.after)

			keys := v.r.Keys()
			require.Len(t, keys, 2)
			assert.Equal(t, RoleCurrent, keys[0].Role)
			assert.True(t, keys[0].Published)
			assert.True(t, keys[0].PublishedUntil.IsZero())
			assert.Equal(t, RolePrevious, keys[1].Role)
			assert.True(t, keys[1].Certificate.Equal(c0))
			assert.Equal(t, len(tc.want) == 2, keys[1].Published, "%s at +%s", name, tc.after)
			assert.Equal(t, activatedAt.Add(DefaultPreviousGrace), keys[1].PublishedUntil)

			s, c, err := v.r.SigningKey(context.Background())
			require.NoError(t, err)
			assert.True(t, c.Equal(next), "previous never signs")
			requireConsistent(t, s, c)
		}
	}

	// Processes started later read the same activation time.
	for _, tc := range tests {
		late := openRing(t, dir, clockOpts(newClock(activatedAt.Add(tc.after))))
		assert.Equal(t, tc.want, late.PublishedCertificates(), "opened at +%s", tc.after)
	}
}

// TestRingPreviousGraceOption: each process applies its own grace period
// to the recorded activation time.
func TestRingPreviousGraceOption(t *testing.T) {
	dir := t.TempDir()
	clock := newClock(testNow)
	cli := openRing(t, dir, clockOpts(clock))
	opts := clockOpts(clock)
	opts.PreviousGrace = 2 * time.Minute
	server := openRing(t, dir, opts)
	_, c0 := cli.Current()
	next, err := cli.Rotate()
	require.NoError(t, err)
	require.NoError(t, cli.Activate())
	_, err = server.Reload()
	require.NoError(t, err)

	clock.Advance(2*time.Minute - time.Nanosecond)
	assert.Equal(t, []*x509.Certificate{next, c0}, server.PublishedCertificates())
	clock.Advance(time.Nanosecond)
	assert.Equal(t, []*x509.Certificate{next}, server.PublishedCertificates())
	assert.Equal(t, testNow.Add(2*time.Minute), server.Keys()[1].PublishedUntil)
	assert.Equal(t, []*x509.Certificate{next, c0}, cli.PublishedCertificates(), "positive control: the default is longer")
}

// TestRingRotateDuringGrace: a rotation within the grace period publishes
// current, next and previous, never more; an activation within it retires
// the older previous key at once and starts a new grace period.
func TestRingRotateDuringGrace(t *testing.T) {
	dir := t.TempDir()
	clock := newClock(testNow)
	r := openRing(t, dir, clockOpts(clock))
	_, c0 := r.Current()
	n1, err := r.Rotate()
	require.NoError(t, err)
	require.NoError(t, r.Activate())

	clock.Advance(time.Minute)
	n2, err := r.Rotate()
	require.NoError(t, err)
	assert.Equal(t, []*x509.Certificate{n1, n2, c0}, r.PublishedCertificates(), "current, next, previous")
	other := openRing(t, dir, clockOpts(clock))
	assert.Equal(t, []*x509.Certificate{n1, n2, c0}, other.PublishedCertificates())
	var roles []Role
	for _, k := range other.Keys() {
		roles = append(roles, k.Role)
		assert.True(t, k.Published, k.Role)
	}
	assert.Equal(t, []Role{RoleCurrent, RoleNext, RolePrevious}, roles)
	_, c := other.Current()
	assert.True(t, c.Equal(n1), "only current signs")

	// Activating again within the grace period.
	clock.Advance(time.Minute)
	require.NoError(t, r.Activate())
	assert.Equal(t, []*x509.Certificate{n2, n1}, r.PublishedCertificates(), "the older previous key is gone")
	changed, err := other.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, []*x509.Certificate{n2, n1}, other.PublishedCertificates())
	assert.Equal(t, clock.Now().Add(DefaultPreviousGrace), other.Keys()[1].PublishedUntil, "a new grace period")

	n3, err := r.Rotate()
	require.NoError(t, err)
	assert.Len(t, r.PublishedCertificates(), 3)
	clock.Advance(DefaultPreviousGrace)
	assert.Equal(t, []*x509.Certificate{n2, n3}, r.PublishedCertificates())
}

// TestRingActivationRecordBinding: the record starts the grace period only
// when it names both the current and the previous certificate.
func TestRingActivationRecordBinding(t *testing.T) {
	dir := t.TempDir()
	clock := newClock(testNow)
	r := openRing(t, dir, clockOpts(clock))
	_, c0 := r.Current()
	c1 := rotateAndActivate(t, r)
	first, err := os.ReadFile(recordFile(dir))
	require.NoError(t, err)
	c2 := rotateAndActivate(t, r)
	own, err := os.ReadFile(recordFile(dir))
	require.NoError(t, err)
	require.Equal(t, journalFor(c2, testNow, c1), own)

	tests := []struct {
		name      string
		record    []byte // nil: removed
		published bool
	}{
		{"own record", own, true},
		{"an older activation's record", first, false},
		{"another previous key", journalFor(c2, testNow, c0), false},
		{"another current key", journalFor(c0, testNow, c1), false},
		{"no record", nil, false},
		{"own record again", own, true},
	}
	last := own
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.record == nil {
				require.NoError(t, os.Remove(recordFile(dir)))
			} else {
				require.NoError(t, os.WriteFile(recordFile(dir), tc.record, 0o600))
			}
			want := []*x509.Certificate{c2}
			if tc.published {
				want = append(want, c1)
			}
			changed, err := r.Reload()
			require.NoError(t, err)
			assert.Equal(t, !bytes.Equal(last, tc.record) || (last == nil) != (tc.record == nil), changed,
				"the record is part of what Reload compares")
			last = tc.record
			assert.Equal(t, want, r.PublishedCertificates())
			assert.Equal(t, tc.published, r.Keys()[1].Published)
			fresh := openRing(t, dir, clockOpts(clock))
			assert.Equal(t, want, fresh.PublishedCertificates())
		})
	}
}

func TestParseActivation(t *testing.T) {
	fp := Fingerprint(&x509.Certificate{Raw: []byte("a")})
	fp2 := Fingerprint(&x509.Certificate{Raw: []byte("b")})
	valid := fp + "\n2026-11-22T12:00:00.5Z\n" + fp2 + "\n"
	a, err := parseActivation([]byte(valid)) // positive control
	require.NoError(t, err)
	assert.Equal(t, activation{activated: fp, at: testNow.Add(500 * time.Millisecond), previous: fp2}, a)
	assert.Equal(t, valid, string(a.marshal()))

	for name, b := range map[string]string{
		"legacy journal":        fp + "\n",
		"no final newline":      strings.TrimSuffix(valid, "\n"),
		"extra line":            valid + "\n",
		"CRLF":                  strings.ReplaceAll(valid, "\n", "\r\n"),
		"lower-case":            strings.ToLower(fp) + valid[len(fp):],
		"short fingerprint":     valid[3:],
		"time without zone":     fp + "\n2026-11-22T12:00:00\n" + fp2 + "\n",
		"time not a time":       fp + "\nyesterday\n" + fp2 + "\n",
		"fingerprint separator": strings.Replace(valid, ":", "-", 1),
		"empty":                 "",
		"too large":             valid + strings.Repeat("x", maxActivationSize),
	} {
		_, err := parseActivation([]byte(b))
		assert.Error(t, err, name)
	}
}

func FuzzParseActivation(f *testing.F) {
	fp := Fingerprint(&x509.Certificate{Raw: []byte("a")})
	f.Add([]byte(fp + "\n2026-11-22T12:00:00Z\n" + fp + "\n"))
	f.Add([]byte(fp + "\n2026-11-22T13:00:00.123456789+01:00\n" + fp + "\n"))
	f.Add([]byte(fp + "\n"))
	f.Add([]byte("\n\n\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseActivation(b)
		if err != nil {
			return
		}
		require.True(t, isFingerprint(a.activated) && isFingerprint(a.previous))
		again, err := parseActivation(a.marshal())
		require.NoError(t, err, "what parses must survive a round trip")
		assert.Equal(t, a.activated, again.activated)
		assert.Equal(t, a.previous, again.previous)
		assert.True(t, a.at.Equal(again.at))
	})
}

// rotateAndActivate rotates r and activates the new key, returning the
// certificate that is current afterwards.
func rotateAndActivate(t *testing.T, r *Ring) *x509.Certificate {
	t.Helper()
	_, err := r.Rotate()
	require.NoError(t, err)
	require.NoError(t, r.Activate())
	_, c := r.Current()
	return c
}
