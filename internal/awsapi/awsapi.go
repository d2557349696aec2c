package awsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/vend"
)

// Paths of the API.
const (
	PathAccounts    = "/api/v1/accounts"
	PathCredentials = "/api/v1/credentials"
)

// MaxBody caps the body of a credentials request (bytes).
const MaxBody = 4 << 10

var (
	// ErrUnauthorized is wrapped by TokenVerifier errors for a token that
	// is malformed, expired, revoked, badly signed or for another audience.
	ErrUnauthorized = errors.New("awsapi: invalid token")
	// ErrInsufficientScope is wrapped by TokenVerifier errors for a valid
	// token without the credentials scope.
	ErrInsufficientScope = errors.New("awsapi: insufficient scope")
	// errBadRequest wraps every problem of a credentials request body.
	errBadRequest = errors.New("awsapi: bad request")
)

// TokenVerifier validates a bearer access token and returns its subject.
type TokenVerifier interface {
	// UserID returns the user the token was issued to. Errors for a bad
	// token wrap ErrUnauthorized (or ErrInsufficientScope); any other
	// error means the token could not be checked.
	UserID(ctx context.Context, bearer string) (string, error)
}

// EntitlementLister lists a user's (account, permission set) pairs.
type EntitlementLister interface {
	EntitlementsFor(ctx context.Context, userID string) ([]access.Entitlement, error)
}

// AccountReader reads an account (access.ErrNotFound when there is none).
type AccountReader interface {
	Account(ctx context.Context, id string) (access.Account, error)
}

// CredentialVendor vends credentials, checking the entitlement itself.
type CredentialVendor interface {
	Vend(ctx context.Context, userID, accountID, permissionSet string) (vend.Credentials, error)
}

// Config configures the API.
type Config struct {
	Tokens       TokenVerifier
	Entitlements EntitlementLister
	Accounts     AccountReader
	Vendor       CredentialVendor
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives one line per failed or vended request (default:
	// discard).
	Logger *slog.Logger
}

// API serves the accounts and credentials endpoints.
type API struct {
	cfg Config
}

// New validates cfg and returns the API.
func New(cfg Config) (*API, error) {
	var missing []string
	if cfg.Tokens == nil {
		missing = append(missing, "Tokens")
	}
	if cfg.Entitlements == nil {
		missing = append(missing, "Entitlements")
	}
	if cfg.Accounts == nil {
		missing = append(missing, "Accounts")
	}
	if cfg.Vendor == nil {
		missing = append(missing, "Vendor")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("awsapi: missing %s", strings.Join(missing, ", "))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{cfg: cfg}, nil
}

// Routes registers the endpoints on mux.
func (a *API) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathAccounts, a.authenticated(a.accounts))
	mux.HandleFunc("POST "+PathCredentials, a.authenticated(a.credentials))
}

// AccountJSON is one account of the accounts answer.
type AccountJSON struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// AccountsJSON is the accounts answer.
type AccountsJSON struct {
	Accounts []AccountJSON `json:"accounts"`
}

// CredentialsRequest is the body of a credentials request.
type CredentialsRequest struct {
	AccountID string `json:"account_id"`
	Role      string `json:"role"`
}

// ProcessCredentials is the AWS credential_process answer.
type ProcessCredentials struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
}

