package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/signin"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// downCredentials is a credential store that fails every call the admin
// endpoints make while down is set.
type downCredentials struct {
	signin.CredentialStore
	downSwitch
}

var errCredentialsDown = errors.New("credentials table is gone")

func (s *downCredentials) Password(ctx context.Context, userID string) (signin.Password, error) {
	if err := s.err(); err != nil {
		return signin.Password{}, err
	}
	return s.CredentialStore.Password(ctx, userID)
}

func (s *downCredentials) SetPassword(ctx context.Context, userID, hash string, now time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.CredentialStore.SetPassword(ctx, userID, hash, now)
}

func (s *downCredentials) ResetFailures(ctx context.Context, userID string) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.CredentialStore.ResetFailures(ctx, userID)
}

func (s *downCredentials) DeleteMFADevice(ctx context.Context, userID, deviceID string) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.CredentialStore.DeleteMFADevice(ctx, userID, deviceID)
}

// signInAttempts accepts the sign-in service's own audit records (the
// admin endpoints make none).
type signInAttempts struct{}

func (signInAttempts) RecordSignIn(context.Context, signin.Attempt) error { return nil }

// signInAPI is the sign-in admin endpoints over a real signin.Service on
// the memory store.
type signInAPI struct {
	mem   *memory.Store
	creds *downCredentials
	aud   *recordingAuditor
	logs  *bytes.Buffer
	h     http.Handler
	now   time.Time
}

var signInNow = time.Date(2026, 4, 1, 9, 30, 0, 0, time.UTC)

// The user the tests work on, and a password the policy accepts for her.
const (
	signInUser     = "alice"
	signInPassword = "Tr0mbone-Velvet-Harbor"
)

