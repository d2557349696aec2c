package signin

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// Errors the Service returns; the pages branch on them with errors.Is.
var (
	// ErrInvalidCredentials: the user name, password or code is wrong,
	// the user is unknown or deactivated, or has no password. One error
	// for all of them, so that a page cannot tell which.
	ErrInvalidCredentials = errors.New("signin: invalid credentials")
	// ErrNoFlow: the flow cookie names no sign-in in progress (unknown,
	// expired, already completed or abandoned after too many wrong
	// codes): start again.
	ErrNoFlow = errors.New("signin: no sign-in in progress")
	// ErrWrongStage: the flow exists but is not at the step asked for.
	ErrWrongStage = errors.New("signin: not at this step")
	// ErrNoDevice: a second factor is required, the user has none and
	// the policy refuses sign-in until an administrator helps.
	ErrNoDevice = errors.New("signin: a second factor is required and none is registered")
	// ErrUnavailable: the store (or the audit log) failed; nothing was
	// granted. Pages answer 503.
	ErrUnavailable = errors.New("signin: temporarily unavailable")
	// ErrBadRequest: a malformed WebAuthn response or device name.
	ErrBadRequest = errors.New("signin: malformed request")
)

// RetryError refuses an attempt for a while: the account is locked after
// repeated failures (Locked), or the client address has failed too often.
type RetryError struct {
	Locked     bool
	RetryAfter time.Duration
}

func (e *RetryError) Error() string {
	if e.Locked {
		return fmt.Sprintf("signin: account locked for %s after repeated failures", e.RetryAfter.Round(time.Second))
	}
	return fmt.Sprintf("signin: too many failures from this address; retry in %s", e.RetryAfter.Round(time.Second))
}

// MFAPolicy says whether a second factor is required.
type MFAPolicy string

// The MFA policies.
const (
	MFARequired MFAPolicy = "required"
	MFAOff      MFAPolicy = "off"
)

// NoDevicePolicy says what happens to a user without a second factor when
// one is required.
type NoDevicePolicy string

// The policies for users without a device.
const (
	// NoDeviceRegister: after the password, the user registers a device
	// and is then signed in.
	NoDeviceRegister NoDevicePolicy = "register"
	// NoDeviceRefuse: sign-in is refused until an administrator helps.
	NoDeviceRefuse NoDevicePolicy = "refuse"
)

// LockoutPolicy configures the account lockout: after MaxFailures failures in
// a row the account is locked for Base, doubling with each further
// failure up to Max. A success (or an administrator) resets it.
type LockoutPolicy struct {
	MaxFailures int
	Base        time.Duration
	Max         time.Duration
}

// Users finds identity store users.
type Users interface {
	UserByAttribute(ctx context.Context, attribute, value string) (sp.User, error)
	GetUser(ctx context.Context, id string) (sp.User, error)
}

// Sessions creates portal sessions (sp.SessionManager).
type Sessions interface {
	Create(ctx context.Context, s sp.Session) (sp.Session, error)
	Delete(ctx context.Context, id string) error
}

// Auditor records sign-in attempts. An error means the record was not
// stored: a successful sign-in is then undone.
type Auditor interface {
	RecordSignIn(ctx context.Context, a Attempt) error
}

// Attempt is one audited sign-in step.
type Attempt struct {
	// Event is "signin" for a sign-in, "mfa.register" for a device
	// registration.
	Event   string
	Success bool
	// Reason is a bounded code for a failure ("invalid_password",
	// "unknown_user", "locked", "invalid_totp", ...).
	Reason string
	UserID string
	// Credential is the factor this step checked: "password", "totp" or
	// "webauthn"; on a successful sign-in, the strongest factor used.
	Credential string
	// Factors lists every factor of a successful sign-in.
	Factors []string
	// DeviceID names the MFA device used or registered.
	DeviceID string
	// Address is the client address.
	Address string
}

