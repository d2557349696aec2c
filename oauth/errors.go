package oauth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

// ErrorCode is an OAuth 2.0 error code as written in the "error" member of
// an RFC 6749 section 5.2 error response.
type ErrorCode string

// Error codes from RFC 6749 section 5.2 (token endpoint), RFC 8693 section
// 2.2.2 (invalid_target), RFC 8628 section 3.5 (device flow) and RFC 6749
// section 4.1.2.1 (access_denied, server_error, temporarily_unavailable).
const (
	ErrInvalidRequest          ErrorCode = "invalid_request"
	ErrInvalidClient           ErrorCode = "invalid_client"
	ErrInvalidGrant            ErrorCode = "invalid_grant"
	ErrUnauthorizedClient      ErrorCode = "unauthorized_client"
	ErrUnsupportedGrantType    ErrorCode = "unsupported_grant_type"
	ErrInvalidScope            ErrorCode = "invalid_scope"
	ErrInvalidTarget           ErrorCode = "invalid_target"
	ErrAuthorizationPending    ErrorCode = "authorization_pending"
	ErrSlowDown                ErrorCode = "slow_down"
	ErrExpiredToken            ErrorCode = "expired_token"
	ErrAccessDenied            ErrorCode = "access_denied"
	ErrServerError             ErrorCode = "server_error"
	ErrTemporarilyUnavailable  ErrorCode = "temporarily_unavailable"
	defaultServerErrorDescribe           = "the authorization server encountered an internal error"
)

// Status returns the HTTP status RFC 6749 section 5.2 (and the RFCs that
// extend it) prescribe for the code: 401 for invalid_client, 500 for
// server_error, 503 for temporarily_unavailable, 400 otherwise.
func (c ErrorCode) Status() int {
	switch c {
	case ErrInvalidClient:
		return http.StatusUnauthorized
	case ErrServerError:
		return http.StatusInternalServerError
	case ErrTemporarilyUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

// Error is an OAuth 2.0 protocol error. Code and Description are sent to the
// client; the wrapped cause (see Wrap) is for server logs only and is never
// written to the response.
type Error struct {
	Code        ErrorCode
	Description string
	Status      int
	err         error
}

// NewError returns an Error with the code's default status.
func NewError(code ErrorCode, description string) *Error {
	return &Error{Code: code, Description: description, Status: code.Status()}
}

// WithDescription returns a copy of e with the given client-visible
// description; e is not modified.
func (e *Error) WithDescription(description string) *Error {
	c := *e
	c.Description = description
	return &c
}

// WithStatus returns a copy of e with the given HTTP status.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.Status = status
	return &c
}

// Wrap returns a copy of e carrying cause for logs (reachable through
// errors.Is/As and LogValue); the cause is never sent to the client.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.err = cause
	return &c
}

// Error implements error.
func (e *Error) Error() string {
	s := "oauth: " + string(e.Code)
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

// Unwrap returns the log-only cause.
func (e *Error) Unwrap() error { return e.err }

// LogValue implements slog.LogValuer.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("code", string(e.Code)),
		slog.Int("status", e.status()),
	}
	if e.Description != "" {
		attrs = append(attrs, slog.String("description", e.Description))
	}
	var ve *ValidationError
	if errors.As(e.err, &ve) {
		attrs = append(attrs, slog.String("reason", ve.Reason()))
	}
	if e.err != nil {
		attrs = append(attrs, slog.String("cause", e.err.Error()))
	}
	return slog.GroupValue(attrs...)
}

func (e *Error) status() int {
	if e.Status >= 400 && e.Status <= 599 {
		return e.Status
	}
	return e.Code.Status()
}

// AsError returns err as an *Error. A *ValidationError becomes invalid_grant
// (400) with a generic description (temporarily_unavailable, 503, when
// the keys could not be obtained); any other non-oauth error becomes
// server_error (500) with a generic description, the original kept as the
// log-only cause. AsError(nil) returns nil.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		if ve.Reason() == ReasonKeysUnavailable {
			return NewError(ErrTemporarilyUnavailable, "the token issuer's keys are unavailable").Wrap(err)
		}
		return NewError(ErrInvalidGrant, "the token is invalid").Wrap(err)
	}
	return NewError(ErrServerError, defaultServerErrorDescribe).Wrap(err)
}

// unavailable is the error for a failure of a store (or of the audit log)
// behind a request: 503 temporarily_unavailable, so that clients and load
// balancers retry, possibly at another instance, rather than treat it as a
// bug. Nothing was granted.
func unavailable() *Error {
	return NewError(ErrTemporarilyUnavailable, "the authorization server is temporarily unavailable")
}

// Realm is the realm announced in WWW-Authenticate for invalid_client.
const Realm = "gatehouse"

type errorBody struct {
	Error            ErrorCode `json:"error"`
	ErrorDescription string    `json:"error_description,omitempty"`
}

// WriteError writes err as an RFC 6749 section 5.2 JSON error response with
// Cache-Control: no-store and Pragma: no-cache. invalid_client is answered
// with 401 and a WWW-Authenticate: Basic challenge (RFC 6749 section 5.2).
// Only the code and description are written; causes stay in the logs.
func WriteError(w http.ResponseWriter, err error) {
	oe := AsError(err)
	if oe == nil {
		oe = NewError(ErrServerError, defaultServerErrorDescribe)
	}
	status := oe.status()
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if oe.Code == ErrInvalidClient {
		status = http.StatusUnauthorized
		h.Set("WWW-Authenticate", `Basic realm=`+strconv.Quote(Realm))
	}
	body, mErr := json.Marshal(errorBody{Error: oe.Code, ErrorDescription: sanitizeDescription(oe.Description)})
	if mErr != nil {
		body = []byte(`{"error":"server_error"}`)
		status = http.StatusInternalServerError
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// sanitizeDescription keeps only the characters RFC 6749 section 5.2 allows
// in error_description (%x20-21 / %x23-5B / %x5D-7E), replacing others with
// a space, and bounds the length.
func sanitizeDescription(s string) string {
	const maxLen = 256
	b := make([]byte, 0, min(len(s), maxLen))
	for i := 0; i < len(s) && len(b) < maxLen; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			c = ' '
		}
		b = append(b, c)
	}
	return string(b)
}