func newSignInAPI(t testing.TB) *signInAPI {
	t.Helper()
	a := &signInAPI{mem: memory.New(), aud: &recordingAuditor{}, logs: &bytes.Buffer{}, now: signInNow}
	a.creds = &downCredentials{CredentialStore: a.mem, downSwitch: downSwitch{cause: errCredentialsDown}}
	clock := func() time.Time { return a.now }
	_, err := a.mem.CreateDirectoryUser(t.Context(), directory.User{
		ID: signInUser, UserName: "alice@example.com", DisplayName: "Alice Liddell", Email: "alice@example.com", Active: true,
	}, signInNow)
	require.NoError(t, err)
	hasher, err := password.New(password.Config{Params: password.Params{
		Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 16,
	}})
	require.NoError(t, err)
	sessions, err := sp.NewSessionManager(sp.SessionManagerConfig{Sessions: a.mem, Users: a.mem, Now: clock})
	require.NoError(t, err)
	svc, err := signin.New(signin.Config{
		Store: a.creds, Users: a.mem, Sessions: sessions, Hasher: hasher, Audit: signInAttempts{},
		SealKey: bytes.Repeat([]byte{7}, 32), ExternalURL: "https://gw.example.com", Now: clock,
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	SignInRoutes(mux, NewToken(adminSecret), svc, a.aud, clock, slog.New(slog.NewTextHandler(a.logs, nil)))
	a.h = mux
	return a
}

// do sends a request with the admin token.
func (a *signInAPI) do(t testing.TB, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+adminSecret)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

func (a *signInAPI) events() []audit.Event {
	a.aud.mu.Lock()
	defer a.aud.mu.Unlock()
	return append([]audit.Event(nil), a.aud.events...)
}

// status reads the user's sign-in status through the API.
func (a *signInAPI) status(t testing.TB, user string) signInStatusView {
	t.Helper()
	w := a.do(t, http.MethodGet, UsersPath+"/"+user+"/signin", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	return decodeJSON[signInStatusView](t, w)
}

// lock records failures until lockFor locks the user for 5 minutes.
func (a *signInAPI) lock(t testing.TB, failures int) {
	t.Helper()
	for i := range failures {
		_, err := a.mem.RecordFailure(t.Context(), signInUser, a.now, func(n int) time.Duration {
			if n >= 3 {
				return 5 * time.Minute
			}
			return 0
		})
		require.NoError(t, err, "failure %d", i)
	}
}

// addDevices registers a TOTP device (used once) and a WebAuthn key for
// the user, with secrets the API must never show.
func (a *signInAPI) addDevices(t testing.TB) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, a.mem.AddMFADevice(ctx, signin.MFADevice{
		ID: "dev-totp", UserID: signInUser, Kind: signin.KindTOTP, Name: "Phone", CreatedAt: signInNow.Add(-2 * time.Hour),
		Secret: []byte("sealed-totp-secret-bytes"),
	}, 5))
	require.NoError(t, a.mem.UseTOTPStep(ctx, "dev-totp", 42, signInNow.Add(-time.Hour)))
	require.NoError(t, a.mem.AddMFADevice(ctx, signin.MFADevice{
		ID: "dev-key", UserID: signInUser, Kind: signin.KindWebAuthn, Name: "YubiKey", CreatedAt: signInNow.Add(-time.Hour),
		CredentialID: []byte("credential-id-1"), Credential: []byte(`{"publicKey":"secret-public-key-blob"}`),
	}, 5))
}

func TestSignInSetPassword(t *testing.T) {
	a := newSignInAPI(t)
	a.lock(t, 3)
	require.NotNil(t, a.status(t, signInUser).LockedUntil)
	a.now = signInNow.Add(time.Minute)

	w := a.do(t, http.MethodPut, UsersPath+"/"+signInUser+"/password", `{"password":"`+signInPassword+`"}`)
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	assert.Empty(t, w.Body.String())

	st := a.status(t, signInUser)
	assert.True(t, st.HasPassword)
	require.NotNil(t, st.PasswordUpdatedAt)
	assert.Equal(t, signInNow.Add(time.Minute), *st.PasswordUpdatedAt)
	assert.Zero(t, st.Failures, "setting a password clears the lockout")
	assert.Nil(t, st.LockedUntil)

	pw, err := a.mem.Password(t.Context(), signInUser)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(pw.Hash, "$argon2id$"), "the hash is stored, not the password")

	evs := a.events()
	require.Len(t, evs, 1)
	e := evs[0]
	assert.Equal(t, EventAdminPasswordSet, e.Type)
	assert.Equal(t, audit.Success, e.Outcome)
	assert.Equal(t, "admin", e.Actor)
	assert.Equal(t, signInUser, e.Subject)
	assert.Equal(t, signInNow.Add(time.Minute), e.Time)
	raw, err := json.Marshal(e)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), signInPassword)
	assert.NotContains(t, a.logs.String(), signInPassword)

	// Setting it again replaces it.
	a.now = signInNow.Add(time.Hour)
	w = a.do(t, http.MethodPut, UsersPath+"/"+signInUser+"/password", `{"password":"Another-Quiet-Lantern-77"}`)
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	assert.Equal(t, signInNow.Add(time.Hour), *a.status(t, signInUser).PasswordUpdatedAt)
	assert.Len(t, a.events(), 2)
}

