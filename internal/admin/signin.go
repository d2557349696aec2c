package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/signin"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// MaxPasswordBody caps the body of PUT .../users/{id}/password (16 KiB:
// the longest password the policy accepts, JSON-escaped, fits).
const MaxPasswordBody = 16 << 10

// Audit event types of the directory sign-in endpoints.
const (
	EventAdminPasswordSet      = "admin.user.password_set"
	EventAdminUserUnlocked     = "admin.user.unlock"
	EventAdminMFADeviceDeleted = "admin.mfa_device.delete"
)

// SignInAdmin is the directory sign-in's administration (signin.Service).
type SignInAdmin interface {
	SetPassword(ctx context.Context, userID, password string) error
	Status(ctx context.Context, userID string) (signin.Status, error)
	Unlock(ctx context.Context, userID string) error
	DeleteDevice(ctx context.Context, userID, deviceID string) error
}

// passwordRequest is the body of PUT .../users/{id}/password.
type passwordRequest struct {
	Password *string `json:"password"`
}

// mfaDeviceView is an MFA device in responses: never its secret or
// credential.
type mfaDeviceView struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"` // null: never used
}

// signInStatusView is the answer to GET .../users/{id}/signin.
type signInStatusView struct {
	HasPassword       bool            `json:"has_password"`
	PasswordUpdatedAt *time.Time      `json:"password_updated_at"` // null: no password
	Failures          int             `json:"failures"`
	LockedUntil       *time.Time      `json:"locked_until"` // null: not locked
	MFADevices        []mfaDeviceView `json:"mfa_devices"`
}

func mfaDeviceViews(devices []signin.MFADevice) []mfaDeviceView {
	out := make([]mfaDeviceView, 0, len(devices))
	for _, d := range devices {
		out = append(out, mfaDeviceView{
			ID: d.ID, Kind: string(d.Kind), Name: d.Name, CreatedAt: d.CreatedAt.UTC(), LastUsedAt: timePtr(d.LastUsedAt),
		})
	}
	return out
}

