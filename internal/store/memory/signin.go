package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/signin"
)

var _ signin.CredentialStore = (*Store)(nil)

// signinTables holds the built-in sign-in's credentials
// (signin.CredentialStore), created on first use. Flows are kept under
// hashSessionID of their ID, as sessions are, without the ID.
type signinTables struct {
	passwords map[string]signin.Password   // by user ID
	lockouts  map[string]signin.Lockout    // by user ID; absent: zero
	devices   map[string]*signin.MFADevice // by device ID
	flows     map[string]signin.Flow       // by hashSessionID(ID), ID empty
	byCredID  map[string]string            // WebAuthn credential ID -> device ID
}

// signinLocked returns the tables, creating them; s.mu must be held.
func (s *Store) signinLocked() *signinTables {
	if s.signin == nil {
		s.signin = &signinTables{
			passwords: map[string]signin.Password{},
			lockouts:  map[string]signin.Lockout{},
			devices:   map[string]*signin.MFADevice{},
			flows:     map[string]signin.Flow{},
			byCredID:  map[string]string{},
		}
	}
	return s.signin
}

// deleteSignInLocked deletes the user's password, lockout state, devices
// and flows; s.mu must be held.
func (s *Store) deleteSignInLocked(userID string) {
	t := s.signin
	if t == nil {
		return
	}
	delete(t.passwords, userID)
	delete(t.lockouts, userID)
	for id, d := range t.devices {
		if d.UserID == userID {
			delete(t.byCredID, string(d.CredentialID))
			delete(t.devices, id)
		}
	}
	for k, f := range t.flows {
		if f.UserID == userID {
			delete(t.flows, k)
		}
	}
}

// cleanupSignInLocked deletes the flows whose expiry is not after now and
// returns how many; s.mu must be held.
func (s *Store) cleanupSignInLocked(now time.Time) int64 {
	if s.signin == nil {
		return 0
	}
	var n int64
	for k, f := range s.signin.flows {
		if !f.ExpiresAt.After(now) {
			delete(s.signin.flows, k)
			n++
		}
	}
	return n
}

// micro returns t as the SQL store keeps it: UTC, to the microsecond.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// cloneBytes returns a copy of b, nil when it is empty (as the SQL store
// reads an empty value back).
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}

func signInNotFound(op string) error { return fmt.Errorf("memory: %s: %w", op, signin.ErrNotFound) }

// userExistsLocked reports whether the user exists; s.mu must be held.
func (s *Store) userExistsLocked(id string) bool {
	_, ok := s.dir.users[id]
	return ok
}

// Password implements signin.CredentialStore.
func (s *Store) Password(_ context.Context, userID string) (signin.Password, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.signinLocked().passwords[userID]
	if !ok {
		return signin.Password{}, signInNotFound("password")
	}
	return p, nil
}

// SetPassword implements signin.CredentialStore.
func (s *Store) SetPassword(_ context.Context, userID, hash string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.userExistsLocked(userID) {
		return signInNotFound("set password")
	}
	t := s.signinLocked()
	t.passwords[userID] = signin.Password{UserID: userID, Hash: hash, UpdatedAt: micro(now)}
	delete(t.lockouts, userID)
	return nil
}

// Lockout implements signin.CredentialStore.
func (s *Store) Lockout(_ context.Context, userID string) (signin.Lockout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signinLocked().lockouts[userID], nil
}

// RecordFailure implements signin.CredentialStore; lockFor runs under the
// store's lock.
func (s *Store) RecordFailure(_ context.Context, userID string, now time.Time, lockFor func(failures int) time.Duration) (signin.Lockout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.userExistsLocked(userID) {
		return signin.Lockout{}, signInNotFound("record failure")
	}
	t := s.signinLocked()
	l := t.lockouts[userID]
	l.Failures++
	if lockFor != nil {
		if d := lockFor(l.Failures); d > 0 {
			l.LockedUntil = micro(now.Add(d))
		}
	}
	t.lockouts[userID] = l
	return l, nil
}

// ResetFailures implements signin.CredentialStore.
func (s *Store) ResetFailures(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.signinLocked().lockouts, userID)
	return nil
}

// copyDevice returns a copy of d that shares no memory with it.
func copyDevice(d signin.MFADevice) signin.MFADevice {
	d.Secret, d.CredentialID, d.Credential = cloneBytes(d.Secret), cloneBytes(d.CredentialID), cloneBytes(d.Credential)
	return d
}

