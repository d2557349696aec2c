package scimtoken

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: testNow} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeAuditor keeps the recorded events; fail makes Record fail.
type fakeAuditor struct {
	mu     sync.Mutex
	events []audit.Event
	fail   error
}

func (a *fakeAuditor) Record(_ context.Context, e audit.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	a.events = append(a.events, e)
	return nil
}

func (a *fakeAuditor) recorded() []audit.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Event(nil), a.events...)
}

// faultyStore wraps a Store: a method whose name is in fail returns that
// error instead; calls counts the calls that reached it.
type faultyStore struct {
	Store
	mu    sync.Mutex
	fail  map[string]error
	calls map[string]int
}

func newFaultyStore(s Store) *faultyStore {
	return &faultyStore{Store: s, fail: map[string]error{}, calls: map[string]int{}}
}

func (f *faultyStore) check(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	return f.fail[method]
}

func (f *faultyStore) setFail(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = err
}

func (f *faultyStore) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *faultyStore) InsertToken(ctx context.Context, rec Record, maxActive int) error {
	if err := f.check("InsertToken"); err != nil {
		return err
	}
	return f.Store.InsertToken(ctx, rec, maxActive)
}

func (f *faultyStore) TokenByHash(ctx context.Context, hash string) (Record, error) {
	if err := f.check("TokenByHash"); err != nil {
		return Record{}, err
	}
	return f.Store.TokenByHash(ctx, hash)
}

func (f *faultyStore) ListTokens(ctx context.Context) ([]Record, error) {
	if err := f.check("ListTokens"); err != nil {
		return nil, err
	}
	return f.Store.ListTokens(ctx)
}

func (f *faultyStore) RevokeToken(ctx context.Context, id string, at time.Time) error {
	if err := f.check("RevokeToken"); err != nil {
		return err
	}
	return f.Store.RevokeToken(ctx, id, at)
}

