package saml

import (
	"errors"
	"fmt"
)

// Reason is a bounded, stable classification of a verification failure,
// suitable as a metric label and for server logs. Never show it, or the
// wrapped error, to the browser: every rejection must look the same from
// outside.
type Reason string

// The reasons VerifyResponse and VerifyRedirectSignature report.
const (
	ReasonMalformed            Reason = "malformed"
	ReasonSignature            Reason = "signature"
	ReasonAlgorithm            Reason = "algorithm"
	ReasonIssuer               Reason = "issuer"
	ReasonStatus               Reason = "status"
	ReasonDestination          Reason = "destination"
	ReasonRecipient            Reason = "recipient"
	ReasonAudience             Reason = "audience"
	ReasonNotYetValid          Reason = "not_yet_valid"
	ReasonExpired              Reason = "expired"
	ReasonTooOld               Reason = "too_old"
	ReasonLifetime             Reason = "lifetime"
	ReasonAssertionCount       Reason = "assertion_count"
	ReasonSubject              Reason = "subject"
	ReasonInResponseToMismatch Reason = "in_response_to_mismatch"
	ReasonDecrypt              Reason = "decrypt"
	// ReasonOther is what ReasonOf returns for errors that are not a
	// *VerifyError.
	ReasonOther Reason = "other"
)

// VerifyError is the only error type VerifyResponse returns. Err carries
// detail for server logs; attacker-controlled text in it is short and
// quoted.
type VerifyError struct {
	Reason Reason
	Err    error
}

func (e *VerifyError) Error() string {
	if e.Err == nil {
		return "saml: verification failed: " + string(e.Reason)
	}
	return fmt.Sprintf("saml: verification failed: %s: %v", e.Reason, e.Err)
}

func (e *VerifyError) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of the first *VerifyError in err's chain, or
// ReasonOther.
func ReasonOf(err error) Reason {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return ReasonOther
}

func fail(r Reason, format string, args ...any) *VerifyError {
	return &VerifyError{Reason: r, Err: fmt.Errorf(format, args...)}
}
