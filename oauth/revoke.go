package oauth

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"
)

// RevocationStore records revoked access tokens by jti (RFC 7009).
// Implementations must be safe for concurrent use, make Revoke atomic (a
// revocation is visible to every later IsRevoked), and keep each entry at
// least until expiresAt, the token's exp: after that the token is refused
// as expired anyway, so the entry may be purged.
type RevocationStore interface {
	// Revoke records jti as revoked until expiresAt. Revoking an already
	// revoked jti is not an error.
	Revoke(ctx context.Context, jti string, expiresAt time.Time) error
	// IsRevoked reports whether jti is recorded as revoked at now.
	IsRevoked(ctx context.Context, jti string, now time.Time) (bool, error)
}

// Audit outcomes of the introspection and revocation endpoints.
const (
	AuditIntrospected = "introspected"
	AuditRevoked      = "revoked"
)

// RevocationConfig configures the revocation endpoint; it holds exactly
// what IntrospectionConfig does.
type RevocationConfig = IntrospectionConfig

// tokenEndpointPeer holds what the introspection and revocation endpoints
// share with the token endpoint: client authentication, form parsing and
// own-token validation.
type tokenEndpointPeer struct {
	auth        clientAuthenticator
	maxBody     int64
	validator   *Validator
	revocations RevocationStore
	refresh     RefreshStore // nil: refresh tokens are not looked up
	now         func() time.Time
	log         *slog.Logger
	audit       AuditSink
}

func newTokenEndpointPeer(what string, cfg IntrospectionConfig) (*tokenEndpointPeer, error) {
	v := cfg.Validator
	if cfg.TokenEndpoint == "" || cfg.Clients == nil || cfg.JTIs == nil || v == nil || cfg.Revocations == nil {
		return nil, errors.New("oauth: " + what + ": token endpoint, clients, JTI store, validator and revocation store are required")
	}
	if v.typ != normalizeTyp(AccessTokenType) {
		return nil, errors.New("oauth: " + what + ": the validator must require typ at+jwt")
	}
	if cfg.MaxBody < 0 {
		return nil, errors.New("oauth: " + what + ": negative MaxBody")
	}
	p := &tokenEndpointPeer{
		auth: clientAuthenticator{
			clients:       cfg.Clients,
			jtis:          cfg.JTIs,
			tokenEndpoint: cfg.TokenEndpoint,
			maxTokenSize:  v.maxSize,
		},
		maxBody:     cmp.Or(cfg.MaxBody, DefaultMaxTokenBody),
		validator:   v,
		revocations: cfg.Revocations,
		refresh:     cfg.Refresh,
		now:         cfg.Now,
		log:         cfg.Logger,
		audit:       cfg.Audit,
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p, nil
}

// request checks the method, parses the form, authenticates the client
// and requires exactly one non-empty token parameter.
func (p *tokenEndpointPeer) request(w http.ResponseWriter, r *http.Request, now time.Time, allowPublic bool, ev *AuditEvent) (*Client, string, *Error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, "", NewError(ErrInvalidRequest, "method not allowed").WithStatus(http.StatusMethodNotAllowed)
	}
	form, oe := parseForm(w, r, p.maxBody)
	if oe != nil {
		return nil, "", oe
	}
	client, method, oe := p.auth.authenticate(r.Context(), r, form, now)
	if oe != nil {
		return nil, "", oe
	}
	if method == AuthMethodNone && !allowPublic {
		return nil, "", invalidClient(errors.New("public clients may not use this endpoint"))
	}
	ev.ClientID = client.ID
	tok := form["token"]
	if tok == "" {
		return nil, "", NewError(ErrInvalidRequest, "token is required")
	}
	// token_type_hint is only a hint and is ignored: a token is tried as
	// an own access token first, then as a refresh token.
	return client, tok, nil
}