// MFADevices implements signin.CredentialStore.
func (s *Store) MFADevices(_ context.Context, userID string) ([]signin.MFADevice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []signin.MFADevice{}
	for _, d := range s.signinLocked().devices {
		if d.UserID == userID {
			out = append(out, copyDevice(*d))
		}
	}
	slices.SortFunc(out, func(a, b signin.MFADevice) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// MFADeviceByCredentialID implements signin.CredentialStore.
func (s *Store) MFADeviceByCredentialID(_ context.Context, credentialID []byte) (signin.MFADevice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.signinLocked()
	id, ok := t.byCredID[string(credentialID)]
	if !ok || len(credentialID) == 0 {
		return signin.MFADevice{}, signInNotFound("mfa device by credential ID")
	}
	return copyDevice(*t.devices[id]), nil
}

// checkMFADevice rejects a device no store keeps (as the SQL store does).
func checkMFADevice(d signin.MFADevice) error {
	switch {
	case d.ID == "" || d.UserID == "":
		return errors.New("mfa device needs an ID and a user ID")
	case d.Kind == signin.KindWebAuthn && len(d.CredentialID) == 0:
		return errors.New("webauthn device needs a credential ID")
	case d.Kind == signin.KindTOTP && len(d.CredentialID) != 0:
		return errors.New("totp device has a credential ID")
	case d.Kind != signin.KindTOTP && d.Kind != signin.KindWebAuthn:
		return fmt.Errorf("unknown mfa device kind %q", d.Kind)
	}
	return nil
}

// AddMFADevice implements signin.CredentialStore.
func (s *Store) AddMFADevice(_ context.Context, d signin.MFADevice, max int) error {
	if err := checkMFADevice(d); err != nil {
		return fmt.Errorf("memory: add mfa device: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.userExistsLocked(d.UserID) {
		return signInNotFound("add mfa device")
	}
	t := s.signinLocked()
	n := 0
	for _, o := range t.devices {
		if o.UserID == d.UserID && o.Kind == d.Kind {
			n++
		}
	}
	if n >= max {
		return fmt.Errorf("memory: add mfa device: %w", signin.ErrTooManyDevices)
	}
	if _, ok := t.devices[d.ID]; ok {
		return fmt.Errorf("memory: add mfa device: %w", signin.ErrConflict)
	}
	if _, ok := t.byCredID[string(d.CredentialID)]; ok && len(d.CredentialID) > 0 {
		return fmt.Errorf("memory: add mfa device: %w", signin.ErrConflict)
	}
	c := copyDevice(d)
	c.CreatedAt = micro(c.CreatedAt)
	if !c.LastUsedAt.IsZero() {
		c.LastUsedAt = micro(c.LastUsedAt)
	}
	t.devices[c.ID] = &c
	if len(c.CredentialID) > 0 {
		t.byCredID[string(c.CredentialID)] = c.ID
	}
	return nil
}

// deviceLocked returns the device with the ID and kind; s.mu must be
// held.
func (s *Store) deviceLocked(id string, kind signin.DeviceKind) (*signin.MFADevice, bool) {
	d, ok := s.signinLocked().devices[id]
	if !ok || d.Kind != kind {
		return nil, false
	}
	return d, true
}

// UseTOTPStep implements signin.CredentialStore.
func (s *Store) UseTOTPStep(_ context.Context, deviceID string, step int64, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deviceLocked(deviceID, signin.KindTOTP)
	if !ok {
		return signInNotFound("use totp step")
	}
	if step <= d.LastStep {
		return fmt.Errorf("memory: use totp step: %w", signin.ErrReplay)
	}
	d.LastStep, d.LastUsedAt = step, micro(now)
	return nil
}

// UseWebAuthn implements signin.CredentialStore.
func (s *Store) UseWebAuthn(_ context.Context, deviceID string, oldSignCount, newSignCount uint32, credential []byte, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deviceLocked(deviceID, signin.KindWebAuthn)
	if !ok {
		return signInNotFound("use webauthn")
	}
	if d.SignCount != oldSignCount {
		return fmt.Errorf("memory: use webauthn: %w", signin.ErrConflict)
	}
	d.Credential, d.SignCount, d.LastUsedAt = cloneBytes(credential), newSignCount, micro(now)
	return nil
}

// DeleteMFADevice implements signin.CredentialStore.
func (s *Store) DeleteMFADevice(_ context.Context, userID, deviceID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.signinLocked()
	d, ok := t.devices[deviceID]
	if !ok || d.UserID != userID {
		return signInNotFound("delete mfa device")
	}
	delete(t.byCredID, string(d.CredentialID))
	delete(t.devices, deviceID)
	return nil
}

// SaveSignInFlow implements signin.CredentialStore under the hash of
// f.ID. An empty UserID is a flow whose user is not known yet; any other
// must name an existing user, else signin.ErrNotFound.
func (s *Store) SaveSignInFlow(_ context.Context, f signin.Flow) error {
	if f.ID == "" {
		return errors.New("memory: save sign-in flow: empty ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.UserID != "" && !s.userExistsLocked(f.UserID) {
		return signInNotFound("save sign-in flow")
	}
	k := hashSessionID(f.ID)
	f.ID = ""
	f.Data, f.CreatedAt, f.ExpiresAt = cloneBytes(f.Data), micro(f.CreatedAt), micro(f.ExpiresAt)
	s.signinLocked().flows[k] = f
	return nil
}

// UpdateSignInFlow implements signin.CredentialStore.
func (s *Store) UpdateSignInFlow(_ context.Context, f signin.Flow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := hashSessionID(f.ID)
	old, ok := s.signinLocked().flows[k]
	if !ok {
		return signInNotFound("update sign-in flow")
	}
	old.Stage, old.Data, old.ExpiresAt = f.Stage, cloneBytes(f.Data), micro(f.ExpiresAt)
	s.signinLocked().flows[k] = old
	return nil
}

// SignInFlow implements signin.CredentialStore.
func (s *Store) SignInFlow(_ context.Context, id string, now time.Time) (signin.Flow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.signinLocked().flows[hashSessionID(id)]
	if !ok || !f.ExpiresAt.After(now) {
		return signin.Flow{}, signInNotFound("sign-in flow")
	}
	f.ID, f.Data = id, cloneBytes(f.Data)
	return f, nil
}

// DeleteSignInFlow implements signin.CredentialStore.
func (s *Store) DeleteSignInFlow(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.signinLocked()
	k := hashSessionID(id)
	if _, ok := t.flows[k]; !ok {
		return signInNotFound("delete sign-in flow")
	}
	delete(t.flows, k)
	return nil
}
