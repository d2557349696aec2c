package memory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/keys"
)

var _ keys.RingStore = (*Store)(nil)

// LoadRing implements keys.RingStore. The returned data is a copy.
func (s *Store) LoadRing(_ context.Context, name string) (keys.StoredRing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rings[name]
	if !ok {
		return keys.StoredRing{}, fmt.Errorf("memory: load ring %q: %w", name, keys.ErrRingNotFound)
	}
	r.Data = slices.Clone(r.Data)
	return r, nil
}

// SaveRing implements keys.RingStore: the version check and the write
// happen under the store's mutex, so of concurrent saves with the same
// prev exactly one wins. data is copied; UpdatedAt is now to the
// microsecond, as the SQL store keeps it. An empty name or data, or a
// prev that is negative or has no successor, is an error that does not
// wrap keys.ErrRingConflict.
func (s *Store) SaveRing(_ context.Context, name string, prev int64, data []byte, now time.Time) (int64, error) {
	switch {
	case name == "":
		return 0, errors.New("memory: save ring: empty name")
	case prev < 0 || prev == math.MaxInt64:
		return 0, fmt.Errorf("memory: save ring %q: invalid version %d", name, prev)
	case len(data) == 0:
		return 0, fmt.Errorf("memory: save ring %q: empty data", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.rings[name]
	switch {
	case prev == 0 && ok:
		return 0, fmt.Errorf("memory: save ring %q: already stored: %w", name, keys.ErrRingConflict)
	case prev > 0 && (!ok || cur.Version != prev):
		return 0, fmt.Errorf("memory: save ring %q: version is not %d: %w", name, prev, keys.ErrRingConflict)
	}
	if s.rings == nil {
		s.rings = map[string]keys.StoredRing{}
	}
	s.rings[name] = keys.StoredRing{Version: prev + 1, Data: slices.Clone(data), UpdatedAt: micro(now)}
	return prev + 1, nil
}
