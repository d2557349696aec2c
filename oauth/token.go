package oauth

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Token type identifiers (RFC 8693 section 3).
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeSAML2       = "urn:ietf:params:oauth:token-type:saml2"
)

// DefaultMaxTokenBody bounds the token request body.
const DefaultMaxTokenBody = 64 << 10

// ErrUnknownUser is returned by a UserLookup for a user that does not exist.
var ErrUnknownUser = errors.New("oauth: unknown user")

// Subject is the identity a subject, actor or assertion token names.
type Subject struct {
	UserID, UserName, Email string
	Groups                  []string
	Active                  bool
	Issuer                  string
	// Act is the act chain the token already carried (Gatehouse's own
	// tokens); it is preserved under a new actor.
	Act *Actor
	// JTI and ExpiresAt are required from the JWT bearer resolver.
	JTI       string
	ExpiresAt time.Time
}

// SubjectResolver validates a token of the given type and returns whom it
// names. Any error refuses the request (invalid_grant).
type SubjectResolver interface {
	ResolveSubject(ctx context.Context, tokenType, token string) (Subject, error)
}

// UserLookup finds an identity store user by ID (an error wrapping
// ErrUnknownUser when absent).
type UserLookup interface {
	UserByID(ctx context.Context, id string) (Subject, error)
}

// OwnAccessTokens resolves Gatehouse's own access tokens: the Validator
// must require typ at+jwt; the user is looked up by sub and must be active.
type OwnAccessTokens struct {
	Validator *Validator
	Users     UserLookup
	// Revocations, when set, refuses tokens revoked at the revocation
	// endpoint (checked by jti after validation; a store error refuses).
	Revocations RevocationStore
}

// ResolveSubject implements SubjectResolver.
func (o OwnAccessTokens) ResolveSubject(ctx context.Context, tokenType, token string) (Subject, error) {
	if tokenType != TokenTypeAccessToken {
		return Subject{}, fmt.Errorf("oauth: own access tokens: token type %q", tokenType)
	}
	if o.Validator == nil || o.Users == nil || o.Validator.typ != normalizeTyp(AccessTokenType) {
		return Subject{}, errors.New("oauth: own access tokens: a validator requiring typ at+jwt and a user lookup are required")
	}
	tok, err := o.Validator.Validate(ctx, token)
	if err != nil {
		return Subject{}, err
	}
	if o.Revocations != nil {
		revoked, err := o.Revocations.IsRevoked(ctx, tok.JwtID(), o.Validator.now())
		if err != nil {
			return Subject{}, unavailable().Wrap(err)
		}
		if revoked {
			return Subject{}, NewError(ErrInvalidGrant, "token is revoked")
		}
	}
	s, oe := activeUser(ctx, o.Users, tok.Subject())
	if oe != nil {
		return Subject{}, oe
	}
	s.Issuer = tok.Issuer()
	s.JTI = tok.JwtID()
	s.ExpiresAt = tok.Expiration()
	s.Act = nil
	if raw, ok := tok.Get("act"); ok {
		b, err := json.Marshal(raw)
		if err != nil {
			return Subject{}, fmt.Errorf("oauth: act claim: %w", err)
		}
		var act Actor
		if err := json.Unmarshal(b, &act); err != nil || act.Subject == "" {
			return Subject{}, NewError(ErrInvalidGrant, "malformed act claim")
		}
		s.Act = &act
	}
	return s, nil
}

// DataService is a downstream service tokens are issued for.
type DataService struct {
	Audience string
	Scopes   []string
}

// AuditEvent is one decision of an endpoint of this package. It never
// carries token values, device codes or user codes.
type AuditEvent struct {
	// Action is the endpoint or operation (AuditAction* constants).
	Action string
	// Outcome is AuditIssued, AuditRefused, AuditIntrospected,
	// AuditRevoked, AuditApproved or AuditDenied.
	Outcome   string
	GrantType string
	ClientID  string
	// Subject is the user the decision is about.
	Subject  string
	Audience []string
	Scopes   []string
	Actor    *Actor
	// RefreshFamily is the FamilyID of the refresh token issued, rotated,
	// revoked or introspected (an identifier, never a token value).
	RefreshFamily string
	Reason        string
}