func (f *faultyStore) TouchToken(ctx context.Context, id string, at, staleBefore time.Time) error {
	if err := f.check("TouchToken"); err != nil {
		return err
	}
	return f.Store.TouchToken(ctx, id, at, staleBefore)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a Service on a faulty memory store with a test clock, a fake
// auditor, a metrics registry and a JSON log.
type fixture struct {
	svc   *Service
	store *faultyStore
	clock *clock
	audit *fakeAuditor
	reg   *prometheus.Registry
	log   *syncBuffer
}

func newFixture(t testing.TB, mutate ...func(*Config)) *fixture {
	t.Helper()
	f := &fixture{
		store: newFaultyStore(NewMemoryStore()), clock: newClock(), audit: &fakeAuditor{},
		reg: prometheus.NewRegistry(), log: &syncBuffer{},
	}
	cfg := Config{
		Store: f.store, Auditor: f.audit, Now: f.clock.Now, Registerer: f.reg,
		Logger: slog.New(slog.NewJSONHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	svc, err := New(cfg)
	require.NoError(t, err)
	f.svc = svc
	return f
}

func (f *fixture) create(t testing.TB, req CreateRequest) Created {
	t.Helper()
	c, err := f.svc.Create(t.Context(), req)
	require.NoError(t, err)
	return c
}

var errDown = errors.New("database is down")

func TestNewValidates(t *testing.T) {
	valid := func() Config { return Config{Store: NewMemoryStore(), Auditor: &fakeAuditor{}} }
	_, err := New(valid())
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no store", func(c *Config) { c.Store = nil }, "a store is required"},
		{"no auditor", func(c *Config) { c.Auditor = nil }, "an auditor is required"},
		{"short lifetime", func(c *Config) { c.Lifetime = time.Minute; c.WarnBefore = time.Second }, "lifetime 1m0s must be between 1h0m0s and 8760h0m0s"},
		{"long lifetime", func(c *Config) { c.Lifetime = MaxLifetime + time.Hour }, "lifetime 8761h0m0s must be between"},
		{"negative lifetime", func(c *Config) { c.Lifetime = -time.Hour; c.WarnBefore = time.Second }, "lifetime -1h0m0s must be between"},
		{"warning as long as the lifetime", func(c *Config) { c.Lifetime = 30 * Day }, "warning window 720h0m0s must be positive and shorter than the lifetime 720h0m0s"},
		{"negative warning", func(c *Config) { c.WarnBefore = -time.Hour }, "warning window -1h0m0s must be positive"},
		{"negative collect timeout", func(c *Config) { c.CollectTimeout = -time.Second }, "collect timeout -1s is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.mutate(&cfg)
			_, err := New(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	cfg := valid()
	cfg.Store, cfg.Auditor = nil, nil
	_, err = New(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a store is required", "every problem is named at once")
	assert.Contains(t, err.Error(), "an auditor is required")

	reg := prometheus.NewRegistry()
	cfg = valid()
	cfg.Registerer = reg
	_, err = New(cfg)
	require.NoError(t, err)
	_, err = New(cfg)
	assert.ErrorContains(t, err, "register metrics", "a second service on one registry is refused")
}

func TestCreateShowsTokenOnce(t *testing.T) {
	f := newFixture(t)
	c := f.create(t, CreateRequest{Name: "Okta production"})
	assert.True(t, wellFormed(c.Token), c.Token)
	assert.True(t, validID(c.ID))
	assert.Equal(t, testNow, c.CreatedAt)
	assert.Equal(t, testNow.Add(DefaultLifetime), c.ExpiresAt)
	assert.Equal(t, "Okta production", c.Name)

	rec, err := f.store.TokenByHash(t.Context(), HashToken(c.Token))
	require.NoError(t, err)
	assert.Equal(t, Record{ID: c.ID, Hash: HashToken(c.Token), Name: "Okta production", CreatedAt: testNow, ExpiresAt: c.ExpiresAt}, rec,
		"only the hash is stored")

	list, err := f.svc.List(t.Context())
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, c.ID, list[0].ID)
	listed, err := json.Marshal(list)
	require.NoError(t, err)
	assert.NotContains(t, string(listed), c.Token[len(Prefix):])
	assert.NotContains(t, string(listed), rec.Hash)

	events := f.audit.recorded()
	require.Len(t, events, 1)
	e := events[0]
	assert.Equal(t, EventCreated, e.Type)
	assert.Equal(t, audit.Success, e.Outcome)
	assert.Equal(t, "admin", e.Actor)
	assert.Equal(t, testNow, e.Time)
	assert.Equal(t, map[string]string{"token_id": c.ID, "expires_at": "2027-05-06T07:08:09Z", "name": "Okta production"}, e.Details)
	recorded, err := json.Marshal(events)
	require.NoError(t, err)
	assert.NotContains(t, string(recorded), c.Token[len(Prefix):], "the audit log never sees the token")
	assert.NotContains(t, f.log.String(), c.Token[len(Prefix):])
}

func TestCreateLimit(t *testing.T) {
	f := newFixture(t)
	f.create(t, CreateRequest{ExpiresInDays: 10})
	second := f.create(t, CreateRequest{})
	_, err := f.svc.Create(t.Context(), CreateRequest{})
	require.ErrorIs(t, err, ErrLimit)
	assert.Len(t, f.audit.recorded(), 2, "a refused creation records nothing")

	// A revoked token frees its place.
	require.NoError(t, f.svc.Revoke(t.Context(), second.ID))
	f.create(t, CreateRequest{})
	_, err = f.svc.Create(t.Context(), CreateRequest{})
	require.ErrorIs(t, err, ErrLimit)

	// So does an expired one, at its expiry.
	f.clock.Advance(10*Day - time.Microsecond)
	_, err = f.svc.Create(t.Context(), CreateRequest{})
	require.ErrorIs(t, err, ErrLimit)
	f.clock.Advance(time.Microsecond)
	f.create(t, CreateRequest{})
	_, err = f.svc.Create(t.Context(), CreateRequest{})
	require.ErrorIs(t, err, ErrLimit)
}

func TestCreateValidates(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lifetime time.Duration
		req      CreateRequest
		want     string
	}{
		{"negative days", 0, CreateRequest{ExpiresInDays: -1}, "expires_in_days: must be between 1 and 365"},
		{"too many days", 0, CreateRequest{ExpiresInDays: 366}, "expires_in_days: must be between 1 and 365"},
		{"beyond the configured lifetime", 90 * Day, CreateRequest{ExpiresInDays: 91}, "expires_in_days: must be between 1 and 90"},
		{"lifetime under a day", 2 * time.Hour, CreateRequest{ExpiresInDays: 1}, "expires_in_days: cannot be set: the configured token lifetime is shorter than a day"},
		{"long name", 0, CreateRequest{Name: strings.Repeat("é", MaxNameLength+1)}, "name: longer than 100 characters"},
		{"control character", 0, CreateRequest{Name: "okta\nprod"}, "name: must not contain control characters"},
		{"invalid UTF-8", 0, CreateRequest{Name: "okta\xff"}, "name: is not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) {
				c.Lifetime = tc.lifetime
				if tc.lifetime != 0 {
					c.WarnBefore = time.Hour
				}
			})
			_, err := f.svc.Create(t.Context(), tc.req)
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
			assert.Equal(t, tc.want, verr.Error())
			assert.Zero(t, f.store.count("InsertToken"), "nothing reaches the store")
		})
	}
	f := newFixture(t, func(c *Config) { c.Lifetime = 90 * Day })
	c := f.create(t, CreateRequest{Name: strings.Repeat("é", MaxNameLength), ExpiresInDays: 90})
	assert.Equal(t, testNow.Add(90*Day), c.ExpiresAt, "the limits themselves are accepted")
	c = f.create(t, CreateRequest{ExpiresInDays: 1})
	assert.Equal(t, testNow.Add(Day), c.ExpiresAt)
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	c := f.create(t, CreateRequest{Name: "okta", ExpiresInDays: 30})
	info, err := f.svc.Authenticate(t.Context(), c.Token)
	require.NoError(t, err)
	assert.Equal(t, TokenInfo{ID: c.ID, Name: "okta", ExpiresAt: c.ExpiresAt}, info)

	lastUsed := func() time.Time {
		rec, err := f.store.TokenByHash(t.Context(), HashToken(c.Token))
		require.NoError(t, err)
		return rec.LastUsedAt
	}
	assert.Equal(t, testNow, lastUsed())
	assert.Equal(t, 1, f.store.count("TouchToken"))

	// Within a minute of the last write nothing is written.
	f.clock.Advance(59 * time.Second)
	_, err = f.svc.Authenticate(t.Context(), c.Token)
	require.NoError(t, err)
	assert.Equal(t, 1, f.store.count("TouchToken"))
	assert.Equal(t, testNow, lastUsed())
	f.clock.Advance(2 * time.Second)
	_, err = f.svc.Authenticate(t.Context(), c.Token)
	require.NoError(t, err)
	assert.Equal(t, 2, f.store.count("TouchToken"))
	assert.Equal(t, testNow.Add(61*time.Second), lastUsed())
}

func TestAuthenticateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		token  func(c Created) string
		before func(f *fixture, c Created)
		reason Reason
		lookup bool // the store was read
	}{
		{"malformed", func(Created) string { return "not-a-token" }, nil, ReasonMalformed, false},
		{"empty", func(Created) string { return "" }, nil, ReasonMalformed, false},
		{"other prefix", func(c Created) string { return "ghxxxx_" + c.Token[len(Prefix):] }, nil, ReasonMalformed, false},
		{"unknown", func(Created) string {
			tok, _ := newToken() // well-formed, never stored
			return tok
		}, nil, ReasonUnknown, true},
		{"expired", func(c Created) string { return c.Token }, func(f *fixture, c Created) {
			f.clock.Advance(30 * Day)
		}, ReasonExpired, true},
		{"revoked", func(c Created) string { return c.Token }, func(f *fixture, c Created) {
			require.NoError(t, f.svc.Revoke(t.Context(), c.ID))
		}, ReasonRevoked, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.create(t, CreateRequest{ExpiresInDays: 30})
			_, err := f.svc.Authenticate(t.Context(), c.Token)
			require.NoError(t, err, "valid before the change")
			reads := f.store.count("TokenByHash")
			if tc.before != nil {
				tc.before(f, c)
			}
			info, err := f.svc.Authenticate(t.Context(), tc.token(c))
			require.ErrorIs(t, err, ErrUnauthorized)
			var refused *RefusedError
			require.ErrorAs(t, err, &refused)
			assert.Equal(t, tc.reason, refused.Reason)
			assert.Zero(t, info)
			if tc.reason == ReasonExpired || tc.reason == ReasonRevoked {
				assert.Equal(t, c.ID, refused.TokenID)
			} else {
				assert.Empty(t, refused.TokenID)
			}
			assert.Equal(t, tc.lookup, f.store.count("TokenByHash") > reads)
		})
	}
}

