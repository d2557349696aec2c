package sp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Errors that store implementations return. Callers branch on them with
// errors.Is; any other error means the store is unavailable and the SP fails
// closed (HTTP 503, never a session).
var (
	// ErrNotFound: the pending request, session or user does not exist, has
	// expired, or was already consumed.
	ErrNotFound = errors.New("sp: not found")
	// ErrInvalidAttributes: the store refused the user's asserted
	// attributes (too long, control characters). The ACS rejects the
	// sign-in (403), as for an unknown user, rather than answering 503.
	ErrInvalidAttributes = errors.New("sp: invalid user attributes")
	// ErrReplay: the (issuer, assertion ID) pair was already recorded.
	ErrReplay = errors.New("sp: assertion replayed")
	// ErrConflict: a uniqueness constraint was violated (for example a second
	// user with the same user_name).
	ErrConflict = errors.New("sp: conflict")
)

// PendingRequest is an AuthnRequest this SP sent and has not yet seen answered.
type PendingRequest struct {
	// ID is the AuthnRequest ID; the IdP echoes it as InResponseTo.
	ID string
	// RelayState is the opaque handle sent with the request.
	RelayState string
	// BrowserBinding is a hash of the state cookie that ties the request to
	// the browser that started it.
	BrowserBinding string
	// ReturnTo is the local path to send the user to after sign-in.
	ReturnTo string
	// Region is the regional endpoint the request named as its ACS.
	Region    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RequestTracker keeps pending AuthnRequests.
type RequestTracker interface {
	// SaveRequest stores r until r.ExpiresAt.
	SaveRequest(ctx context.Context, r PendingRequest) error
	// ConsumeRequest atomically deletes and returns the pending request with
	// the given ID. Of any number of concurrent calls for one ID at most one
	// succeeds; the rest, and every call after r.ExpiresAt (compared with
	// now), return ErrNotFound.
	ConsumeRequest(ctx context.Context, id string, now time.Time) (PendingRequest, error)
}

// ReplayCache remembers assertions already accepted.
type ReplayCache interface {
	// MarkAssertionUsed records (issuer, assertionID) until expiresAt,
	// insert-if-absent and atomically across every instance sharing the
	// store. It returns ErrReplay when the pair is already recorded and not
	// yet expired (compared with now).
	MarkAssertionUsed(ctx context.Context, issuer, assertionID string, expiresAt, now time.Time) error
}

// SignInStarter is implemented by stores that can run the first three
// store steps of an ACS (mark the assertion used, consume the pending
// request it answers, look its identity up) in one round trip, e.g. as
// one PostgreSQL pipeline. The SP uses it when Config.Starter is set;
// otherwise it makes the three calls one after the other. The outcome is
// the same: the marking and the consumption are as atomic as
// MarkAssertionUsed and ConsumeRequest, the lookup is a read, and the SP
// decides in the same order (replay, then the request, then the user).
type SignInStarter interface {
	// StartSignIn runs the steps of st and reports each outcome in
	// SignInStart; its error is for a failure of the whole (the store
	// unreachable), after which nothing may be assumed done.
	StartSignIn(ctx context.Context, st SignInStart) (SignInStarted, error)
}

// SignInStart names what StartSignIn does.
type SignInStart struct {
	// Issuer, AssertionID and ReplayUntil are MarkAssertionUsed's.
	Issuer, AssertionID string
	ReplayUntil         time.Time
	// RequestID is the InResponseTo to consume; empty consumes nothing.
	RequestID string
	// External is the identity to look up (LookupExternal).
	External ExternalIdentity
	Now      time.Time
}

// SignInStarted holds each step's result as the single call would have
// returned it.
type SignInStarted struct {
	Replay     error // MarkAssertionUsed's: nil or wrapping ErrReplay
	Request    PendingRequest
	RequestErr error // ConsumeRequest's; nil when RequestID was empty
	User       User
	UserErr    error // LookupExternal's
}

// StartSignInSteps does what StartSignIn does with the three single calls,
// one after the other, stopping at a replay: the SP's way when its store is
// not a SignInStarter, and a store's own when it has no faster one. A
// failure other than ErrReplay or ErrNotFound is returned as the error.
func StartSignInSteps(ctx context.Context, st SignInStart, replay ReplayCache, requests RequestTracker, users UserDirectory) (SignInStarted, error) {
	var out SignInStarted
	if out.Replay = replay.MarkAssertionUsed(ctx, st.Issuer, st.AssertionID, st.ReplayUntil, st.Now); out.Replay != nil {
		if !errors.Is(out.Replay, ErrReplay) {
			return SignInStarted{}, out.Replay
		}
		return out, nil
	}
	if st.RequestID != "" {
		out.Request, out.RequestErr = requests.ConsumeRequest(ctx, st.RequestID, st.Now)
		if out.RequestErr != nil && !errors.Is(out.RequestErr, ErrNotFound) {
			return SignInStarted{}, out.RequestErr
		}
	}
	out.User, out.UserErr = users.LookupExternal(ctx, st.External)
	if out.UserErr != nil && !errors.Is(out.UserErr, ErrNotFound) {
		return SignInStarted{}, out.UserErr
	}
	return out, nil
}

// Session is a signed-in browser session.
type Session struct {
	// ID is the secret session identifier carried in the cookie. Stores
	// should keep only a hash of it.
	ID        string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	// AuthnInstant and SessionIndex come from the upstream assertion.
	AuthnInstant time.Time
	SessionIndex string
	// Method says how the user signed in (for example "saml").
	Method string
	// AuthnContextClassRef is how the user authenticated, as the upstream
	// IdP asserted it (empty when it did not say).
	AuthnContextClassRef string
}

// PublicID returns a non-secret identifier of the session, derived from
// its ID, for places that must name a session without revealing the cookie
// (the SessionIndex of assertions issued to applications, logs).
func (s Session) PublicID() string {
	sum := sha256.Sum256([]byte("gatehouse-session-index:" + s.ID))
	return "_" + hex.EncodeToString(sum[:16])
}

// SessionStore keeps sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns ErrNotFound for unknown or expired (compared with
	// now) sessions.
	GetSession(ctx context.Context, id string, now time.Time) (Session, error)
	DeleteSession(ctx context.Context, id string) error
}

