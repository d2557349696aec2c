package oauth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"
)

// IntrospectionConfig configures NewIntrospectionHandler.
type IntrospectionConfig struct {
	// TokenEndpoint is the aud required in private_key_jwt client
	// assertions, as at the token endpoint; required.
	TokenEndpoint string
	Clients       ClientStore // required
	JTIs          JTIStore    // client assertion replay; required
	// Validator verifies Gatehouse's own access tokens; it must require
	// typ at+jwt and accept every audience Gatehouse issues for. Required.
	Validator   *Validator
	Revocations RevocationStore // required
	// Refresh, when set, lets the revocation endpoint revoke refresh
	// token families and the introspection endpoint report a caller's own
	// refresh tokens.
	Refresh RefreshStore
	MaxBody int64 // zero: DefaultMaxTokenBody
	Now     func() time.Time
	Logger  *slog.Logger
	Audit   AuditSink // nil: no audit
}

// introspectionResponse is the RFC 7662 section 2.2 response.
type introspectionResponse struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       any      `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
	Groups    []string `json:"groups,omitempty"`
	Act       *Actor   `json:"act,omitempty"`
}

type introspectionHandler struct{ p *tokenEndpointPeer }

// NewIntrospectionHandler returns the RFC 7662 introspection endpoint. The
// caller must authenticate as a confidential client by one of the token
// endpoint's methods. The token parameter is active only if it is a valid,
// unexpired, unrevoked Gatehouse access token whose aud includes one of
// the client's Audiences or whose client_id is the client, or (when
// cfg.Refresh is set) a current refresh token issued to the client,
// reported with token_type "refresh_token"; anything else is
// {"active":false}, never an error saying why. token_type_hint is
// ignored. Introspecting a refresh token that was already rotated counts
// as reuse: the store revokes its family.
func NewIntrospectionHandler(cfg IntrospectionConfig) (http.Handler, error) {
	p, err := newTokenEndpointPeer("introspection", cfg)
	if err != nil {
		return nil, err
	}
	return &introspectionHandler{p: p}, nil
}

func (h *introspectionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.p.now()
	ctx := r.Context()
	ev := AuditEvent{Action: AuditActionIntrospect, Reason: "introspection: "}
	client, raw, oe := h.p.request(w, r, now, false, &ev)
	if oe != nil {
		h.p.refuse(ctx, w, ev, oe, "introspection request refused")
		return
	}
	tok, ok, err := h.p.ownToken(ctx, raw, now)
	if err != nil {
		h.p.refuse(ctx, w, ev, unavailable().Wrap(err), "introspection failed")
		return
	}
	resp := introspectionResponse{}
	ev.Outcome = AuditIntrospected
	ev.Reason = "inactive"
	switch {
	case tok != nil:
		if ok && mayIntrospect(client, tok) {
			if resp, ok = activeResponse(tok); ok {
				ev.Reason = "active"
				auditClaims(&ev, tok)
			}
		}
	case h.p.refresh != nil:
		rt, found, err := h.p.peerRefreshToken(ctx, client, raw, now)
		if err != nil {
			ev.Reason = "introspection: "
			h.p.refuse(ctx, w, ev, unavailable().Wrap(err), "introspection failed")
			return
		}
		if found {
			resp = refreshResponse(rt)
			ev.Reason = "active"
			auditRefresh(&ev, rt)
		}
	}
	if !resp.Active {
		resp = introspectionResponse{}
	}
	h.p.record(ctx, ev)
	writeJSON(w, resp)
}

// refreshResponse is the active response for a refresh token.
func refreshResponse(rt RefreshToken) introspectionResponse {
	return introspectionResponse{
		Active:    true,
		Scope:     strings.Join(rt.Scopes, " "),
		ClientID:  rt.ClientID,
		TokenType: "refresh_token",
		Exp:       rt.ExpiresAt.Unix(),
		Iat:       rt.IssuedAt.Unix(),
		Sub:       rt.UserID,
		Aud:       rt.Audience,
	}
}

// mayIntrospect: the token was issued to the client, or for a data service
// the client may obtain tokens for.
func mayIntrospect(c *Client, tok jwt.Token) bool {
	if tokenClientID(tok) == c.ID {
		return true
	}
	return slices.ContainsFunc(tok.Audience(), func(a string) bool { return slices.Contains(c.Audiences, a) })
}

// activeResponse builds the active response; ok is false when a claim
// Gatehouse mints is malformed (then the token is reported inactive).
func activeResponse(tok jwt.Token) (introspectionResponse, bool) {
	str := func(name string) (string, bool) {
		v, present := tok.Get(name)
		if !present {
			return "", true
		}
		s, isStr := v.(string)
		return s, isStr
	}
	scope, ok1 := str("scope")
	clientID, ok2 := str("client_id")
	username, ok3 := str("username")
	if !ok1 || !ok2 || !ok3 || clientID == "" {
		return introspectionResponse{}, false
	}
	resp := introspectionResponse{
		Active:    true,
		Scope:     scope,
		ClientID:  clientID,
		Username:  username,
		TokenType: "Bearer",
		Exp:       tok.Expiration().Unix(),
		Sub:       tok.Subject(),
		Iss:       tok.Issuer(),
		Jti:       tok.JwtID(),
	}
	if iat := tok.IssuedAt(); !iat.IsZero() {
		resp.Iat = iat.Unix()
	}
	if nbf := tok.NotBefore(); !nbf.IsZero() {
		resp.Nbf = nbf.Unix()
	}
	if aud := tok.Audience(); len(aud) == 1 {
		resp.Aud = aud[0]
	} else {
		resp.Aud = aud
	}
	if g, present := tok.Get("groups"); present {
		list, isList := g.([]any)
		if !isList {
			return introspectionResponse{}, false
		}
		resp.Groups = make([]string, 0, len(list))
		for _, e := range list {
			s, isStr := e.(string)
			if !isStr {
				return introspectionResponse{}, false
			}
			resp.Groups = append(resp.Groups, s)
		}
	}
	act, err := actClaim(tok)
	if err != nil {
		return introspectionResponse{}, false
	}
	resp.Act = act
	return resp, true
}

// actClaim decodes the RFC 8693 act claim; nil when absent.
func actClaim(tok jwt.Token) (*Actor, error) {
	raw, present := tok.Get("act")
	if !present {
		return nil, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var act Actor
	if err := json.Unmarshal(b, &act); err != nil {
		return nil, err
	}
	if act.Subject == "" || depth(&act) > maxActDepth {
		return nil, errors.New("oauth: malformed act claim")
	}
	return &act, nil
}
