package signin_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/signin"
	"github.com/gatehouse-dev/gatehouse/internal/store/memory"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// Fixed values of the test environment.
const (
	externalURL = "https://gw.example.com"
	rpID        = "gw.example.com"
	origin      = "https://gw.example.com"
	addr        = "192.0.2.10:51000"
	otherAddr   = "198.51.100.7:40000"
	returnTo    = "/apps/wiki"
	goodPW      = "Tangerine-Lighthouse-Quartz-71"
)

// fixedStart is the clock of tests that do not talk to go-webauthn: a
// whole TOTP step plus 10 seconds, to the second.
var fixedStart = time.Date(2031, 3, 14, 15, 9, 10, 0, time.UTC)

// tinyParams make argon2id cheap: the tests are about the flows.
func tinyParams() password.Params {
	return password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var errAudit = errors.New("audit log is down")

// auditor records every attempt it is given (also those it then fails
// to "store") and fails those fail returns true for.
type auditor struct {
	mu       sync.Mutex
	attempts []signin.Attempt
	fail     func(signin.Attempt) bool
}

func (a *auditor) RecordSignIn(_ context.Context, at signin.Attempt) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.attempts = append(a.attempts, at)
	if a.fail != nil && a.fail(at) {
		return errAudit
	}
	return nil
}

func (a *auditor) setFail(f func(signin.Attempt) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = f
}

func (a *auditor) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.attempts)
}

// since returns the attempts recorded after the first n.
func (a *auditor) since(n int) []signin.Attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.attempts[n:])
}

// sessions is the real session manager with a record of the sessions it
// created and deleted, and a switch to make Create fail.
type sessions struct {
	*sp.SessionManager
	mu         sync.Mutex
	created    []sp.Session
	deleted    []string
	failCreate bool
}

var errSessions = errors.New("session store is down")

func (s *sessions) Create(ctx context.Context, sess sp.Session) (sp.Session, error) {
	s.mu.Lock()
	fail := s.failCreate
	s.mu.Unlock()
	if fail {
		return sp.Session{}, errSessions
	}
	out, err := s.SessionManager.Create(ctx, sess)
	if err == nil {
		s.mu.Lock()
		s.created = append(s.created, out)
		s.mu.Unlock()
	}
	return out, err
}

func (s *sessions) Delete(ctx context.Context, id string) error {
	s.mu.Lock()
	s.deleted = append(s.deleted, id)
	s.mu.Unlock()
	return s.SessionManager.Delete(ctx, id)
}

func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.created)
}

// env is a Service on an in-memory store, with everything it uses.
type env struct {
	t        testing.TB
	ctx      context.Context
	clock    *clock
	mem      *memory.Store
	store    *faultyStore
	sessions *sessions
	hasher   *password.Hasher
	audit    *auditor
	cfg      signin.Config
	svc      *signin.Service
}

// newEnv builds an env at fixedStart; mod edits the Config before New.
func newEnv(t testing.TB, mod func(*signin.Config)) *env {
	return newEnvAt(t, fixedStart, mod)
}

// newRealTimeEnv builds an env whose clock starts at the real time (for
// go-webauthn, which checks its ceremony timeouts against time.Now).
func newRealTimeEnv(t testing.TB, mod func(*signin.Config)) *env {
	return newEnvAt(t, time.Now().UTC().Truncate(time.Second), mod)
}

func newEnvAt(t testing.TB, start time.Time, mod func(*signin.Config)) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clock: &clock{t: start}, audit: &auditor{}}
	e.mem = memory.NewWithOptions(memory.Options{Now: e.clock.Now})
	e.store = &faultyStore{CredentialStore: e.mem, users: e.mem, fail: map[string]bool{}}
	mgr, err := sp.NewSessionManager(sp.SessionManagerConfig{Sessions: e.mem, Users: e.mem, Now: e.clock.Now})
	require.NoError(t, err)
	e.sessions = &sessions{SessionManager: mgr}
	e.hasher, err = password.New(password.Config{Params: tinyParams()})
	require.NoError(t, err)
	e.cfg = signin.Config{
		Store:       e.store,
		Users:       e.store,
		Sessions:    e.sessions,
		Hasher:      e.hasher,
		Audit:       e.audit,
		SealKey:     []byte("0123456789abcdef0123456789abcdef"),
		ExternalURL: externalURL,
		Now:         e.clock.Now,
	}
	if mod != nil {
		mod(&e.cfg)
	}
	e.svc, err = signin.New(e.cfg)
	require.NoError(t, err)
	return e
}