// authenticated resolves the bearer token to a user before calling h.
func (a *API) authenticated(h func(w http.ResponseWriter, r *http.Request, userID string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		token, ok := bearerToken(r)
		if !ok {
			challenge(w, http.StatusUnauthorized, "invalid_token", "a bearer access token is required")
			return
		}
		userID, err := a.cfg.Tokens.UserID(r.Context(), token)
		switch {
		case errors.Is(err, ErrInsufficientScope):
			a.cfg.Logger.InfoContext(r.Context(), "awsapi: token lacks the scope", "path", r.URL.Path)
			challenge(w, http.StatusForbidden, "insufficient_scope", "the token lacks the credentials scope")
			return
		case errors.Is(err, ErrUnauthorized):
			a.cfg.Logger.InfoContext(r.Context(), "awsapi: token refused", "path", r.URL.Path, "err", err)
			challenge(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired")
			return
		case err != nil:
			a.cfg.Logger.ErrorContext(r.Context(), "awsapi: token check failed", "path", r.URL.Path, "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable")
			return
		case userID == "":
			a.cfg.Logger.ErrorContext(r.Context(), "awsapi: token verifier returned no user", "path", r.URL.Path)
			writeError(w, http.StatusServiceUnavailable, "unavailable")
			return
		}
		h(w, r, userID)
	}
}

// bearerToken returns the token of an Authorization: Bearer header.
func bearerToken(r *http.Request) (string, bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

// challenge answers an RFC 6750 error.
func challenge(w http.ResponseWriter, status int, code, description string) {
	v := `Bearer error="` + code + `", error_description="` + description + `"`
	if code == "insufficient_scope" {
		v += `, scope="credentials"`
	}
	w.Header().Set("WWW-Authenticate", v)
	writeError(w, status, code)
}

func (a *API) accounts(w http.ResponseWriter, r *http.Request, userID string) {
	ctx := r.Context()
	ents, err := a.cfg.Entitlements.EntitlementsFor(ctx, userID)
	if err != nil {
		a.cfg.Logger.ErrorContext(ctx, "awsapi: listing entitlements failed", "user_id", userID, "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable")
		return
	}
	roles := make(map[string][]string)
	for _, e := range ents {
		if !slices.Contains(roles[e.AccountID], e.PermissionSet) {
			roles[e.AccountID] = append(roles[e.AccountID], e.PermissionSet)
		}
	}
	ids := make([]string, 0, len(roles))
	for id := range roles {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := AccountsJSON{Accounts: make([]AccountJSON, 0, len(ids))}
	for _, id := range ids {
		acct, err := a.cfg.Accounts.Account(ctx, id)
		switch {
		case errors.Is(err, access.ErrNotFound):
			continue // deleted since the entitlements were computed
		case err != nil:
			a.cfg.Logger.ErrorContext(ctx, "awsapi: reading an account failed", "user_id", userID, "account_id", id, "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable")
			return
		}
		rs := roles[id]
		slices.Sort(rs)
		out.Accounts = append(out.Accounts, AccountJSON{ID: id, Name: acct.Name, Roles: rs})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) credentials(w http.ResponseWriter, r *http.Request, userID string) {
	ctx := r.Context()
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type")
		return
	}
	req, err := DecodeCredentialsRequest(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		a.cfg.Logger.InfoContext(ctx, "awsapi: bad credentials request", "user_id", userID, "err", err)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "message": strings.TrimPrefix(err.Error(), errBadRequest.Error()+": ")})
		return
	}
	creds, err := a.cfg.Vendor.Vend(ctx, userID, req.AccountID, req.Role)
	switch {
	case errors.Is(err, vend.ErrNotEntitled):
		a.cfg.Logger.InfoContext(ctx, "awsapi: credentials refused", "user_id", userID, "account_id", req.AccountID, "role", req.Role)
		writeError(w, http.StatusForbidden, "not_entitled")
		return
	case errors.Is(err, vend.ErrUnavailable):
		a.cfg.Logger.ErrorContext(ctx, "awsapi: vending unavailable", "user_id", userID, "account_id", req.AccountID, "role", req.Role, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "unavailable")
		return
	case err != nil:
		a.cfg.Logger.ErrorContext(ctx, "awsapi: vending failed", "user_id", userID, "account_id", req.AccountID, "role", req.Role, "err", err)
		writeError(w, http.StatusInternalServerError, "server_error")
		return
	}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" || creds.SessionToken == "" || !creds.Expiration.After(a.cfg.Now()) {
		a.cfg.Logger.ErrorContext(ctx, "awsapi: vendor returned unusable credentials", "user_id", userID, "account_id", req.AccountID, "role", req.Role)
		writeError(w, http.StatusServiceUnavailable, "unavailable")
		return
	}
	a.cfg.Logger.InfoContext(ctx, "awsapi: credentials vended", "user_id", userID, "account_id", req.AccountID, "role", req.Role,
		"role_arn", creds.RoleARN, "expiration", creds.Expiration.UTC().Format(time.RFC3339))
	writeJSON(w, http.StatusOK, ProcessCredentials{
		Version:         1,
		AccessKeyID:     creds.AccessKeyID,
		SecretAccessKey: creds.SecretAccessKey,
		SessionToken:    creds.SessionToken,
		Expiration:      creds.Expiration.UTC().Format(time.RFC3339),
	})
}

// DecodeCredentialsRequest parses a credentials request body: one JSON
// object with exactly the known fields, a 12-digit account ID and an IAM
// role name of at most 32 characters. Errors wrap a bad-request error and
// name the problem.
func DecodeCredentialsRequest(body io.Reader) (CredentialsRequest, error) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var req CredentialsRequest
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return CredentialsRequest{}, fmt.Errorf("%w: the body exceeds %d bytes", errBadRequest, mbe.Limit)
		}
		return CredentialsRequest{}, fmt.Errorf("%w: the body is not a credentials request: %w", errBadRequest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return CredentialsRequest{}, fmt.Errorf("%w: trailing data after the JSON object", errBadRequest)
	}
	if !access.ValidAccountID(req.AccountID) {
		return CredentialsRequest{}, fmt.Errorf("%w: account_id must be exactly 12 digits", errBadRequest)
	}
	if !access.ValidPermissionSetName(req.Role) {
		return CredentialsRequest{}, fmt.Errorf("%w: role must be 1 to %d characters of A-Z a-z 0-9 +=,.@_-", errBadRequest, access.MaxPermissionSetName)
	}
	return req, nil
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

func writeError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