// Config configures a Service.
type Config struct {
	Store    CredentialStore
	Users    Users
	Sessions Sessions
	Hasher   *password.Hasher
	Audit    Auditor
	// SealKey (32 bytes) encrypts TOTP secrets at rest.
	SealKey []byte
	// ExternalURL is the gateway's external URL: the WebAuthn origin, and
	// (its host) the default relying party ID.
	ExternalURL string
	// RPID overrides the WebAuthn relying party ID (a registrable suffix
	// of the external host).
	RPID string
	// Issuer names the gateway in authenticator apps (default "Gatehouse").
	Issuer      string
	MFA         MFAPolicy
	NoDevice    NoDevicePolicy
	Lockout     LockoutPolicy
	MaxTOTP     int           // TOTP devices per user (default 2)
	MaxWebAuthn int           // WebAuthn devices per user (default 10)
	FlowTTL     time.Duration // how long a sign-in may take (default 10m)
	// AddressFailures failures per AddressWindow are allowed per client
	// address (defaults 20 per 10m).
	AddressFailures int
	AddressWindow   time.Duration
	Now             func() time.Time
	Logger          *slog.Logger
}

// Service runs directory sign-ins. Build it with New.
type Service struct {
	store    CredentialStore
	users    Users
	sessions Sessions
	hasher   *password.Hasher
	audit    Auditor
	seal     *sealer
	wa       *webauthn.WebAuthn
	issuer   string
	mfa      MFAPolicy
	noDevice NoDevicePolicy
	lockout  LockoutPolicy
	maxTOTP  int
	maxWA    int
	flowTTL  time.Duration
	limit    *ratelimit.Failures
	now      func() time.Time
	log      *slog.Logger
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	var problems []string
	if cfg.Store == nil || cfg.Users == nil || cfg.Sessions == nil || cfg.Hasher == nil || cfg.Audit == nil {
		problems = append(problems, "Store, Users, Sessions, Hasher and Audit are required")
	}
	seal, err := newSealer(cfg.SealKey)
	if err != nil {
		problems = append(problems, "SealKey: "+err.Error())
	}
	switch cfg.MFA {
	case "":
		cfg.MFA = MFARequired
	case MFARequired, MFAOff:
	default:
		problems = append(problems, fmt.Sprintf("MFA %q is not required or off", cfg.MFA))
	}
	switch cfg.NoDevice {
	case "":
		cfg.NoDevice = NoDeviceRegister
	case NoDeviceRegister, NoDeviceRefuse:
	default:
		problems = append(problems, fmt.Sprintf("NoDevice %q is not register or refuse", cfg.NoDevice))
	}
	lo := cfg.Lockout
	lo.MaxFailures = cmp.Or(lo.MaxFailures, 5)
	lo.Base = cmp.Or(lo.Base, time.Minute)
	lo.Max = cmp.Or(lo.Max, time.Hour)
	if lo.MaxFailures < 1 || lo.Base < 0 || lo.Max < lo.Base {
		problems = append(problems, "Lockout needs MaxFailures >= 1 and 0 <= Base <= Max")
	}
	u, err := url.Parse(cfg.ExternalURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		problems = append(problems, "ExternalURL must be an absolute http(s) URL")
		u = &url.URL{Scheme: "https", Host: "invalid"}
	}
	rpID := cfg.RPID
	if rpID == "" {
		rpID = u.Hostname()
	}
	if h := u.Hostname(); h != rpID && !strings.HasSuffix(h, "."+rpID) {
		problems = append(problems, fmt.Sprintf("RPID %q is not the external host %q or a suffix of it", rpID, h))
	}
	issuer := cfg.Issuer
	if issuer == "" {
		issuer = "Gatehouse"
	}
	flowTTL := cmp.Or(cfg.FlowTTL, 10*time.Minute)
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          rpID,
		RPDisplayName: issuer,
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
		},
	})
	if err != nil {
		problems = append(problems, "WebAuthn: "+err.Error())
	}
	if cfg.MaxTOTP < 0 || cfg.MaxWebAuthn < 0 || cfg.FlowTTL < 0 || cfg.AddressFailures < 0 || cfg.AddressWindow < 0 {
		problems = append(problems, "limits must not be negative")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("signin: invalid config: %s", strings.Join(problems, "; "))
	}
	s := &Service{
		store: cfg.Store, users: cfg.Users, sessions: cfg.Sessions, hasher: cfg.Hasher, audit: cfg.Audit,
		seal: seal, wa: wa, issuer: issuer, mfa: cfg.MFA, noDevice: cfg.NoDevice, lockout: lo,
		maxTOTP: cmp.Or(cfg.MaxTOTP, 2), maxWA: cmp.Or(cfg.MaxWebAuthn, 10), flowTTL: flowTTL,
		limit: ratelimit.NewFailures(cmp.Or(cfg.AddressFailures, 20), cmp.Or(cfg.AddressWindow, 10*time.Minute), 100_000),
		now:   cfg.Now, log: cfg.Logger,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// MFA returns the MFA policy.
func (s *Service) MFA() MFAPolicy { return s.mfa }

// Stage is where a sign-in stands.
type Stage string

// The stages.
const (
	// StageMFA: the password was right; a second factor is next.
	StageMFA Stage = "mfa"
	// StageRegister: the password was right and the user has no second
	// factor; registering one completes the sign-in.
	StageRegister Stage = "register"
	// StageDone: signed in; Step.Session is the new session.
	StageDone Stage = "done"
)

// Step is the outcome of a successful call: the next stage, or the
// session.
type Step struct {
	Stage Stage
	// FlowID is the secret of the flow cookie (until StageDone).
	FlowID    string
	ExpiresAt time.Time
	User      sp.User
	// Methods are the kinds of second factor the user has (StageMFA).
	Methods []DeviceKind
	// ReturnTo is where the browser goes after sign-in.
	ReturnTo string
	Session  sp.Session
}

// flowData is the JSON in Flow.Data.
type flowData struct {
	ReturnTo string `json:"return_to"`
	// Rehash is a new hash of the password under the current parameters,
	// stored when the sign-in completes.
	Rehash string `json:"rehash,omitempty"`
	// TOTPSecret is a TOTP secret being registered, sealed.
	TOTPSecret []byte `json:"totp_secret,omitempty"`
	// WebAuthn is the state of a WebAuthn ceremony in progress.
	WebAuthn *webauthn.SessionData `json:"webauthn,omitempty"`
	// Failures counts wrong second factors in this flow.
	Failures int `json:"failures,omitempty"`
}

// maxFlowFailures wrong second factors end a flow: the user starts again
// with the password (and the account failure count keeps growing).
const maxFlowFailures = 5

// Start checks a user name and password from addr and returns the next
// step: StageDone when no second factor is needed, else StageMFA or
// StageRegister with a new flow.
func (s *Service) Start(ctx context.Context, userName, pw, returnTo, addr string) (Step, error) {
	now := s.now()
	key := ratelimit.AddrKey(addr)
	if ok, wait := s.limit.Take(now, key); !ok {
		s.record(ctx, Attempt{Event: "signin", Reason: "address_limited", Credential: "password", Address: addr})
		return Step{}, &RetryError{RetryAfter: wait}
	}
	step, err := s.start(ctx, userName, pw, returnTo, addr, now)
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNoDevice) {
		s.limit.Refund(now, key)
	}
	return step, err
}

