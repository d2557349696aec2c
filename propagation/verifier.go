package propagation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// VerifierConfig configures NewVerifier.
type VerifierConfig struct {
	// Issuer is the exact expected "iss" (Gatehouse's external_url). Required.
	Issuer string
	// Audience identifies this data service; "aud" must contain it. Required.
	Audience string
	// KeySet verifies signatures (NewRemoteKeySet on Gatehouse's
	// /oauth/jwks, or NewStaticKeySet). Required.
	KeySet KeySet
	// ClockSkew tolerated on exp, nbf and iat (default 60s).
	ClockSkew time.Duration
	// MaxTokenSize in bytes (default 16 KiB).
	MaxTokenSize int
	// MaxLifetime bounds exp - iat (default 12h).
	MaxLifetime time.Duration
	// RequiredScopes must all be granted, else ErrInsufficientScope.
	RequiredScopes []string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Verifier verifies RFC 9068 JWT access tokens issued by Gatehouse for one
// data service. Immutable and safe for concurrent use.
type Verifier struct {
	issuer      string
	audience    string
	keys        KeySet
	skew        time.Duration
	maxSize     int
	maxLifetime time.Duration
	required    []string
	now         func() time.Time
}

const maxActorDepth = 16

// NewVerifier validates cfg and copies it.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	var errs []error
	if cfg.Issuer == "" {
		errs = append(errs, errors.New("Issuer is required"))
	}
	if cfg.Audience == "" {
		errs = append(errs, errors.New("Audience is required"))
	}
	if cfg.KeySet == nil {
		errs = append(errs, errors.New("KeySet is required"))
	}
	if cfg.ClockSkew < 0 || cfg.MaxTokenSize < 0 || cfg.MaxLifetime < 0 {
		errs = append(errs, errors.New("ClockSkew, MaxTokenSize and MaxLifetime must not be negative"))
	}
	for _, s := range cfg.RequiredScopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			errs = append(errs, fmt.Errorf("RequiredScopes: invalid scope %q", s))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("propagation: invalid verifier config: %w", errors.Join(errs...))
	}
	v := &Verifier{
		issuer:      cfg.Issuer,
		audience:    cfg.Audience,
		keys:        cfg.KeySet,
		skew:        cfg.ClockSkew,
		maxSize:     cfg.MaxTokenSize,
		maxLifetime: cfg.MaxLifetime,
		required:    slices.Clone(cfg.RequiredScopes),
		now:         cfg.Now,
	}
	if v.skew == 0 {
		v.skew = 60 * time.Second
	}
	if v.maxSize == 0 {
		v.maxSize = 16 << 10
	}
	if v.maxLifetime == 0 {
		v.maxLifetime = 12 * time.Hour
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Verify checks raw, cheap checks first, and returns the Identity built only
// from verified claims. Order: size; compact form and header (typ at+jwt,
// RFC 9068 §4; alg on the asymmetric allow-list; no crit); signature through
// the KeySet; then claims: iss, aud, exp, nbf, iat, lifetime, sub,
// client_id, jti, scopes. Every error is a *ValidationError.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Identity, error) {
	now := v.now()
	if len(raw) > v.maxSize {
		return nil, refuse(ReasonTooLarge, "token of %d bytes exceeds %d", len(raw), v.maxSize)
	}
	tok, verr := parseCompact(raw)
	if verr != nil {
		return nil, verr
	}
	if err := checkType(tok.header.Typ); err != nil {
		return nil, err
	}
	payload, err := v.keys.VerifySignature(ctx, raw)
	if err != nil {
		return nil, signatureError(err)
	}
	c, verr := parseClaims(payload)
	if verr != nil {
		return nil, verr
	}
	if verr := v.checkClaims(c, now); verr != nil {
		return nil, verr
	}
	id := c.identity()
	for _, s := range v.required {
		if !id.HasScope(s) {
			return nil, refuse(ReasonInsufficientScope, "scope %q not granted", s)
		}
	}
	return id, nil
}

// checkType: RFC 9068 §4 requires typ "at+jwt"; the media type form
// "application/at+jwt" is equivalent (RFC 7515 §4.1.9, case-insensitive).
func checkType(typ string) *ValidationError {
	t := strings.ToLower(typ)
	if t != "at+jwt" && t != "application/at+jwt" {
		return refuse(ReasonType, "typ %q is not at+jwt", truncate(typ))
	}
	return nil
}