// ownToken validates raw as an unexpired, unrevoked Gatehouse access
// token. ok is false for any token that is not; err only for store
// failures.
func (p *tokenEndpointPeer) ownToken(ctx context.Context, raw string, now time.Time) (jwt.Token, bool, error) {
	tok, err := p.validator.Validate(ctx, raw)
	if err != nil {
		return nil, false, nil
	}
	if tok.JwtID() == "" || !tok.Expiration().After(now) {
		return nil, false, nil
	}
	revoked, err := p.revocations.IsRevoked(ctx, tok.JwtID(), now)
	if err != nil {
		return nil, false, err
	}
	return tok, !revoked, nil
}

func (p *tokenEndpointPeer) refuse(ctx context.Context, w http.ResponseWriter, ev AuditEvent, oe *Error, msg string) {
	ev.Outcome = AuditRefused
	ev.Reason = ev.Reason + string(oe.Code)
	p.log.LogAttrs(ctx, slog.LevelInfo, msg, slog.String("client_id", ev.ClientID), slog.Any("error", oe))
	recordLogged(ctx, p.audit, p.log, ev)
	WriteError(w, oe)
}

// record audits ev; a failure is logged at error level and does not
// change the response.
func (p *tokenEndpointPeer) record(ctx context.Context, ev AuditEvent) {
	recordLogged(ctx, p.audit, p.log, ev)
}

func auditRefresh(ev *AuditEvent, rt RefreshToken) {
	ev.Subject = rt.UserID
	ev.Audience = []string{rt.Audience}
	ev.Scopes = slices.Clone(rt.Scopes)
	ev.RefreshFamily = rt.FamilyID
}

func auditClaims(ev *AuditEvent, tok jwt.Token) {
	ev.Subject = tok.Subject()
	ev.Audience = tok.Audience()
	if s, ok := tok.Get("scope"); ok {
		if str, ok := s.(string); ok && str != "" {
			ev.Scopes = strings.Fields(str)
		}
	}
	if act, err := actClaim(tok); err == nil {
		ev.Actor = act
	}
}

type revocationHandler struct{ p *tokenEndpointPeer }

// NewRevocationHandler returns the RFC 7009 revocation endpoint. It
// authenticates the client as the token endpoint does (public clients
// included, RFC 7009 section 5), and revokes the token parameter if it is a
// valid Gatehouse access token issued to that client, recording its jti
// until its exp. Otherwise, when cfg.Refresh is set, a current refresh
// token of that client revokes its whole family (RFC 7009 section 2.1).
// The answer is 200 with an empty body whether or not anything was
// revoked (RFC 7009 section 2.2); token_type_hint is ignored.
func NewRevocationHandler(cfg RevocationConfig) (http.Handler, error) {
	p, err := newTokenEndpointPeer("revocation", cfg)
	if err != nil {
		return nil, err
	}
	return &revocationHandler{p: p}, nil
}

func (h *revocationHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.p.now()
	ctx := r.Context()
	ev := AuditEvent{Action: AuditActionRevoke, Reason: "revocation: "}
	client, raw, oe := h.p.request(w, r, now, true, &ev)
	if oe != nil {
		h.p.refuse(ctx, w, ev, oe, "revocation request refused")
		return
	}
	tok, ok, err := h.p.ownToken(ctx, raw, now)
	switch {
	case err != nil:
	case tok != nil:
		if ok && tokenClientID(tok) == client.ID {
			err = h.p.revocations.Revoke(ctx, tok.JwtID(), tok.Expiration())
			if err == nil {
				ev.Outcome = AuditRevoked
				ev.Reason = ""
				auditClaims(&ev, tok)
				h.p.record(ctx, ev)
			}
		}
	case h.p.refresh != nil:
		var rt RefreshToken
		rt, ok, err = h.p.peerRefreshToken(ctx, client, raw, now)
		if err == nil && ok {
			err = h.p.refresh.RevokeRefreshFamily(ctx, rt.FamilyID)
			if err == nil {
				ev.Outcome = AuditRevoked
				ev.Reason = ""
				auditRefresh(&ev, rt)
				h.p.record(ctx, ev)
			}
		}
	}
	if err != nil {
		h.p.refuse(ctx, w, ev, unavailable().Wrap(err), "revocation failed")
		return
	}
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

func tokenClientID(tok jwt.Token) string {
	v, _ := tok.Get("client_id")
	s, _ := v.(string)
	return s
}
