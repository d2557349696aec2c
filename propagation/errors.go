package propagation

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on. Every error returned by
// (*Verifier).Verify is a *ValidationError that matches exactly one of
// ErrInvalidToken or ErrInsufficientScope with errors.Is.
var (
	// ErrInvalidToken: the token is malformed, unsigned by a trusted key,
	// for another issuer or audience, or outside its time window.
	ErrInvalidToken = errors.New("propagation: invalid token")
	// ErrInsufficientScope: the token is valid but lacks a required scope.
	ErrInsufficientScope = errors.New("propagation: insufficient scope")
	// ErrUnknownKey is returned by a KeySet when no key matches the token's
	// kid (or, without kid, its alg). A RemoteKeySet refreshes once on it.
	ErrUnknownKey = errors.New("propagation: no key matches the token")
	// ErrInvalidSignature is returned by a KeySet when a candidate key exists
	// but the signature does not verify with it under the key's algorithm.
	ErrInvalidSignature = errors.New("propagation: invalid signature")
	// ErrKeySetUnavailable is returned by a RemoteKeySet that has no keys, or
	// whose last successful fetch is older than MaxStaleness (fail closed).
	ErrKeySetUnavailable = errors.New("propagation: key set unavailable")
)

// Reason is a bounded, log- and metric-safe label for why a token was
// refused. Never use err.Error() as a metric label; use the Reason.
type Reason string

// Reasons, in the order Verify checks them.
const (
	ReasonTooLarge          Reason = "too_large"
	ReasonMalformed         Reason = "malformed"
	ReasonType              Reason = "bad_typ"
	ReasonAlgorithm         Reason = "bad_alg"
	ReasonCrit              Reason = "unsupported_header"
	ReasonUnknownKey        Reason = "unknown_key"
	ReasonKeysUnavailable   Reason = "keys_unavailable"
	ReasonSignature         Reason = "bad_signature"
	ReasonClaims            Reason = "malformed_claims"
	ReasonIssuer            Reason = "bad_issuer"
	ReasonAudience          Reason = "bad_audience"
	ReasonMissingClaim      Reason = "missing_claim"
	ReasonExpired           Reason = "expired"
	ReasonNotYetValid       Reason = "not_yet_valid"
	ReasonIssuedInFuture    Reason = "issued_in_future"
	ReasonLifetime          Reason = "lifetime_too_long"
	ReasonInsufficientScope Reason = "insufficient_scope"
)

// ValidationError is the one error type Verify returns. Reason is bounded;
// Err carries detail for logs (never for HTTP responses).
type ValidationError struct {
	Reason Reason
	Err    error
}

func (e *ValidationError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("propagation: token refused (%s)", e.Reason)
	}
	return fmt.Sprintf("propagation: token refused (%s): %v", e.Reason, e.Err)
}

// Unwrap exposes the sentinel for the reason and the underlying cause.
func (e *ValidationError) Unwrap() []error {
	s := ErrInvalidToken
	if e.Reason == ReasonInsufficientScope {
		s = ErrInsufficientScope
	}
	if e.Err == nil {
		return []error{s}
	}
	return []error{s, e.Err}
}

func refuse(r Reason, format string, args ...any) *ValidationError {
	return &ValidationError{Reason: r, Err: fmt.Errorf(format, args...)}
}