// user creates an active directory user named name (display name
// "Given Family") with the password pw (none when empty).
func (e *env) user(name, pw string) sp.User {
	e.t.Helper()
	u, err := e.mem.CreateUser(e.ctx, sp.User{UserName: name, Email: name + "@example.com", DisplayName: "Given Family", Active: true})
	require.NoError(e.t, err)
	if pw != "" {
		e.setHash(u.ID, e.hash(e.hasher, pw))
	}
	return u
}

func (e *env) hash(h *password.Hasher, pw string) string {
	e.t.Helper()
	hash, err := h.Hash(e.ctx, pw)
	require.NoError(e.t, err)
	return hash
}

func (e *env) setHash(userID, hash string) {
	e.t.Helper()
	require.NoError(e.t, e.mem.SetPassword(e.ctx, userID, hash, e.clock.Now()))
}

func (e *env) storedHash(userID string) string {
	e.t.Helper()
	p, err := e.mem.Password(e.ctx, userID)
	require.NoError(e.t, err)
	return p.Hash
}

func (e *env) setActive(userID string, active bool) {
	e.t.Helper()
	_, err := e.mem.UpdateDirectoryUser(e.ctx, userID, 0, func(u *directory.User) error {
		u.Active = active
		return nil
	}, e.clock.Now())
	require.NoError(e.t, err)
}

func (e *env) devices(userID string) []signin.MFADevice {
	e.t.Helper()
	ds, err := e.mem.MFADevices(e.ctx, userID)
	require.NoError(e.t, err)
	return ds
}

func (e *env) lockout(userID string) signin.Lockout {
	e.t.Helper()
	l, err := e.mem.Lockout(e.ctx, userID)
	require.NoError(e.t, err)
	return l
}

// start signs in from addr with returnTo.
func (e *env) start(name, pw string) (signin.Step, error) {
	return e.svc.Start(e.ctx, name, pw, returnTo, addr)
}

// mustStart signs in and requires the stage.
func (e *env) mustStart(name, pw string, want signin.Stage) signin.Step {
	e.t.Helper()
	step, err := e.start(name, pw)
	require.NoError(e.t, err)
	require.Equal(e.t, want, step.Stage)
	return step
}

// requireSession checks that step is a completed sign-in of user with
// the method and ACR, and that its session is stored: a request carrying
// the cookie authenticates as the user.
func (e *env) requireSession(step signin.Step, user sp.User, method, acr string) sp.Session {
	e.t.Helper()
	require.Equal(e.t, signin.StageDone, step.Stage)
	assert.Empty(e.t, step.FlowID)
	assert.Equal(e.t, user.ID, step.User.ID)
	assert.Equal(e.t, returnTo, step.ReturnTo)
	require.NotEmpty(e.t, step.Session.ID)
	r := httptest.NewRequest(http.MethodGet, externalURL+"/", nil)
	r.AddCookie(&http.Cookie{Name: sp.SessionCookie, Value: step.Session.ID})
	sess, u, err := e.sessions.Authenticate(r)
	require.NoError(e.t, err, "the session is stored")
	assert.Equal(e.t, user.ID, u.ID)
	assert.Equal(e.t, user.ID, sess.UserID)
	assert.Equal(e.t, method, sess.Method)
	assert.Equal(e.t, acr, sess.AuthnContextClassRef)
	assert.True(e.t, sess.AuthnInstant.Equal(e.clock.Now()), "authn instant is the clock's")
	return sess
}