// User is an identity store user as the SP sees it.
type User struct {
	ID          string
	UserName    string
	Email       string
	DisplayName string
	Groups      []string
	Active      bool
}

// ExternalIdentity is an upstream identity: the IdP's entity ID and the
// NameID it asserted. Users are keyed by both, never by an e-mail address
// alone.
type ExternalIdentity struct {
	Issuer string
	NameID string
}

// UserAttributes are the user fields taken from an assertion.
type UserAttributes struct {
	Email       string
	DisplayName string
	// Groups are group display names; nil means "not asserted" (leave
	// memberships unchanged), an empty non-nil slice means "no groups".
	Groups []string
}

// UserDirectory resolves upstream identities to identity store users.
type UserDirectory interface {
	// LookupExternal returns the user linked to ext, or ErrNotFound.
	LookupExternal(ctx context.Context, ext ExternalIdentity) (User, error)
	// LinkByUserName links ext to the existing user whose user_name equals
	// ext.NameID and returns it; ErrNotFound when no such user exists;
	// ErrConflict when that user is already linked to another identity of
	// the same issuer.
	LinkByUserName(ctx context.Context, ext ExternalIdentity) (User, error)
	// ProvisionExternal creates (or, when already linked, updates) the user
	// for ext with user_name = ext.NameID and the given attributes, in one
	// transaction, and returns it.
	ProvisionExternal(ctx context.Context, ext ExternalIdentity, attrs UserAttributes, now time.Time) (User, error)
	// UpdateAttributes updates the linked user's attributes at sign-in.
	UpdateAttributes(ctx context.Context, userID string, attrs UserAttributes, now time.Time) (User, error)
	// GetUser returns the user by ID, or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
}

// Pinger reports whether the store answers; readiness uses it.
type Pinger interface {
	Ping(ctx context.Context) error
}