func TestAuthenticateExpiresAtTheInstant(t *testing.T) {
	f := newFixture(t)
	c := f.create(t, CreateRequest{ExpiresInDays: 1})
	f.clock.Advance(Day - time.Microsecond)
	_, err := f.svc.Authenticate(t.Context(), c.Token)
	require.NoError(t, err)
	f.clock.Advance(time.Microsecond)
	_, err = f.svc.Authenticate(t.Context(), c.Token)
	require.ErrorIs(t, err, ErrUnauthorized)
}

func TestStoreFailures(t *testing.T) {
	f := newFixture(t)
	c := f.create(t, CreateRequest{})
	for _, m := range []string{"InsertToken", "TokenByHash", "ListTokens", "RevokeToken", "TouchToken"} {
		f.store.setFail(m, errDown)
	}
	f.clock.Advance(time.Hour) // the last use is stale: Authenticate writes

	_, err := f.svc.Create(t.Context(), CreateRequest{})
	assertUnavailable(t, err)
	_, err = f.svc.List(t.Context())
	assertUnavailable(t, err)
	assertUnavailable(t, f.svc.Revoke(t.Context(), c.ID))
	_, err = f.svc.Authenticate(t.Context(), c.Token)
	assertUnavailable(t, err)
	assertUnavailable(t, f.svc.Warn(t.Context()))

	// A failed write of the last use refuses too.
	f.store.setFail("TokenByHash", nil)
	_, err = f.svc.Authenticate(t.Context(), c.Token)
	assertUnavailable(t, err)
	f.store.setFail("TouchToken", nil)
	_, err = f.svc.Authenticate(t.Context(), c.Token)
	require.NoError(t, err, "positive control")
	assert.Len(t, f.audit.recorded(), 1, "only the first creation was recorded")
}

