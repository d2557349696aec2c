package memory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"

	"github.com/gatehouse-dev/gatehouse/idp"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// Store is an in-memory implementation of store.Store, idp.SSOStateStore
// and apps.Store. One mutex guards all state, so every method is atomic.
// The zero value is not usable; call New.
type Store struct {
	mu       sync.Mutex
	requests map[string]sp.PendingRequest
	replay   map[replayKey]time.Time
	sessions map[string]session // keyed by hashSessionID
	now      func() time.Time
	// dir holds the identity store's users, groups and memberships (see
	// directory.go).
	dir   dirTables
	links map[sp.ExternalIdentity]string
	// linkedIssuers maps a user ID to the issuers it is linked under, so
	// a user has at most one identity per issuer.
	linkedIssuers map[string]map[string]bool
	// sso holds pending app-facing SSO states (see sso.go), created on
	// first use.
	sso map[string]idp.PendingSSO
	// applications holds the applications of the admin API (see apps.go).
	applications appTable
	// oauth holds device authorizations, refresh tokens and access-token
	// revocations (see oauth.go), created on first use.
	oauth *oauthTables
	// SCIM bearer tokens.
	*scimtoken.MemoryStore
	// signin holds passwords, failure counters, MFA devices and sign-in
	// flows (see signin.go), created on first use.
	signin *signinTables
	// access holds accounts, permission sets, assignments and
	// provisioning state (see access.go), created on first use.
	access *accessTables
	// rings holds signing-key rings (keys.RingStore, see keyrings.go),
	// created on first use.
	rings map[string]keys.StoredRing
	// audit is the audit log in append order; event i has ID i+1 (see
	// audit.go).
	audit []audit.Event
}

type replayKey struct{ issuer, assertionID string }

// session is sp.Session without its ID: only the ID's hash is kept.
type session struct {
	userID       string
	createdAt    time.Time
	expiresAt    time.Time
	authnInstant time.Time
	sessionIndex string
	method       string
	authnContext string
}

var (
	_ store.Store       = (*Store)(nil)
	_ sp.RequestTracker = (*Store)(nil)
	_ sp.ReplayCache    = (*Store)(nil)
	_ sp.SessionStore   = (*Store)(nil)
	_ sp.UserDirectory  = (*Store)(nil)
	_ sp.Pinger         = (*Store)(nil)
	_ directory.Store   = (*Store)(nil)
)

// Options configure a Store.
type Options struct {
	// Now is the clock for timestamps the caller does not pass in (the
	// creation time of users added by CreateUser). Nil means time.Now.
	Now func() time.Time
}

// New returns an empty Store with the default Options.
func New() *Store { return NewWithOptions(Options{}) }

// NewWithOptions returns an empty Store.
func NewWithOptions(opts Options) *Store {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Store{
		requests:      map[string]sp.PendingRequest{},
		replay:        map[replayKey]time.Time{},
		sessions:      map[string]session{},
		now:           now,
		dir:           newDirTables(),
		MemoryStore:   scimtoken.NewMemoryStore(),
		links:         map[sp.ExternalIdentity]string{},
		linkedIssuers: map[string]map[string]bool{},
	}
}

// Ping always succeeds.
func (s *Store) Ping(context.Context) error { return nil }

