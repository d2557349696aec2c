package idp

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"net/http"
	"time"
)

// Errors that implementations of the interfaces below return. Callers
// branch on them with errors.Is; any other error means the dependency is
// unavailable, and the IdP fails closed (HTTP 503, no assertion sent).
var (
	// ErrUnknownServiceProvider: no application is registered under the
	// entity ID or application ID.
	ErrUnknownServiceProvider = errors.New("idp: unknown service provider")
	// ErrNoSession: the browser has no (valid) session.
	ErrNoSession = errors.New("idp: no session")
	// ErrNotFound: the pending SSO state does not exist, has expired or
	// was already consumed.
	ErrNotFound = errors.New("idp: not found")
)

// ServiceProviderRegistry resolves registered applications. Implementations
// return immutable *ServiceProvider values built by NewServiceProvider and
// may swap them at any time (a metadata refresh); the IdP reads one per
// request.
type ServiceProviderRegistry interface {
	// ServiceProviderByEntityID returns the application whose SP entity ID
	// equals entityID exactly, or ErrUnknownServiceProvider.
	ServiceProviderByEntityID(ctx context.Context, entityID string) (*ServiceProvider, error)
	// ServiceProviderByID returns the application with the given
	// application ID, or ErrUnknownServiceProvider.
	ServiceProviderByID(ctx context.Context, id string) (*ServiceProvider, error)
}

// SessionProvider is the identity source: the portal session and the way
// to establish one.
type SessionProvider interface {
	// Principal returns the signed-in user of r's session, or ErrNoSession.
	// Any other error means the session store is unavailable.
	Principal(r *http.Request) (Principal, error)
	// StartLogin sends the browser through the identity source and back to
	// returnTo, a local path (beginning with a single "/") that the IdP
	// built. It writes the whole response.
	StartLogin(w http.ResponseWriter, r *http.Request, returnTo string)
}

// AccessPolicy decides whether a user may use an application (its
// assignments).
type AccessPolicy interface {
	// CanAccess reports whether p is assigned to sp. An error means the
	// decision could not be made; the IdP then sends nothing.
	CanAccess(ctx context.Context, sp *ServiceProvider, p Principal) (bool, error)
}

// KeySource holds the IdP's signing keys.
type KeySource interface {
	// SigningKey returns the key assertions are signed with now and its
	// certificate (published in the signature's KeyInfo). RSA keys of 2048
	// bits or more and ECDSA keys on P-256, P-384 or P-521 are accepted.
	SigningKey(ctx context.Context) (crypto.Signer, *x509.Certificate, error)
	// Certificates returns every certificate applications should trust:
	// the current one and, during a rotation, the next, for metadata.
	Certificates(ctx context.Context) ([]*x509.Certificate, error)
}

// PendingSSO is an SP-initiated sign-in waiting for the user to sign in at
// the identity source. Everything in it was validated against the
// application's registration before it was saved.
type PendingSSO struct {
	// ID is the random handle carried through the identity source.
	ID string
	// SPEntityID is the requesting application's entity ID.
	SPEntityID string
	// RequestID is the AuthnRequest ID, answered as InResponseTo.
	RequestID string
	// ACSURL is the validated Assertion Consumer Service URL.
	ACSURL string
	// RelayState is the application's RelayState, returned verbatim.
	RelayState string
	// ForceAuthn: the application asked for a fresh sign-in; the user's
	// AuthnInstant must not be before CreatedAt (less clock skew).
	ForceAuthn bool
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// SSOStateStore keeps pending SP-initiated sign-ins.
type SSOStateStore interface {
	// SaveSSOState stores s until s.ExpiresAt.
	SaveSSOState(ctx context.Context, s PendingSSO) error
	// ConsumeSSOState atomically deletes and returns the state with the
	// given ID. Of any number of concurrent calls for one ID at most one
	// succeeds; the rest, and every call once ExpiresAt is not after now,
	// return ErrNotFound.
	ConsumeSSOState(ctx context.Context, id string, now time.Time) (PendingSSO, error)
}

// Principal is the signed-in user, as the identity source knows them.
type Principal struct {
	// UserID is the stable identity store user ID (required).
	UserID      string
	UserName    string
	Email       string
	GivenName   string
	FamilyName  string
	DisplayName string
	ExternalID  string
	// Groups are the user's group names.
	Groups []string
	// Attributes are custom user attributes, mapped as "attributes.<key>".
	Attributes map[string]string
	// SessionNotOnOrAfter is the end of the portal session; published as
	// AuthnStatement@SessionNotOnOrAfter when set.
	SessionNotOnOrAfter time.Time
	// AuthnInstant is when the user signed in (default: now).
	AuthnInstant time.Time
	// AuthnContextClassRef says how the user signed in (default
	// PasswordProtectedTransport).
	AuthnContextClassRef string
	// SessionIndex is an opaque identifier of the portal session for
	// single logout, never the session cookie. Empty: a fresh random one.
	SessionIndex string
	// ClientIP is the browser's address, published as
	// SubjectConfirmationData@Address only when it is a bare IP address.
	ClientIP string
}