// assertUnavailable checks that err is a store failure: not nil, wrapping
// the store's error, and none of the sentinels callers answer as
// client errors.
func assertUnavailable(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, errDown)
	for _, sentinel := range []error{ErrNotFound, ErrLimit, ErrConflict, ErrUnauthorized, ErrAudit} {
		assert.NotErrorIs(t, err, sentinel)
	}
}

func TestAuditFailureOnCreate(t *testing.T) {
	f := newFixture(t)
	f.audit.fail = errDown
	c, err := f.svc.Create(t.Context(), CreateRequest{})
	require.ErrorIs(t, err, ErrAudit)
	require.ErrorIs(t, err, errDown)
	assert.Zero(t, c, "no token is returned")
	list, err := f.svc.List(t.Context())
	require.NoError(t, err)
	assert.Empty(t, list, "the token is revoked again")
	assert.Equal(t, 1, f.store.count("InsertToken"))
	assert.Equal(t, 1, f.store.count("RevokeToken"))

	// Once the log works again, both places are free.
	f.audit.fail = nil
	f.create(t, CreateRequest{})
	f.create(t, CreateRequest{})
}

func TestAuditFailureOnCreateRevokeFails(t *testing.T) {
	f := newFixture(t)
	f.audit.fail = errors.New("audit down")
	f.store.setFail("RevokeToken", errDown)
	c, err := f.svc.Create(t.Context(), CreateRequest{})
	require.ErrorIs(t, err, ErrAudit)
	require.ErrorIs(t, err, errDown)
	assert.Zero(t, c)
	assert.Contains(t, f.log.String(), "could not be revoked; revoke it")
	list, err := f.svc.List(t.Context())
	require.NoError(t, err)
	require.Len(t, list, 1, "the unshown token stays listed for an administrator to revoke")
	assert.Contains(t, f.log.String(), list[0].ID)
}

func TestAuditFailureOnRevoke(t *testing.T) {
	f := newFixture(t)
	c := f.create(t, CreateRequest{})
	f.audit.fail = errDown
	err := f.svc.Revoke(t.Context(), c.ID)
	require.ErrorIs(t, err, ErrAudit)
	_, err = f.svc.Authenticate(t.Context(), c.Token)
	require.ErrorIs(t, err, ErrUnauthorized, "the revocation stands")
	assert.Contains(t, f.log.String(), "token revoked, but the audit log could not record it")
}