// SaveRequest stores r until r.ExpiresAt; a second request with the same
// ID returns sp.ErrConflict.
func (s *Store) SaveRequest(_ context.Context, r sp.PendingRequest) error {
	if r.ID == "" {
		return errors.New("memory: save request: empty ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.requests[r.ID]; ok {
		return fmt.Errorf("memory: save request: %w", sp.ErrConflict)
	}
	s.requests[r.ID] = r
	return nil
}

// ConsumeRequest deletes and returns the pending request with the given
// ID; exactly one of any number of concurrent callers gets it. An expired
// request (ExpiresAt not after now) returns sp.ErrNotFound and is left for
// Cleanup.
func (s *Store) ConsumeRequest(_ context.Context, id string, now time.Time) (sp.PendingRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok || !r.ExpiresAt.After(now) {
		return sp.PendingRequest{}, fmt.Errorf("memory: consume request: %w", sp.ErrNotFound)
	}
	delete(s.requests, id)
	return r, nil
}

// MarkAssertionUsed records (issuer, assertionID) until expiresAt. It
// returns sp.ErrReplay while an earlier record of the pair has not expired
// (compared with now); an expired record is replaced.
func (s *Store) MarkAssertionUsed(_ context.Context, issuer, assertionID string, expiresAt, now time.Time) error {
	if issuer == "" || assertionID == "" {
		return errors.New("memory: mark assertion used: empty issuer or assertion ID")
	}
	k := replayKey{issuer, assertionID}
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.replay[k]; ok && exp.After(now) {
		return fmt.Errorf("memory: mark assertion used: %w", sp.ErrReplay)
	}
	s.replay[k] = expiresAt
	return nil
}

// hashSessionID is the key sessions are kept under (hex SHA-256 of the
// session ID), as in the SQL store: the raw ID is not retained.
func hashSessionID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// CreateSession stores sess under the hash of sess.ID; a session with the
// same ID returns sp.ErrConflict.
func (s *Store) CreateSession(_ context.Context, sess sp.Session) error {
	if sess.ID == "" {
		return errors.New("memory: create session: empty ID")
	}
	k := hashSessionID(sess.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[k]; ok {
		return fmt.Errorf("memory: create session: %w", sp.ErrConflict)
	}
	s.sessions[k] = session{
		userID:       sess.UserID,
		createdAt:    sess.CreatedAt,
		expiresAt:    sess.ExpiresAt,
		authnInstant: sess.AuthnInstant,
		sessionIndex: sess.SessionIndex,
		method:       sess.Method,
		authnContext: sess.AuthnContextClassRef,
	}
	return nil
}

// GetSession returns the session, or sp.ErrNotFound when it is unknown or
// its ExpiresAt is not after now.
func (s *Store) GetSession(_ context.Context, id string, now time.Time) (sp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.sessions[hashSessionID(id)]
	if !ok || !v.expiresAt.After(now) {
		return sp.Session{}, fmt.Errorf("memory: get session: %w", sp.ErrNotFound)
	}
	return sp.Session{
		ID:           id,
		UserID:       v.userID,
		CreatedAt:    v.createdAt,
		ExpiresAt:    v.expiresAt,
		AuthnInstant: v.authnInstant,
		SessionIndex: v.sessionIndex,
		Method:       v.method,

		AuthnContextClassRef: v.authnContext,
	}, nil
}

// DeleteSession removes the session; deleting an unknown session is not an
// error.
func (s *Store) DeleteSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, hashSessionID(id))
	return nil
}

// Cleanup deletes the pending requests, replay records, sessions, SSO
// states and sign-in flows whose expiry is not after now, the access-token
// revocations whose expiry is before now, the refresh tokens whose own or
// family expiry is before now and the device authorizations that expired
// more than store.DeviceRetention before now, and returns how many it
// deleted. It never deletes audit events.
func (s *Store) Cleanup(ctx context.Context, now time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory: cleanup: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for id, r := range s.requests {
		if !r.ExpiresAt.After(now) {
			delete(s.requests, id)
			n++
		}
	}
	for k, exp := range s.replay {
		if !exp.After(now) {
			delete(s.replay, k)
			n++
		}
	}
	for k, v := range s.sessions {
		if !v.expiresAt.After(now) {
			delete(s.sessions, k)
			n++
		}
	}
	n += s.cleanupSSOLocked(now)
	n += s.cleanupOAuthLocked(now)
	n += s.cleanupSignInLocked(now)
	return n, nil
}

// newID returns a random 128-bit identifier in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
