package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeRingStore is a RingStore in memory with the store contract's
// compare-and-set; fail, when set, is returned by every call.
type fakeRingStore struct {
	mu    sync.Mutex
	rings map[string]StoredRing
	fail  error
}

func newFakeRingStore() *fakeRingStore { return &fakeRingStore{rings: map[string]StoredRing{}} }

func (s *fakeRingStore) LoadRing(_ context.Context, name string) (StoredRing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return StoredRing{}, s.fail
	}
	r, ok := s.rings[name]
	if !ok {
		return StoredRing{}, fmt.Errorf("fake: %w", ErrRingNotFound)
	}
	r.Data = bytes.Clone(r.Data)
	return r, nil
}

func (s *fakeRingStore) SaveRing(_ context.Context, name string, prev int64, data []byte, now time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return 0, s.fail
	}
	if s.rings[name].Version != prev {
		return 0, fmt.Errorf("fake: %w", ErrRingConflict)
	}
	s.rings[name] = StoredRing{Version: prev + 1, Data: bytes.Clone(data), UpdatedAt: now}
	return prev + 1, nil
}

func (s *fakeRingStore) set(name string, f func(*StoredRing)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rings[name]
	f(&r)
	s.rings[name] = r
}

var testSeal = bytes.Repeat([]byte{7}, SealKeySize)

func storeOpts(c *testClock) RingOptions {
	o := clockOpts(c)
	o.SealKey = testSeal
	return o
}

func openStored(t *testing.T, st RingStore, o RingOptions) *Ring {
	t.Helper()
	r, err := OpenStoreRing(t.Context(), st, IdPSigningRing, o)
	require.NoError(t, err)
	return r
}

func fingerprints(r *Ring) []string {
	var out []string
	for _, c := range r.PublishedCertificates() {
		out = append(out, Fingerprint(c))
	}
	return out
}

// Two processes on one store: a rotation and an activation by either are
// what the other serves after its next Reload, with the previous key's
// grace period measured from the recorded activation time.
func TestStoreRingRolloverAcrossProcesses(t *testing.T) {
	st := newFakeRingStore()
	clock := newClock(testNow)
	a := openStored(t, st, storeOpts(clock))
	b := openStored(t, st, storeOpts(clock))
	_, certA := a.Current()
	_, certB := b.Current()
	require.Equal(t, Fingerprint(certA), Fingerprint(certB), "the second process loads the key the first created")
	assert.Equal(t, "store", a.location())

	next, err := a.Rotate()
	require.NoError(t, err)
	changed, err := b.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, []string{Fingerprint(certA), Fingerprint(next)}, fingerprints(b), "b publishes the next key")
	_, cur := b.Current()
	assert.Equal(t, Fingerprint(certA), Fingerprint(cur), "b does not sign with the next key")

	clock.Advance(time.Hour)
	require.NoError(t, b.Activate())
	changed, err = a.Reload()
	require.NoError(t, err)
	assert.True(t, changed)
	_, cur = a.Current()
	assert.Equal(t, Fingerprint(next), Fingerprint(cur), "a signs with the activated key")
	assert.Equal(t, []string{Fingerprint(next), Fingerprint(certA)}, fingerprints(a), "the previous key stays published")
	info := a.Keys()
	require.Len(t, info, 2)
	assert.Equal(t, RolePrevious, info[1].Role)
	assert.Equal(t, clock.Now().Add(DefaultPreviousGrace), info[1].PublishedUntil)

	clock.Advance(DefaultPreviousGrace)
	assert.Equal(t, []string{Fingerprint(next)}, fingerprints(a), "retired after the grace period")
	assert.Equal(t, []string{Fingerprint(next)}, fingerprints(b))

	changed, err = a.Reload()
	require.NoError(t, err)
	assert.False(t, changed, "nothing changed since the last reload")
}

// Of concurrent rotations exactly one creates the next key, and of
// concurrent activations exactly one activates it.
func TestStoreRingConcurrentChanges(t *testing.T) {
	st := newFakeRingStore()
	clock := newClock(testNow)
	rings := make([]*Ring, 8)
	var wg sync.WaitGroup
	for i := range rings {
		wg.Go(func() {
			r, err := OpenStoreRing(t.Context(), st, IdPSigningRing, storeOpts(clock))
			assert.NoError(t, err)
			rings[i] = r
		})
	}
	wg.Wait()
	_, first := rings[0].Current()
	for _, r := range rings[1:] {
		_, c := r.Current()
		require.Equal(t, Fingerprint(first), Fingerprint(c), "concurrent first opens agree on one key")
	}

	errs := make([]error, len(rings))
	for i, r := range rings {
		wg.Go(func() { _, errs[i] = r.Rotate() })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			assert.ErrorIs(t, err, ErrNextKeyExists)
		}
	}
	assert.Equal(t, 1, won, "one rotation")

	for i, r := range rings {
		wg.Go(func() { errs[i] = r.Activate() })
	}
	wg.Wait()
	won = 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			assert.ErrorIs(t, err, ErrNoNextKey)
		}
	}
	assert.Equal(t, 1, won, "one activation")
	for _, r := range rings {
		_, err := r.Reload()
		require.NoError(t, err)
		assert.Len(t, r.PublishedCertificates(), 2, "current and previous")
	}
}