func (s *Service) start(ctx context.Context, userName, pw, returnTo, addr string, now time.Time) (Step, error) {
	fail := func(reason, userID string) (Step, error) {
		s.record(ctx, Attempt{Event: "signin", Reason: reason, UserID: userID, Credential: "password", Address: addr})
		return Step{}, ErrInvalidCredentials
	}
	if userName == "" || len(userName) > 256 || pw == "" || len(pw) > 4096 {
		s.hasher.Equalize(ctx, pw)
		return fail("invalid_request", "")
	}
	user, err := s.users.UserByAttribute(ctx, "user_name", userName)
	switch {
	case errors.Is(err, sp.ErrNotFound):
		s.hasher.Equalize(ctx, pw)
		return fail("unknown_user", "")
	case err != nil:
		return Step{}, s.unavailable(ctx, "user lookup", err)
	}
	if err := s.checkLock(ctx, user.ID, now); err != nil {
		if re := (*RetryError)(nil); errors.As(err, &re) {
			s.record(ctx, Attempt{Event: "signin", Reason: "locked", UserID: user.ID, Credential: "password", Address: addr})
		}
		return Step{}, err
	}
	stored, err := s.store.Password(ctx, user.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		s.hasher.Equalize(ctx, pw)
		return fail("no_password", user.ID)
	case err != nil:
		return Step{}, s.unavailable(ctx, "password lookup", err)
	}
	ok, rehash, err := s.hasher.Verify(ctx, stored.Hash, pw)
	if err != nil {
		if errors.Is(err, password.ErrMalformed) {
			s.log.ErrorContext(ctx, "stored password hash is malformed", "user_id", user.ID, "err", err)
			return fail("malformed_hash", user.ID)
		}
		return Step{}, s.unavailable(ctx, "password verification", err)
	}
	if !ok {
		if err := s.countFailure(ctx, user.ID, now); err != nil {
			return Step{}, err
		}
		return fail("invalid_password", user.ID)
	}
	if !user.Active {
		return fail("inactive_user", user.ID)
	}
	data := flowData{ReturnTo: returnTo}
	if rehash {
		if data.Rehash, err = s.hasher.Hash(ctx, pw); err != nil {
			return Step{}, s.unavailable(ctx, "password rehash", err)
		}
	}
	if s.mfa == MFAOff {
		return s.complete(ctx, "", user, data, []string{"password"}, "", addr)
	}
	devices, err := s.store.MFADevices(ctx, user.ID)
	if err != nil {
		return Step{}, s.unavailable(ctx, "device lookup", err)
	}
	stage := StageMFA
	if len(devices) == 0 {
		if s.noDevice == NoDeviceRefuse {
			s.record(ctx, Attempt{Event: "signin", Reason: "no_mfa_device", UserID: user.ID, Credential: "password", Address: addr})
			return Step{}, ErrNoDevice
		}
		stage = StageRegister
	}
	f := Flow{ID: newSecret(), UserID: user.ID, Stage: string(stage), CreatedAt: now, ExpiresAt: now.Add(s.flowTTL)}
	if err := s.createFlow(ctx, f, data); err != nil {
		return Step{}, err
	}
	return Step{Stage: stage, FlowID: f.ID, ExpiresAt: f.ExpiresAt, User: user, Methods: kinds(devices), ReturnTo: returnTo}, nil
}

