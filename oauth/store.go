package oauth

import (
	"context"
	"errors"
	"time"
)

// Errors returned by DeviceStore and RefreshStore implementations.
var (
	// ErrNotFound: no such record (or it is expired, consumed or revoked
	// where the method says so).
	ErrNotFound = errors.New("oauth: not found")
	// ErrConflict: a unique value (a user code, a token hash) is already
	// taken, or a state transition lost a race.
	ErrConflict = errors.New("oauth: conflict")
	// ErrRefreshReused: a refresh token that was already rotated was
	// presented again; the store has revoked its whole family.
	ErrRefreshReused = errors.New("oauth: refresh token reused")
)

// DeviceStatus is the state of a device authorization (RFC 8628).
type DeviceStatus string

// Device authorization states. A request starts pending, a signed-in user
// approves or denies it, and an approved one is consumed exactly once by
// the polling client.
const (
	DevicePending  DeviceStatus = "pending"
	DeviceApproved DeviceStatus = "approved"
	DeviceDenied   DeviceStatus = "denied"
	DeviceConsumed DeviceStatus = "consumed"
)

// DeviceAuthorization is one RFC 8628 device authorization request. The
// device code is kept only as its SHA-256 (DeviceCodeHash, hex); the user
// code is stored normalized (upper case, no separator).
type DeviceAuthorization struct {
	DeviceCodeHash string
	UserCode       string
	ClientID       string
	Audience       string
	Scopes         []string
	Status         DeviceStatus
	// UserID is the user who approved or denied; empty while pending.
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Interval is the minimum polling interval; it grows by 5 seconds on
	// every slow_down (RFC 8628 section 3.5).
	Interval time.Duration
	// LastPolledAt is the time of the last token request; zero before the
	// first.
	LastPolledAt time.Time
}

// DeviceStore persists device authorizations. Implementations must be safe
// for concurrent use across processes sharing the store.
type DeviceStore interface {
	// CreateDevice stores a new pending authorization; a DeviceCodeHash or
	// UserCode already in use by an unexpired authorization returns an
	// error wrapping ErrConflict.
	CreateDevice(ctx context.Context, d DeviceAuthorization) error
	// DeviceByUserCode returns the authorization with that user code, or
	// ErrNotFound when there is none or it expired before now.
	DeviceByUserCode(ctx context.Context, userCode string, now time.Time) (DeviceAuthorization, error)
	// DeviceByCode returns the authorization with that device code hash,
	// expired or not (the caller answers expired_token), or ErrNotFound.
	DeviceByCode(ctx context.Context, deviceCodeHash string) (DeviceAuthorization, error)
	// DecideDevice moves a pending, unexpired authorization to approved or
	// denied, recording userID. Anything else (unknown, expired, already
	// decided) returns ErrNotFound or ErrConflict and changes nothing.
	DecideDevice(ctx context.Context, userCode, userID string, approve bool, now time.Time) error
	// TouchDevice records a poll at now and sets the polling interval.
	TouchDevice(ctx context.Context, deviceCodeHash string, now time.Time, interval time.Duration) error
	// ConsumeDevice moves an approved authorization to consumed. Exactly
	// one of any number of concurrent callers succeeds; the others, and
	// any call on an authorization that is not approved, get ErrConflict
	// (ErrNotFound when it does not exist).
	ConsumeDevice(ctx context.Context, deviceCodeHash string) error
}

// RefreshToken is one refresh token. The token value is kept only as its
// SHA-256 (Hash, hex). Tokens descending from one grant by rotation share
// a FamilyID; FamilyExpiresAt bounds the whole family.
type RefreshToken struct {
	Hash            string
	FamilyID        string
	ClientID        string
	UserID          string
	Audience        string
	Scopes          []string
	IssuedAt        time.Time
	ExpiresAt       time.Time
	FamilyExpiresAt time.Time
}

// RefreshStore persists refresh tokens with rotation and reuse detection.
// Implementations must be safe for concurrent use across processes.
type RefreshStore interface {
	// CreateRefreshToken stores a new token (the first of a family); a
	// Hash already present returns ErrConflict.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RefreshTokenByHash returns the current (unused, unrevoked,
	// unexpired at now) token with that hash. A token that was already
	// rotated returns ErrRefreshReused after revoking its family; an
	// unknown, revoked or expired one returns ErrNotFound.
	RefreshTokenByHash(ctx context.Context, hash string, now time.Time) (RefreshToken, error)
	// RotateRefreshToken atomically marks the token with hash used and
	// stores next (same FamilyID). Exactly one of any number of concurrent
	// rotations of one token succeeds; for every other, and for any token
	// already used, the family is revoked and ErrRefreshReused returned.
	// An unknown, revoked or expired token returns ErrNotFound.
	RotateRefreshToken(ctx context.Context, hash string, next RefreshToken, now time.Time) error
	// RevokeRefreshFamily revokes every token of the family. Revoking an
	// unknown or already revoked family is not an error.
	RevokeRefreshFamily(ctx context.Context, familyID string) error
	// RevokeUserRefreshTokens revokes every refresh token of the user and
	// returns how many families it revoked.
	RevokeUserRefreshTokens(ctx context.Context, userID string) (int64, error)
}
