package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/keys"
)

// RingConcurrency is the number of goroutines racing in RunKeyRings's
// concurrency cases.
const RingConcurrency = 16

// RunKeyRings runs the conformance cases of signing-key ring storage
// (keys.RingStore): not found, creation, compare-and-set updates and their
// conflicts, independent rings, exactly one winner of concurrent saves,
// byte-exact data, microsecond times, copies, and invalid arguments.
// newStore must return a new, empty store for each call and register its
// own cleanup with t.Cleanup. Run calls it.
func RunKeyRings(t *testing.T, newStore func(t *testing.T) keys.RingStore) {
	t.Run("NotFound", func(t *testing.T) { testRingNotFound(t, newStore) })
	t.Run("CreateAndUpdate", func(t *testing.T) { testRingCreateAndUpdate(t, newStore) })
	t.Run("Independent", func(t *testing.T) { testRingIndependent(t, newStore) })
	t.Run("ConcurrentUpdate", func(t *testing.T) { testRingConcurrentUpdate(t, newStore) })
	t.Run("ConcurrentCreate", func(t *testing.T) { testRingConcurrentCreate(t, newStore) })
	t.Run("Copies", func(t *testing.T) { testRingCopies(t, newStore) })
	t.Run("InvalidArguments", func(t *testing.T) { testRingInvalid(t, newStore) })
}

// ringData returns sealed-looking ring data: every byte value (NUL and
// invalid UTF-8 included), then a tag, so that only a byte-exact store
// round-trips it.
func ringData(tag string) []byte {
	b := make([]byte, 0, 256+len(tag))
	for i := range 256 {
		b = append(b, byte(255-i))
	}
	return append(b, tag...)
}

// assertRing asserts that name is stored at version with data, updated at
// updated.
func assertRing(t *testing.T, s keys.RingStore, name string, version int64, data []byte, updated time.Time) {
	t.Helper()
	got, err := s.LoadRing(t.Context(), name)
	require.NoError(t, err, name)
	assert.Equal(t, version, got.Version, "%s: version", name)
	assert.Equal(t, data, got.Data, "%s: data", name)
	assertSameTime(t, updated, got.UpdatedAt, name+": updated at")
}

func testRingNotFound(t *testing.T, newStore func(t *testing.T) keys.RingStore) {
	s := newStore(t)
	for _, name := range []string{"saml-signing", "", "unknown"} {
		_, err := s.LoadRing(t.Context(), name)
		require.ErrorIs(t, err, keys.ErrRingNotFound, "%q", name)
	}
}

func testRingCreateAndUpdate(t *testing.T, newStore func(t *testing.T) keys.RingStore) {
	s := newStore(t)
	ctx := t.Context()
	const name = "saml-signing"
	created, createdStored := at(0)
	updated, updatedStored := at(time.Hour)
	first, second := ringData("first"), ringData("second")

	v, err := s.SaveRing(ctx, name, 0, first, created)
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)
	assertRing(t, s, name, 1, first, createdStored)

	// Creating it again conflicts and keeps the first data.
	_, err = s.SaveRing(ctx, name, 0, ringData("again"), updated)
	require.ErrorIs(t, err, keys.ErrRingConflict)
	assertRing(t, s, name, 1, first, createdStored)

	// An update at the stored version succeeds.
	v, err = s.SaveRing(ctx, name, 1, second, updated)
	require.NoError(t, err)
	assert.Equal(t, int64(2), v)
	assertRing(t, s, name, 2, second, updatedStored)

	// Stale, future and creating versions conflict and change nothing.
	for _, prev := range []int64{1, 3, 0} {
		_, err = s.SaveRing(ctx, name, prev, ringData("stale"), updated.Add(time.Hour))
		require.ErrorIs(t, err, keys.ErrRingConflict, "prev %d", prev)
		assertRing(t, s, name, 2, second, updatedStored)
	}

	// An update of a ring never created conflicts and creates nothing.
	_, err = s.SaveRing(ctx, "never-created", 1, ringData("x"), updated)
	require.ErrorIs(t, err, keys.ErrRingConflict)
	_, err = s.LoadRing(ctx, "never-created")
	require.ErrorIs(t, err, keys.ErrRingNotFound)

	// The positive control once more: version 2 is current.
	v, err = s.SaveRing(ctx, name, 2, first, updated)
	require.NoError(t, err)
	assert.Equal(t, int64(3), v)
	assertRing(t, s, name, 3, first, updatedStored)
}