// StartEnrollment lets a signed-in user add a second factor: after the
// password again (checked with the same lockout and address limit as a
// sign-in), a flow at StageRegister; completing it adds the device and
// starts a fresh session. The per-kind device limits apply.
func (s *Service) StartEnrollment(ctx context.Context, userID, pw, returnTo, addr string) (Step, error) {
	now := s.now()
	key := ratelimit.AddrKey(addr)
	if ok, wait := s.limit.Take(now, key); !ok {
		return Step{}, &RetryError{RetryAfter: wait}
	}
	step, err := s.startEnrollment(ctx, userID, pw, returnTo, addr, now)
	if err == nil || errors.Is(err, ErrUnavailable) {
		s.limit.Refund(now, key)
	}
	return step, err
}

func (s *Service) startEnrollment(ctx context.Context, userID, pw, returnTo, addr string, now time.Time) (Step, error) {
	fail := func(reason string) (Step, error) {
		s.record(ctx, Attempt{Event: "mfa.register", Reason: reason, UserID: userID, Credential: "password", Address: addr})
		return Step{}, ErrInvalidCredentials
	}
	if pw == "" || len(pw) > 4096 {
		s.hasher.Equalize(ctx, pw)
		return fail("invalid_request")
	}
	user, err := s.users.GetUser(ctx, userID)
	switch {
	case errors.Is(err, sp.ErrNotFound):
		s.hasher.Equalize(ctx, pw)
		return fail("unknown_user")
	case err != nil:
		return Step{}, s.unavailable(ctx, "user lookup", err)
	}
	if err := s.checkLock(ctx, user.ID, now); err != nil {
		return Step{}, err
	}
	stored, err := s.store.Password(ctx, user.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		s.hasher.Equalize(ctx, pw)
		return fail("no_password")
	case err != nil:
		return Step{}, s.unavailable(ctx, "password lookup", err)
	}
	ok, _, err := s.hasher.Verify(ctx, stored.Hash, pw)
	switch {
	case errors.Is(err, password.ErrMalformed):
		s.log.ErrorContext(ctx, "stored password hash is malformed", "user_id", user.ID, "err", err)
		return fail("malformed_hash")
	case err != nil:
		return Step{}, s.unavailable(ctx, "password verification", err)
	case !ok:
		if err := s.countFailure(ctx, user.ID, now); err != nil {
			return Step{}, err
		}
		return fail("invalid_password")
	case !user.Active:
		return fail("inactive_user")
	}
	f := Flow{ID: newSecret(), UserID: user.ID, Stage: string(StageRegister), CreatedAt: now, ExpiresAt: now.Add(s.flowTTL)}
	if err := s.createFlow(ctx, f, flowData{ReturnTo: returnTo}); err != nil {
		return Step{}, err
	}
	return Step{Stage: StageRegister, FlowID: f.ID, ExpiresAt: f.ExpiresAt, User: user, ReturnTo: returnTo}, nil
}