func TestSignInSetPasswordRefused(t *testing.T) {
	path := UsersPath + "/" + signInUser + "/password"
	tests := []struct {
		name, path, contentType, body string
		status                        int
		code, message                 string
	}{
		{"too short", path, "application/json", `{"password":"Sh0rt-pw"}`,
			400, "invalid_password", "the password must be at least 12 characters"},
		{"one character repeated", path, "application/json", `{"password":"zzzzzzzzzzzzzzzz"}`,
			400, "invalid_password", "the password must not be one character repeated"},
		{"the user's name", path, "application/json", `{"password":"Liddell-Harbor-Velvet"}`,
			400, "invalid_password", "the password must not contain your name, user name or e-mail address"},
		{"control character", path, "application/json", `{"password":"Tr0mbone-Velvet\tHarbor"}`,
			400, "invalid_password", "the password must not contain control characters such as tabs or line breaks"},
		{"missing password", path, "application/json", `{}`, 400, "invalid_request", "password: is required"},
		{"empty password", path, "application/json", `{"password":""}`, 400, "invalid_request", "password: is required"},
		{"null password", path, "application/json", `{"password":null}`, 400, "invalid_request", "password: is required"},
		{"password not a string", path, "application/json", `{"password":12345678901234}`,
			400, "invalid_request", "password: must be a string, not number"},
		{"unknown field", path, "application/json", `{"password":"` + signInPassword + `","force":true}`,
			400, "invalid_request", "force: unknown field"},
		{"malformed JSON", path, "application/json", `{"password":"` + signInPassword + `"`,
			400, "invalid_request", "body: truncated JSON"},
		{"not an object", path, "application/json", `["` + signInPassword + `"]`,
			400, "invalid_request", "body: must be a JSON object, not array"},
		{"trailing data", path, "application/json", `{"password":"` + signInPassword + `"} {}`,
			400, "invalid_request", "body: holds data after the JSON object"},
		{"empty body", path, "application/json", ``, 400, "invalid_request", "body: is empty"},
		{"not JSON", path, "text/plain", `{"password":"` + signInPassword + `"}`,
			415, "unsupported_media_type", "body: Content-Type must be application/json"},
		{"too large", path, "application/json", `{"password":"` + strings.Repeat("x", MaxPasswordBody) + `"}`,
			413, "request_too_large", "body: larger than 16384 bytes"},
		{"unknown user", UsersPath + "/bob/password", "application/json", `{"password":"` + signInPassword + `"}`,
			404, "not_found", "no user has this ID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newSignInAPI(t)
			r := httptest.NewRequest(http.MethodPut, tc.path, strings.NewReader(tc.body))
			r.Header.Set("Authorization", "Bearer "+adminSecret)
			r.Header.Set("Content-Type", tc.contentType)
			w := httptest.NewRecorder()
			a.h.ServeHTTP(w, r)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			code, msg := errorOf(t, w)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, tc.message, msg)
			assert.False(t, a.status(t, signInUser).HasPassword, "nothing was stored")
			assert.Empty(t, a.events())
		})
	}
}

func TestSignInStatus(t *testing.T) {
	a := newSignInAPI(t)

	// A user without a password, failures or devices.
	w := a.do(t, http.MethodGet, UsersPath+"/"+signInUser+"/signin", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.JSONEq(t, `{"has_password":false,"password_updated_at":null,"failures":0,"locked_until":null,"mfa_devices":[]}`,
		w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))

	// With a password, a lock and two devices.
	require.Equal(t, http.StatusNoContent,
		a.do(t, http.MethodPut, UsersPath+"/"+signInUser+"/password", `{"password":"`+signInPassword+`"}`).Code)
	a.addDevices(t)
	a.lock(t, 3)
	w = a.do(t, http.MethodGet, UsersPath+"/"+signInUser+"/signin", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.JSONEq(t, `{"has_password":true,"password_updated_at":"2026-04-01T09:30:00Z","failures":3,
		"locked_until":"2026-04-01T09:35:00Z","mfa_devices":[
		{"id":"dev-totp","kind":"totp","name":"Phone","created_at":"2026-04-01T07:30:00Z","last_used_at":"2026-04-01T08:30:00Z"},
		{"id":"dev-key","kind":"webauthn","name":"YubiKey","created_at":"2026-04-01T08:30:00Z","last_used_at":null}]}`,
		w.Body.String())
	body := w.Body.String()
	for _, secret := range []string{"sealed-totp-secret-bytes", "secret-public-key-blob", "credential-id-1"} {
		assert.NotContains(t, body, secret)
		assert.NotContains(t, body, base64.StdEncoding.EncodeToString([]byte(secret)))
	}

	// Once the lock has passed, the failures remain but the lock is not shown.
	a.now = signInNow.Add(6 * time.Minute)
	st := a.status(t, signInUser)
	assert.Equal(t, 3, st.Failures)
	assert.Nil(t, st.LockedUntil)

	w = a.do(t, http.MethodGet, UsersPath+"/bob/signin", "")
	require.Equal(t, http.StatusNotFound, w.Code, w.Body.String())
	code, msg := errorOf(t, w)
	assert.Equal(t, "not_found", code)
	assert.Equal(t, "no user has this ID", msg)
	assert.Len(t, a.events(), 1, "reading is not audited")
}

func TestSignInMFADevices(t *testing.T) {
	a := newSignInAPI(t)
	list := func() *httptest.ResponseRecorder {
		return a.do(t, http.MethodGet, UsersPath+"/"+signInUser+"/mfa-devices", "")
	}
	w := list()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.JSONEq(t, `{"devices":[]}`, w.Body.String())

	a.addDevices(t)
	w = list()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.JSONEq(t, `{"devices":[
		{"id":"dev-totp","kind":"totp","name":"Phone","created_at":"2026-04-01T07:30:00Z","last_used_at":"2026-04-01T08:30:00Z"},
		{"id":"dev-key","kind":"webauthn","name":"YubiKey","created_at":"2026-04-01T08:30:00Z","last_used_at":null}]}`,
		w.Body.String())
	assert.NotContains(t, w.Body.String(), "secret")

	// Another user's device cannot be deleted through this user.
	_, err := a.mem.CreateDirectoryUser(t.Context(), directory.User{ID: "bob", UserName: "bob", Active: true}, signInNow)
	require.NoError(t, err)
	w = a.do(t, http.MethodDelete, UsersPath+"/bob/mfa-devices/dev-key", "")
	require.Equal(t, http.StatusNotFound, w.Code, w.Body.String())
	code, msg := errorOf(t, w)
	assert.Equal(t, "not_found", code)
	assert.Equal(t, "the user has no MFA device with this ID", msg)

	w = a.do(t, http.MethodDelete, UsersPath+"/"+signInUser+"/mfa-devices/dev-key", "")
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	evs := a.events()
	require.Len(t, evs, 1)
	assert.Equal(t, EventAdminMFADeviceDeleted, evs[0].Type)
	assert.Equal(t, signInUser, evs[0].Subject)
	assert.Equal(t, "admin", evs[0].Actor)
	assert.Equal(t, map[string]string{"device_id": "dev-key"}, evs[0].Details)

	w = list()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	devices := decodeJSON[struct {
		Devices []mfaDeviceView `json:"devices"`
	}](t, w).Devices
	require.Len(t, devices, 1)
	assert.Equal(t, "dev-totp", devices[0].ID)

	// Deleting it again, or an unknown device, is 404 and not audited.
	for _, id := range []string{"dev-key", "nope"} {
		w = a.do(t, http.MethodDelete, UsersPath+"/"+signInUser+"/mfa-devices/"+id, "")
		require.Equal(t, http.StatusNotFound, w.Code, w.Body.String())
	}
	assert.Len(t, a.events(), 1)

	w = a.do(t, http.MethodGet, UsersPath+"/carol/mfa-devices", "")
	require.Equal(t, http.StatusNotFound, w.Code, w.Body.String())
	code, msg = errorOf(t, w)
	assert.Equal(t, "not_found", code)
	assert.Equal(t, "no user has this ID", msg)
}

func TestSignInUnlock(t *testing.T) {
	a := newSignInAPI(t)
	a.lock(t, 4)
	st := a.status(t, signInUser)
	require.Equal(t, 4, st.Failures)
	require.NotNil(t, st.LockedUntil)

	w := a.do(t, http.MethodPost, UsersPath+"/"+signInUser+"/unlock", "")
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	st = a.status(t, signInUser)
	assert.Zero(t, st.Failures)
	assert.Nil(t, st.LockedUntil)
	evs := a.events()
	require.Len(t, evs, 1)
	assert.Equal(t, EventAdminUserUnlocked, evs[0].Type)
	assert.Equal(t, signInUser, evs[0].Subject)
	assert.Equal(t, "admin", evs[0].Actor)
	assert.Equal(t, audit.Success, evs[0].Outcome)

	w = a.do(t, http.MethodPost, UsersPath+"/bob/unlock", "")
	require.Equal(t, http.StatusNotFound, w.Code, w.Body.String())
	code, msg := errorOf(t, w)
	assert.Equal(t, "not_found", code)
	assert.Equal(t, "no user has this ID", msg)
	assert.Len(t, a.events(), 1)
}

// signInRoutesList is every sign-in admin route, with a body that would
// succeed.
var signInRoutesList = []struct{ method, path, body string }{
	{http.MethodPut, UsersPath + "/" + signInUser + "/password", `{"password":"` + signInPassword + `"}`},
	{http.MethodGet, UsersPath + "/" + signInUser + "/signin", ""},
	{http.MethodGet, UsersPath + "/" + signInUser + "/mfa-devices", ""},
	{http.MethodDelete, UsersPath + "/" + signInUser + "/mfa-devices/dev-key", ""},
	{http.MethodPost, UsersPath + "/" + signInUser + "/unlock", ""},
}

func TestSignInRequiresToken(t *testing.T) {
	a := newSignInAPI(t)
	a.addDevices(t)
	a.lock(t, 3)
	for _, route := range signInRoutesList {
		for _, auth := range []string{"", "Bearer wrong-token-wrong-token-wrong-token", adminSecret, "Basic " + adminSecret} {
			r := httptest.NewRequest(route.method, route.path, strings.NewReader(route.body))
			r.Header.Set("Content-Type", "application/json")
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			w := httptest.NewRecorder()
			a.h.ServeHTTP(w, r)
			assert.Equal(t, http.StatusUnauthorized, w.Code, "%s %s %q", route.method, route.path, auth)
			assert.NotEmpty(t, w.Header().Get("WWW-Authenticate"))
		}
	}
	assert.Empty(t, a.events())
	st := a.status(t, signInUser)
	assert.False(t, st.HasPassword)
	assert.Equal(t, 3, st.Failures)
	assert.Len(t, st.MFADevices, 2)
}

func TestSignInNotConfigured(t *testing.T) {
	mux := http.NewServeMux()
	SignInRoutes(mux, NewToken(adminSecret), nil, nil, nil, nil)
	for _, route := range signInRoutesList {
		r := httptest.NewRequest(route.method, route.path, strings.NewReader(route.body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		assert.Equal(t, http.StatusUnauthorized, w.Code, "%s %s without a token", route.method, route.path)

		r.Header.Set("Authorization", "Bearer "+adminSecret)
		w = httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		require.Equal(t, http.StatusNotFound, w.Code, "%s %s", route.method, route.path)
		code, msg := errorOf(t, w)
		assert.Equal(t, "not_found", code)
		assert.Equal(t, "the directory identity source is not configured", msg)
	}
}

func TestSignInStoreDown(t *testing.T) {
	a := newSignInAPI(t)
	a.addDevices(t)
	a.lock(t, 3)
	a.creds.setDown(true)
	for _, route := range signInRoutesList {
		w := a.do(t, route.method, route.path, route.body)
		require.Equal(t, http.StatusServiceUnavailable, w.Code, "%s %s: %s", route.method, route.path, w.Body.String())
		code, msg := errorOf(t, w)
		assert.Equal(t, "unavailable", code)
		want := "the credential store is unavailable; nothing was changed"
		if route.method == http.MethodGet {
			want = "the credential store is unavailable"
		}
		assert.Equal(t, want, msg)
		assert.NotContains(t, w.Body.String(), errCredentialsDown.Error(), "no internal detail")
	}
	assert.Contains(t, a.logs.String(), "level=ERROR")
	assert.Contains(t, a.logs.String(), errCredentialsDown.Error())
	assert.NotContains(t, a.logs.String(), signInPassword)
	assert.Empty(t, a.events())

	a.creds.setDown(false)
	st := a.status(t, signInUser)
	assert.False(t, st.HasPassword)
	assert.Equal(t, 3, st.Failures)
	assert.Len(t, st.MFADevices, 2)
}

func TestSignInAuditFailure(t *testing.T) {
	for _, route := range signInRoutesList {
		if route.method == http.MethodGet {
			continue
		}
		t.Run(route.method+" "+route.path, func(t *testing.T) {
			a := newSignInAPI(t)
			a.addDevices(t)
			a.lock(t, 3)
			a.aud.fail = errors.New("audit disk full")
			w := a.do(t, route.method, route.path, route.body)
			require.Equal(t, http.StatusInternalServerError, w.Code, w.Body.String())
			code, msg := errorOf(t, w)
			assert.Equal(t, "audit_failed", code)
			assert.Equal(t, "the change was made, but the audit log could not record it", msg)
			assert.Contains(t, a.logs.String(), "level=ERROR")
			assert.Contains(t, a.logs.String(), "audit disk full")
			assert.NotContains(t, a.logs.String(), signInPassword)
			st := a.status(t, signInUser)
			switch route.method {
			case http.MethodDelete:
				assert.Len(t, st.MFADevices, 1, "the change was made")
			case http.MethodPut:
				assert.True(t, st.HasPassword, "the change was made")
			default:
				assert.Zero(t, st.Failures, "the change was made")
			}
		})
	}
}

// fakeSignIn is a SignInAdmin that returns err.
type fakeSignIn struct{ err error }

func (f fakeSignIn) SetPassword(context.Context, string, string) error { return f.err }
func (f fakeSignIn) Status(context.Context, string) (signin.Status, error) {
	return signin.Status{}, f.err
}
func (f fakeSignIn) Unlock(context.Context, string) error               { return f.err }
func (f fakeSignIn) DeleteDevice(context.Context, string, string) error { return f.err }

func TestSignInErrorMapping(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		status  int
		code    string
		message string
	}{
		{"policy without a PolicyError", errors.Join(signin.ErrPolicy), 400, "invalid_password", "the password policy refuses this password"},
		{"policy with a plain reason", fmtPolicy("the password is too common"), 400, "invalid_password", "the password is too common"},
		{"sp not found", sp.ErrNotFound, 404, "not_found", "no user has this ID"},
		{"signin not found", signin.ErrNotFound, 404, "not_found", "no user has this ID"},
		{"hashing failed", context.DeadlineExceeded, 503, "unavailable", "the credential store is unavailable; nothing was changed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			aud := &recordingAuditor{}
			SignInRoutes(mux, NewToken(adminSecret), fakeSignIn{err: tc.err}, aud, nil, nil)
			r := httptest.NewRequest(http.MethodPut, UsersPath+"/u1/password", strings.NewReader(`{"password":"`+signInPassword+`"}`))
			r.Header.Set("Authorization", "Bearer "+adminSecret)
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			code, msg := errorOf(t, w)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, tc.message, msg)
			assert.Empty(t, aud.events)
		})
	}
}

// fmtPolicy wraps a reason that is not a *password.PolicyError in
// signin.ErrPolicy, as another SignInAdmin might.
func fmtPolicy(reason string) error {
	return fmt.Errorf("%w: %s", signin.ErrPolicy, reason)
}

func TestSignInRoutesBesideDirectory(t *testing.T) {
	// The gateway registers both on one mux: no pattern may conflict, and
	// each request reaches its own handler.
	a := newSignInAPI(t)
	mux := http.NewServeMux()
	require.NotPanics(t, func() {
		DirectoryRoutes(mux, NewToken(adminSecret), a.mem, a.aud, nil, nil)
		SignInRoutes(mux, NewToken(adminSecret), fakeSignIn{err: sp.ErrNotFound}, a.aud, nil, nil)
	})
	r := httptest.NewRequest(http.MethodGet, UsersPath+"/"+signInUser, nil)
	r.Header.Set("Authorization", "Bearer "+adminSecret)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	assert.Equal(t, http.StatusOK, w.Code, "the directory's user")
	r = httptest.NewRequest(http.MethodGet, UsersPath+"/"+signInUser+"/signin", nil)
	r.Header.Set("Authorization", "Bearer "+adminSecret)
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	assert.Equal(t, http.StatusNotFound, w.Code, "the sign-in status, from the fake")
}
