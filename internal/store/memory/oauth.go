package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/oauth"
)

var (
	_ oauth.DeviceStore     = (*Store)(nil)
	_ oauth.RefreshStore    = (*Store)(nil)
	_ oauth.RevocationStore = (*Store)(nil)
)

// oauthTables holds the OAuth state, created on first use. Records are
// stored and handed out as copies.
type oauthTables struct {
	devices    map[string]oauth.DeviceAuthorization // by device code hash
	userCodes  map[string]string                    // user code -> device code hash
	refresh    map[string]*refreshToken             // by hash
	revocation map[string]time.Time                 // jti -> expiry
}

type refreshToken struct {
	t       oauth.RefreshToken
	used    bool
	revoked bool
}

// oauthLocked returns the OAuth tables, creating them; s.mu must be held.
func (s *Store) oauthLocked() *oauthTables {
	if s.oauth == nil {
		s.oauth = &oauthTables{
			devices:    map[string]oauth.DeviceAuthorization{},
			userCodes:  map[string]string{},
			refresh:    map[string]*refreshToken{},
			revocation: map[string]time.Time{},
		}
	}
	return s.oauth
}

// cloneList returns a copy of l, nil when it is empty, as the SQL store
// returns lists.
func cloneList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return slices.Clone(l)
}

func cloneDevice(d oauth.DeviceAuthorization) oauth.DeviceAuthorization {
	d.Scopes = cloneList(d.Scopes)
	return d
}