// kinds returns the distinct device kinds, TOTP first.
func kinds(devices []MFADevice) []DeviceKind {
	var out []DeviceKind
	for _, k := range []DeviceKind{KindTOTP, KindWebAuthn} {
		for _, d := range devices {
			if d.Kind == k {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// checkLock returns a locked RetryError while the user is locked out.
func (s *Service) checkLock(ctx context.Context, userID string, now time.Time) error {
	lo, err := s.store.Lockout(ctx, userID)
	if err != nil {
		return s.unavailable(ctx, "lockout lookup", err)
	}
	if lo.LockedUntil.After(now) {
		return &RetryError{Locked: true, RetryAfter: max(lo.LockedUntil.Sub(now), time.Second)}
	}
	return nil
}

// countFailure adds a failure to the user's count and locks the account
// once the count reaches the maximum.
func (s *Service) countFailure(ctx context.Context, userID string, now time.Time) error {
	_, err := s.store.RecordFailure(ctx, userID, now, s.lockFor)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return s.unavailable(ctx, "failure count", err)
	}
	return nil
}

// lockFor is the lock after the given number of failures: none below
// MaxFailures, then Base doubling per further failure, at most Max.
func (s *Service) lockFor(failures int) time.Duration {
	if failures < s.lockout.MaxFailures {
		return 0
	}
	d := s.lockout.Base
	if d <= 0 {
		return 0
	}
	for range failures - s.lockout.MaxFailures {
		if d > s.lockout.Max/2 {
			return s.lockout.Max
		}
		d *= 2
	}
	return min(d, s.lockout.Max)
}

// Flow returns the sign-in in progress with the given flow ID.
func (s *Service) Flow(ctx context.Context, flowID string) (Step, error) {
	f, data, user, err := s.loadFlow(ctx, flowID)
	if err != nil {
		return Step{}, err
	}
	step := Step{Stage: Stage(f.Stage), FlowID: f.ID, ExpiresAt: f.ExpiresAt, User: user, ReturnTo: data.ReturnTo}
	if step.Stage == StageMFA {
		devices, err := s.store.MFADevices(ctx, user.ID)
		if err != nil {
			return Step{}, s.unavailable(ctx, "device lookup", err)
		}
		step.Methods = kinds(devices)
	}
	return step, nil
}

// Cancel abandons a flow (an unknown one is not an error).
func (s *Service) Cancel(ctx context.Context, flowID string) error {
	if !validSecret(flowID) {
		return nil
	}
	if err := s.store.DeleteSignInFlow(ctx, flowID); err != nil && !errors.Is(err, ErrNotFound) {
		return s.unavailable(ctx, "flow delete", err)
	}
	return nil
}

// loadFlow reads a flow, its data and its user; a deactivated or deleted
// user ends the flow.
func (s *Service) loadFlow(ctx context.Context, flowID string) (Flow, flowData, sp.User, error) {
	if !validSecret(flowID) {
		return Flow{}, flowData{}, sp.User{}, ErrNoFlow
	}
	f, err := s.store.SignInFlow(ctx, flowID, s.now())
	if errors.Is(err, ErrNotFound) {
		return Flow{}, flowData{}, sp.User{}, ErrNoFlow
	}
	if err != nil {
		return Flow{}, flowData{}, sp.User{}, s.unavailable(ctx, "flow lookup", err)
	}
	var data flowData
	if err := json.Unmarshal(f.Data, &data); err != nil {
		return Flow{}, flowData{}, sp.User{}, s.unavailable(ctx, "flow decode", err)
	}
	user, err := s.users.GetUser(ctx, f.UserID)
	if errors.Is(err, sp.ErrNotFound) || (err == nil && !user.Active) {
		_ = s.store.DeleteSignInFlow(ctx, flowID)
		return Flow{}, flowData{}, sp.User{}, ErrNoFlow
	}
	if err != nil {
		return Flow{}, flowData{}, sp.User{}, s.unavailable(ctx, "user lookup", err)
	}
	return f, data, user, nil
}

// flowAt loads a flow (see loadFlow) and checks it is at stage.
func (s *Service) flowAt(ctx context.Context, flowID string, stage Stage) (Flow, flowData, sp.User, error) {
	f, data, user, err := s.loadFlow(ctx, flowID)
	if err == nil && Stage(f.Stage) != stage {
		err = ErrWrongStage
	}
	return f, data, user, err
}

func (s *Service) saveFlow(ctx context.Context, f Flow, data flowData) error {
	b, err := json.Marshal(data)
	if err != nil {
		return s.unavailable(ctx, "flow encode", err)
	}
	f.Data = b
	switch err := s.store.UpdateSignInFlow(ctx, f); {
	case errors.Is(err, ErrNotFound):
		// Another request ended it meanwhile.
		return ErrNoFlow
	case err != nil:
		return s.unavailable(ctx, "flow save", err)
	}
	return nil
}

// createFlow stores a new flow.
func (s *Service) createFlow(ctx context.Context, f Flow, data flowData) error {
	b, err := json.Marshal(data)
	if err != nil {
		return s.unavailable(ctx, "flow encode", err)
	}
	f.Data = b
	if err := s.store.SaveSignInFlow(ctx, f); err != nil {
		return s.unavailable(ctx, "flow save", err)
	}
	return nil
}

// secondFactorFailed counts a wrong second factor against the account and
// the flow; the flow ends after maxFlowFailures.
func (s *Service) secondFactorFailed(ctx context.Context, f Flow, data flowData, attempt Attempt) error {
	now := s.now()
	s.record(ctx, attempt)
	if err := s.countFailure(ctx, f.UserID, now); err != nil {
		return err
	}
	data.Failures++
	data.WebAuthn = nil
	if data.Failures >= maxFlowFailures {
		if err := s.store.DeleteSignInFlow(ctx, f.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return s.unavailable(ctx, "flow delete", err)
		}
		return ErrNoFlow
	}
	if err := s.saveFlow(ctx, f, data); err != nil {
		return err
	}
	return ErrInvalidCredentials
}

// chargeSecondFactor takes one attempt from the failure limiter for the
// user and for the address before a second factor is checked, as Start
// does for passwords: the lockout is read before the check and counted
// after it, so without the charge any number of parallel guesses would all
// be checked. done refunds the attempt unless it failed (a refused factor
// stays charged; success and an unavailable store are refunded).
func (s *Service) chargeSecondFactor(ctx context.Context, now time.Time, userID, credential, addr string) (done func(error), err error) {
	keys := []string{ratelimit.UserKey(userID), ratelimit.AddrKey(addr)}
	if ok, wait := s.limit.Take(now, keys...); !ok {
		s.record(ctx, Attempt{Event: "signin", Reason: "rate_limited", UserID: userID, Credential: credential, Address: addr})
		return nil, &RetryError{RetryAfter: wait}
	}
	return func(err error) {
		if err == nil || errors.Is(err, ErrUnavailable) {
			s.limit.Refund(now, keys...)
		}
	}, nil
}

// complete ends a flow (once: of concurrent completions one wins), stores
// a pending rehash, resets the failure count, creates the session and
// audits the sign-in; a session whose audit record fails is deleted.
func (s *Service) complete(ctx context.Context, flowID string, user sp.User, data flowData, factors []string, deviceID, addr string) (Step, error) {
	if flowID != "" {
		if err := s.store.DeleteSignInFlow(ctx, flowID); errors.Is(err, ErrNotFound) {
			return Step{}, ErrNoFlow
		} else if err != nil {
			return Step{}, s.unavailable(ctx, "flow delete", err)
		}
	}
	now := s.now()
	if data.Rehash != "" {
		if err := s.store.SetPassword(ctx, user.ID, data.Rehash, now); err != nil {
			s.log.WarnContext(ctx, "password rehash not stored", "user_id", user.ID, "err", err)
		}
	}
	if err := s.store.ResetFailures(ctx, user.ID); err != nil {
		return Step{}, s.unavailable(ctx, "failure reset", err)
	}
	method := strings.Join(factors, "+")
	acr := ACRPassword
	if len(factors) > 1 {
		acr = ACRMFA
	}
	sess, err := s.sessions.Create(ctx, sp.Session{UserID: user.ID, Method: method, AuthnInstant: now, AuthnContextClassRef: acr})
	if err != nil {
		return Step{}, s.unavailable(ctx, "session create", err)
	}
	a := Attempt{Event: "signin", Success: true, UserID: user.ID, Credential: factors[len(factors)-1], Factors: factors, DeviceID: deviceID, Address: addr}
	if err := s.audit.RecordSignIn(ctx, a); err != nil {
		if derr := s.sessions.Delete(ctx, sess.ID); derr != nil {
			s.log.ErrorContext(ctx, "unaudited session could not be deleted", "user_id", user.ID, "err", derr)
		}
		return Step{}, s.unavailable(ctx, "audit", err)
	}
	s.log.InfoContext(ctx, "directory sign-in", "user_id", user.ID, "method", method)
	return Step{Stage: StageDone, User: user, ReturnTo: data.ReturnTo, Session: sess}, nil
}

// Authentication context classes of directory sessions.
const (
	// ACRPassword: a password alone.
	ACRPassword = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	// ACRMFA: a password and a second factor (the REFEDS MFA profile).
	ACRMFA = "https://refeds.org/profile/mfa"
)

// record stores a failed or non-final attempt; failures to store it are
// logged (the attempt was refused anyway).
func (s *Service) record(ctx context.Context, a Attempt) {
	if err := s.audit.RecordSignIn(ctx, a); err != nil {
		s.log.ErrorContext(ctx, "sign-in audit record not stored", "reason", a.Reason, "err", err)
	}
}

func (s *Service) unavailable(ctx context.Context, what string, err error) error {
	s.log.ErrorContext(ctx, "directory sign-in unavailable", "step", what, "err", err)
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

// newSecret returns 256 random bits, base64url.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// validSecret reports whether v has the shape newSecret produces.
func validSecret(v string) bool {
	if len(v) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

// webAuthnUserID is the WebAuthn user handle of a user: a hash of the ID,
// so the handle reveals nothing and is stable.
func webAuthnUserID(userID string) []byte {
	sum := sha256.Sum256([]byte("gatehouse-webauthn-user:" + userID))
	return sum[:]
}
