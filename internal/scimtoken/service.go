package scimtoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// Defaults and bounds of Config.
const (
	// Day is 24 hours: token lifetimes are counted in days of 24 hours.
	Day = 24 * time.Hour
	// DefaultLifetime is a token's lifetime when Config.Lifetime is zero.
	DefaultLifetime = 365 * Day
	// MaxLifetime is the longest Config.Lifetime.
	MaxLifetime = 365 * Day
	// MinLifetime is the shortest Config.Lifetime.
	MinLifetime = time.Hour
	// DefaultWarnBefore is the warning window when Config.WarnBefore is
	// zero.
	DefaultWarnBefore = 30 * Day
	// DefaultCollectTimeout bounds the store read of a metrics scrape
	// when Config.CollectTimeout is zero.
	DefaultCollectTimeout = 2 * time.Second
	// MaxActive is how many tokens may be active at once: two, so one can
	// be rotated (a new one created and configured in the identity
	// provider) while the other still works.
	MaxActive = 2
	// DefaultWarnInterval is how often WarnEvery checks when given no
	// interval.
	DefaultWarnInterval = 6 * time.Hour
	// LastUsedInterval is the granularity of Record.LastUsedAt: a token's
	// use is written at most once per interval, not on every request.
	LastUsedInterval = time.Minute
	// auditTimeout bounds the compensating revocation after a failed audit
	// write.
	auditTimeout = 5 * time.Second
)

// Audit event types.
const (
	EventCreated = "scim_token.created"
	EventRevoked = "scim_token.revoked"
)

// ErrAudit is wrapped by the error Create and Revoke return when the audit
// log could not record the change. Create then has created nothing; Revoke
// has revoked the token (a revocation is never undone).
var ErrAudit = errors.New("scimtoken: the audit log could not record the change")

// ValidationError is a rejected CreateRequest: Field names the offending
// field as in the admin API ("name", "expires_in_days").
type ValidationError struct {
	Field  string
	Reason string
}

// Error implements error as "<field>: <reason>".
func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Auditor records audit events; audit.Log implements it. Record returns
// only once the event is durable, or an error.
type Auditor interface {
	Record(ctx context.Context, e audit.Event) error
}

// Config configures New.
type Config struct {
	// Store keeps the tokens (required).
	Store Store
	// Auditor records creations and revocations (required).
	Auditor Auditor
	// Lifetime is how long a new token is valid (MinLifetime to
	// MaxLifetime; zero: DefaultLifetime). A creation request may ask for
	// fewer days, never more.
	Lifetime time.Duration
	// WarnBefore is the warning window: a token that expires within it is
	// flagged in the admin API and logged by Warn (zero:
	// DefaultWarnBefore; must be shorter than Lifetime).
	WarnBefore time.Duration
	// CollectTimeout bounds the store read of each metrics scrape (zero:
	// DefaultCollectTimeout).
	CollectTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives warnings about expiring tokens, refused requests and
	// store failures; nil discards them.
	Logger *slog.Logger
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
}

// Service creates, lists, revokes and authenticates SCIM bearer tokens. It
// keeps no state of its own besides its configuration: every call reads
// the Store, so several gateway instances sharing a store agree at once.
// It is safe for concurrent use.
type Service struct {
	store          Store
	auditor        Auditor
	lifetime       time.Duration
	warnBefore     time.Duration
	collectTimeout time.Duration
	now            func() time.Time
	log            *slog.Logger
	failures       *prometheus.CounterVec
}