func TestStoreRingSealed(t *testing.T) {
	st := newFakeRingStore()
	clock := newClock(testNow)
	a := openStored(t, st, storeOpts(clock))
	_, err := a.Rotate()
	require.NoError(t, err)
	raw := st.rings[IdPSigningRing].Data
	assert.NotContains(t, string(raw), "PRIVATE KEY", "no private key in the clear")
	assert.NotContains(t, string(raw), "CERTIFICATE")
	assert.NotContains(t, string(raw), "LS0tLS1CRUdJTi", "no PEM in base64 either")

	t.Run("another_seal_key", func(t *testing.T) {
		o := storeOpts(clock)
		o.SealKey = bytes.Repeat([]byte{8}, SealKeySize)
		_, err := OpenStoreRing(t.Context(), st, IdPSigningRing, o)
		require.ErrorIs(t, err, ErrCorrupt)
		assert.ErrorContains(t, err, RingSealSecret)
	})
	t.Run("copied_to_another_ring", func(t *testing.T) {
		st.set("other", func(r *StoredRing) { r.Version, r.Data = 1, bytes.Clone(raw) })
		_, err := OpenStoreRing(t.Context(), st, "other", storeOpts(clock))
		require.ErrorIs(t, err, ErrCorrupt)
	})
	t.Run("tampered_reload_keeps_keys", func(t *testing.T) {
		before := fingerprints(a)
		st.set(IdPSigningRing, func(r *StoredRing) {
			r.Data = bytes.Clone(r.Data)
			r.Data[len(r.Data)-1] ^= 1
		})
		_, err := a.Reload()
		require.ErrorIs(t, err, ErrCorrupt)
		assert.Equal(t, before, fingerprints(a), "the keys in use are kept")
		_, err = a.Rotate()
		require.ErrorIs(t, err, ErrCorrupt, "a damaged ring is never overwritten")
		st.set(IdPSigningRing, func(r *StoredRing) { r.Data = raw })
	})
	t.Run("store_down", func(t *testing.T) {
		before := fingerprints(a)
		st.mu.Lock()
		st.fail = errors.New("connection refused")
		st.mu.Unlock()
		defer func() { st.mu.Lock(); st.fail = nil; st.mu.Unlock() }()
		_, err := a.Reload()
		require.ErrorContains(t, err, "connection refused")
		assert.Equal(t, before, fingerprints(a))
		require.Error(t, a.Activate())
	})
}

// A deployment that kept its rings in keys.dir keeps its keys when it
// moves them to the store.
func TestStoreRingImportsFolder(t *testing.T) {
	dir := t.TempDir()
	clock := newClock(testNow)
	fr, err := OpenRing(dir, IdPSigningRing, clockOpts(clock))
	require.NoError(t, err)
	_, err = fr.Rotate()
	require.NoError(t, err)
	require.NoError(t, fr.Activate())
	_, err = fr.Rotate()
	require.NoError(t, err)
	want := fingerprints(fr)
	require.Len(t, want, 3)

	st := newFakeRingStore()
	o := storeOpts(clock)
	o.ImportFrom = dir
	r := openStored(t, st, o)
	assert.Equal(t, want, fingerprints(r), "current, next and previous imported with the activation time")
	s1, _ := fr.Current()
	s2, _ := r.Current()
	assert.True(t, publicKeysEqual(s1.Public(), s2.Public()))

	// Imported once: later changes in the folder are not the store's.
	require.NoError(t, fr.Activate())
	again := openStored(t, st, o)
	assert.Equal(t, want, fingerprints(again))

	// An empty folder: a new key is generated.
	o.ImportFrom = t.TempDir()
	fresh := openStored(t, newFakeRingStore(), o)
	assert.Len(t, fingerprints(fresh), 1)
}

func TestOpenStoreRingInvalid(t *testing.T) {
	clock := newClock(testNow)
	for _, tc := range []struct {
		name string
		st   RingStore
		edit func(*RingOptions)
		ring string
	}{
		{"no_store", nil, func(*RingOptions) {}, IdPSigningRing},
		{"no_seal_key", newFakeRingStore(), func(o *RingOptions) { o.SealKey = nil }, IdPSigningRing},
		{"short_seal_key", newFakeRingStore(), func(o *RingOptions) { o.SealKey = o.SealKey[:16] }, IdPSigningRing},
		{"bad_name", newFakeRingStore(), func(*RingOptions) {}, "../x"},
		{"bad_algorithm", newFakeRingStore(), func(o *RingOptions) { o.Algorithm = "DSA" }, IdPSigningRing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := storeOpts(clock)
			tc.edit(&o)
			_, err := OpenStoreRing(t.Context(), tc.st, tc.ring, o)
			require.Error(t, err)
		})
	}
}

// FuzzStoreRingOpen: whatever a store returns, opening it never panics and
// only a state this seal key sealed for this ring opens.
func FuzzStoreRingOpen(f *testing.F) {
	clock := newClock(testNow)
	st := newFakeRingStore()
	r, err := OpenStoreRing(context.Background(), st, IdPSigningRing, storeOpts(clock))
	require.NoError(f, err)
	good := st.rings[IdPSigningRing].Data
	f.Add(good)
	f.Add([]byte{sealedVersion})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := r.open(data)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		// Opening succeeded: data is what sealFiles wrote (GCM
		// authenticates it), so it parses as a ring.
		_, err = r.parse(files)
		require.NoError(t, err)
	})
}