// Audit outcomes.
const (
	AuditIssued  = "issued"
	AuditRefused = "refused"
)

// Audit actions (AuditEvent.Action).
const (
	AuditActionToken               = "token"
	AuditActionIntrospect          = "introspect"
	AuditActionRevoke              = "revoke"
	AuditActionDeviceAuthorization = "device_authorization"
	AuditActionDeviceDecision      = "device_decision"
)

// AuditSink records the decisions of the endpoints of this package.
// Issuing is fail-closed: when Record fails for an issued token (or a
// device authorization, or a device decision), the token is withheld and
// the request answered with server_error (the decision is not made). For
// refusals, introspections and revocations a Record error is only logged
// at error level.
type AuditSink interface {
	Record(ctx context.Context, e AuditEvent) error
}

// TokenHandlerConfig configures NewTokenHandler.
type TokenHandlerConfig struct {
	Issuer        string // required
	TokenEndpoint string // absolute URL; the aud of client assertions; required
	Clients       ClientStore
	JTIs          JTIStore
	Minter        *Minter
	// Resolvers maps subject_token_type / actor_token_type to a resolver.
	Resolvers map[string]SubjectResolver
	// Assertions validates RFC 7523 JWT bearer assertions; nil disables
	// that grant. It must return JTI and ExpiresAt.
	Assertions   SubjectResolver
	DataServices []DataService
	// Devices enables the RFC 8628 device code grant; nil disables it
	// (unsupported_grant_type).
	Devices DeviceStore
	// Refresh enables the refresh_token grant and the issuing of refresh
	// tokens by the device code grant to clients allowed the
	// refresh_token grant; nil disables both.
	Refresh RefreshStore
	// Users looks up the user a device authorization or refresh token
	// names; required when Devices or Refresh is set.
	Users UserLookup
	// RefreshTokenLifetime bounds each refresh token; zero:
	// DefaultRefreshTokenLifetime. A rotated token never outlives its
	// family.
	RefreshTokenLifetime time.Duration
	// RefreshFamilyLifetime bounds a refresh token family (the grant) from
	// its first token; zero: DefaultRefreshFamilyLifetime.
	RefreshFamilyLifetime time.Duration
	MaxTokenSize          int   // zero: DefaultMaxTokenSize
	MaxBody               int64 // zero: DefaultMaxTokenBody
	Now                   func() time.Time
	Logger                *slog.Logger
	Audit                 AuditSink // nil: no audit
}

type tokenHandler struct {
	auth        clientAuthenticator
	minter      *Minter
	resolvers   map[string]SubjectResolver
	assertions  SubjectResolver
	services    dataServices
	devices     DeviceStore
	refresh     RefreshStore
	users       UserLookup
	refreshLife time.Duration
	familyLife  time.Duration
	maxToken    int
	maxBody     int64
	now         func() time.Time
	log         *slog.Logger
	audit       AuditSink
}