// New validates cfg and returns a Service, registering its metrics on
// cfg.Registerer.
func New(cfg Config) (*Service, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("a store is required"))
	}
	if cfg.Auditor == nil {
		errs = append(errs, errors.New("an auditor is required"))
	}
	s := &Service{
		store: cfg.Store, auditor: cfg.Auditor, lifetime: cfg.Lifetime, warnBefore: cfg.WarnBefore,
		collectTimeout: cfg.CollectTimeout, now: cfg.Now, log: cfg.Logger,
	}
	if s.lifetime == 0 {
		s.lifetime = DefaultLifetime
	}
	if s.warnBefore == 0 {
		s.warnBefore = DefaultWarnBefore
	}
	if s.collectTimeout == 0 {
		s.collectTimeout = DefaultCollectTimeout
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.lifetime < MinLifetime || s.lifetime > MaxLifetime {
		errs = append(errs, fmt.Errorf("lifetime %v must be between %v and %v", s.lifetime, MinLifetime, MaxLifetime))
	}
	if s.warnBefore < 0 || s.warnBefore >= s.lifetime {
		errs = append(errs, fmt.Errorf("warning window %v must be positive and shorter than the lifetime %v", s.warnBefore, s.lifetime))
	}
	if s.collectTimeout < 0 {
		errs = append(errs, fmt.Errorf("collect timeout %v is negative", s.collectTimeout))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("scimtoken: %w", errors.Join(errs...))
	}
	s.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_scim_token_auth_failures_total",
		Help: "SCIM requests refused at authentication, by reason (missing, malformed, unknown, expired, revoked, unavailable).",
	}, []string{"reason"})
	for _, r := range allReasons {
		s.failures.WithLabelValues(string(r))
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.failures, (*collector)(s)} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("scimtoken: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Lifetime returns the configured lifetime of new tokens.
func (s *Service) Lifetime() time.Duration { return s.lifetime }

// maxDays is the largest ExpiresInDays a request may ask for.
func (s *Service) maxDays() int { return int(s.lifetime / Day) }

// CreateRequest asks for a new token.
type CreateRequest struct {
	// Name is an optional description (at most MaxNameLength characters,
	// no control characters).
	Name string
	// ExpiresInDays, when not zero, asks for a lifetime of that many days:
	// 1 up to the configured lifetime in whole days.
	ExpiresInDays int
}

// Created is a new token. Token is the only copy of the secret: it is
// never stored or shown again.
type Created struct {
	ID        string
	Token     string
	Name      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Create validates req and stores a new token, unless MaxActive tokens are
// active already (ErrLimit). The creation is recorded in the audit log
// after the insert; when that fails the token is revoked again, never
// returned, and the error wraps ErrAudit.
func (s *Service) Create(ctx context.Context, req CreateRequest) (Created, error) {
	if err := s.validate(req); err != nil {
		return Created{}, err
	}
	now := s.clock()
	lifetime := s.lifetime
	if req.ExpiresInDays != 0 {
		lifetime = time.Duration(req.ExpiresInDays) * Day
	}
	token, hash := newToken()
	rec := Record{ID: newID(), Hash: hash, Name: req.Name, CreatedAt: now, ExpiresAt: now.Add(lifetime)}
	if err := s.store.InsertToken(ctx, rec, MaxActive); err != nil {
		if errors.Is(err, ErrLimit) {
			return Created{}, ErrLimit
		}
		return Created{}, fmt.Errorf("scimtoken: create: %w", err)
	}
	details := map[string]string{"token_id": rec.ID, "expires_at": rec.ExpiresAt.Format(time.RFC3339)}
	if rec.Name != "" {
		details["name"] = rec.Name
	}
	if err := s.auditor.Record(ctx, s.event(ctx, EventCreated, now, details)); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
		defer cancel()
		if rerr := s.store.RevokeToken(rctx, rec.ID, now); rerr != nil {
			// The value was never shown, so nobody holds the token; it
			// stays listed until an administrator revokes it.
			s.log.ErrorContext(ctx, "scimtoken: a token created without an audit record could not be revoked; revoke it",
				slog.String("token_id", rec.ID), slog.Any("error", rerr))
			return Created{}, fmt.Errorf("scimtoken: create %s: %w: %w (revoking it: %w)", rec.ID, ErrAudit, err, rerr)
		}
		return Created{}, fmt.Errorf("scimtoken: create %s: %w: %w", rec.ID, ErrAudit, err)
	}
	return Created{ID: rec.ID, Token: token, Name: rec.Name, CreatedAt: rec.CreatedAt, ExpiresAt: rec.ExpiresAt}, nil
}

func (s *Service) validate(req CreateRequest) error {
	if !utf8.ValidString(req.Name) {
		return &ValidationError{Field: "name", Reason: "is not valid UTF-8"}
	}
	if utf8.RuneCountInString(req.Name) > MaxNameLength {
		return &ValidationError{Field: "name", Reason: "longer than " + strconv.Itoa(MaxNameLength) + " characters"}
	}
	for _, r := range req.Name {
		if unicode.IsControl(r) {
			return &ValidationError{Field: "name", Reason: "must not contain control characters"}
		}
	}
	if req.ExpiresInDays != 0 {
		maxDays := s.maxDays()
		if maxDays < 1 {
			return &ValidationError{Field: "expires_in_days", Reason: "cannot be set: the configured token lifetime is shorter than a day"}
		}
		if req.ExpiresInDays < 1 || req.ExpiresInDays > maxDays {
			return &ValidationError{Field: "expires_in_days", Reason: "must be between 1 and " + strconv.Itoa(maxDays)}
		}
	}
	return nil
}

// Revoke revokes the unrevoked token with the ID (ErrNotFound when there
// is none, also for an ID of the wrong shape). From the moment it returns,
// the token is refused on every instance sharing the store. The
// revocation is then recorded in the audit log; when that fails the token
// stays revoked and the error wraps ErrAudit.
func (s *Service) Revoke(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	now := s.clock()
	if err := s.store.RevokeToken(ctx, id, now); err != nil {
		if errors.Is(err, ErrNotFound) {
			return ErrNotFound
		}
		return fmt.Errorf("scimtoken: revoke: %w", err)
	}
	if err := s.auditor.Record(ctx, s.event(ctx, EventRevoked, now, map[string]string{"token_id": id})); err != nil {
		s.log.ErrorContext(ctx, "scimtoken: token revoked, but the audit log could not record it",
			slog.String("token_id", id), slog.Any("error", err))
		return fmt.Errorf("scimtoken: revoke %s: %w: %w", id, ErrAudit, err)
	}
	return nil
}

func (s *Service) event(ctx context.Context, typ string, now time.Time, details map[string]string) audit.Event {
	return audit.Event{
		Time: now, Type: typ, Outcome: audit.Success, Actor: "admin",
		Source: server.ClientAddrFrom(ctx), RequestID: server.RequestIDFrom(ctx), Details: details,
	}
}

// Status is a token as administrators see it: never its value.
type Status struct {
	ID         string
	Name       string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt time.Time // zero: never used
	// DaysLeft is the number of whole days until ExpiresAt (0 within the
	// last day and once expired).
	DaysLeft int
	// Expired reports that ExpiresAt has passed: the token is refused.
	Expired bool
	// Warning, when not empty, says the token has expired or expires
	// within the warning window, and what to do.
	Warning string
}

// List returns the tokens that are not revoked, expired ones included,
// oldest first.
func (s *Service) List(ctx context.Context) ([]Status, error) {
	recs, err := s.store.ListTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("scimtoken: list: %w", err)
	}
	now := s.clock()
	out := make([]Status, 0, len(recs))
	for _, r := range recs {
		out = append(out, s.status(r, now))
	}
	return out, nil
}

