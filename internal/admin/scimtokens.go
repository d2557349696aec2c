package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// SCIMTokensPath is the collection of the SCIM token endpoints.
const SCIMTokensPath = "/api/v1/admin/scim-tokens"

// MaxSCIMTokenBody caps the body of POST /api/v1/admin/scim-tokens (4 KiB).
const MaxSCIMTokenBody = 4 << 10

// SCIMTokens creates, lists and revokes SCIM bearer tokens
// (*scimtoken.Service implements it).
type SCIMTokens interface {
	Create(ctx context.Context, req scimtoken.CreateRequest) (scimtoken.Created, error)
	List(ctx context.Context) ([]scimtoken.Status, error)
	Revoke(ctx context.Context, id string) error
}

// scimTokenRequest is the optional body of POST: a description and a
// lifetime shorter than the configured one, in days.
type scimTokenRequest struct {
	Name          string `json:"name"`
	ExpiresInDays int    `json:"expires_in_days"`
}

// scimTokenCreated is the answer to POST: the only time the token value
// is shown.
type scimTokenCreated struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// scimTokenView is a listed token: never its value.
type scimTokenView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"` // null: never used
	DaysLeft   int        `json:"days_left"`
	// Status is "active" or "expired".
	Status  string `json:"status"`
	Warning string `json:"warning,omitempty"`
}

// scimTokenList is the answer to GET.
type scimTokenList struct {
	Tokens []scimTokenView `json:"tokens"`
	// MaxActive is how many tokens may be active at once.
	MaxActive int `json:"max_active"`
}

// SCIMTokenRoutes registers the SCIM token endpoints on mux, all behind
// tok.Require:
//
//	POST   /api/v1/admin/scim-tokens       201 {"id","token","expires_at","name","created_at"}, 400, 409, 413, 415, 503
//	GET    /api/v1/admin/scim-tokens       200 {"tokens":[...],"max_active":2}, 503
//	DELETE /api/v1/admin/scim-tokens/{id}  204, 404, 503
//
// The POST body is optional: none (or {}) creates a token with the
// configured lifetime; a JSON object (Content-Type application/json, at
// most MaxSCIMTokenBody bytes, unknown fields are errors) may give a
// "name" and "expires_in_days" (1 up to the configured lifetime in days).
// The token value appears only in the POST answer. The list shows every
// token that is not revoked, expired ones included, oldest first, each
// with id, name, created_at, expires_at, last_used_at (null when never
// used), days_left, status ("active" or "expired") and, when it has
// expired or expires within the warning window, a warning saying what to
// do. A revoked token is refused by /scim/v2 from the moment DELETE
// answers, and is no longer listed. A third active token is 409: revoke
// one first. Errors are {"error":code,"message":...}; a 503 names what
// was or was not changed.
func SCIMTokenRoutes(mux *http.ServeMux, tok Token, svc SCIMTokens, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rt := &scimTokenRoutes{svc: svc, log: logger}
	mux.Handle("POST "+SCIMTokensPath, tok.Require(http.HandlerFunc(rt.create)))
	mux.Handle("GET "+SCIMTokensPath, tok.Require(http.HandlerFunc(rt.list)))
	mux.Handle("DELETE "+SCIMTokensPath+"/{id}", tok.Require(http.HandlerFunc(rt.revoke)))
}

type scimTokenRoutes struct {
	svc SCIMTokens
	log *slog.Logger
}

func (rt *scimTokenRoutes) create(w http.ResponseWriter, r *http.Request) {
	var req scimTokenRequest
	if !decodeOptionalBody(w, r, &req) {
		return
	}
	c, err := rt.svc.Create(r.Context(), scimtoken.CreateRequest{Name: req.Name, ExpiresInDays: req.ExpiresInDays})
	var verr *scimtoken.ValidationError
	switch {
	case err == nil:
		writeJSON(w, http.StatusCreated, scimTokenCreated{
			ID: c.ID, Token: c.Token, ExpiresAt: c.ExpiresAt.UTC(), Name: c.Name, CreatedAt: c.CreatedAt.UTC(),
		})
	case errors.As(err, &verr):
		server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", verr.Error())
	case errors.Is(err, scimtoken.ErrLimit):
		server.WriteJSONError(w, http.StatusConflict, "conflict", fmt.Sprintf(
			"at most %d SCIM tokens can be active at once: revoke one (DELETE %s/{id}) before creating another",
			scimtoken.MaxActive, SCIMTokensPath))
	case errors.Is(err, scimtoken.ErrAudit):
		rt.fail(w, r, err, "the audit log is unavailable; no token was created")
	default:
		rt.fail(w, r, err, "the token store is unavailable; no token was created")
	}
}

func (rt *scimTokenRoutes) list(w http.ResponseWriter, r *http.Request) {
	list, err := rt.svc.List(r.Context())
	if err != nil {
		rt.fail(w, r, err, "the token store is unavailable")
		return
	}
	out := scimTokenList{Tokens: make([]scimTokenView, 0, len(list)), MaxActive: scimtoken.MaxActive}
	for _, s := range list {
		v := scimTokenView{
			ID: s.ID, Name: s.Name, CreatedAt: s.CreatedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
			LastUsedAt: timePtr(s.LastUsedAt), DaysLeft: s.DaysLeft, Status: "active", Warning: s.Warning,
		}
		if s.Expired {
			v.Status = "expired"
		}
		out.Tokens = append(out.Tokens, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (rt *scimTokenRoutes) revoke(w http.ResponseWriter, r *http.Request) {
	err := rt.svc.Revoke(r.Context(), r.PathValue("id"))
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, scimtoken.ErrNotFound):
		server.WriteJSONError(w, http.StatusNotFound, "not_found", "no unrevoked SCIM token has this ID")
	case errors.Is(err, scimtoken.ErrAudit):
		rt.fail(w, r, err, "the token is revoked, but the audit log could not record the revocation")
	default:
		rt.fail(w, r, err, "the token store is unavailable; the token was not revoked")
	}
}

// fail logs err and answers 503 with message.
func (rt *scimTokenRoutes) fail(w http.ResponseWriter, r *http.Request, err error, message string) {
	rt.log.ErrorContext(r.Context(), "admin: SCIM token request failed",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	server.WriteJSONError(w, http.StatusServiceUnavailable, "unavailable", message)
}

// decodeOptionalBody reads the optional JSON object of a POST into v: an
// empty body keeps v as it is; otherwise the body must be a JSON object
// (Content-Type
// application/json) of at most MaxSCIMTokenBody bytes with no unknown
// fields and nothing after it. On failure it has written the error
// response.
func decodeOptionalBody(w http.ResponseWriter, r *http.Request, v any) bool {
	return readJSONBody(w, r, v, bodyRules{limit: MaxSCIMTokenBody, optional: true, describe: func(err error) string {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field == "expires_in_days" {
			return "expires_in_days: must be a whole number of days, not " + typeErr.Value
		}
		return notAnObject(err)
	}})
}