// NewTokenHandler returns the /oauth/token handler for the token exchange,
// JWT bearer, device code and refresh token grants.
func NewTokenHandler(cfg TokenHandlerConfig) (http.Handler, error) {
	u, err := url.Parse(cfg.TokenEndpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("oauth: token: token endpoint %q must be an absolute URL", cfg.TokenEndpoint)
	}
	if cfg.Issuer == "" || cfg.Clients == nil || cfg.JTIs == nil || cfg.Minter == nil {
		return nil, errors.New("oauth: token: issuer, clients, JTI store and minter are required")
	}
	if cfg.MaxTokenSize < 0 || cfg.MaxBody < 0 {
		return nil, errors.New("oauth: token: negative size limit")
	}
	if (cfg.Devices != nil || cfg.Refresh != nil) && cfg.Users == nil {
		return nil, errors.New("oauth: token: a user lookup is required with the device code or refresh token grant")
	}
	if cfg.RefreshTokenLifetime < 0 || cfg.RefreshFamilyLifetime < 0 {
		return nil, errors.New("oauth: token: negative refresh token lifetime")
	}
	services, err := newDataServices("token", cfg.DataServices)
	if err != nil {
		return nil, err
	}
	h := &tokenHandler{
		auth: clientAuthenticator{
			clients:       cfg.Clients,
			jtis:          cfg.JTIs,
			tokenEndpoint: cfg.TokenEndpoint,
			maxTokenSize:  cfg.MaxTokenSize,
		},
		minter:      cfg.Minter,
		resolvers:   make(map[string]SubjectResolver, len(cfg.Resolvers)),
		assertions:  cfg.Assertions,
		services:    services,
		devices:     cfg.Devices,
		refresh:     cfg.Refresh,
		users:       cfg.Users,
		refreshLife: cmp.Or(cfg.RefreshTokenLifetime, DefaultRefreshTokenLifetime),
		familyLife:  cmp.Or(cfg.RefreshFamilyLifetime, DefaultRefreshFamilyLifetime),
		maxToken:    cfg.MaxTokenSize,
		maxBody:     cfg.MaxBody,
		now:         cfg.Now,
		log:         cfg.Logger,
		audit:       cfg.Audit,
	}
	if h.refreshLife > h.familyLife {
		return nil, errors.New("oauth: token: the refresh token lifetime exceeds the refresh family lifetime")
	}
	for t, r := range cfg.Resolvers {
		if r == nil {
			return nil, fmt.Errorf("oauth: token: nil resolver for %q", t)
		}
		h.resolvers[t] = r
	}
	if h.maxToken == 0 {
		h.maxToken = DefaultMaxTokenSize
	}
	h.auth.maxTokenSize = h.maxToken
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxTokenBody
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

// tokenResponse is the RFC 6749 section 5.1 response, with
// issued_token_type only for token exchange (RFC 8693 section 2.2.1).
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
	RefreshToken    string `json:"refresh_token,omitempty"`
}

func (h *tokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	ctx := r.Context()
	ev := AuditEvent{Action: AuditActionToken, Outcome: AuditRefused}
	resp, err := h.serve(w, r, now, &ev)
	if err != nil {
		oe := AsError(err)
		ev.Reason = string(oe.Code)
		if oe.Description != "" {
			ev.Reason += ": " + oe.Description
		}
		// A device polling while the user decides is protocol, not a
		// decision: logged at debug level, not audited.
		if oe.Code == ErrAuthorizationPending || oe.Code == ErrSlowDown {
			h.log.LogAttrs(ctx, slog.LevelDebug, "device code poll",
				slog.String("client_id", ev.ClientID), slog.String("code", string(oe.Code)))
			WriteError(w, oe)
			return
		}
		h.log.LogAttrs(ctx, slog.LevelInfo, "token request refused",
			slog.String("grant_type", ev.GrantType), slog.String("client_id", ev.ClientID), slog.Any("error", oe))
		recordLogged(ctx, h.audit, h.log, ev)
		WriteError(w, oe)
		return
	}
	ev.Outcome = AuditIssued
	if h.audit != nil {
		if aErr := h.audit.Record(ctx, ev); aErr != nil {
			// Fail closed: a token that cannot be audited is not issued.
			h.log.LogAttrs(ctx, slog.LevelError, "audit of an issued token failed; the token is withheld",
				slog.String("grant_type", ev.GrantType), slog.String("client_id", ev.ClientID), slog.Any("error", aErr))
			if resp.RefreshToken != "" {
				h.revokeFamily(ctx, ev.RefreshFamily)
			}
			WriteError(w, unavailable().Wrap(aErr))
			return
		}
	}
	writeJSON(w, resp)
}

// recordLogged records ev when audit is set; a failure is logged at error
// level and otherwise ignored (for events that do not gate a response).
func recordLogged(ctx context.Context, audit AuditSink, log *slog.Logger, ev AuditEvent) {
	if audit == nil {
		return
	}
	if err := audit.Record(ctx, ev); err != nil {
		log.LogAttrs(ctx, slog.LevelError, "audit record failed",
			slog.String("action", ev.Action), slog.String("outcome", ev.Outcome),
			slog.String("client_id", ev.ClientID), slog.Any("error", err))
	}
}

