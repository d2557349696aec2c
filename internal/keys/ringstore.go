package keys

import (
	"context"
	"errors"
	"time"
)

// RingStore keeps key rings in the gateway's shared store (SQLite or
// PostgreSQL), so that every instance on that store agrees on which key is
// current, next and previous (see OpenStoreRing). A ring is one row: its
// sealed state and a version that every change increments, so that a
// change is a compare-and-set and of two concurrent changes exactly one
// wins.
type RingStore interface {
	// LoadRing returns the ring's stored state, or an error wrapping
	// ErrRingNotFound when nothing is stored under name.
	LoadRing(ctx context.Context, name string) (StoredRing, error)
	// SaveRing stores data as the ring's state when its stored version is
	// prev (prev 0: only when nothing is stored under name yet) and
	// returns the new version, prev+1. When the stored version is another
	// (or, for prev 0, a state exists) nothing is written and the error
	// wraps ErrRingConflict.
	SaveRing(ctx context.Context, name string, prev int64, data []byte, now time.Time) (int64, error)
}

// StoredRing is a ring's state as a RingStore keeps it.
type StoredRing struct {
	Version   int64
	Data      []byte // sealed; opaque to the store
	UpdatedAt time.Time
}

// RingStore errors.
var (
	ErrRingNotFound = errors.New("keys: ring not found in the store")
	ErrRingConflict = errors.New("keys: ring changed concurrently")
)