func (s *Service) status(r Record, now time.Time) Status {
	st := Status{
		ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, LastUsedAt: r.LastUsedAt,
		Expired: !now.Before(r.ExpiresAt),
	}
	if !st.Expired {
		st.DaysLeft = int(r.ExpiresAt.Sub(now) / Day)
	}
	date := r.ExpiresAt.UTC().Format(time.RFC3339)
	switch {
	case st.Expired:
		st.Warning = "expired at " + date + ": SCIM requests with this token are refused; create a new token, configure it in the identity provider, then revoke this one"
	case r.ExpiresAt.Sub(now) <= s.warnBefore:
		st.Warning = "expires at " + date + " (" + daysText(st.DaysLeft) + "): create a new token, configure it in the identity provider, then revoke this one"
	}
	return st
}

func daysText(n int) string {
	switch n {
	case 0:
		return "in less than a day"
	case 1:
		return "in 1 day"
	}
	return "in " + strconv.Itoa(n) + " days"
}

// Warn logs a warning for every token that has expired without being
// revoked or expires within the warning window, naming the token (never
// its value). The gateway calls it at startup and periodically (see
// WarnEvery).
func (s *Service) Warn(ctx context.Context) error {
	list, err := s.List(ctx)
	if err != nil {
		return err
	}
	for _, st := range list {
		if st.Warning == "" {
			continue
		}
		msg := "scimtoken: SCIM token expires soon"
		if st.Expired {
			msg = "scimtoken: SCIM token has expired"
		}
		s.log.WarnContext(ctx, msg,
			slog.String("token_id", st.ID), slog.String("name", st.Name),
			slog.Time("expires_at", st.ExpiresAt), slog.Int("days_left", st.DaysLeft),
			slog.String("warning", st.Warning))
	}
	return nil
}