// writeJSON writes v as a 200 JSON response that must not be cached.
func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		WriteError(w, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json;charset=UTF-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (h *tokenHandler) serve(w http.ResponseWriter, r *http.Request, now time.Time, ev *AuditEvent) (*tokenResponse, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, NewError(ErrInvalidRequest, "method not allowed").WithStatus(http.StatusMethodNotAllowed)
	}
	form, oe := parseForm(w, r, h.maxBody)
	if oe != nil {
		return nil, oe
	}
	ev.GrantType = form["grant_type"]
	client, _, oe := h.auth.authenticate(r.Context(), r, form, now)
	if oe != nil {
		return nil, oe
	}
	ev.ClientID = client.ID
	grant, ok := form["grant_type"]
	switch {
	case !ok || grant == "":
		return nil, NewError(ErrInvalidRequest, "grant_type is required")
	case !h.supports(grant):
		return nil, NewError(ErrUnsupportedGrantType, "unsupported grant_type")
	case !slices.Contains(client.GrantTypes, grant):
		return nil, NewError(ErrUnauthorizedClient, "grant type not allowed for this client")
	}
	switch grant {
	case GrantDeviceCode:
		return h.deviceGrant(r.Context(), client, form, now, ev)
	case GrantRefreshToken:
		return h.refreshGrant(r.Context(), client, form, now, ev)
	}
	var (
		subj Subject
		act  *Actor
		err  error
	)
	if grant == GrantTokenExchange {
		subj, act, err = h.exchange(r.Context(), client, form)
	} else {
		subj, err = h.jwtBearer(r.Context(), form, now)
	}
	if err != nil {
		return nil, err
	}
	ev.Subject = subj.UserID
	ev.Actor = act
	ds, oe := h.services.target(client, form, grant == GrantJWTBearer)
	if oe != nil {
		return nil, oe
	}
	ev.Audience = []string{ds.Audience}
	scopes, oe := grantScopes(client, ds, form)
	if oe != nil {
		return nil, oe
	}
	ev.Scopes = scopes
	resp, err := h.mint(r.Context(), client, subj, act, ds, scopes, now)
	if err != nil {
		return nil, err
	}
	if grant == GrantTokenExchange {
		resp.IssuedTokenType = TokenTypeAccessToken
	}
	return resp, nil
}

// supports reports whether grant is enabled by the configuration.
func (h *tokenHandler) supports(grant string) bool {
	switch grant {
	case GrantTokenExchange:
		return true
	case GrantJWTBearer:
		return h.assertions != nil
	case GrantDeviceCode:
		return h.devices != nil
	case GrantRefreshToken:
		return h.refresh != nil
	default:
		return false
	}
}

// mint issues the access token for subj to client, for ds and scopes.
func (h *tokenHandler) mint(ctx context.Context, client *Client, subj Subject, act *Actor, ds DataService, scopes []string, now time.Time) (*tokenResponse, error) {
	tok, exp, err := h.minter.Mint(ctx, AccessTokenClaims{
		Subject:  subj.UserID,
		Audience: []string{ds.Audience},
		ClientID: client.ID,
		Scope:    scopes,
		Email:    subj.Email,
		Username: subj.UserName,
		Groups:   slices.Clone(subj.Groups),
		Act:      act,
	})
	if err != nil {
		return nil, NewError(ErrServerError, defaultServerErrorDescribe).Wrap(err)
	}
	return &tokenResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   max(int64(exp.Sub(now).Round(time.Second)/time.Second), 0),
		Scope:       strings.Join(scopes, " "),
	}, nil
}

// parseForm reads a capped application/x-www-form-urlencoded body in which
// every parameter appears at most once.
func parseForm(w http.ResponseWriter, r *http.Request, maxBody int64) (map[string]string, *Error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, NewError(ErrInvalidRequest, "content type must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, NewError(ErrInvalidRequest, "request body unreadable or too large").Wrap(err)
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, NewError(ErrInvalidRequest, "malformed form body").Wrap(err)
	}
	form := make(map[string]string, len(vals))
	for k, v := range vals {
		if len(v) != 1 {
			return nil, NewError(ErrInvalidRequest, "parameter repeated: "+k)
		}
		form[k] = v[0]
	}
	return form, nil
}

