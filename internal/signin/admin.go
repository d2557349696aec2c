package signin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// ErrPolicy wraps a password the policy refuses; its message says why.
var ErrPolicy = errors.New("signin: password refused by the policy")

// SetPassword checks pw against the password policy (with the user's name
// and e-mail as personal values), hashes it and stores it as the user's
// password, clearing any lockout: how an administrator gives a user
// (back) access. A user that does not exist is sp.ErrNotFound.
func (s *Service) SetPassword(ctx context.Context, userID, pw string) error {
	user, err := s.users.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	// The policy splits the values itself (e-mail local parts, words).
	if err := s.hasher.Policy().Check(pw, user.UserName, user.DisplayName, user.Email); err != nil {
		return fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return fmt.Errorf("signin: hashing: %w", err)
	}
	if err := s.store.SetPassword(ctx, userID, hash, s.now()); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("signin: set password: %w", sp.ErrNotFound)
		}
		return err
	}
	return nil
}

// Status is a user's sign-in state for administrators.
type Status struct {
	HasPassword       bool
	PasswordUpdatedAt time.Time
	Failures          int
	LockedUntil       time.Time
	Devices           []MFADevice
}

// Status returns the user's sign-in state; devices carry no secrets.
func (s *Service) Status(ctx context.Context, userID string) (Status, error) {
	if _, err := s.users.GetUser(ctx, userID); err != nil {
		return Status{}, err
	}
	var st Status
	pw, err := s.store.Password(ctx, userID)
	switch {
	case err == nil:
		st.HasPassword, st.PasswordUpdatedAt = true, pw.UpdatedAt
	case !errors.Is(err, ErrNotFound):
		return Status{}, err
	}
	lo, err := s.store.Lockout(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	st.Failures = lo.Failures
	if lo.LockedUntil.After(s.now()) {
		st.LockedUntil = lo.LockedUntil
	}
	devices, err := s.store.MFADevices(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	for i := range devices {
		devices[i].Secret, devices[i].Credential = nil, nil
	}
	st.Devices = devices
	return st, nil
}

// Unlock clears the user's failure count and lock.
func (s *Service) Unlock(ctx context.Context, userID string) error {
	if _, err := s.users.GetUser(ctx, userID); err != nil {
		return err
	}
	return s.store.ResetFailures(ctx, userID)
}

// DeleteDevice removes one of the user's MFA devices (a lost phone or
// key). With the MFA policy required and the no-device policy register,
// a user left without devices registers a new one at the next sign-in.
func (s *Service) DeleteDevice(ctx context.Context, userID, deviceID string) error {
	err := s.store.DeleteMFADevice(ctx, userID, deviceID)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("signin: device %q: %w", deviceID, sp.ErrNotFound)
	}
	return err
}