// CreateDevice stores d as a new pending authorization (d.Status empty or
// pending, d.UserID empty). An authorization that expired at or before
// d.CreatedAt gives its user code up (it stays, with an empty user code,
// for DeviceByCode) and is replaced when it has the same device code hash.
// Codes held by an unexpired authorization return oauth.ErrConflict.
func (s *Store) CreateDevice(_ context.Context, d oauth.DeviceAuthorization) error {
	switch {
	case d.DeviceCodeHash == "" || d.UserCode == "":
		return errors.New("memory: create device: empty device code hash or user code")
	case d.Status != "" && d.Status != oauth.DevicePending:
		return fmt.Errorf("memory: create device: status %q: a new authorization is pending", d.Status)
	case d.UserID != "":
		return errors.New("memory: create device: a new authorization has no user")
	case d.Interval < 0:
		return errors.New("memory: create device: negative polling interval")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauthLocked()
	expired := func(hash string) bool {
		old, ok := o.devices[hash]
		return ok && !old.ExpiresAt.After(d.CreatedAt)
	}
	if _, ok := o.devices[d.DeviceCodeHash]; ok && !expired(d.DeviceCodeHash) {
		return fmt.Errorf("memory: create device: device code: %w", oauth.ErrConflict)
	}
	holder, held := o.userCodes[d.UserCode]
	if held && !expired(holder) {
		return fmt.Errorf("memory: create device: user code: %w", oauth.ErrConflict)
	}
	if held {
		old := o.devices[holder]
		old.UserCode = ""
		o.devices[holder] = old
		delete(o.userCodes, d.UserCode)
	}
	if old, ok := o.devices[d.DeviceCodeHash]; ok {
		delete(o.userCodes, old.UserCode)
	}
	d = cloneDevice(d)
	d.Status = oauth.DevicePending
	o.devices[d.DeviceCodeHash] = d
	o.userCodes[d.UserCode] = d.DeviceCodeHash
	return nil
}

// DeviceByUserCode returns the authorization holding userCode, or
// oauth.ErrNotFound when there is none or its ExpiresAt is not after now.
func (s *Store) DeviceByUserCode(_ context.Context, userCode string, now time.Time) (oauth.DeviceAuthorization, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deviceByUserCodeLocked(userCode, now)
	if !ok {
		return oauth.DeviceAuthorization{}, fmt.Errorf("memory: device by user code: %w", oauth.ErrNotFound)
	}
	return cloneDevice(d), nil
}

func (s *Store) deviceByUserCodeLocked(userCode string, now time.Time) (oauth.DeviceAuthorization, bool) {
	o := s.oauthLocked()
	hash, ok := o.userCodes[userCode]
	if !ok {
		return oauth.DeviceAuthorization{}, false
	}
	d := o.devices[hash]
	if !d.ExpiresAt.After(now) {
		return oauth.DeviceAuthorization{}, false
	}
	return d, true
}

// DeviceByCode returns the authorization with that device code hash,
// expired or not, or oauth.ErrNotFound.
func (s *Store) DeviceByCode(_ context.Context, deviceCodeHash string) (oauth.DeviceAuthorization, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.oauthLocked().devices[deviceCodeHash]
	if !ok {
		return oauth.DeviceAuthorization{}, fmt.Errorf("memory: device by code: %w", oauth.ErrNotFound)
	}
	return cloneDevice(d), nil
}

// DecideDevice approves or denies the pending, unexpired authorization
// holding userCode for userID. Otherwise it changes nothing and returns
// oauth.ErrNotFound (unknown or expired user code) or oauth.ErrConflict
// (already decided or consumed). An empty userID is an error.
func (s *Store) DecideDevice(_ context.Context, userCode, userID string, approve bool, now time.Time) error {
	if userID == "" {
		return errors.New("memory: decide device: empty user ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deviceByUserCodeLocked(userCode, now)
	if !ok {
		return fmt.Errorf("memory: decide device: %w", oauth.ErrNotFound)
	}
	if d.Status != oauth.DevicePending {
		return fmt.Errorf("memory: decide device: not pending: %w", oauth.ErrConflict)
	}
	d.Status, d.UserID = oauth.DeviceDenied, userID
	if approve {
		d.Status = oauth.DeviceApproved
	}
	s.oauth.devices[d.DeviceCodeHash] = d
	return nil
}

// TouchDevice records a poll at now and sets the polling interval, or
// returns oauth.ErrNotFound. A negative interval is an error.
func (s *Store) TouchDevice(_ context.Context, deviceCodeHash string, now time.Time, interval time.Duration) error {
	if interval < 0 {
		return errors.New("memory: touch device: negative polling interval")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauthLocked()
	d, ok := o.devices[deviceCodeHash]
	if !ok {
		return fmt.Errorf("memory: touch device: %w", oauth.ErrNotFound)
	}
	d.LastPolledAt, d.Interval = now, interval
	o.devices[deviceCodeHash] = d
	return nil
}

// ConsumeDevice moves an approved authorization to consumed; exactly one
// of any number of concurrent callers succeeds. The others, and a call on
// an authorization that is not approved, get oauth.ErrConflict; an unknown
// hash gets oauth.ErrNotFound.
func (s *Store) ConsumeDevice(_ context.Context, deviceCodeHash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauthLocked()
	d, ok := o.devices[deviceCodeHash]
	if !ok {
		return fmt.Errorf("memory: consume device: %w", oauth.ErrNotFound)
	}
	if d.Status != oauth.DeviceApproved {
		return fmt.Errorf("memory: consume device: not approved: %w", oauth.ErrConflict)
	}
	d.Status = oauth.DeviceConsumed
	o.devices[deviceCodeHash] = d
	return nil
}

func cloneRefresh(t oauth.RefreshToken) oauth.RefreshToken {
	t.Scopes = cloneList(t.Scopes)
	return t
}

// CreateRefreshToken stores t, the first token of a family; a Hash
// already present returns oauth.ErrConflict. An empty Hash or FamilyID is
// an error.
func (s *Store) CreateRefreshToken(_ context.Context, t oauth.RefreshToken) error {
	if t.Hash == "" || t.FamilyID == "" {
		return errors.New("memory: create refresh token: empty hash or family ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauthLocked()
	if _, ok := o.refresh[t.Hash]; ok {
		return fmt.Errorf("memory: create refresh token: %w", oauth.ErrConflict)
	}
	o.refresh[t.Hash] = &refreshToken{t: cloneRefresh(t)}
	return nil
}

// RefreshTokenByHash returns the token with that hash while it is current:
// not rotated, not revoked, and neither it nor its family expired at now.
// A rotated token revokes its family and returns oauth.ErrRefreshReused;
// an unknown, revoked or expired one returns oauth.ErrNotFound.
func (s *Store) RefreshTokenByHash(_ context.Context, hash string, now time.Time) (oauth.RefreshToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.currentRefreshLocked(hash, now)
	if err != nil {
		return oauth.RefreshToken{}, fmt.Errorf("memory: refresh token by hash: %w", err)
	}
	return cloneRefresh(r.t), nil
}

// currentRefreshLocked returns the current token with hash, or the error
// RefreshTokenByHash and RotateRefreshToken return, revoking the family of
// a rotated token; s.mu must be held.
func (s *Store) currentRefreshLocked(hash string, now time.Time) (*refreshToken, error) {
	o := s.oauthLocked()
	r, ok := o.refresh[hash]
	switch {
	case !ok:
		return nil, fmt.Errorf("unknown refresh token: %w", oauth.ErrNotFound)
	case r.used:
		s.revokeFamilyLocked(r.t.FamilyID)
		return nil, fmt.Errorf("family revoked: %w", oauth.ErrRefreshReused)
	case r.revoked || !r.t.ExpiresAt.After(now) || !r.t.FamilyExpiresAt.After(now):
		return nil, fmt.Errorf("revoked or expired: %w", oauth.ErrNotFound)
	}
	return r, nil
}

// RotateRefreshToken marks the token with hash used and stores next, in
// one step. A token already rotated revokes its family and returns
// oauth.ErrRefreshReused; an unknown, revoked or expired one returns
// oauth.ErrNotFound. next must belong to the same family, client and user
// and must not outlive the family; otherwise RotateRefreshToken returns an
// error and changes nothing.
func (s *Store) RotateRefreshToken(_ context.Context, hash string, next oauth.RefreshToken, now time.Time) error {
	if next.Hash == "" || next.Hash == hash {
		return errors.New("memory: rotate refresh token: next hash is empty or equals the old one")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.currentRefreshLocked(hash, now)
	if err != nil {
		return fmt.Errorf("memory: rotate refresh token: %w", err)
	}
	switch {
	case next.FamilyID != r.t.FamilyID:
		return errors.New("memory: rotate refresh token: next token belongs to another family")
	case next.ClientID != r.t.ClientID || next.UserID != r.t.UserID:
		return errors.New("memory: rotate refresh token: next token has another client or user")
	case next.FamilyExpiresAt.After(r.t.FamilyExpiresAt):
		return errors.New("memory: rotate refresh token: next token outlives its family")
	}
	o := s.oauth
	if _, ok := o.refresh[next.Hash]; ok {
		return fmt.Errorf("memory: rotate refresh token: %w", oauth.ErrConflict)
	}
	r.used = true
	o.refresh[next.Hash] = &refreshToken{t: cloneRefresh(next)}
	return nil
}

// revokeFamilyLocked revokes the family's tokens; s.mu must be held.
func (s *Store) revokeFamilyLocked(familyID string) {
	for _, r := range s.oauthLocked().refresh {
		if r.t.FamilyID == familyID {
			r.revoked = true
		}
	}
}

// RevokeRefreshFamily revokes every token of the family. Revoking an
// unknown or already revoked family is not an error; an empty family ID
// is.
func (s *Store) RevokeRefreshFamily(_ context.Context, familyID string) error {
	if familyID == "" {
		return errors.New("memory: revoke refresh family: empty family ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeFamilyLocked(familyID)
	return nil
}

// RevokeUserRefreshTokens revokes every unrevoked refresh token of the
// user and returns the number of families that had one. An empty user ID
// is an error.
func (s *Store) RevokeUserRefreshTokens(_ context.Context, userID string) (int64, error) {
	if userID == "" {
		return 0, errors.New("memory: revoke user refresh tokens: empty user ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	families := map[string]bool{}
	for _, r := range s.oauthLocked().refresh {
		if r.t.UserID == userID && !r.revoked {
			r.revoked = true
			families[r.t.FamilyID] = true
		}
	}
	return int64(len(families)), nil
}

// Revoke records jti as revoked until expiresAt; revoking it again keeps
// the later expiry. An empty jti is an error.
func (s *Store) Revoke(_ context.Context, jti string, expiresAt time.Time) error {
	if jti == "" {
		return errors.New("memory: revoke: empty jti")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.oauthLocked()
	if old, ok := o.revocation[jti]; !ok || old.Before(expiresAt) {
		o.revocation[jti] = expiresAt
	}
	return nil
}

// IsRevoked reports whether jti is recorded as revoked: true until Cleanup
// removes the entry, which it does only once its expiry is before the
// cleanup time. An empty jti is an error.
func (s *Store) IsRevoked(_ context.Context, jti string, _ time.Time) (bool, error) {
	if jti == "" {
		return false, errors.New("memory: is revoked: empty jti")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.oauthLocked().revocation[jti]
	return ok, nil
}

// cleanupOAuthLocked deletes revocations whose expiry is before now,
// refresh tokens whose own or family expiry is before now and device
// authorizations that expired more than store.DeviceRetention before now;
// s.mu must be held.
func (s *Store) cleanupOAuthLocked(now time.Time) int64 {
	if s.oauth == nil {
		return 0
	}
	o := s.oauth
	var n int64
	for jti, exp := range o.revocation {
		if exp.Before(now) {
			delete(o.revocation, jti)
			n++
		}
	}
	for hash, r := range o.refresh {
		if r.t.ExpiresAt.Before(now) || r.t.FamilyExpiresAt.Before(now) {
			delete(o.refresh, hash)
			n++
		}
	}
	cutoff := now.Add(-store.DeviceRetention)
	for hash, d := range o.devices {
		if d.ExpiresAt.Before(cutoff) {
			if o.userCodes[d.UserCode] == hash {
				delete(o.userCodes, d.UserCode)
			}
			delete(o.devices, hash)
			n++
		}
	}
	return n
}