func TestRevoke(t *testing.T) {
	f := newFixture(t)
	c := f.create(t, CreateRequest{})
	f.clock.Advance(time.Hour)
	require.NoError(t, f.svc.Revoke(t.Context(), c.ID))
	events := f.audit.recorded()
	require.Len(t, events, 2)
	e := events[1]
	assert.Equal(t, EventRevoked, e.Type)
	assert.Equal(t, "admin", e.Actor)
	assert.Equal(t, audit.Success, e.Outcome)
	assert.Equal(t, testNow.Add(time.Hour), e.Time)
	assert.Equal(t, map[string]string{"token_id": c.ID}, e.Details)

	list, err := f.svc.List(t.Context())
	require.NoError(t, err)
	assert.Empty(t, list, "revoked tokens are not listed")

	reads := f.store.count("RevokeToken")
	assert.ErrorIs(t, f.svc.Revoke(t.Context(), c.ID), ErrNotFound, "revoked once")
	assert.ErrorIs(t, f.svc.Revoke(t.Context(), newID()), ErrNotFound)
	assert.Equal(t, reads+2, f.store.count("RevokeToken"))
	for _, id := range []string{"", "x", strings.ToUpper(c.ID), c.ID + "0", "../" + c.ID[3:]} {
		assert.ErrorIs(t, f.svc.Revoke(t.Context(), id), ErrNotFound, id)
	}
	assert.Equal(t, reads+2, f.store.count("RevokeToken"), "malformed IDs never reach the store")
	assert.Len(t, f.audit.recorded(), 2)
}

func TestListWarnings(t *testing.T) {
	f := newFixture(t)
	long := f.create(t, CreateRequest{Name: "long"})
	f.clock.Advance(time.Hour)
	soon := f.create(t, CreateRequest{Name: "soon", ExpiresInDays: 31})

	list, err := f.svc.List(t.Context())
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, Status{
		ID: long.ID, Name: "long", CreatedAt: testNow, ExpiresAt: long.ExpiresAt, DaysLeft: 364,
	}, list[0])
	assert.Equal(t, 31, list[1].DaysLeft)
	assert.Empty(t, list[1].Warning, "31 days left: outside the window")

	f.clock.Advance(Day) // exactly 30 days left
	list, err = f.svc.List(t.Context())
	require.NoError(t, err)
	assert.Equal(t, soon.ID, list[1].ID)
	assert.Equal(t, 30, list[1].DaysLeft)
	assert.Equal(t, "expires at 2026-06-06T08:08:09Z (in 30 days): create a new token, configure it in the identity provider, then revoke this one", list[1].Warning)
	assert.False(t, list[1].Expired)

	f.clock.Advance(29*Day + time.Hour)
	list, err = f.svc.List(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 0, list[1].DaysLeft)
	assert.Contains(t, list[1].Warning, "(in less than a day)")

	f.clock.Advance(23 * time.Hour)
	list, err = f.svc.List(t.Context())
	require.NoError(t, err)
	assert.True(t, list[1].Expired)
	assert.Equal(t, 0, list[1].DaysLeft)
	assert.Equal(t, "expired at 2026-06-06T08:08:09Z: SCIM requests with this token are refused; create a new token, configure it in the identity provider, then revoke this one", list[1].Warning)
	assert.Empty(t, list[0].Warning)
}

func TestListWarningWindowConfigured(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.WarnBefore = 60 * Day })
	in60 := f.create(t, CreateRequest{ExpiresInDays: 60})
	in61 := f.create(t, CreateRequest{ExpiresInDays: 61})
	list, err := f.svc.List(t.Context())
	require.NoError(t, err)
	require.Len(t, list, 2)
	byID := map[string]Status{list[0].ID: list[0], list[1].ID: list[1]}
	assert.NotEmpty(t, byID[in60.ID].Warning, "60 days left")
	assert.Empty(t, byID[in61.ID].Warning, "61 days left")
}