// resolve runs the resolver for tokenType; every failure is invalid_grant
// (temporarily_unavailable when an issuer's keys cannot be obtained).
func (h *tokenHandler) resolve(ctx context.Context, res SubjectResolver, tokenType, token, what string) (Subject, error) {
	if len(token) > h.maxToken {
		return Subject{}, NewError(ErrInvalidRequest, what+" is too large")
	}
	s, err := res.ResolveSubject(ctx, tokenType, token)
	if err != nil {
		var oe *Error
		var ve *ValidationError
		switch {
		case errors.As(err, &oe):
			return Subject{}, oe
		case errors.As(err, &ve) && ve.Reason() == ReasonKeysUnavailable:
			return Subject{}, AsError(err)
		}
		return Subject{}, NewError(ErrInvalidGrant, what+" is invalid").Wrap(err)
	}
	if s.UserID == "" {
		return Subject{}, NewError(ErrInvalidGrant, what+" names no user")
	}
	if !s.Active {
		return Subject{}, NewError(ErrInvalidGrant, what+" names a disabled user")
	}
	return s, nil
}

// exchange implements RFC 8693 section 2.1.
func (h *tokenHandler) exchange(ctx context.Context, client *Client, form map[string]string) (Subject, *Actor, error) {
	tok, tokType := form["subject_token"], form["subject_token_type"]
	if tok == "" || tokType == "" {
		return Subject{}, nil, NewError(ErrInvalidRequest, "subject_token and subject_token_type are required")
	}
	if rt, ok := form["requested_token_type"]; ok && rt != TokenTypeAccessToken && rt != TokenTypeJWT {
		return Subject{}, nil, NewError(ErrInvalidRequest, "unsupported requested_token_type")
	}
	actTok, hasActTok := form["actor_token"]
	actType, hasActType := form["actor_token_type"]
	if hasActTok != hasActType || (hasActTok && (actTok == "" || actType == "")) {
		return Subject{}, nil, NewError(ErrInvalidRequest, "actor_token and actor_token_type go together")
	}
	// Size checks before any verification: never a fallback.
	if len(tok) > h.maxToken || len(actTok) > h.maxToken {
		return Subject{}, nil, NewError(ErrInvalidRequest, "token is too large")
	}
	res, ok := h.resolvers[tokType]
	if !ok {
		return Subject{}, nil, NewError(ErrInvalidRequest, "unsupported subject_token_type")
	}
	subj, err := h.resolve(ctx, res, tokType, tok, "subject_token")
	if err != nil {
		return Subject{}, nil, err
	}
	act := subj.Act
	if hasActTok {
		ares, ok := h.resolvers[actType]
		if !ok {
			return Subject{}, nil, NewError(ErrInvalidRequest, "unsupported actor_token_type")
		}
		actor, err := h.resolve(ctx, ares, actType, actTok, "actor_token")
		if err != nil {
			return Subject{}, nil, err
		}
		act = &Actor{Subject: actor.UserID, ClientID: client.ID, Act: subj.Act}
	}
	if depth(act) > maxActDepth {
		return Subject{}, nil, NewError(ErrInvalidGrant, "act chain too deep")
	}
	return subj, act, nil
}

func depth(a *Actor) int {
	n := 0
	for ; a != nil; a = a.Act {
		n++
	}
	return n
}

// jwtBearer implements RFC 7523 section 2.1 with a single-use jti.
func (h *tokenHandler) jwtBearer(ctx context.Context, form map[string]string, now time.Time) (Subject, error) {
	a := form["assertion"]
	if a == "" {
		return Subject{}, NewError(ErrInvalidRequest, "assertion is required")
	}
	subj, err := h.resolve(ctx, h.assertions, TokenTypeJWT, a, "assertion")
	if err != nil {
		return Subject{}, err
	}
	if subj.JTI == "" || subj.ExpiresAt.IsZero() || subj.Issuer == "" {
		return Subject{}, NewError(ErrInvalidGrant, "assertion needs iss, jti and exp")
	}
	if err := h.auth.jtis.MarkJTIUsed(ctx, subj.Issuer, subj.JTI, subj.ExpiresAt, now); err != nil {
		if errors.Is(err, ErrJTIReplayed) {
			return Subject{}, NewError(ErrInvalidGrant, "assertion already used").Wrap(err)
		}
		return Subject{}, unavailable().Wrap(err)
	}
	subj.Act = nil
	return subj, nil
}

