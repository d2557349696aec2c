package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Audit outcomes of device decisions.
const (
	AuditApproved = "approved"
	AuditDenied   = "denied"
)

// DeviceVerifierConfig configures NewDeviceVerifier.
type DeviceVerifierConfig struct {
	Devices DeviceStore // required
	Clients ClientStore // required
	Now     func() time.Time
	Logger  *slog.Logger
	Audit   AuditSink // nil: no audit
}

// DevicePrompt is what the consent page shows for a pending device
// authorization.
type DevicePrompt struct {
	// UserCode is the code as shown to the user (XXXX-XXXX).
	UserCode  string
	ClientID  string
	Audience  string
	Scopes    []string
	ExpiresAt time.Time
}

// DeviceVerifier is the approval side of the device flow, for the
// verification page the gateway renders for a signed-in user. Safe for
// concurrent use.
//
// Guessing: a user code has 20^8 ≈ 2.6e10 values and lives
// DefaultDeviceCodeLifetime. Brute force is the caller's job: rate-limit
// Lookup and Decide per source and per signed-in user. The user code is
// never logged or audited.
type DeviceVerifier struct {
	devices DeviceStore
	clients ClientStore
	now     func() time.Time
	log     *slog.Logger
	audit   AuditSink
}

// NewDeviceVerifier checks cfg and returns a DeviceVerifier.
func NewDeviceVerifier(cfg DeviceVerifierConfig) (*DeviceVerifier, error) {
	if cfg.Devices == nil || cfg.Clients == nil {
		return nil, errors.New("oauth: device verifier: device store and clients are required")
	}
	v := &DeviceVerifier{devices: cfg.Devices, clients: cfg.Clients, now: cfg.Now, log: cfg.Logger, audit: cfg.Audit}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	return v, nil
}

// Lookup returns the pending, unexpired device authorization with
// userCode, as typed by the user (case, dashes and spaces ignored). It
// returns ErrInvalidUserCode for a malformed code and an error wrapping
// ErrNotFound when there is no such pending authorization (unknown,
// expired, already decided, or its client no longer registered for the
// device grant). Any other error is a store failure.
func (v *DeviceVerifier) Lookup(ctx context.Context, userCode string) (DevicePrompt, error) {
	code, err := NormalizeUserCode(userCode)
	if err != nil {
		return DevicePrompt{}, err
	}
	return v.lookup(ctx, code, v.now())
}

func (v *DeviceVerifier) lookup(ctx context.Context, code string, now time.Time) (DevicePrompt, error) {
	d, err := v.devices.DeviceByUserCode(ctx, code, now)
	if err != nil {
		return DevicePrompt{}, fmt.Errorf("oauth: device verifier: lookup: %w", err)
	}
	if d.Status != DevicePending || !now.Before(d.ExpiresAt) {
		return DevicePrompt{}, fmt.Errorf("oauth: device verifier: authorization is %s: %w", d.Status, ErrNotFound)
	}
	c, err := v.clients.Client(ctx, d.ClientID)
	if err != nil {
		if errors.Is(err, ErrUnknownClient) {
			return DevicePrompt{}, fmt.Errorf("oauth: device verifier: %w: %w", err, ErrNotFound)
		}
		return DevicePrompt{}, fmt.Errorf("oauth: device verifier: client: %w", err)
	}
	if !slices.Contains(c.GrantTypes, GrantDeviceCode) {
		return DevicePrompt{}, fmt.Errorf("oauth: device verifier: client %q may no longer use the device grant: %w", c.ID, ErrNotFound)
	}
	return DevicePrompt{
		UserCode:  FormatUserCode(d.UserCode),
		ClientID:  d.ClientID,
		Audience:  d.Audience,
		Scopes:    slices.Clone(d.Scopes),
		ExpiresAt: d.ExpiresAt,
	}, nil
}

// Decide records the signed-in user's approval or denial of the pending
// authorization with userCode. Errors are those of Lookup, or an error
// wrapping ErrConflict when the authorization was decided concurrently.
//
// The decision is audited before it is stored, and not stored when the
// audit fails (fail closed); a decision that then fails in the store is
// audited again as refused.
func (v *DeviceVerifier) Decide(ctx context.Context, userCode, userID string, approve bool) error {
	if userID == "" {
		return errors.New("oauth: device verifier: a user ID is required")
	}
	now := v.now()
	ev := AuditEvent{Action: AuditActionDeviceDecision, Outcome: AuditRefused, GrantType: GrantDeviceCode, Subject: userID}
	code, err := NormalizeUserCode(userCode)
	if err == nil {
		var p DevicePrompt
		p, err = v.lookup(ctx, code, now)
		ev.ClientID, ev.Audience, ev.Scopes = p.ClientID, audienceList(p.Audience), p.Scopes
	}
	if err != nil {
		ev.Reason = decisionReason(err)
		v.log.LogAttrs(ctx, slog.LevelInfo, "device decision refused", slog.String("user_id", userID), slog.Any("error", err))
		recordLogged(ctx, v.audit, v.log, ev)
		return err
	}
	ev.Outcome = AuditDenied
	if approve {
		ev.Outcome = AuditApproved
	}
	if v.audit != nil {
		if err := v.audit.Record(ctx, ev); err != nil {
			v.log.LogAttrs(ctx, slog.LevelError, "audit of a device decision failed; nothing decided",
				slog.String("user_id", userID), slog.String("client_id", ev.ClientID), slog.Any("error", err))
			return fmt.Errorf("oauth: device verifier: audit: %w", err)
		}
	}
	if err := v.devices.DecideDevice(ctx, code, userID, approve, now); err != nil {
		err = fmt.Errorf("oauth: device verifier: decide: %w", err)
		ev.Outcome = AuditRefused
		ev.Reason = decisionReason(err)
		v.log.LogAttrs(ctx, slog.LevelWarn, "device decision not stored", slog.String("user_id", userID),
			slog.String("client_id", ev.ClientID), slog.Any("error", err))
		recordLogged(ctx, v.audit, v.log, ev)
		return err
	}
	v.log.LogAttrs(ctx, slog.LevelInfo, "device decision", slog.String("user_id", userID),
		slog.String("client_id", ev.ClientID), slog.Bool("approved", approve))
	return nil
}

func audienceList(a string) []string {
	if a == "" {
		return nil
	}
	return []string{a}
}

// decisionReason is a bounded audit reason for a refused decision.
func decisionReason(err error) string {
	switch {
	case errors.Is(err, ErrInvalidUserCode):
		return "invalid user code"
	case errors.Is(err, ErrNotFound):
		return "no such pending authorization"
	case errors.Is(err, ErrConflict):
		return "already decided"
	default:
		return "store failure"
	}
}