func signatureError(err error) *ValidationError {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		return ve
	case errors.Is(err, ErrKeySetUnavailable):
		return &ValidationError{Reason: ReasonKeysUnavailable, Err: err}
	case errors.Is(err, ErrUnknownKey):
		return &ValidationError{Reason: ReasonUnknownKey, Err: err}
	default:
		return &ValidationError{Reason: ReasonSignature, Err: err}
	}
}

// claims are the RFC 9068 / CONTRACT.md claims. A claim of the wrong JSON
// type is an error, never ignored.
type claims struct {
	Iss        *string           `json:"iss"`
	Sub        *string           `json:"sub"`
	Aud        audience          `json:"aud"`
	Exp        *numericDate      `json:"exp"`
	Nbf        *numericDate      `json:"nbf"`
	Iat        *numericDate      `json:"iat"`
	Jti        string            `json:"jti"`
	ClientID   string            `json:"client_id"`
	Scope      string            `json:"scope"`
	Email      string            `json:"email"`
	Username   string            `json:"username"`
	Groups     []string          `json:"groups"`
	Attributes map[string]string `json:"attributes"`
	Act        *actClaim         `json:"act"`
}

type actClaim struct {
	Sub      string    `json:"sub"`
	ClientID string    `json:"client_id"`
	Act      *actClaim `json:"act"`
}

// audience accepts a string or an array of strings (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		var l []string
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		*a = l
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*a = audience{s}
	return nil
}

// numericDate is an RFC 7519 NumericDate (seconds, fractions allowed).
type numericDate struct{ t time.Time }

func (n *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	if f < 0 || f > 1<<40 || math.IsNaN(f) {
		return fmt.Errorf("NumericDate %v out of range", f)
	}
	sec, frac := math.Modf(f)
	n.t = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}

func parseClaims(payload []byte) (*claims, *ValidationError) {
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, refuse(ReasonClaims, "claims: %w", err)
	}
	depth := 0
	for a := c.Act; a != nil; a = a.Act {
		if depth++; depth > maxActorDepth {
			return nil, refuse(ReasonClaims, "act chain deeper than %d", maxActorDepth)
		}
		if a.Sub == "" {
			return nil, refuse(ReasonClaims, "act without sub")
		}
	}
	return &c, nil
}

func (v *Verifier) checkClaims(c *claims, now time.Time) *ValidationError {
	// RFC 9068 §4: iss must exactly match.
	if c.Iss == nil || *c.Iss != v.issuer {
		return refuse(ReasonIssuer, "iss does not match")
	}
	// RFC 9068 §4: aud must contain this resource server.
	if !slices.Contains(c.Aud, v.audience) {
		return refuse(ReasonAudience, "aud does not contain this service")
	}
	// RFC 9068 §2.2: exp and iat are required.
	if c.Exp == nil {
		return refuse(ReasonMissingClaim, "exp missing")
	}
	if !now.Before(c.Exp.t.Add(v.skew)) {
		return refuse(ReasonExpired, "expired at %s", c.Exp.t.Format(time.RFC3339))
	}
	if c.Nbf != nil && now.Add(v.skew).Before(c.Nbf.t) {
		return refuse(ReasonNotYetValid, "not valid before %s", c.Nbf.t.Format(time.RFC3339))
	}
	if c.Iat == nil {
		return refuse(ReasonMissingClaim, "iat missing")
	}
	if now.Add(v.skew).Before(c.Iat.t) {
		return refuse(ReasonIssuedInFuture, "issued at %s", c.Iat.t.Format(time.RFC3339))
	}
	if c.Exp.t.Sub(c.Iat.t) > v.maxLifetime {
		return refuse(ReasonLifetime, "lifetime exceeds %v", v.maxLifetime)
	}
	if c.Sub == nil || *c.Sub == "" {
		return refuse(ReasonMissingClaim, "sub missing")
	}
	if c.ClientID == "" {
		return refuse(ReasonMissingClaim, "client_id missing")
	}
	if c.Jti == "" {
		return refuse(ReasonMissingClaim, "jti missing")
	}
	return nil
}

func (c *claims) identity() *Identity {
	id := &Identity{
		Subject:    *c.Sub,
		UserName:   c.Username,
		Email:      c.Email,
		Groups:     c.Groups,
		Attributes: c.Attributes,
		Scopes:     strings.Fields(c.Scope),
		ClientID:   c.ClientID,
		Audience:   []string(c.Aud),
		IssuedAt:   c.Iat.t,
		ExpiresAt:  c.Exp.t,
		TokenID:    c.Jti,
	}
	next := &id.Actor
	for a := c.Act; a != nil; a = a.Act {
		*next = &Actor{Subject: a.Sub, ClientID: a.ClientID}
		next = &(*next).Actor
	}
	return id
}
