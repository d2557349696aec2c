package oauth

import (
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
			return Subject{}, NewError(ErrServerError, defaultServerErrorDescribe).Wrap(err)
		}
		if revoked {
			return Subject{}, NewError(ErrInvalidGrant, "token is revoked")
		}
	}
	s, err := o.Users.UserByID(ctx, tok.Subject())
	if err != nil {
		return Subject{}, NewError(ErrInvalidGrant, "unknown user").Wrap(err)
	}
	if !s.Active {
		return Subject{}, NewError(ErrInvalidGrant, "user is disabled")
	}
	s.UserID = tok.Subject()
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

// AuditEvent is one issued or refused token request. It never carries
// token values.
type AuditEvent struct {
	Outcome   string // "issued" or "refused"
	GrantType string
	ClientID  string
	Subject   string
	Audience  []string
	Scopes    []string
	Actor     *Actor
	Reason    string
}

// Audit outcomes.
const (
	AuditIssued  = "issued"
	AuditRefused = "refused"
)

// AuditSink records token endpoint decisions.
type AuditSink interface {
	Record(ctx context.Context, e AuditEvent)
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
	MaxTokenSize int   // zero: DefaultMaxTokenSize
	MaxBody      int64 // zero: DefaultMaxTokenBody
	Now          func() time.Time
	Logger       *slog.Logger
	Audit        AuditSink // nil: no audit
}

type tokenHandler struct {
	auth       clientAuthenticator
	minter     *Minter
	resolvers  map[string]SubjectResolver
	assertions SubjectResolver
	services   map[string]DataService
	maxToken   int
	maxBody    int64
	now        func() time.Time
	log        *slog.Logger
	audit      AuditSink
}

// NewTokenHandler returns the /oauth/token handler for the token exchange
// and JWT bearer grants.
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
	h := &tokenHandler{
		auth: clientAuthenticator{
			clients:       cfg.Clients,
			jtis:          cfg.JTIs,
			tokenEndpoint: cfg.TokenEndpoint,
			maxTokenSize:  cfg.MaxTokenSize,
		},
		minter:     cfg.Minter,
		resolvers:  make(map[string]SubjectResolver, len(cfg.Resolvers)),
		assertions: cfg.Assertions,
		services:   make(map[string]DataService, len(cfg.DataServices)),
		maxToken:   cfg.MaxTokenSize,
		maxBody:    cfg.MaxBody,
		now:        cfg.Now,
		log:        cfg.Logger,
		audit:      cfg.Audit,
	}
	for t, r := range cfg.Resolvers {
		if r == nil {
			return nil, fmt.Errorf("oauth: token: nil resolver for %q", t)
		}
		h.resolvers[t] = r
	}
	for _, ds := range cfg.DataServices {
		if ds.Audience == "" {
			return nil, errors.New("oauth: token: data service without audience")
		}
		if _, dup := h.services[ds.Audience]; dup {
			return nil, fmt.Errorf("oauth: token: duplicate data service %q", ds.Audience)
		}
		h.services[ds.Audience] = DataService{Audience: ds.Audience, Scopes: slices.Clone(ds.Scopes)}
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

type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
}

func (h *tokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	ev := AuditEvent{Outcome: AuditRefused}
	resp, err := h.serve(w, r, now, &ev)
	if err != nil {
		oe := AsError(err)
		ev.Reason = string(oe.Code)
		if oe.Description != "" {
			ev.Reason += ": " + oe.Description
		}
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "token request refused",
			slog.String("grant_type", ev.GrantType), slog.String("client_id", ev.ClientID), slog.Any("error", oe))
		if h.audit != nil {
			h.audit.Record(r.Context(), ev)
		}
		WriteError(w, oe)
		return
	}
	ev.Outcome = AuditIssued
	if h.audit != nil {
		h.audit.Record(r.Context(), ev)
	}
	body, mErr := json.Marshal(resp)
	if mErr != nil {
		WriteError(w, mErr)
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
	form, oe := h.parseForm(w, r)
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
	case grant != GrantTokenExchange && (grant != GrantJWTBearer || h.assertions == nil):
		return nil, NewError(ErrUnsupportedGrantType, "unsupported grant_type")
	case !slices.Contains(client.GrantTypes, grant):
		return nil, NewError(ErrUnauthorizedClient, "grant type not allowed for this client")
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
	ds, oe := h.target(client, form, grant == GrantJWTBearer)
	if oe != nil {
		return nil, oe
	}
	ev.Audience = []string{ds.Audience}
	scopes, oe := grantScopes(client, ds, form)
	if oe != nil {
		return nil, oe
	}
	ev.Scopes = scopes
	tok, exp, err := h.minter.Mint(r.Context(), AccessTokenClaims{
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
		AccessToken:     tok,
		IssuedTokenType: TokenTypeAccessToken,
		TokenType:       "Bearer",
		ExpiresIn:       max(int64(exp.Sub(now).Round(time.Second)/time.Second), 0),
		Scope:           strings.Join(scopes, " "),
	}, nil
}

// parseForm reads a capped application/x-www-form-urlencoded body in which
// every parameter appears at most once.
func (h *tokenHandler) parseForm(w http.ResponseWriter, r *http.Request) (map[string]string, *Error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, NewError(ErrInvalidRequest, "content type must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
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
		return Subject{}, NewError(ErrServerError, defaultServerErrorDescribe).Wrap(err)
	}
	subj.Act = nil
	return subj, nil
}

// target maps audience and resource (RFC 8707) to exactly one configured
// data service the client may use. With allowDefault, a request naming
// neither gets the client's only audience.
func (h *tokenHandler) target(client *Client, form map[string]string, allowDefault bool) (DataService, *Error) {
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
	ds, ok := h.services[name]
	if !ok || !slices.Contains(client.Audiences, name) {
		return DataService{}, NewError(ErrInvalidTarget, "audience not allowed")
	}
	return ds, nil
}

// grantScopes returns request ∩ client ∩ service; the request can only
// narrow, a scope outside the allowance is invalid_scope.
func grantScopes(client *Client, ds DataService, form map[string]string) ([]string, *Error) {
	allowed := make([]string, 0, len(ds.Scopes))
	for _, s := range ds.Scopes {
		if slices.Contains(client.Scopes, s) && !slices.Contains(allowed, s) {
			allowed = append(allowed, s)
		}
	}
	req, ok := form["scope"]
	if !ok || strings.TrimSpace(req) == "" {
		return allowed, nil
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