// SignInRoutes registers the directory sign-in's administration on mux,
// all behind tok.Require:
//
//	PUT    /api/v1/admin/users/{id}/password                  204, 400, 404, 413, 415, 503
//	GET    /api/v1/admin/users/{id}/signin                    200 status, 404, 503
//	GET    /api/v1/admin/users/{id}/mfa-devices               200 {"devices":[...]}, 404, 503
//	DELETE /api/v1/admin/users/{id}/mfa-devices/{device_id}   204, 404, 503
//	POST   /api/v1/admin/users/{id}/unlock                    204, 404, 503
//
// PUT password takes {"password":"..."} (Content-Type application/json,
// at most MaxPasswordBody bytes, unknown fields are errors), checks it
// against the password policy, stores its hash and clears the user's
// lockout; a password the policy refuses is 400 invalid_password with the
// policy's sentence as the message. The status is {"has_password",
// "password_updated_at" (null without a password), "failures",
// "locked_until" (null when not locked), "mfa_devices"}; a device is
// {"id","kind","name","created_at","last_used_at" (null when never
// used)}, never its secret. Deleting a device (a lost phone or key) makes
// a user left without one register a new one at the next sign-in when
// the policy allows. Unlock clears the failure count and the lock.
//
// Changes are audited (actor "admin", subject the user ID) as
// EventAdminPasswordSet, EventAdminMFADeviceDeleted (details: device_id)
// and EventAdminUserUnlocked; never the password. A change made but not
// recorded is 500 audit_failed. A nil svc (the gateway's identity source
// is not the directory) answers every route 404 not_found saying so.
// Errors are {"error":code,"message":...}; store failures are logged and
// answered 503 without detail.
func SignInRoutes(mux *http.ServeMux, tok Token, svc SignInAdmin, aud Auditor, now func() time.Time, logger *slog.Logger) {
	if svc != nil && aud == nil {
		panic("admin: SignInRoutes needs an auditor")
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rt := &signInRoutes{svc: svc, rec: &directoryRoutes{aud: aud, now: now, log: logger}}
	handle := func(pattern string, h http.HandlerFunc) {
		if svc == nil {
			h = notConfigured
		}
		mux.Handle(pattern, tok.Require(h))
	}
	handle("PUT "+UsersPath+"/{id}/password", rt.setPassword)
	handle("GET "+UsersPath+"/{id}/signin", rt.status)
	handle("GET "+UsersPath+"/{id}/mfa-devices", rt.listDevices)
	handle("DELETE "+UsersPath+"/{id}/mfa-devices/{device_id}", rt.deleteDevice)
	handle("POST "+UsersPath+"/{id}/unlock", rt.unlock)
}

// notConfigured answers the sign-in routes of a gateway whose identity
// source is not the directory.
func notConfigured(w http.ResponseWriter, _ *http.Request) {
	server.WriteJSONError(w, http.StatusNotFound, "not_found", "the directory identity source is not configured")
}

type signInRoutes struct {
	svc SignInAdmin
	// rec records the audit events (only its auditor, clock and logger
	// are set).
	rec *directoryRoutes
}

func (rt *signInRoutes) setPassword(w http.ResponseWriter, r *http.Request) {
	var req passwordRequest
	if !decodeLimitedBody(w, r, &req, MaxPasswordBody) {
		return
	}
	if req.Password == nil || *req.Password == "" {
		server.WriteJSONError(w, http.StatusBadRequest, "invalid_request", "password: is required")
		return
	}
	id := r.PathValue("id")
	now := rt.rec.now()
	err := rt.svc.SetPassword(r.Context(), id, *req.Password)
	if errors.Is(err, signin.ErrPolicy) {
		server.WriteJSONError(w, http.StatusBadRequest, "invalid_password", policySentence(err))
		return
	}
	if err != nil {
		rt.fail(w, r, err, "no user has this ID")
		return
	}
	if !rt.rec.record(w, r, EventAdminPasswordSet, id, now, nil) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// policySentence is the password policy's reason for refusing a password
// (it never repeats the password).
func policySentence(err error) string {
	if perr, ok := errors.AsType[*password.PolicyError](err); ok && perr.Reason != "" {
		return perr.Reason
	}
	if msg := strings.TrimPrefix(err.Error(), signin.ErrPolicy.Error()+": "); msg != err.Error() && msg != "" {
		return msg
	}
	return "the password policy refuses this password"
}

func (rt *signInRoutes) status(w http.ResponseWriter, r *http.Request) {
	st, err := rt.svc.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		rt.fail(w, r, err, "no user has this ID")
		return
	}
	v := signInStatusView{
		HasPassword: st.HasPassword, Failures: st.Failures, LockedUntil: timePtr(st.LockedUntil),
		MFADevices: mfaDeviceViews(st.Devices),
	}
	if st.HasPassword {
		v.PasswordUpdatedAt = timePtr(st.PasswordUpdatedAt)
	}
	writeJSON(w, http.StatusOK, v)
}

func (rt *signInRoutes) listDevices(w http.ResponseWriter, r *http.Request) {
	st, err := rt.svc.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		rt.fail(w, r, err, "no user has this ID")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Devices []mfaDeviceView `json:"devices"`
	}{Devices: mfaDeviceViews(st.Devices)})
}

func (rt *signInRoutes) deleteDevice(w http.ResponseWriter, r *http.Request) {
	id, deviceID := r.PathValue("id"), r.PathValue("device_id")
	now := rt.rec.now()
	if err := rt.svc.DeleteDevice(r.Context(), id, deviceID); err != nil {
		rt.fail(w, r, err, "the user has no MFA device with this ID")
		return
	}
	if !rt.rec.record(w, r, EventAdminMFADeviceDeleted, id, now, map[string]string{"device_id": deviceID}) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rt *signInRoutes) unlock(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	now := rt.rec.now()
	if err := rt.svc.Unlock(r.Context(), id); err != nil {
		rt.fail(w, r, err, "no user has this ID")
		return
	}
	if !rt.rec.record(w, r, EventAdminUserUnlocked, id, now, nil) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fail answers 404 with notFound for an unknown user or device; anything
// else is a store failure, logged here and answered generically.
func (rt *signInRoutes) fail(w http.ResponseWriter, r *http.Request, err error, notFound string) {
	if errors.Is(err, sp.ErrNotFound) || errors.Is(err, signin.ErrNotFound) {
		server.WriteJSONError(w, http.StatusNotFound, "not_found", notFound)
		return
	}
	rt.rec.log.ErrorContext(r.Context(), "admin: directory sign-in request failed",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	msg := "the credential store is unavailable"
	if r.Method != http.MethodGet {
		msg += "; nothing was changed"
	}
	server.WriteJSONError(w, http.StatusServiceUnavailable, "unavailable", msg)
}
