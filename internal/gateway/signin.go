package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/portal"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/signin"
)

// setupSignIn builds the built-in directory sign-in (identity_source
// directory): the password hasher, the MFA sealing key in keys.dir and the
// sign-in service.
func (g *Gateway) setupSignIn(cfg *config.Config) error {
	d := cfg.IdentitySource.Directory
	if d == nil {
		return nil
	}
	hasher, err := password.New(password.Config{Policy: password.Policy{MinLength: d.PasswordMinLength}})
	if err != nil {
		return fmt.Errorf("gateway: identity_source.directory: %w", err)
	}
	sealKey, err := keys.LoadOrCreateSecret(cfg.Keys.Dir, "mfa-seal", 32)
	if err != nil {
		return fmt.Errorf("gateway: keys.dir: %w", err)
	}
	g.signin, err = signin.New(signin.Config{
		Store:       g.store,
		Users:       g.store,
		Sessions:    g.sessions,
		Hasher:      hasher,
		Audit:       directoryAudit{log: g.audit},
		SealKey:     sealKey,
		ExternalURL: cfg.ExternalURL,
		RPID:        d.WebAuthnRPID,
		MFA:         signin.MFAPolicy(d.MFA),
		NoDevice:    signin.NoDevicePolicy(d.WithoutDevice),
		Lockout: signin.LockoutPolicy{
			MaxFailures: d.Lockout.MaxFailures, Base: d.Lockout.Duration.Std(), Max: d.Lockout.MaxDuration.Std(),
		},
		AddressFailures: d.RateLimit.Failures,
		AddressWindow:   d.RateLimit.Window.Std(),
		Now:             g.now,
		Logger:          g.log,
	})
	if err != nil {
		return fmt.Errorf("gateway: identity_source.directory: %w", err)
	}
	g.signinPages, err = g.portal.SignInHandler(portal.SignInConfig{Service: g.signin, Cookies: g.sessions, ExternalURL: cfg.ExternalURL})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

// signInRoutes registers the sign-in pages (identity_source directory).
func (g *Gateway) signInRoutes(mux *http.ServeMux) {
	if g.signinPages == nil {
		return
	}
	mux.Handle(portal.SignInPath, g.signinPages)
	mux.Handle(portal.SignInPath+"/", g.signinPages)
}

// directoryAudit stores directory sign-in steps in the audit log: type
// "signin" (or "mfa.register"), identity source directory, the credential
// type checked.
type directoryAudit struct{ log *audit.Log }

// RecordSignIn implements signin.Auditor.
func (a directoryAudit) RecordSignIn(ctx context.Context, at signin.Attempt) error {
	ev := audit.Event{
		Type:      at.Event,
		Outcome:   audit.Success,
		Actor:     at.UserID,
		Subject:   at.UserID,
		Source:    server.ClientAddrFrom(ctx),
		RequestID: server.RequestIDFrom(ctx),
		Details: map[string]string{
			"identity_source": "directory",
			"credential":      at.Credential,
		},
	}
	if !at.Success {
		ev.Outcome = audit.Failure
		ev.Reason = at.Reason
	}
	if len(at.Factors) > 0 {
		ev.Details["factors"] = strings.Join(at.Factors, "+")
	}
	if at.DeviceID != "" {
		ev.Details["device_id"] = at.DeviceID
	}
	return a.log.Record(ctx, ev)
}
