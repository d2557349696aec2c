package propagation

import (
	"context"
	"slices"
	"time"
)

// Identity is the verified identity a Gatehouse access token carries to a
// data service. It is built only from claims whose signature, issuer,
// audience and time window were verified; treat it as read-only.
type Identity struct {
	// Subject is the identity store user ID (the "sub" claim).
	Subject string
	// UserName is the "username" claim.
	UserName string
	// Email is the "email" claim.
	Email string
	// Groups is the "groups" claim.
	Groups []string
	// Attributes is the optional "attributes" claim (string values only).
	Attributes map[string]string
	// Scopes is the space-separated "scope" claim, split.
	Scopes []string
	// ClientID is the OAuth client the token was issued to ("client_id").
	ClientID string
	// Audience is the "aud" claim; it contains the verifier's audience.
	Audience []string
	// Actor is the RFC 8693 section 4.1 "act" chain (nil without delegation):
	// the current actor first, earlier actors nested inside it.
	Actor *Actor
	// IssuedAt is the "iat" claim.
	IssuedAt time.Time
	// ExpiresAt is the "exp" claim.
	ExpiresAt time.Time
	// TokenID is the "jti" claim.
	TokenID string
}

// Actor is one link of the RFC 8693 "act" chain: the party acting on behalf
// of the subject, and (in Actor) the party that acted before it.
type Actor struct {
	Subject  string
	ClientID string
	Actor    *Actor
}

// HasScope reports whether the token granted scope s.
func (id *Identity) HasScope(s string) bool {
	return id != nil && slices.Contains(id.Scopes, s)
}

// InGroup reports whether the user is a member of group g.
func (id *Identity) InGroup(g string) bool {
	return id != nil && slices.Contains(id.Groups, g)
}

type identityKey struct{}

// NewContext returns a copy of ctx carrying id.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the Identity stored by NewContext (or Middleware).
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(*Identity)
	return id, ok && id != nil
}
