package keys

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadOrCreateRSA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	p1, err := LoadOrCreateRSA(dir, "sp-signing", "Gatehouse SP", 10*365*24*time.Hour, now)
	require.NoError(t, err)
	assert.Equal(t, "Gatehouse SP", p1.Certificate.Subject.CommonName)
	assert.True(t, p1.Certificate.NotAfter.After(now.AddDate(9, 0, 0)))

	st, err := os.Stat(filepath.Join(dir, "sp-signing.key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// The second call loads the same pair.
	p2, err := LoadOrCreateRSA(dir, "sp-signing", "ignored", time.Hour, now.Add(time.Hour))
	require.NoError(t, err)
	assert.True(t, p1.Certificate.Equal(p2.Certificate))
	assert.True(t, publicKeysEqual(p1.Signer.Public(), p2.Signer.Public()))
}

func TestLoadOrCreateRSARejectsBrokenOrPartialPairs(t *testing.T) {
	now := time.Now()
	base := t.TempDir()
	mk := func(name string) string {
		dir := filepath.Join(base, name)
		_, err := LoadOrCreateRSA(dir, "k", "cn", time.Hour, now)
		require.NoError(t, err)
		return dir
	}

	// Certificate missing: never regenerate the key behind the operator's back.
	dir := mk("partial")
	require.NoError(t, os.Remove(filepath.Join(dir, "k.crt")))
	_, err := LoadOrCreateRSA(dir, "k", "cn", time.Hour, now)
	assert.ErrorContains(t, err, "both exist or both be absent")

	// Corrupt key file.
	dir = mk("corrupt")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "k.key"), []byte("junk"), 0o600))
	_, err = LoadOrCreateRSA(dir, "k", "cn", time.Hour, now)
	assert.ErrorContains(t, err, "no PKCS#8 PRIVATE KEY block")

	// Certificate of another key.
	a, b := mk("a"), mk("b")
	other, err := os.ReadFile(filepath.Join(b, "k.crt"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(a, "k.crt"), other, 0o600))
	_, err = LoadOrCreateRSA(a, "k", "cn", time.Hour, now)
	assert.ErrorContains(t, err, "does not match")
}

func TestLoadOrCreateSecret(t *testing.T) {
	dir := t.TempDir()
	s1, err := LoadOrCreateSecret(dir, "persistent-nameid", 32)
	require.NoError(t, err)
	assert.Len(t, s1, 32)
	s2, err := LoadOrCreateSecret(dir, "persistent-nameid", 32)
	require.NoError(t, err)
	assert.Equal(t, s1, s2, "the secret is stable across restarts")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "short.secret"), []byte("abc"), 0o600))
	_, err = LoadOrCreateSecret(dir, "short", 32)
	assert.ErrorContains(t, err, "holds 3 bytes")
}

// TestLoadOrCreateSecretConcurrent: instances starting at once on an empty
// shared keys.dir all get the same secret, the one on disk.
func TestLoadOrCreateSecretConcurrent(t *testing.T) {
	for round := range 5 {
		dir := t.TempDir()
		const n = 16
		got := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i], errs[i] = LoadOrCreateSecret(dir, "shared", 32)
			}()
		}
		close(start)
		wg.Wait()
		onDisk, err := os.ReadFile(filepath.Join(dir, "shared.secret"))
		require.NoError(t, err)
		for i := range n {
			require.NoError(t, errs[i], "round %d caller %d", round, i)
			assert.Equal(t, onDisk, got[i], "round %d caller %d holds the secret on disk", round, i)
		}
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Len(t, entries, 1, "no temporary file is left behind")
	}
}
