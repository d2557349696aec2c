package signin

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"
	"unicode"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// TOTP parameters: what every authenticator app supports (RFC 6238
// defaults): HMAC-SHA1, 6 digits, 30-second steps, one step of skew
// either side.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	totpSkew   = 1
)

// maxWebAuthnBody caps a WebAuthn response accepted from a browser.
const maxWebAuthnBody = 64 << 10

// sealAD is the associated data a device's TOTP secret is sealed with.
func sealAD(userID, deviceID string) string { return "totp:" + userID + ":" + deviceID }

// pendingAD is the associated data of a TOTP secret being registered.
func pendingAD(flowID string) string { return "totp-pending:" + flowID }

// totpStep returns the RFC 6238 time step of t.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// matchTOTP returns the time step within the skew window at which code is
// valid for the base32 secret, or false.
func matchTOTP(code, secret string, now time.Time) (int64, bool) {
	if len(code) != int(totpDigits) {
		return 0, false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	cur := totpStep(now)
	for _, off := range []int64{0, -1, 1}[:1+2*totpSkew] {
		step := cur + off
		ok, err := hotp.ValidateCustom(code, uint64(step), secret, hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err == nil && ok {
			return step, true
		}
	}
	return 0, false
}

// normalizeCode drops the spaces and dashes people type into codes.
func normalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\u00a0' {
			return -1
		}
		return r
	}, code)
}

// VerifyTOTP checks a code from one of the user's authenticator apps and
// completes the sign-in. A code is accepted once: the same code (or an
// older one) again is refused, on every instance.
func (s *Service) VerifyTOTP(ctx context.Context, flowID, code, addr string) (Step, error) {
	f, data, user, err := s.flowAt(ctx, flowID, StageMFA)
	if err != nil {
		return Step{}, err
	}
	now := s.now()
	if err := s.checkLock(ctx, user.ID, now); err != nil {
		return Step{}, err
	}
	done, err := s.chargeSecondFactor(ctx, now, user.ID, "totp", addr)
	if err != nil {
		return Step{}, err
	}
	step, err := s.verifyTOTP(ctx, f, data, user, code, addr, now)
	done(err)
	return step, err
}

func (s *Service) verifyTOTP(ctx context.Context, f Flow, data flowData, user sp.User, code, addr string, now time.Time) (Step, error) {
	devices, err := s.store.MFADevices(ctx, user.ID)
	if err != nil {
		return Step{}, s.unavailable(ctx, "device lookup", err)
	}
	code = normalizeCode(code)
	attempt := Attempt{Event: "signin", Reason: "invalid_totp", UserID: user.ID, Credential: "totp", Address: addr}
	for _, d := range devices {
		if d.Kind != KindTOTP {
			continue
		}
		raw, err := s.seal.open(d.Secret, sealAD(d.UserID, d.ID))
		if err != nil {
			s.log.ErrorContext(ctx, "TOTP secret does not open", "user_id", user.ID, "device_id", d.ID)
			continue
		}
		step, ok := matchTOTP(code, base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw), now)
		if !ok {
			continue
		}
		switch err := s.store.UseTOTPStep(ctx, d.ID, step, now); {
		case errors.Is(err, ErrReplay):
			attempt.Reason, attempt.DeviceID = "totp_replay", d.ID
			return Step{}, s.secondFactorFailed(ctx, f, data, attempt)
		case err != nil:
			return Step{}, s.unavailable(ctx, "TOTP use", err)
		}
		return s.complete(ctx, f.ID, user, data, []string{"password", "totp"}, d.ID, addr)
	}
	return Step{}, s.secondFactorFailed(ctx, f, data, attempt)
}

// waUser is a user as go-webauthn sees it.
type waUser struct {
	user  sp.User
	creds []webauthn.Credential
	// devices maps a credential ID to its device.
	devices map[string]MFADevice
}