func testRingIndependent(t *testing.T, newStore func(t *testing.T) keys.RingStore) {
	s := newStore(t)
	ctx := t.Context()
	now, stored := at(0)
	later, laterStored := at(time.Minute)
	_, err := s.SaveRing(ctx, "a", 0, ringData("a1"), now)
	require.NoError(t, err)
	_, err = s.SaveRing(ctx, "b", 0, ringData("b1"), now)
	require.NoError(t, err, "another name is another ring")
	_, err = s.SaveRing(ctx, "A", 0, ringData("A1"), now)
	require.NoError(t, err, "names are case sensitive")

	_, err = s.SaveRing(ctx, "a", 1, ringData("a2"), later)
	require.NoError(t, err)
	_, err = s.SaveRing(ctx, "b", 2, ringData("b2"), later)
	require.ErrorIs(t, err, keys.ErrRingConflict, "b's version is its own")

	assertRing(t, s, "a", 2, ringData("a2"), laterStored)
	assertRing(t, s, "b", 1, ringData("b1"), stored)
	assertRing(t, s, "A", 1, ringData("A1"), stored)
}

func testRingConcurrentUpdate(t *testing.T, newStore func(t *testing.T) keys.RingStore) {
	s := newStore(t)
	for round := range 3 {
		name := fmt.Sprintf("racy-%d", round)
		_, err := s.SaveRing(t.Context(), name, 0, ringData("initial"), base)
		require.NoError(t, err)
		errs := race(RingConcurrency, func(i int) error {
			v, err := s.SaveRing(context.Background(), name, 1, ringData(fmt.Sprintf("writer %d", i)), base.Add(time.Duration(i)*time.Second))
			if err == nil && v != 2 {
				return fmt.Errorf("writer %d: version %d, want 2", i, v)
			}
			return err
		})
		winner := exactlyOneWinner(t, errs, keys.ErrRingConflict)
		if winner >= 0 {
			assertRing(t, s, name, 2, ringData(fmt.Sprintf("writer %d", winner)), base.Add(time.Duration(winner)*time.Second))
		}
	}
}

func testRingConcurrentCreate(t *testing.T, newStore func(t *testing.T) keys.RingStore) {
	s := newStore(t)
	for round := range 3 {
		name := fmt.Sprintf("new-%d", round)
		errs := race(RingConcurrency, func(i int) error {
			v, err := s.SaveRing(context.Background(), name, 0, ringData(fmt.Sprintf("creator %d", i)), base.Add(time.Duration(i)*time.Second))
			if err == nil && v != 1 {
				return fmt.Errorf("creator %d: version %d, want 1", i, v)
			}
			return err
		})
		winner := exactlyOneWinner(t, errs, keys.ErrRingConflict)
		if winner >= 0 {
			assertRing(t, s, name, 1, ringData(fmt.Sprintf("creator %d", winner)), base.Add(time.Duration(winner)*time.Second))
		}
	}
}

// testRingCopies checks that the store keeps its own copy of the data it
// is given and returns a copy of what it keeps.
func testRingCopies(t *testing.T, newStore func(t *testing.T) keys.RingStore) {
	s := newStore(t)
	ctx := t.Context()
	in := ringData("mine")
	_, err := s.SaveRing(ctx, "copies", 0, in, base)
	require.NoError(t, err)
	in[0] ^= 0xff
	got, err := s.LoadRing(ctx, "copies")
	require.NoError(t, err)
	assert.Equal(t, ringData("mine"), got.Data, "the caller's slice is not kept")
	got.Data[1] ^= 0xff
	assertRing(t, s, "copies", 1, ringData("mine"), base)
}

func testRingInvalid(t *testing.T, newStore func(t *testing.T) keys.RingStore) {
	s := newStore(t)
	ctx := t.Context()
	_, err := s.SaveRing(ctx, "existing", 0, ringData("kept"), base)
	require.NoError(t, err)
	for _, tc := range []struct {
		name, ring string
		prev       int64
		data       []byte
	}{
		{"empty name", "", 0, ringData("x")},
		{"empty name update", "", 1, ringData("x")},
		{"negative version", "existing", -1, ringData("x")},
		{"negative version new", "fresh", -1, ringData("x")},
		{"nil data", "fresh", 0, nil},
		{"empty data", "existing", 1, []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.SaveRing(ctx, tc.ring, tc.prev, tc.data, base.Add(time.Hour))
			require.Error(t, err)
			assert.NotErrorIs(t, err, keys.ErrRingConflict)
		})
	}
	assertRing(t, s, "existing", 1, ringData("kept"), base)
	for _, name := range []string{"", "fresh"} {
		_, err := s.LoadRing(ctx, name)
		require.ErrorIs(t, err, keys.ErrRingNotFound, "%q: nothing was stored", name)
	}
}