// logLines decodes the JSON log lines with message msg.
func logLines(t *testing.T, log string, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(log) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestWarn(t *testing.T) {
	f := newFixture(t)
	f.create(t, CreateRequest{Name: "long"})
	soon := f.create(t, CreateRequest{Name: "soon", ExpiresInDays: 10})
	require.NoError(t, f.svc.Warn(t.Context()))
	lines := logLines(t, f.log.String(), "scimtoken: SCIM token expires soon")
	require.Len(t, lines, 1)
	assert.Equal(t, "WARN", lines[0]["level"])
	assert.Equal(t, soon.ID, lines[0]["token_id"])
	assert.Equal(t, "soon", lines[0]["name"])
	assert.Equal(t, float64(10), lines[0]["days_left"])
	assert.Equal(t, "2026-05-16T07:08:09Z", lines[0]["expires_at"])

	f.clock.Advance(10 * Day)
	require.NoError(t, f.svc.Warn(t.Context()))
	lines = logLines(t, f.log.String(), "scimtoken: SCIM token has expired")
	require.Len(t, lines, 1)
	assert.Equal(t, soon.ID, lines[0]["token_id"])
	assert.NotContains(t, f.log.String(), soon.Token[len(Prefix):])
}

func TestWarnEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &syncBuffer{}
		store := newFaultyStore(NewMemoryStore())
		svc, err := New(Config{Store: store, Auditor: &fakeAuditor{}, Logger: slog.New(slog.NewJSONHandler(log, nil))})
		require.NoError(t, err)
		_, err = svc.Create(t.Context(), CreateRequest{ExpiresInDays: 2})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			svc.WarnEvery(ctx, time.Hour)
			close(done)
		}()
		synctest.Wait()
		assert.Len(t, logLines(t, log.String(), "scimtoken: SCIM token expires soon"), 1, "at once")
		time.Sleep(time.Hour - time.Nanosecond)
		synctest.Wait()
		assert.Len(t, logLines(t, log.String(), "scimtoken: SCIM token expires soon"), 1)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		assert.Len(t, logLines(t, log.String(), "scimtoken: SCIM token expires soon"), 2, "after an hour")

		store.setFail("ListTokens", errDown)
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Len(t, logLines(t, log.String(), "scimtoken: checking token expiry failed"), 1)

		cancel()
		<-done
	})
}

// TestInstances runs two Services on one store, as two gateway instances
// share one (the SQL stores run the same test with two connection pools
// in internal/store/sqlstore).
func TestInstances(t *testing.T) {
	for _, name := range []string{"memory"} {
		t.Run(name, func(t *testing.T) {
			m := NewMemoryStore()
			sa, sb := Store(m), Store(m)
			clk := newClock()
			mk := func(s Store) *Service {
				svc, err := New(Config{Store: s, Auditor: &fakeAuditor{}, Now: clk.Now})
				require.NoError(t, err)
				return svc
			}
			a, other := mk(sa), mk(sb)

			t.Run("revocation takes effect at once", func(t *testing.T) {
				c, err := a.Create(t.Context(), CreateRequest{})
				require.NoError(t, err)
				_, err = other.Authenticate(t.Context(), c.Token)
				require.NoError(t, err)
				require.NoError(t, a.Revoke(t.Context(), c.ID))
				_, err = other.Authenticate(t.Context(), c.Token)
				var refused *RefusedError
				require.ErrorAs(t, err, &refused)
				assert.Equal(t, ReasonRevoked, refused.Reason)
			})

			t.Run("16 concurrent creations, 2 succeed", func(t *testing.T) {
				// Free both places first.
				list, err := a.List(t.Context())
				require.NoError(t, err)
				for _, st := range list {
					require.NoError(t, a.Revoke(t.Context(), st.ID))
				}
				const n = 16
				var wg sync.WaitGroup
				start := make(chan struct{})
				errs := make([]error, n)
				for i := range n {
					svc := a
					if i%2 == 1 {
						svc = other
					}
					wg.Go(func() {
						<-start
						_, errs[i] = svc.Create(context.Background(), CreateRequest{})
					})
				}
				close(start)
				wg.Wait()
				ok := 0
				for _, err := range errs {
					if err == nil {
						ok++
						continue
					}
					assert.ErrorIs(t, err, ErrLimit)
				}
				assert.Equal(t, MaxActive, ok)
			})
		})
	}
}

func TestWarnEveryDefaultInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &syncBuffer{}
		svc, err := New(Config{Store: NewMemoryStore(), Auditor: &fakeAuditor{}, Logger: slog.New(slog.NewJSONHandler(log, nil))})
		require.NoError(t, err)
		_, err = svc.Create(t.Context(), CreateRequest{ExpiresInDays: 2})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go svc.WarnEvery(ctx, 0)
		time.Sleep(DefaultWarnInterval - time.Nanosecond)
		synctest.Wait()
		assert.Len(t, logLines(t, log.String(), "scimtoken: SCIM token expires soon"), 1)
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		assert.Len(t, logLines(t, log.String(), "scimtoken: SCIM token expires soon"), 2)
	})
}