func (u *waUser) WebAuthnID() []byte   { return webAuthnUserID(u.user.ID) }
func (u *waUser) WebAuthnName() string { return u.user.UserName }
func (u *waUser) WebAuthnDisplayName() string {
	if u.user.DisplayName != "" {
		return u.user.DisplayName
	}
	return u.user.UserName
}
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (s *Service) webAuthnUser(ctx context.Context, user sp.User) (*waUser, error) {
	devices, err := s.store.MFADevices(ctx, user.ID)
	if err != nil {
		return nil, s.unavailable(ctx, "device lookup", err)
	}
	u := &waUser{user: user, devices: map[string]MFADevice{}}
	for _, d := range devices {
		if d.Kind != KindWebAuthn {
			continue
		}
		var c webauthn.Credential
		if err := json.Unmarshal(d.Credential, &c); err != nil {
			s.log.ErrorContext(ctx, "stored WebAuthn credential does not decode", "user_id", user.ID, "device_id", d.ID, "err", err)
			continue
		}
		c.Authenticator.SignCount = d.SignCount
		u.creds = append(u.creds, c)
		u.devices[string(c.ID)] = d
	}
	return u, nil
}

// BeginWebAuthn starts a WebAuthn assertion for the flow's user and
// returns the options for navigator.credentials.get (JSON).
func (s *Service) BeginWebAuthn(ctx context.Context, flowID string) ([]byte, error) {
	f, data, user, err := s.flowAt(ctx, flowID, StageMFA)
	if err != nil {
		return nil, err
	}
	u, err := s.webAuthnUser(ctx, user)
	if err != nil {
		return nil, err
	}
	if len(u.creds) == 0 {
		return nil, ErrWrongStage
	}
	assertion, session, err := s.wa.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, s.unavailable(ctx, "WebAuthn begin", err)
	}
	data.WebAuthn = session
	if err := s.saveFlow(ctx, f, data); err != nil {
		return nil, err
	}
	return json.Marshal(assertion)
}

// FinishWebAuthn checks the browser's assertion (the JSON of the
// PublicKeyCredential) and completes the sign-in. The challenge is
// accepted once; a signature counter that did not advance (a cloned
// authenticator) is refused.
func (s *Service) FinishWebAuthn(ctx context.Context, flowID string, body []byte, addr string) (Step, error) {
	f, data, user, err := s.flowAt(ctx, flowID, StageMFA)
	if err != nil {
		return Step{}, err
	}
	now := s.now()
	if err := s.checkLock(ctx, user.ID, now); err != nil {
		return Step{}, err
	}
	done, err := s.chargeSecondFactor(ctx, now, user.ID, "webauthn", addr)
	if err != nil {
		return Step{}, err
	}
	step, err := s.finishWebAuthn(ctx, f, data, user, body, addr, now)
	done(err)
	return step, err
}

func (s *Service) finishWebAuthn(ctx context.Context, f Flow, data flowData, user sp.User, body []byte, addr string, now time.Time) (Step, error) {
	attempt := Attempt{Event: "signin", Reason: "invalid_webauthn", UserID: user.ID, Credential: "webauthn", Address: addr}
	if data.WebAuthn == nil {
		attempt.Reason = "webauthn_not_started"
		return Step{}, s.secondFactorFailed(ctx, f, data, attempt)
	}
	session := *data.WebAuthn
	if len(body) > maxWebAuthnBody {
		return Step{}, s.secondFactorFailed(ctx, f, data, attempt)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		attempt.Reason = "webauthn_malformed"
		return Step{}, s.secondFactorFailed(ctx, f, data, attempt)
	}
	u, err := s.webAuthnUser(ctx, user)
	if err != nil {
		return Step{}, err
	}
	cred, err := s.wa.ValidateLogin(u, session, parsed)
	if err != nil {
		s.log.InfoContext(ctx, "WebAuthn assertion refused", "user_id", user.ID, "err", err)
		return Step{}, s.secondFactorFailed(ctx, f, data, attempt)
	}
	d, ok := u.devices[string(cred.ID)]
	if !ok {
		return Step{}, s.secondFactorFailed(ctx, f, data, attempt)
	}
	attempt.DeviceID = d.ID
	if cred.Authenticator.CloneWarning {
		attempt.Reason = "webauthn_clone_warning"
		return Step{}, s.secondFactorFailed(ctx, f, data, attempt)
	}
	stored, err := json.Marshal(cred)
	if err != nil {
		return Step{}, s.unavailable(ctx, "WebAuthn encode", err)
	}
	switch err := s.store.UseWebAuthn(ctx, d.ID, d.SignCount, cred.Authenticator.SignCount, stored, now); {
	case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
		attempt.Reason = "webauthn_counter_conflict"
		return Step{}, s.secondFactorFailed(ctx, f, data, attempt)
	case err != nil:
		return Step{}, s.unavailable(ctx, "WebAuthn use", err)
	}
	return s.complete(ctx, f.ID, user, data, []string{"password", "webauthn"}, d.ID, addr)
}

