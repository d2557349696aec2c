package oauth

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// memDevices is an in-memory DeviceStore honouring the documented
// semantics. conflicts makes the next CreateDevice calls fail with
// ErrConflict (to exercise the retry).
type memDevices struct {
	mu        sync.Mutex
	byHash    map[string]*DeviceAuthorization
	conflicts int
	creates   int
}

func newMemDevices() *memDevices { return &memDevices{byHash: map[string]*DeviceAuthorization{}} }

func cloneDevice(d *DeviceAuthorization) DeviceAuthorization {
	c := *d
	c.Scopes = slices.Clone(d.Scopes)
	return c
}

func (m *memDevices) CreateDevice(_ context.Context, d DeviceAuthorization) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.creates++
	if m.conflicts > 0 {
		m.conflicts--
		return fmt.Errorf("memDevices: forced: %w", ErrConflict)
	}
	for _, o := range m.byHash {
		if o.DeviceCodeHash == d.DeviceCodeHash || (o.UserCode == d.UserCode && d.CreatedAt.Before(o.ExpiresAt)) {
			return fmt.Errorf("memDevices: duplicate: %w", ErrConflict)
		}
	}
	c := cloneDevice(&d)
	m.byHash[d.DeviceCodeHash] = &c
	return nil
}

func (m *memDevices) DeviceByUserCode(_ context.Context, userCode string, now time.Time) (DeviceAuthorization, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.byHash {
		if d.UserCode == userCode && now.Before(d.ExpiresAt) {
			return cloneDevice(d), nil
		}
	}
	return DeviceAuthorization{}, ErrNotFound
}

func (m *memDevices) DeviceByCode(_ context.Context, hash string) (DeviceAuthorization, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.byHash[hash]
	if !ok {
		return DeviceAuthorization{}, ErrNotFound
	}
	return cloneDevice(d), nil
}

func (m *memDevices) DecideDevice(_ context.Context, userCode, userID string, approve bool, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.byHash {
		if d.UserCode != userCode || !now.Before(d.ExpiresAt) {
			continue
		}
		if d.Status != DevicePending {
			return ErrConflict
		}
		d.Status, d.UserID = DeviceDenied, userID
		if approve {
			d.Status = DeviceApproved
		}
		return nil
	}
	return ErrNotFound
}

func (m *memDevices) TouchDevice(_ context.Context, hash string, now time.Time, interval time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.byHash[hash]
	if !ok {
		return ErrNotFound
	}
	d.LastPolledAt, d.Interval = now, interval
	return nil
}

func (m *memDevices) ConsumeDevice(_ context.Context, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.byHash[hash]
	if !ok {
		return ErrNotFound
	}
	if d.Status != DeviceApproved {
		return ErrConflict
	}
	d.Status = DeviceConsumed
	return nil
}

func (m *memDevices) get(hash string) (DeviceAuthorization, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.byHash[hash]
	if !ok {
		return DeviceAuthorization{}, false
	}
	return cloneDevice(d), true
}

func (m *memDevices) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byHash)
}

// memRefresh is an in-memory RefreshStore with rotation and reuse
// detection as documented.
type memRefresh struct {
	mu      sync.Mutex
	tokens  map[string]*memRefreshEntry
	revoked map[string]bool // family IDs
}

type memRefreshEntry struct {
	t    RefreshToken
	used bool
}

func newMemRefresh() *memRefresh {
	return &memRefresh{tokens: map[string]*memRefreshEntry{}, revoked: map[string]bool{}}
}

func cloneRefresh(t RefreshToken) RefreshToken {
	t.Scopes = slices.Clone(t.Scopes)
	return t
}

func (m *memRefresh) CreateRefreshToken(_ context.Context, t RefreshToken) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.tokens[t.Hash]; dup {
		return ErrConflict
	}
	m.tokens[t.Hash] = &memRefreshEntry{t: cloneRefresh(t)}
	return nil
}

// current returns the entry if it is usable at now; the caller holds mu.
func (m *memRefresh) current(hash string, now time.Time) (*memRefreshEntry, error) {
	e, ok := m.tokens[hash]
	if !ok || m.revoked[e.t.FamilyID] {
		return nil, ErrNotFound
	}
	if e.used {
		m.revoked[e.t.FamilyID] = true
		return nil, ErrRefreshReused
	}
	if !now.Before(e.t.ExpiresAt) || !now.Before(e.t.FamilyExpiresAt) {
		return nil, ErrNotFound
	}
	return e, nil
}

func (m *memRefresh) RefreshTokenByHash(_ context.Context, hash string, now time.Time) (RefreshToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.current(hash, now)
	if err != nil {
		return RefreshToken{}, err
	}
	return cloneRefresh(e.t), nil
}

func (m *memRefresh) RotateRefreshToken(_ context.Context, hash string, next RefreshToken, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.current(hash, now)
	if err != nil {
		return err
	}
	if next.FamilyID != e.t.FamilyID {
		return fmt.Errorf("memRefresh: rotation changes the family")
	}
	if _, dup := m.tokens[next.Hash]; dup {
		return ErrConflict
	}
	e.used = true
	m.tokens[next.Hash] = &memRefreshEntry{t: cloneRefresh(next)}
	return nil
}

func (m *memRefresh) RevokeRefreshFamily(_ context.Context, family string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revoked[family] = true
	return nil
}

func (m *memRefresh) RevokeUserRefreshTokens(_ context.Context, userID string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, e := range m.tokens {
		if e.t.UserID == userID && !m.revoked[e.t.FamilyID] {
			m.revoked[e.t.FamilyID] = true
			n++
		}
	}
	return n, nil
}

func (m *memRefresh) familyRevoked(family string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.revoked[family]
}

// byRaw returns the stored token for a raw value (looked up by its hash).
func (m *memRefresh) byRaw(raw string) (RefreshToken, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.tokens[hashToken(raw)]
	if !ok {
		return RefreshToken{}, false
	}
	return cloneRefresh(e.t), true
}

func (m *memRefresh) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tokens)
}

// testClock is a settable clock for flows that span polling intervals.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
