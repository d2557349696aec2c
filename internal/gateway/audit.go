package gateway

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// setupAudit opens the audit log on the store; Close stops it.
func (g *Gateway) setupAudit() error {
	l, err := audit.New(audit.Config{Store: g.store, Logger: g.log, Now: g.now})
	if err != nil {
		return fmt.Errorf("gateway: audit: %w", err)
	}
	g.audit = l
	return nil
}

// Audit returns the gateway's audit log.
func (g *Gateway) Audit() *audit.Log { return g.audit }

// Close stops the gateway's background writers (the audit log, after the
// events already queued are stored). Call it after the HTTP server has
// shut down and before the store is closed.
func (g *Gateway) Close() error {
	if g.audit == nil {
		return nil
	}
	return g.audit.Close()
}

// oauthAudit stores the authorization server's decisions in the audit log.
// Record fails when the event could not be stored, and the oauth handlers
// then withhold what they were about to grant. Token endpoint decisions
// are counted in gatehouse_oauth_token_grants_total (metrics, when set).
type oauthAudit struct {
	log     *audit.Log
	metrics *gatewayMetrics
}

// Record implements oauth.AuditSink.
func (a oauthAudit) Record(ctx context.Context, e oauth.AuditEvent) error {
	err := a.log.Record(ctx, oauthEvent(ctx, e))
	a.metrics.countGrant(e, err)
	return err
}

// oauthEvent maps an oauth decision to an audit event: type "oauth.<action>",
// outcome failure only for refusals, the decision itself in details.result.
func oauthEvent(ctx context.Context, e oauth.AuditEvent) audit.Event {
	action := e.Action
	if action == "" {
		action = oauth.AuditActionToken
	}
	ev := audit.Event{
		Type:      "oauth." + action,
		Outcome:   audit.Success,
		Actor:     "client:" + e.ClientID,
		Subject:   e.Subject,
		ClientID:  e.ClientID,
		Audience:  e.Audience,
		Scopes:    e.Scopes,
		Source:    server.ClientAddrFrom(ctx),
		RequestID: server.RequestIDFrom(ctx),
		Reason:    e.Reason,
		Details:   map[string]string{"result": e.Outcome},
	}
	if e.ClientID == "" {
		ev.Actor = ""
	}
	if e.Outcome == oauth.AuditRefused {
		ev.Outcome = audit.Failure
	}
	if action == oauth.AuditActionDeviceDecision {
		// The signed-in user decides, for the client's device.
		ev.Actor = e.Subject
	}
	if e.GrantType != "" {
		ev.Details["grant_type"] = e.GrantType
	}
	if e.RefreshFamily != "" {
		ev.Details["refresh_family"] = e.RefreshFamily
	}
	for a := e.Actor; a != nil; a = a.Act {
		ev.ActChain = append(ev.ActChain, a.Subject)
	}
	return ev
}

// signInAudit stores the ACS outcomes in the audit log: type "signin",
// identity source saml, credential external_idp.
type signInAudit struct{ log *audit.Log }

// RecordSignIn implements sp.SignInAuditor.
func (a signInAudit) RecordSignIn(ctx context.Context, r sp.SignInRecord) error {
	ev := audit.Event{
		Type:      "signin",
		Outcome:   audit.Success,
		Actor:     r.UserID,
		Subject:   r.UserID,
		Source:    server.ClientAddrFrom(ctx),
		RequestID: server.RequestIDFrom(ctx),
		Details: map[string]string{
			"identity_source": "saml",
			"credential":      "external_idp",
			"region":          r.Region,
		},
	}
	if !r.Success {
		ev.Outcome = audit.Failure
		ev.Reason = string(r.Reason)
	}
	if r.Issuer != "" {
		ev.Details["issuer"] = r.Issuer
	}
	if r.AuthnContext != "" {
		ev.Details["authn_context"] = r.AuthnContext
	}
	return a.log.Record(ctx, ev)
}
