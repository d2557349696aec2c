package signin

import (
	"context"
	"errors"
	"time"
)

// Errors a CredentialStore returns; callers branch on them with errors.Is.
// Any other error means the store is unavailable, and sign-in then fails
// closed (503, no session).
var (
	// ErrNotFound: no such password, device or flow (or the flow expired).
	ErrNotFound = errors.New("signin: not found")
	// ErrConflict: a device with the ID or WebAuthn credential ID already
	// exists, or a compare-and-set found another value than expected.
	ErrConflict = errors.New("signin: conflict")
	// ErrTooManyDevices: the user already has the maximum number of
	// devices of that kind.
	ErrTooManyDevices = errors.New("signin: too many devices of this kind")
	// ErrReplay: a TOTP time step at or before the last one accepted.
	ErrReplay = errors.New("signin: one-time code already used")
)

// DeviceKind is the kind of an MFA device.
type DeviceKind string

// The MFA device kinds.
const (
	KindTOTP     DeviceKind = "totp"
	KindWebAuthn DeviceKind = "webauthn"
)

// Password is a user's stored password hash (a PHC string, see package
// password).
type Password struct {
	UserID    string
	Hash      string
	UpdatedAt time.Time
}

// Lockout is a user's failed sign-in state. Failed passwords and failed
// second factors both count.
type Lockout struct {
	// Failures is the number of failures since the last success or reset.
	Failures int
	// LockedUntil: sign-in is refused before this time (zero: not locked).
	LockedUntil time.Time
}

// MFADevice is a registered second factor.
type MFADevice struct {
	ID         string
	UserID     string
	Kind       DeviceKind
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero when never used

	// TOTP only: Secret is the shared secret sealed with the gateway's
	// key (never stored in the clear); LastStep is the highest RFC 6238
	// time step accepted so far (0 before the first use).
	Secret   []byte
	LastStep int64

	// WebAuthn only: CredentialID is the raw credential ID (unique across
	// all users); Credential is the JSON-encoded go-webauthn credential
	// (public key, flags, transports, attestation); SignCount is the
	// authenticator's signature counter.
	CredentialID []byte
	Credential   []byte
	SignCount    uint32
}

// Flow is a sign-in in progress, between the password and the session:
// which user, how far they got and the data of the next step (a WebAuthn
// challenge, a TOTP secret being registered). ID is the secret carried in
// the browser's flow cookie; stores keep only its hash.
type Flow struct {
	ID        string
	UserID    string
	Stage     string
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CredentialStore keeps passwords, failure counters, MFA devices and
// sign-in flows. Every method is atomic and safe for concurrent use by
// every instance sharing the store; returned values are the caller's own
// copies; times are kept to the microsecond. Deleting a user deletes its
// password, lockout state, devices and flows.
type CredentialStore interface {
	// Password returns the user's password, or ErrNotFound when none is
	// set.
	Password(ctx context.Context, userID string) (Password, error)
	// SetPassword stores hash as the user's password, replacing any, and
	// clears the user's failures and lock in the same step. A user that
	// does not exist is ErrNotFound.
	SetPassword(ctx context.Context, userID, hash string, now time.Time) error

	// Lockout returns the user's failure state; the zero Lockout when
	// there is none.
	Lockout(ctx context.Context, userID string) (Lockout, error)
	// RecordFailure increments the user's failure count and, when
	// lockFor(newCount) > 0, sets LockedUntil to now plus it (otherwise
	// LockedUntil is left as it is); it returns the new state. Concurrent
	// calls each count: n calls add exactly n. A user that does not exist
	// is ErrNotFound.
	RecordFailure(ctx context.Context, userID string, now time.Time, lockFor func(failures int) time.Duration) (Lockout, error)
	// ResetFailures sets the failure count to zero and clears the lock
	// (no error when there was nothing to clear).
	ResetFailures(ctx context.Context, userID string) error

	// MFADevices returns the user's devices ordered by CreatedAt, then ID
	// (none: an empty slice and no error).
	MFADevices(ctx context.Context, userID string) ([]MFADevice, error)
	// MFADeviceByCredentialID returns the WebAuthn device with the
	// credential ID, or ErrNotFound.
	MFADeviceByCredentialID(ctx context.Context, credentialID []byte) (MFADevice, error)
	// AddMFADevice stores d when the user has fewer than max devices of
	// d.Kind, and returns ErrTooManyDevices, storing nothing, otherwise;
	// the count and the insert are one atomic step (of concurrent calls
	// no more succeed than max allows). An existing ID, or for WebAuthn
	// an existing CredentialID, is ErrConflict; a user that does not
	// exist is ErrNotFound.
	AddMFADevice(ctx context.Context, d MFADevice, max int) error
	// UseTOTPStep sets the TOTP device's LastStep to step and LastUsedAt
	// to now when step is greater than LastStep, and returns ErrReplay
	// otherwise: of concurrent calls with the same step exactly one
	// succeeds. An unknown device (or not TOTP) is ErrNotFound.
	UseTOTPStep(ctx context.Context, deviceID string, step int64, now time.Time) error
	// UseWebAuthn replaces the WebAuthn device's Credential and SignCount
	// and sets LastUsedAt, only when its SignCount still equals
	// oldSignCount; otherwise ErrConflict (a concurrent use, or a cloned
	// authenticator). An unknown device is ErrNotFound.
	UseWebAuthn(ctx context.Context, deviceID string, oldSignCount, newSignCount uint32, credential []byte, now time.Time) error
	// DeleteMFADevice deletes the user's device, or returns ErrNotFound
	// (also when the device belongs to another user).
	DeleteMFADevice(ctx context.Context, userID, deviceID string) error

	// SaveSignInFlow stores f, replacing a flow with the same ID.
	SaveSignInFlow(ctx context.Context, f Flow) error
	// UpdateSignInFlow replaces the stored flow with f's ID (stage, data,
	// expiry) and returns ErrNotFound when there is none: a flow that
	// ended (completed, failed out, deleted) is never brought back by a
	// request that loaded it before it ended.
	UpdateSignInFlow(ctx context.Context, f Flow) error
	// SignInFlow returns the flow, or ErrNotFound when there is none or
	// it expired (ExpiresAt at or before now).
	SignInFlow(ctx context.Context, id string, now time.Time) (Flow, error)
	// DeleteSignInFlow deletes the flow and returns ErrNotFound when it
	// did not exist: of concurrent calls for one ID exactly one succeeds,
	// which is how a flow is completed only once.
	DeleteSignInFlow(ctx context.Context, id string) error
}
