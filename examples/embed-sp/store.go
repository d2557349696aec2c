package main

import (
	"context"
	"crypto/rand"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// memStore is the example's in-memory implementation of the four sp store
// interfaces (RequestTracker, ReplayCache, SessionStore, UserDirectory).
// One mutex makes every method atomic, which gives the single-use
// ConsumeRequest and insert-if-absent MarkAssertionUsed the sp package
// requires. It is enough for one process; a real deployment shares a
// database between instances, keeps only a hash of each session ID (here
// the ID itself is the map key) and expires old rows in the background
// (here each write sweeps its own map).
type memStore struct {
	mu       sync.Mutex
	requests map[string]sp.PendingRequest
	replay   map[[2]string]time.Time // (issuer, assertion ID) -> expiry
	sessions map[string]sp.Session
	users    map[string]sp.User
	links    map[sp.ExternalIdentity]string // upstream identity -> user ID
}

func newMemStore() *memStore {
	return &memStore{
		requests: map[string]sp.PendingRequest{},
		replay:   map[[2]string]time.Time{},
		sessions: map[string]sp.Session{},
		users:    map[string]sp.User{},
		links:    map[sp.ExternalIdentity]string{},
	}
}

func (m *memStore) SaveRequest(_ context.Context, r sp.PendingRequest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, old := range m.requests {
		if !old.ExpiresAt.After(r.CreatedAt) {
			delete(m.requests, id)
		}
	}
	m.requests[r.ID] = r
	return nil
}

func (m *memStore) ConsumeRequest(_ context.Context, id string, now time.Time) (sp.PendingRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.requests[id]
	delete(m.requests, id) // single use: gone whether or not it was still valid
	if !ok || !r.ExpiresAt.After(now) {
		return sp.PendingRequest{}, sp.ErrNotFound
	}
	return r, nil
}

func (m *memStore) MarkAssertionUsed(_ context.Context, issuer, assertionID string, expiresAt, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := [2]string{issuer, assertionID}
	if exp, ok := m.replay[key]; ok && exp.After(now) {
		return sp.ErrReplay
	}
	for k, exp := range m.replay {
		if !exp.After(now) {
			delete(m.replay, k)
		}
	}
	m.replay[key] = expiresAt
	return nil
}

func (m *memStore) CreateSession(_ context.Context, s sp.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, old := range m.sessions {
		if !old.ExpiresAt.After(s.CreatedAt) {
			delete(m.sessions, id)
		}
	}
	m.sessions[s.ID] = s
	return nil
}

func (m *memStore) GetSession(_ context.Context, id string, now time.Time) (sp.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok || !s.ExpiresAt.After(now) {
		return sp.Session{}, sp.ErrNotFound
	}
	return s, nil
}

func (m *memStore) DeleteSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, id)
	return nil
}

func (m *memStore) LookupExternal(_ context.Context, ext sp.ExternalIdentity) (sp.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.links[ext]; ok {
		return m.users[id], nil
	}
	return sp.User{}, sp.ErrNotFound
}

func (m *memStore) LinkByUserName(_ context.Context, ext sp.ExternalIdentity) (sp.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		if u.UserName != ext.NameID {
			continue
		}
		for linked, id := range m.links {
			if id == u.ID && linked.Issuer == ext.Issuer && linked != ext {
				return sp.User{}, sp.ErrConflict
			}
		}
		m.links[ext] = u.ID
		return u, nil
	}
	return sp.User{}, sp.ErrNotFound
}

func (m *memStore) ProvisionExternal(_ context.Context, ext sp.ExternalIdentity, attrs sp.UserAttributes, _ time.Time) (sp.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.links[ext]; ok {
		return m.updateLocked(id, attrs)
	}
	for _, u := range m.users {
		if u.UserName == ext.NameID {
			return sp.User{}, sp.ErrConflict
		}
	}
	u := sp.User{ID: rand.Text(), UserName: ext.NameID, Active: true}
	m.users[u.ID] = u
	m.links[ext] = u.ID
	return m.updateLocked(u.ID, attrs)
}

func (m *memStore) UpdateAttributes(_ context.Context, userID string, attrs sp.UserAttributes, _ time.Time) (sp.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.updateLocked(userID, attrs)
}

func (m *memStore) updateLocked(id string, attrs sp.UserAttributes) (sp.User, error) {
	u, ok := m.users[id]
	if !ok {
		return sp.User{}, sp.ErrNotFound
	}
	u.Email, u.DisplayName = attrs.Email, attrs.DisplayName
	if attrs.Groups != nil { // nil: groups not asserted, keep them
		u.Groups = append([]string{}, attrs.Groups...)
	}
	m.users[id] = u
	return u, nil
}

func (m *memStore) GetUser(_ context.Context, id string) (sp.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.users[id]; ok {
		return u, nil
	}
	return sp.User{}, sp.ErrNotFound
}