// requireNoSessionSince checks that no session was created after the
// first n, and that none of those is stored.
func (e *env) requireNoSessionSince(n int) {
	e.t.Helper()
	e.sessions.mu.Lock()
	created := slices.Clone(e.sessions.created[n:])
	e.sessions.mu.Unlock()
	assert.Empty(e.t, created, "no session was created")
	e.requireNotStored(created...)
}

func (e *env) requireNotStored(ss ...sp.Session) {
	e.t.Helper()
	for _, s := range ss {
		_, err := e.mem.GetSession(e.ctx, s.ID, e.clock.Now())
		assert.ErrorIs(e.t, err, sp.ErrNotFound, "session %s is not stored", s.ID)
	}
}

// requireAttempts checks the reasons (success: "ok") of the attempts
// recorded after the first n, and returns them.
func (e *env) requireAttempts(n int, reasons ...string) []signin.Attempt {
	e.t.Helper()
	got := e.audit.since(n)
	var gotReasons []string
	for _, a := range got {
		if a.Success {
			assert.Empty(e.t, a.Reason, "a success has no reason")
			gotReasons = append(gotReasons, "ok")
			continue
		}
		gotReasons = append(gotReasons, a.Reason)
	}
	require.Equal(e.t, reasons, gotReasons, "audited attempts")
	return got
}

// totpCode is the code of the base32 secret at t.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	require.NoError(t, err)
	return code
}

// wrongCode returns a code that is wrong for the secret at t (and the
// steps either side).
func wrongCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	return otherCode(totpCode(t, secret, at.Add(-30*time.Second)), totpCode(t, secret, at), totpCode(t, secret, at.Add(30*time.Second)))
}

// otherCode returns a six-digit code that is none of the given ones.
func otherCode(codes ...string) string {
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !slices.Contains(codes, c) {
			return c
		}
	}
	panic("unreachable")
}

// registerTOTP signs user in (MFA required, no device yet) and registers
// an authenticator app; it returns the base32 secret and the device.
func (e *env) registerTOTP(user sp.User, pw string) (string, signin.MFADevice) {
	e.t.Helper()
	step := e.mustStart(user.UserName, pw, signin.StageRegister)
	enr, err := e.svc.BeginTOTPRegistration(e.ctx, step.FlowID)
	require.NoError(e.t, err)
	done, err := e.svc.FinishTOTPRegistration(e.ctx, step.FlowID, totpCode(e.t, enr.Secret, e.clock.Now()), "phone", addr)
	require.NoError(e.t, err)
	require.Equal(e.t, signin.StageDone, done.Stage)
	for _, d := range e.devices(user.ID) {
		if d.Kind == signin.KindTOTP && d.Name == "phone" {
			return enr.Secret, d
		}
	}
	require.FailNow(e.t, "registered device missing")
	return "", signin.MFADevice{}
}

var errStore = errors.New("store is down")

// faultyStore is the memory store with methods that can be made to fail.
type faultyStore struct {
	signin.CredentialStore
	users signin.Users
	mu    sync.Mutex
	fail  map[string]bool
	// failWith makes a method return this error instead (errStore).
	failWith error
	// flowData, when set, edits the Data of the flows SignInFlow returns.
	flowData func([]byte) []byte
	// beforeDeleteFlow runs before DeleteSignInFlow.
	beforeDeleteFlow func(id string)
}

func (f *faultyStore) setFail(method string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = on
}

func (f *faultyStore) err(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[method] {
		if f.failWith != nil {
			return f.failWith
		}
		return errStore
	}
	return nil
}

func (f *faultyStore) UserByAttribute(ctx context.Context, attribute, value string) (sp.User, error) {
	if err := f.err("UserByAttribute"); err != nil {
		return sp.User{}, err
	}
	return f.users.UserByAttribute(ctx, attribute, value)
}

func (f *faultyStore) GetUser(ctx context.Context, id string) (sp.User, error) {
	if err := f.err("GetUser"); err != nil {
		return sp.User{}, err
	}
	return f.users.GetUser(ctx, id)
}

func (f *faultyStore) Password(ctx context.Context, userID string) (signin.Password, error) {
	if err := f.err("Password"); err != nil {
		return signin.Password{}, err
	}
	return f.CredentialStore.Password(ctx, userID)
}

func (f *faultyStore) SetPassword(ctx context.Context, userID, hash string, now time.Time) error {
	if err := f.err("SetPassword"); err != nil {
		return err
	}
	return f.CredentialStore.SetPassword(ctx, userID, hash, now)
}

func (f *faultyStore) Lockout(ctx context.Context, userID string) (signin.Lockout, error) {
	if err := f.err("Lockout"); err != nil {
		return signin.Lockout{}, err
	}
	return f.CredentialStore.Lockout(ctx, userID)
}

func (f *faultyStore) RecordFailure(ctx context.Context, userID string, now time.Time, lockFor func(int) time.Duration) (signin.Lockout, error) {
	if err := f.err("RecordFailure"); err != nil {
		return signin.Lockout{}, err
	}
	return f.CredentialStore.RecordFailure(ctx, userID, now, lockFor)
}

func (f *faultyStore) ResetFailures(ctx context.Context, userID string) error {
	if err := f.err("ResetFailures"); err != nil {
		return err
	}
	return f.CredentialStore.ResetFailures(ctx, userID)
}

func (f *faultyStore) MFADevices(ctx context.Context, userID string) ([]signin.MFADevice, error) {
	if err := f.err("MFADevices"); err != nil {
		return nil, err
	}
	return f.CredentialStore.MFADevices(ctx, userID)
}

func (f *faultyStore) AddMFADevice(ctx context.Context, d signin.MFADevice, max int) error {
	if err := f.err("AddMFADevice"); err != nil {
		return err
	}
	return f.CredentialStore.AddMFADevice(ctx, d, max)
}

func (f *faultyStore) UseTOTPStep(ctx context.Context, deviceID string, step int64, now time.Time) error {
	if err := f.err("UseTOTPStep"); err != nil {
		return err
	}
	return f.CredentialStore.UseTOTPStep(ctx, deviceID, step, now)
}

func (f *faultyStore) UseWebAuthn(ctx context.Context, deviceID string, oldCount, newCount uint32, cred []byte, now time.Time) error {
	if err := f.err("UseWebAuthn"); err != nil {
		return err
	}
	return f.CredentialStore.UseWebAuthn(ctx, deviceID, oldCount, newCount, cred, now)
}

func (f *faultyStore) DeleteMFADevice(ctx context.Context, userID, deviceID string) error {
	if err := f.err("DeleteMFADevice"); err != nil {
		return err
	}
	return f.CredentialStore.DeleteMFADevice(ctx, userID, deviceID)
}

func (f *faultyStore) SaveSignInFlow(ctx context.Context, fl signin.Flow) error {
	if err := f.err("SaveSignInFlow"); err != nil {
		return err
	}
	return f.CredentialStore.SaveSignInFlow(ctx, fl)
}

func (f *faultyStore) UpdateSignInFlow(ctx context.Context, fl signin.Flow) error {
	if err := f.err("UpdateSignInFlow"); err != nil {
		return err
	}
	return f.CredentialStore.UpdateSignInFlow(ctx, fl)
}

func (f *faultyStore) SignInFlow(ctx context.Context, id string, now time.Time) (signin.Flow, error) {
	if err := f.err("SignInFlow"); err != nil {
		return signin.Flow{}, err
	}
	fl, err := f.CredentialStore.SignInFlow(ctx, id, now)
	f.mu.Lock()
	edit := f.flowData
	f.mu.Unlock()
	if err == nil && edit != nil {
		fl.Data = edit(fl.Data)
	}
	return fl, err
}

func (f *faultyStore) DeleteSignInFlow(ctx context.Context, id string) error {
	if err := f.err("DeleteSignInFlow"); err != nil {
		return err
	}
	f.mu.Lock()
	hook := f.beforeDeleteFlow
	f.mu.Unlock()
	if hook != nil {
		hook(id)
	}
	return f.CredentialStore.DeleteSignInFlow(ctx, id)
}