// dataServices are the configured data services by audience.
type dataServices map[string]DataService

func newDataServices(what string, list []DataService) (dataServices, error) {
	out := make(dataServices, len(list))
	for _, ds := range list {
		if ds.Audience == "" {
			return nil, fmt.Errorf("oauth: %s: data service without audience", what)
		}
		if _, dup := out[ds.Audience]; dup {
			return nil, fmt.Errorf("oauth: %s: duplicate data service %q", what, ds.Audience)
		}
		out[ds.Audience] = DataService{Audience: ds.Audience, Scopes: slices.Clone(ds.Scopes)}
	}
	return out, nil
}

// target maps audience and resource (RFC 8707) to exactly one configured
// data service the client may use. With allowDefault, a request naming
// neither gets the client's only audience.
func (s dataServices) target(client *Client, form map[string]string, allowDefault bool) (DataService, *Error) {
	aud, hasAud := form["audience"]
	res, hasRes := form["resource"]
	var name string
	switch {
	case hasAud && hasRes && aud != res:
		return DataService{}, NewError(ErrInvalidTarget, "audience and resource name different services")
	case hasAud:
		name = aud
	case hasRes:
		name = res
	case allowDefault && len(client.Audiences) == 1:
		name = client.Audiences[0]
	default:
		return DataService{}, NewError(ErrInvalidTarget, "audience or resource is required")
	}
	ds, ok := s[name]
	if !ok || !slices.Contains(client.Audiences, name) {
		return DataService{}, NewError(ErrInvalidTarget, "audience not allowed")
	}
	return ds, nil
}

// granted returns the data service of a grant made earlier (a device
// authorization, a refresh token) if the client may still use it: a
// narrowed configuration takes effect at once.
func (s dataServices) granted(client *Client, audience string) (DataService, *Error) {
	ds, ok := s[audience]
	if !ok || !slices.Contains(client.Audiences, audience) {
		return DataService{}, NewError(ErrInvalidGrant, "the grant's audience is no longer allowed for this client")
	}
	return ds, nil
}

// allowance returns client ∩ service scopes, in the service's order.
func allowance(client *Client, ds DataService) []string {
	allowed := make([]string, 0, len(ds.Scopes))
	for _, s := range ds.Scopes {
		if slices.Contains(client.Scopes, s) && !slices.Contains(allowed, s) {
			allowed = append(allowed, s)
		}
	}
	return allowed
}

// grantedScopes returns granted ∩ client ∩ service, in granted's order:
// the scopes of an earlier grant that the client may still obtain.
func grantedScopes(client *Client, ds DataService, granted []string) []string {
	allowed := allowance(client, ds)
	out := make([]string, 0, len(granted))
	for _, s := range granted {
		if slices.Contains(allowed, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// grantScopes returns request ∩ client ∩ service; the request can only
// narrow, a scope outside the allowance is invalid_scope.
func grantScopes(client *Client, ds DataService, form map[string]string) ([]string, *Error) {
	return narrowScopes(allowance(client, ds), form)
}

// narrowScopes returns the requested scope (all of allowed when the
// request has none); a requested scope outside allowed is invalid_scope.
func narrowScopes(allowed []string, form map[string]string) ([]string, *Error) {
	req, ok := form["scope"]
	if !ok || strings.TrimSpace(req) == "" {
		return slices.Clone(allowed), nil
	}
	var out []string
	for _, s := range strings.Split(req, " ") {
		if s == "" {
			continue
		}
		if !slices.Contains(allowed, s) {
			return nil, NewError(ErrInvalidScope, "scope not allowed")
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}