// TOTPEnrollment is what a user needs to add a TOTP authenticator.
type TOTPEnrollment struct {
	// Secret is the shared secret in base32, for typing in.
	Secret string
	// URL is the otpauth:// URL (Key URI format).
	URL string
	// QRCode is a PNG of URL.
	QRCode []byte
}

// BeginTOTPRegistration returns the TOTP secret being registered in the
// flow, creating it on the first call.
func (s *Service) BeginTOTPRegistration(ctx context.Context, flowID string) (TOTPEnrollment, error) {
	f, data, user, err := s.flowAt(ctx, flowID, StageRegister)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	var raw []byte
	if data.TOTPSecret != nil {
		if raw, err = s.seal.open(data.TOTPSecret, pendingAD(f.ID)); err != nil {
			return TOTPEnrollment{}, s.unavailable(ctx, "pending secret", err)
		}
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: s.issuer, AccountName: user.UserName, Period: totpPeriod, Digits: totpDigits,
		Algorithm: otp.AlgorithmSHA1, Secret: raw, SecretSize: 20,
	})
	if err != nil {
		return TOTPEnrollment{}, s.unavailable(ctx, "TOTP generate", err)
	}
	if data.TOTPSecret == nil {
		raw, err = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key.Secret())
		if err != nil {
			return TOTPEnrollment{}, s.unavailable(ctx, "TOTP secret", err)
		}
		data.TOTPSecret = s.seal.seal(raw, pendingAD(f.ID))
		if err := s.saveFlow(ctx, f, data); err != nil {
			return TOTPEnrollment{}, err
		}
	}
	img, err := key.Image(200, 200)
	if err != nil {
		return TOTPEnrollment{}, s.unavailable(ctx, "QR code", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return TOTPEnrollment{}, s.unavailable(ctx, "QR code", err)
	}
	return TOTPEnrollment{Secret: key.Secret(), URL: key.URL(), QRCode: buf.Bytes()}, nil
}

// FinishTOTPRegistration checks a code from the new authenticator,
// registers it and completes the sign-in.
func (s *Service) FinishTOTPRegistration(ctx context.Context, flowID, code, name, addr string) (Step, error) {
	f, data, user, err := s.flowAt(ctx, flowID, StageRegister)
	if err != nil {
		return Step{}, err
	}
	if name, err = deviceName(name, "Authenticator app"); err != nil {
		return Step{}, err
	}
	if data.TOTPSecret == nil {
		return Step{}, ErrWrongStage
	}
	raw, err := s.seal.open(data.TOTPSecret, pendingAD(f.ID))
	if err != nil {
		return Step{}, s.unavailable(ctx, "pending secret", err)
	}
	now := s.now()
	step, ok := matchTOTP(normalizeCode(code), base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw), now)
	if !ok {
		return Step{}, s.secondFactorFailed(ctx, f, data, Attempt{Event: "mfa.register", Reason: "invalid_totp", UserID: user.ID, Credential: "totp", Address: addr})
	}
	d := MFADevice{ID: newDeviceID(), UserID: user.ID, Kind: KindTOTP, Name: name, CreatedAt: now, LastUsedAt: now, LastStep: step}
	d.Secret = s.seal.seal(raw, sealAD(d.UserID, d.ID))
	if err := s.addDevice(ctx, d, addr); err != nil {
		return Step{}, err
	}
	return s.complete(ctx, f.ID, user, data, []string{"password", "totp"}, d.ID, addr)
}

// BeginWebAuthnRegistration starts registering a security key or platform
// authenticator and returns the options for navigator.credentials.create
// (JSON).
func (s *Service) BeginWebAuthnRegistration(ctx context.Context, flowID string) ([]byte, error) {
	f, data, user, err := s.flowAt(ctx, flowID, StageRegister)
	if err != nil {
		return nil, err
	}
	u, err := s.webAuthnUser(ctx, user)
	if err != nil {
		return nil, err
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(u.creds))
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := s.wa.BeginRegistration(u,
		webauthn.WithExclusions(exclude),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementDiscouraged,
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
	)
	if err != nil {
		return nil, s.unavailable(ctx, "WebAuthn begin registration", err)
	}
	data.WebAuthn = session
	if err := s.saveFlow(ctx, f, data); err != nil {
		return nil, err
	}
	return json.Marshal(creation)
}

