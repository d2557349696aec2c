package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/scim/filter"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
)

// ScimType is the scimType of an error response (RFC 7644 section 3.12,
// table 9): a machine-readable refinement of a 400 (or 409) status.
type ScimType string

// The scimType values this server answers with.
const (
	TypeInvalidFilter ScimType = "invalidFilter"
	TypeTooMany       ScimType = "tooMany"
	TypeUniqueness    ScimType = "uniqueness"
	TypeMutability    ScimType = "mutability"
	TypeInvalidSyntax ScimType = "invalidSyntax"
	TypeInvalidPath   ScimType = "invalidPath"
	TypeNoTarget      ScimType = "noTarget"
	TypeInvalidValue  ScimType = "invalidValue"
)

// Error is a SCIM error response: the HTTP status, an optional scimType
// and a detail for the client. Detail never carries secrets or store
// internals; it may quote a short prefix of the client's own input.
type Error struct {
	Status int
	Type   ScimType
	Detail string
}

func (e *Error) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("scim: %d %s: %s", e.Status, e.Type, e.Detail)
	}
	return fmt.Sprintf("scim: %d: %s", e.Status, e.Detail)
}

// errorf returns a 400 *Error of type t.
func errorf(t ScimType, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: t, Detail: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON of an error response.
type errorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType ScimType `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// writeError writes e as an RFC 7644 section 3.12 response.
func writeError(w http.ResponseWriter, e *Error) {
	body, err := json.Marshal(errorBody{
		Schemas: []string{scimtoken.ErrorSchema}, Status: strconv.Itoa(e.Status), ScimType: e.Type, Detail: e.Detail,
	})
	if err != nil {
		// Only strings are marshalled: this cannot happen.
		body = []byte(`{"schemas":["` + scimtoken.ErrorSchema + `"],"status":"500"}`)
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Del("ETag")
	h.Del("Location")
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(body, '\n'))
}

// errUnavailable is the answer to a store failure; the cause is logged.
var errUnavailable = &Error{Status: http.StatusServiceUnavailable, Detail: "the identity store is unavailable; nothing was changed, try again later"}

// errAuditFailed is the answer when a change was made but its audit
// record could not be written.
var errAuditFailed = &Error{Status: http.StatusInternalServerError,
	Detail: "the change was made but could not be recorded in the audit log; the operator has been alerted"}

// asError maps an error from the store, the filter parser or this
// package to the response it deserves. ok is false for store failures
// (anything unrecognised), which answer 503 and must be logged.
func asError(err error) (e *Error, ok bool) {
	var se *Error
	var ve *directory.ValidationError
	var fe *filter.Error
	switch {
	case errors.As(err, &se):
		return se, true
	case errors.As(err, &fe) && errors.Is(err, filter.ErrInvalidPath):
		return errorf(TypeInvalidPath, "%s", fe.Error()), true
	case errors.As(err, &fe):
		return errorf(TypeInvalidFilter, "%s", fe.Error()), true
	case errors.As(err, &ve) && errors.Is(err, directory.ErrInvalidFilter):
		return errorf(TypeInvalidFilter, "%s: %s", ve.Attribute, ve.Reason), true
	case errors.As(err, &ve):
		return errorf(TypeInvalidValue, "%s: %s", ve.Attribute, ve.Reason), true
	case errors.Is(err, directory.ErrInvalid):
		return errorf(TypeInvalidValue, "the value is not acceptable"), true
	case errors.Is(err, directory.ErrConflict):
		return &Error{Status: http.StatusConflict, Type: TypeUniqueness,
			Detail: "another resource already has this userName or displayName (compared ignoring case), or this id"}, true
	case errors.Is(err, directory.ErrPreconditionFailed):
		return &Error{Status: http.StatusPreconditionFailed, Detail: "the resource has changed: its version does not match If-Match"}, true
	case errors.Is(err, directory.ErrNotFound):
		return errNotFound, true
	}
	return errUnavailable, false
}

var errNotFound = &Error{Status: http.StatusNotFound, Detail: "no resource has this id"}
