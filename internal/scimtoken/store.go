package scimtoken

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Errors a Store returns; callers branch on them with errors.Is. Any other
// error means the store is unavailable, and the Service then refuses (a
// SCIM request gets 503, an admin request changes nothing).
var (
	// ErrNotFound: no token has the hash, or no unrevoked token has the ID.
	ErrNotFound = errors.New("scimtoken: token not found")
	// ErrLimit: the maximum number of active tokens is reached.
	ErrLimit = errors.New("scimtoken: too many active tokens")
	// ErrConflict: a token with the ID or hash already exists (a random
	// collision: practically impossible).
	ErrConflict = errors.New("scimtoken: token already exists")
)

// Store keeps the token records. Every method is atomic; returned records
// are the caller's own copies. Times are kept to the microsecond at least.
type Store interface {
	// InsertToken stores rec when fewer than maxActive tokens are active
	// at rec.CreatedAt (RevokedAt unset, ExpiresAt after it) and returns
	// ErrLimit, storing nothing, otherwise. The count and the insert are
	// one atomic step with respect to every other InsertToken on the same
	// data, in this process or any other: of concurrent calls no more
	// succeed than the limit allows. An existing ID or hash is
	// ErrConflict.
	InsertToken(ctx context.Context, rec Record, maxActive int) error
	// TokenByHash returns the token with the hash, revoked or expired
	// ones included, or ErrNotFound.
	TokenByHash(ctx context.Context, hash string) (Record, error)
	// ListTokens returns every token that is not revoked, expired ones
	// included, ordered by CreatedAt then ID.
	ListTokens(ctx context.Context) ([]Record, error)
	// RevokeToken sets RevokedAt of the unrevoked token with the ID to at,
	// or returns ErrNotFound (also for a token already revoked). Once it
	// returns, TokenByHash reports the token revoked to every caller.
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// TouchToken sets LastUsedAt of the token with the ID to at when it is
	// unset or before staleBefore, and does nothing otherwise (also for an
	// unknown ID). Concurrent calls with the same staleBefore write at
	// most once.
	TouchToken(ctx context.Context, id string, at, staleBefore time.Time) error
}

// MemoryStore is a Store in process memory, for tests and single-process
// embedding: its tokens are lost on restart and not shared between
// processes. The zero value is not usable: call NewMemoryStore.
type MemoryStore struct {
	mu     sync.Mutex
	byID   map[string]Record
	byHash map[string]string // hash -> ID
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{byID: map[string]Record{}, byHash: map[string]string{}}
}

// InsertToken implements Store.
func (m *MemoryStore) InsertToken(_ context.Context, rec Record, maxActive int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[rec.ID]; ok {
		return fmt.Errorf("scimtoken: insert %s: %w", rec.ID, ErrConflict)
	}
	if _, ok := m.byHash[rec.Hash]; ok {
		return fmt.Errorf("scimtoken: insert %s: %w", rec.ID, ErrConflict)
	}
	active := 0
	for _, r := range m.byID {
		if r.Active(rec.CreatedAt) {
			active++
		}
	}
	if active >= maxActive {
		return ErrLimit
	}
	m.byID[rec.ID] = rec
	m.byHash[rec.Hash] = rec.ID
	return nil
}

// TokenByHash implements Store.
func (m *MemoryStore) TokenByHash(_ context.Context, hash string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.byHash[hash]
	if !ok {
		return Record{}, ErrNotFound
	}
	return m.byID[id], nil
}

// ListTokens implements Store.
func (m *MemoryStore) ListTokens(context.Context) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Record, 0, len(m.byID))
	for _, r := range m.byID {
		if r.RevokedAt.IsZero() {
			out = append(out, r)
		}
	}
	sortRecords(out)
	return out, nil
}

// RevokeToken implements Store.
func (m *MemoryStore) RevokeToken(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.byID[id]
	if !ok || !r.RevokedAt.IsZero() {
		return ErrNotFound
	}
	r.RevokedAt = at
	m.byID[id] = r
	return nil
}

// TouchToken implements Store.
func (m *MemoryStore) TouchToken(_ context.Context, id string, at, staleBefore time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.byID[id]
	if !ok || (!r.LastUsedAt.IsZero() && !r.LastUsedAt.Before(staleBefore)) {
		return nil
	}
	r.LastUsedAt = at
	m.byID[id] = r
	return nil
}

func sortRecords(rs []Record) {
	slices.SortFunc(rs, func(a, b Record) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
}