// FinishWebAuthnRegistration checks the browser's attestation (the JSON
// of the PublicKeyCredential), registers the authenticator and completes
// the sign-in.
func (s *Service) FinishWebAuthnRegistration(ctx context.Context, flowID string, body []byte, name, addr string) (Step, error) {
	f, data, user, err := s.flowAt(ctx, flowID, StageRegister)
	if err != nil {
		return Step{}, err
	}
	if name, err = deviceName(name, "Security key"); err != nil {
		return Step{}, err
	}
	attempt := Attempt{Event: "mfa.register", Reason: "invalid_webauthn", UserID: user.ID, Credential: "webauthn", Address: addr}
	if data.WebAuthn == nil || len(body) > maxWebAuthnBody {
		return Step{}, s.secondFactorFailed(ctx, f, data, attempt)
	}
	session := *data.WebAuthn
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		attempt.Reason = "webauthn_malformed"
		return Step{}, s.secondFactorFailed(ctx, f, data, attempt)
	}
	u, err := s.webAuthnUser(ctx, user)
	if err != nil {
		return Step{}, err
	}
	cred, err := s.wa.CreateCredential(u, session, parsed)
	if err != nil {
		s.log.InfoContext(ctx, "WebAuthn registration refused", "user_id", user.ID, "err", err)
		return Step{}, s.secondFactorFailed(ctx, f, data, attempt)
	}
	stored, err := json.Marshal(cred)
	if err != nil {
		return Step{}, s.unavailable(ctx, "WebAuthn encode", err)
	}
	now := s.now()
	d := MFADevice{
		ID: newDeviceID(), UserID: user.ID, Kind: KindWebAuthn, Name: name, CreatedAt: now, LastUsedAt: now,
		CredentialID: cred.ID, Credential: stored, SignCount: cred.Authenticator.SignCount,
	}
	if err := s.addDevice(ctx, d, addr); err != nil {
		return Step{}, err
	}
	return s.complete(ctx, f.ID, user, data, []string{"password", "webauthn"}, d.ID, addr)
}

// addDevice stores a new device within the per-kind limit and audits it.
func (s *Service) addDevice(ctx context.Context, d MFADevice, addr string) error {
	limit := s.maxTOTP
	if d.Kind == KindWebAuthn {
		limit = s.maxWA
	}
	switch err := s.store.AddMFADevice(ctx, d, limit); {
	case errors.Is(err, ErrTooManyDevices):
		s.record(ctx, Attempt{Event: "mfa.register", Reason: "too_many_devices", UserID: d.UserID, Credential: string(d.Kind), Address: addr})
		return ErrTooManyDevices
	case errors.Is(err, ErrConflict):
		s.record(ctx, Attempt{Event: "mfa.register", Reason: "duplicate_credential", UserID: d.UserID, Credential: string(d.Kind), Address: addr})
		return fmt.Errorf("%w: this authenticator is already registered", ErrBadRequest)
	case err != nil:
		return s.unavailable(ctx, "device add", err)
	}
	if err := s.audit.RecordSignIn(ctx, Attempt{Event: "mfa.register", Success: true, UserID: d.UserID, Credential: string(d.Kind), DeviceID: d.ID, Address: addr}); err != nil {
		// No device without its audit record: take it back. The flow
		// stays, so the user can try again.
		if derr := s.store.DeleteMFADevice(ctx, d.UserID, d.ID); derr != nil && !errors.Is(derr, ErrNotFound) {
			s.log.ErrorContext(ctx, "unaudited device could not be removed", "user_id", d.UserID, "device_id", d.ID, "err", derr)
		}
		return s.unavailable(ctx, "audit", err)
	}
	return nil
}

// deviceName checks a user-chosen device name: at most 64 characters, no
// control characters; empty means def.
func deviceName(name, def string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return def, nil
	}
	if len([]rune(name)) > 64 {
		return "", fmt.Errorf("%w: a device name has at most 64 characters", ErrBadRequest)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\uFFFD' {
			return "", fmt.Errorf("%w: a device name cannot contain control characters", ErrBadRequest)
		}
	}
	return name, nil
}

// newDeviceID returns a random device ID.
func newDeviceID() string { return "mfa_" + newSecret()[:22] }