// WarnEvery calls Warn at once and then every interval (zero or negative:
// DefaultWarnInterval) until ctx ends, logging store failures.
func (s *Service) WarnEvery(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultWarnInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.Warn(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "scimtoken: checking token expiry failed", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// TokenInfo is the token a request authenticated with.
type TokenInfo struct {
	ID        string
	Name      string
	ExpiresAt time.Time
}

// Reason is why a request was refused at authentication: a bounded label
// value for logs and metrics, never shown to the client.
type Reason string

// Reasons.
const (
	ReasonMissing   Reason = "missing"
	ReasonMalformed Reason = "malformed"
	ReasonUnknown   Reason = "unknown"
	ReasonExpired   Reason = "expired"
	ReasonRevoked   Reason = "revoked"
	// ReasonUnavailable counts store failures (no RefusedError has it).
	ReasonUnavailable Reason = "unavailable"
)

var allReasons = []Reason{ReasonMissing, ReasonMalformed, ReasonUnknown, ReasonExpired, ReasonRevoked, ReasonUnavailable}

// ErrUnauthorized is wrapped by every refusal of Authenticate and the
// middleware: the client gets one answer (401) whatever the reason.
var ErrUnauthorized = errors.New("scimtoken: unauthorized")

// RefusedError is a refused credential. errors.Is(err, ErrUnauthorized)
// holds; Reason and TokenID (empty unless the token is known) are for the
// server log only.
type RefusedError struct {
	Reason  Reason
	TokenID string
}

// Error implements error.
func (e *RefusedError) Error() string {
	if e.TokenID != "" {
		return "scimtoken: token " + e.TokenID + " refused: " + string(e.Reason)
	}
	return "scimtoken: token refused: " + string(e.Reason)
}

// Unwrap returns ErrUnauthorized.
func (e *RefusedError) Unwrap() error { return ErrUnauthorized }

// Authenticate returns the token presented as bearer when it is known,
// not revoked and not expired. A refusal is a *RefusedError (wrapping
// ErrUnauthorized); any other error means the store failed and the
// request must be refused as unavailable. The store is read on every call
// (nothing is cached), so a revocation or expiry takes effect at once.
// The token's last use is written at most once per LastUsedInterval; a
// failure to write it is a store failure too.
func (s *Service) Authenticate(ctx context.Context, bearer string) (TokenInfo, error) {
	if !wellFormed(bearer) {
		return TokenInfo{}, &RefusedError{Reason: ReasonMalformed}
	}
	rec, err := s.store.TokenByHash(ctx, HashToken(bearer))
	switch {
	case errors.Is(err, ErrNotFound):
		return TokenInfo{}, &RefusedError{Reason: ReasonUnknown}
	case err != nil:
		return TokenInfo{}, fmt.Errorf("scimtoken: authenticate: %w", err)
	}
	now := s.clock()
	switch {
	case !rec.RevokedAt.IsZero():
		return TokenInfo{}, &RefusedError{Reason: ReasonRevoked, TokenID: rec.ID}
	case !now.Before(rec.ExpiresAt):
		return TokenInfo{}, &RefusedError{Reason: ReasonExpired, TokenID: rec.ID}
	}
	staleBefore := now.Add(-LastUsedInterval)
	if rec.LastUsedAt.IsZero() || rec.LastUsedAt.Before(staleBefore) {
		if err := s.store.TouchToken(ctx, rec.ID, now, staleBefore); err != nil {
			return TokenInfo{}, fmt.Errorf("scimtoken: authenticate: %w", err)
		}
	}
	return TokenInfo{ID: rec.ID, Name: rec.Name, ExpiresAt: rec.ExpiresAt}, nil
}

// clock returns now in UTC, cut to the microsecond (what the SQL store
// keeps), so that every store reports the same times.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }
