package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"
)

// Refresh token lifetimes used when TokenHandlerConfig leaves them zero.
const (
	DefaultRefreshTokenLifetime  = 8 * time.Hour
	DefaultRefreshFamilyLifetime = 30 * 24 * time.Hour
)

// opaqueTokenBytes is the entropy of device codes and refresh tokens.
const opaqueTokenBytes = 32

// maxOpaqueToken bounds a presented device code or refresh token: ours are
// 43 characters, anything much longer is refused before hashing.
const maxOpaqueToken = 256

// newOpaqueToken returns 32 random bytes from r as base64url (the value
// handed out) and the hex SHA-256 of that value (the only form stored).
func newOpaqueToken(r io.Reader) (raw, hash string, err error) {
	var b [opaqueTokenBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", "", fmt.Errorf("oauth: random token: %w", err)
	}
	raw = base64.RawURLEncoding.EncodeToString(b[:])
	return raw, hashToken(raw), nil
}

// hashToken is the stored form of a device code or refresh token: the hex
// SHA-256 of the value as presented.
func hashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// newFamilyID returns a random refresh token family identifier (128
// bits).
func newFamilyID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("oauth: refresh family: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// newRefreshToken builds the next refresh token of a family: it expires
// RefreshTokenLifetime from now, never after familyExp.
func (h *tokenHandler) newRefreshToken(family, clientID, userID, audience string, scopes []string, now, familyExp time.Time) (string, RefreshToken, error) {
	raw, hash, err := newOpaqueToken(rand.Reader)
	if err != nil {
		return "", RefreshToken{}, err
	}
	exp := now.Add(h.refreshLife)
	if exp.After(familyExp) {
		exp = familyExp
	}
	return raw, RefreshToken{
		Hash:            hash,
		FamilyID:        family,
		ClientID:        clientID,
		UserID:          userID,
		Audience:        audience,
		Scopes:          slices.Clone(scopes),
		IssuedAt:        now,
		ExpiresAt:       exp,
		FamilyExpiresAt: familyExp,
	}, nil
}

// startRefreshFamily stores the first refresh token of a new family and
// returns its value and FamilyID.
func (h *tokenHandler) startRefreshFamily(ctx context.Context, clientID, userID, audience string, scopes []string, now time.Time) (string, string, error) {
	family, err := newFamilyID()
	if err != nil {
		return "", "", NewError(ErrServerError, defaultServerErrorDescribe).Wrap(err)
	}
	raw, rt, err := h.newRefreshToken(family, clientID, userID, audience, scopes, now, now.Add(h.familyLife))
	if err != nil {
		return "", "", NewError(ErrServerError, defaultServerErrorDescribe).Wrap(err)
	}
	if err := h.refresh.CreateRefreshToken(ctx, rt); err != nil {
		return "", "", NewError(ErrServerError, defaultServerErrorDescribe).Wrap(fmt.Errorf("oauth: create refresh token: %w", err))
	}
	return raw, family, nil
}

// revokeFamily revokes a refresh token family whose token could not be
// handed out (best effort: a failure is logged).
func (h *tokenHandler) revokeFamily(ctx context.Context, family string) {
	if h.refresh == nil || family == "" {
		return
	}
	if err := h.refresh.RevokeRefreshFamily(ctx, family); err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "revoking a withheld refresh token family failed",
			slog.String("refresh_family", family), slog.Any("error", err))
	}
}

// activeUser looks up an existing, active user: unknown or disabled is
// invalid_grant, a lookup failure temporarily_unavailable.
func (h *tokenHandler) activeUser(ctx context.Context, id string) (Subject, *Error) {
	return activeUser(ctx, h.users, id)
}

// activeUser looks the user up and requires it active: an unknown or
// disabled user is invalid_grant, a lookup failure
// temporarily_unavailable (the token may be fine; the store is not).
func activeUser(ctx context.Context, users UserLookup, id string) (Subject, *Error) {
	s, err := users.UserByID(ctx, id)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) {
			return Subject{}, NewError(ErrInvalidGrant, "unknown user").Wrap(err)
		}
		return Subject{}, unavailable().Wrap(err)
	}
	if !s.Active {
		return Subject{}, NewError(ErrInvalidGrant, "user is disabled")
	}
	s.UserID = id
	s.Act = nil
	return s, nil
}

// refreshGrant implements RFC 6749 section 6 with rotation on every use:
// the presented token is exchanged for a new one of the same family, and
// a token presented after it was rotated revokes the family (reuse
// detection, RFC 9700 section 4.14.2).
func (h *tokenHandler) refreshGrant(ctx context.Context, client *Client, form map[string]string, now time.Time, ev *AuditEvent) (*tokenResponse, error) {
	raw := form["refresh_token"]
	if raw == "" {
		return nil, NewError(ErrInvalidRequest, "refresh_token is required")
	}
	if len(raw) > maxOpaqueToken {
		return nil, NewError(ErrInvalidRequest, "refresh_token is too large")
	}
	hash := hashToken(raw)
	rt, err := h.refresh.RefreshTokenByHash(ctx, hash, now)
	if err != nil {
		return nil, refreshStoreError(err)
	}
	ev.RefreshFamily = rt.FamilyID
	ev.Subject = rt.UserID
	if rt.ClientID != client.ID {
		return nil, NewError(ErrInvalidGrant, "refresh token was issued to another client")
	}
	if !now.Before(rt.ExpiresAt) || !now.Before(rt.FamilyExpiresAt) {
		return nil, NewError(ErrInvalidGrant, "refresh token is expired")
	}
	ds, oe := h.services.granted(client, rt.Audience)
	if oe != nil {
		return nil, oe
	}
	_, hasAud := form["audience"]
	_, hasRes := form["resource"]
	if hasAud || hasRes {
		req, oe := h.services.target(client, form, false)
		if oe != nil {
			return nil, oe
		}
		if req.Audience != ds.Audience {
			return nil, NewError(ErrInvalidTarget, "audience differs from the refresh token's")
		}
	}
	ev.Audience = []string{ds.Audience}
	allowed := grantedScopes(client, ds, rt.Scopes)
	scopes, oe := narrowScopes(allowed, form)
	if oe != nil {
		return nil, oe
	}
	ev.Scopes = scopes
	subj, oe := h.activeUser(ctx, rt.UserID)
	if oe != nil {
		return nil, oe
	}
	resp, err := h.mint(ctx, client, subj, nil, ds, scopes, now)
	if err != nil {
		return nil, err
	}
	// The new refresh token keeps the grant's scopes (RFC 6749 section 6),
	// narrowed only by the client's current allowance.
	nextRaw, next, err := h.newRefreshToken(rt.FamilyID, client.ID, rt.UserID, rt.Audience, allowed, now, rt.FamilyExpiresAt)
	if err != nil {
		return nil, NewError(ErrServerError, defaultServerErrorDescribe).Wrap(err)
	}
	if err := h.refresh.RotateRefreshToken(ctx, hash, next, now); err != nil {
		return nil, refreshStoreError(err)
	}
	resp.RefreshToken = nextRaw
	return resp, nil
}

// refreshStoreError maps a RefreshStore error to the token endpoint's
// answer: reuse and unknown tokens are invalid_grant, anything else
// server_error.
func refreshStoreError(err error) *Error {
	switch {
	case errors.Is(err, ErrRefreshReused):
		return NewError(ErrInvalidGrant, "refresh token reused; the grant is revoked").Wrap(err)
	case errors.Is(err, ErrNotFound):
		return NewError(ErrInvalidGrant, "refresh token is invalid").Wrap(err)
	default:
		return unavailable().Wrap(err)
	}
}

// peerRefreshToken looks raw up as a current refresh token of client for
// the revocation and introspection endpoints. ok is false for a token that
// is unknown, expired, revoked, already rotated or another client's; err
// only for store failures.
func (p *tokenEndpointPeer) peerRefreshToken(ctx context.Context, client *Client, raw string, now time.Time) (RefreshToken, bool, error) {
	if len(raw) > maxOpaqueToken {
		return RefreshToken{}, false, nil
	}
	rt, err := p.refresh.RefreshTokenByHash(ctx, hashToken(raw), now)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrRefreshReused):
		return RefreshToken{}, false, nil
	case err != nil:
		return RefreshToken{}, false, fmt.Errorf("oauth: refresh token lookup: %w", err)
	}
	if rt.ClientID != client.ID || !now.Before(rt.ExpiresAt) || !now.Before(rt.FamilyExpiresAt) {
		return RefreshToken{}, false, nil
	}
	return rt, true, nil
}
