package storetest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
)

// AuditStore is what RunAudit tests: the audit log, with Cleanup.
type AuditStore interface {
	audit.Store
	Cleanup(ctx context.Context, now time.Time) (int64, error)
}

// RunAudit runs the conformance cases of the audit log. newStore must
// return a new, empty store for each call and register its own cleanup
// with t.Cleanup. Run calls it.
func RunAudit(t *testing.T, newStore func(t *testing.T) AuditStore) {
	t.Run("RoundTrip", func(t *testing.T) { testAuditRoundTrip(t, newStore) })
	t.Run("Order", func(t *testing.T) { testAuditOrder(t, newStore) })
	t.Run("AllOrNone", func(t *testing.T) { testAuditAllOrNone(t, newStore) })
	t.Run("Filters", func(t *testing.T) { testAuditFilters(t, newStore) })
	t.Run("Paging", func(t *testing.T) { testAuditPaging(t, newStore) })
	t.Run("BadQueries", func(t *testing.T) { testAuditBadQueries(t, newStore) })
	t.Run("Sanitized", func(t *testing.T) { testAuditSanitized(t, newStore) })
	t.Run("ConcurrentAppend", func(t *testing.T) { testAuditConcurrent(t, newStore) })
	t.Run("NotCleanedUp", func(t *testing.T) { testAuditNotCleanedUp(t, newStore) })
}

// event returns a complete event of the given type at base + offset.
func event(typ string, offset time.Duration) audit.Event {
	return audit.Event{
		Time:      base.Add(offset),
		Type:      typ,
		Outcome:   audit.Success,
		Actor:     "client:cli-tool",
		Subject:   "user-1",
		ClientID:  "cli-tool",
		Audience:  []string{"https://warehouse.example.com", "https://lake.example.com"},
		Scopes:    []string{"warehouse:read", "openid"},
		ActChain:  []string{"svc-etl", "svc-gateway"},
		Source:    "203.0.113.7",
		RequestID: "req-" + typ,
		Reason:    "reason with \"quotes\", <angles> & ünïcode",
		Details:   map[string]string{"jti": "jti-1", "kid": "key-2026", "empty": ""},
	}
}

// all returns every stored event, newest first.
func all(t *testing.T, s audit.Store) []audit.Event {
	t.Helper()
	got, err := s.QueryAudit(t.Context(), audit.Query{Limit: audit.MaxLimit})
	require.NoError(t, err)
	return got
}

func ids(events []audit.Event) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// assertEvent compares an event as stored with the one appended: the
// store assigned the ID and returns Time in UTC at microsecond precision.
func assertEvent(t *testing.T, want, got audit.Event) {
	t.Helper()
	assert.Positive(t, got.ID)
	assert.Equal(t, time.UTC, got.Time.Location(), "Time is in UTC")
	assert.Equal(t, want.Time.UTC().Truncate(time.Microsecond), got.Time, "Time")
	want.ID, want.Time, got.Time = got.ID, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

func testAuditRoundTrip(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := t.Context()
	s := newStore(t)
	full := event("token.issued", 0)
	// Another zone and a sub-microsecond part: stored as the UTC instant,
	// cut to the microsecond.
	full.Time = base.Add(987 * time.Nanosecond).In(time.FixedZone("UTC+5", 5*3600))
	full.Outcome = audit.Failure
	bare := audit.Event{Time: base.Add(time.Second), Type: "signin", Audience: []string{}, Details: map[string]string{}}
	in := []audit.Event{full, bare}
	require.NoError(t, s.AppendAudit(ctx, in))
	assert.Zero(t, in[0].ID, "the caller's slice is not modified")
	assert.Zero(t, in[1].ID)

	got := all(t, s)
	require.Len(t, got, 2)
	assertEvent(t, full, got[1])
	bare.Audience, bare.Details = nil, nil // empty lists and maps come back nil
	assertEvent(t, bare, got[0])
	assert.Less(t, got[1].ID, got[0].ID)

	// Neither what was passed in nor what was handed out is shared with
	// the store.
	in[0].Details["jti"], in[0].Scopes[0] = "changed-in", "changed-in"
	got[1].Details["kid"], got[1].Audience[0] = "changed-out", "changed-out"
	again := all(t, s)
	require.Len(t, again, 2)
	fresh := event("token.issued", 0)
	fresh.Time, fresh.Outcome = full.Time, audit.Failure
	assertEvent(t, fresh, again[1])
}

func testAuditOrder(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := t.Context()
	s := newStore(t)
	// Times out of order: the log is ordered by ID, which is append order.
	batches := [][]audit.Event{
		{event("a.1", time.Hour), event("a.2", 0), event("a.3", 2*time.Hour)},
		{event("b.1", -time.Hour)},
		{event("c.1", time.Minute), event("c.2", time.Minute)},
	}
	var order []string
	for _, b := range batches {
		require.NoError(t, s.AppendAudit(ctx, b))
		for _, e := range b {
			order = append(order, e.Type)
		}
	}
	require.NoError(t, s.AppendAudit(ctx, nil), "appending nothing")
	got := all(t, s)
	require.Len(t, got, len(order))
	var types []string
	for i, e := range got {
		types = append(types, e.Type)
		if i > 0 {
			assert.Less(t, e.ID, got[i-1].ID, "IDs strictly decrease, newest first")
		}
	}
	slices.Reverse(types)
	assert.Equal(t, order, types)
}

func testAuditAllOrNone(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := t.Context()
	s := newStore(t)
	require.NoError(t, s.AppendAudit(ctx, []audit.Event{event("before", 0)}))
	for name, change := range map[string]func(e *audit.Event){
		"no type": func(e *audit.Event) { e.Type = "" },
		"no time": func(e *audit.Event) { e.Time = time.Time{} },
	} {
		bad := event("bad", time.Second)
		change(&bad)
		err := s.AppendAudit(ctx, []audit.Event{event("first", time.Second), bad, event("third", time.Second)})
		require.Error(t, err, name)
	}
	got := all(t, s)
	require.Len(t, got, 1, "no event of a failed batch is stored")
	assert.Equal(t, "before", got[0].Type)
	require.NoError(t, s.AppendAudit(ctx, []audit.Event{event("first", time.Second), event("third", time.Second)}), "positive control")
	assert.Len(t, all(t, s), 3)
}

func testAuditFilters(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := t.Context()
	s := newStore(t)
	mk := func(typ, outcome, actor, subject, client string, offset time.Duration) audit.Event {
		e := event(typ, offset)
		e.Outcome, e.Actor, e.Subject, e.ClientID = outcome, actor, subject, client
		return e
	}
	events := []audit.Event{
		mk("token.issued", audit.Success, "client:a", "alice", "a", 0),                   // 1
		mk("token.refused", audit.Failure, "client:b", "bob", "b", time.Minute),          // 2
		mk("token", audit.Success, "client:a", "alice", "a", 2*time.Minute),              // 3
		mk("tokenizer.run", audit.Success, "admin", "alice", "", 3*time.Minute),          // 4
		mk("token.issued.extra", audit.Success, "client:a", "Alice", "a", 4*time.Minute), // 5
		mk("scim.user.created", audit.Success, "scim:tok-1", "carol", "", 5*time.Minute), // 6
		mk("a_b.x", audit.Failure, "admin", "", "", 6*time.Minute),                       // 7
		mk("axb.x", audit.Failure, "admin", "", "", 7*time.Minute),                       // 8
		mk("100%.x", audit.Success, "admin", "", "", 8*time.Minute),                      // 9
		mk("ünï.x", audit.Success, "admin", "", "", 9*time.Minute),                       // 10
	}
	require.NoError(t, s.AppendAudit(ctx, events))
	stored := all(t, s)
	require.Len(t, stored, len(events))
	idOf := map[string]int64{}
	for _, e := range stored {
		idOf[e.Type] = e.ID
	}
	want := func(types ...string) []int64 {
		out := make([]int64, len(types))
		for i, typ := range types {
			out[i] = idOf[typ]
		}
		slices.Sort(out)
		slices.Reverse(out)
		return out
	}
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	for _, tc := range []struct {
		name string
		q    audit.Query
		want []int64
	}{
		{"type exact", audit.Query{Type: "token.issued"}, want("token.issued")},
		{"type without dot is exact", audit.Query{Type: "token"}, want("token")},
		{"type prefix", audit.Query{Type: "token."}, want("token.issued", "token.refused", "token.issued.extra")},
		{"longer prefix", audit.Query{Type: "token.issued."}, want("token.issued.extra")},
		{"prefix with _", audit.Query{Type: "a_b."}, want("a_b.x")},
		{"prefix with %", audit.Query{Type: "100%."}, want("100%.x")},
		{"non-ASCII prefix", audit.Query{Type: "ünï."}, want("ünï.x")},
		{"type prefix matching nothing", audit.Query{Type: "tok."}, want()},
		{"outcome", audit.Query{Outcome: audit.Failure}, want("token.refused", "a_b.x", "axb.x")},
		{"actor", audit.Query{Actor: "client:a"}, want("token.issued", "token", "token.issued.extra")},
		{"subject is case-sensitive", audit.Query{Subject: "alice"}, want("token.issued", "token", "tokenizer.run")},
		{"client ID", audit.Query{ClientID: "b"}, want("token.refused")},
		{"since is inclusive", audit.Query{Since: at(8)}, want("100%.x", "ünï.x")},
		{"until is exclusive", audit.Query{Until: at(2)}, want("token.issued", "token.refused")},
		{"since and until", audit.Query{Since: at(1), Until: at(3)}, want("token.refused", "token")},
		{"since one microsecond later", audit.Query{Since: at(8).Add(time.Microsecond)}, want("ünï.x")},
		{"until one microsecond later", audit.Query{Until: at(2).Add(time.Microsecond)}, want("token.issued", "token.refused", "token")},
		{"combined", audit.Query{Type: "token.", Actor: "client:a", Subject: "alice"}, want("token.issued")},
		{"before", audit.Query{Before: idOf["token"], Actor: "client:a"}, want("token.issued")},
		{"no match", audit.Query{ClientID: "c"}, want()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.QueryAudit(ctx, tc.q)
			require.NoError(t, err)
			assert.Equal(t, tc.want, ids(got))
		})
	}
}

func testAuditPaging(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := t.Context()
	s := newStore(t)
	const n = 25
	var batch []audit.Event
	for i := range n {
		e := event("token.issued", time.Duration(i)*time.Second)
		e.Subject = "user-" + strconv.Itoa(i%2) // odd and even
		batch = append(batch, e)
	}
	require.NoError(t, s.AppendAudit(ctx, batch))
	everything := all(t, s)
	require.Len(t, everything, n)

	// Walk all pages of 10 with the cursor, then the odd subject's pages.
	page := func(q audit.Query) []audit.Event {
		var out []audit.Event
		for {
			got, err := s.QueryAudit(ctx, q)
			require.NoError(t, err)
			require.LessOrEqual(t, len(got), q.Limit)
			out = append(out, got...)
			if len(got) < q.Limit {
				return out
			}
			q.Before = got[len(got)-1].ID
		}
	}
	assert.Equal(t, ids(everything), ids(page(audit.Query{Limit: 10})))
	first, err := s.QueryAudit(ctx, audit.Query{Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, ids(everything[:10]), ids(first))
	second, err := s.QueryAudit(ctx, audit.Query{Limit: 10, Before: first[9].ID})
	require.NoError(t, err)
	assert.Equal(t, ids(everything[10:20]), ids(second))

	var odd []int64
	for _, e := range everything {
		if e.Subject == "user-1" {
			odd = append(odd, e.ID)
		}
	}
	assert.Equal(t, odd, ids(page(audit.Query{Subject: "user-1", Limit: 5})))
	last, err := s.QueryAudit(ctx, audit.Query{Before: everything[n-1].ID})
	require.NoError(t, err)
	assert.Empty(t, last, "nothing before the oldest")

	// Limit 0 means DefaultLimit.
	more := make([]audit.Event, audit.DefaultLimit)
	for i := range more {
		more[i] = event("signin", time.Hour)
	}
	require.NoError(t, s.AppendAudit(ctx, more))
	got, err := s.QueryAudit(ctx, audit.Query{})
	require.NoError(t, err)
	assert.Len(t, got, audit.DefaultLimit)
	got, err = s.QueryAudit(ctx, audit.Query{Limit: audit.MaxLimit})
	require.NoError(t, err)
	assert.Len(t, got, n+audit.DefaultLimit)
	got, err = s.QueryAudit(ctx, audit.Query{Limit: 1})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "signin", got[0].Type)
}

func testAuditBadQueries(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := t.Context()
	s := newStore(t)
	require.NoError(t, s.AppendAudit(ctx, []audit.Event{event("token.issued", 0)}))
	for name, q := range map[string]audit.Query{
		"negative limit":      {Limit: -1},
		"limit above maximum": {Limit: audit.MaxLimit + 1},
		"negative cursor":     {Before: -1},
		"invalid UTF-8":       {ClientID: "cli\xff"},
		"NUL":                 {Type: "token\x00."},
	} {
		_, err := s.QueryAudit(ctx, q)
		require.Error(t, err, name)
	}
	for _, q := range []audit.Query{{Limit: 1}, {Limit: audit.MaxLimit}, {Before: 2}, {ClientID: "cli-tool"}} {
		got, err := s.QueryAudit(ctx, q)
		require.NoError(t, err, "positive control %+v", q)
		assert.Len(t, got, 1)
	}
}

// testAuditSanitized checks that values no database could store alike
// (invalid UTF-8, NUL) are stored with U+FFFD instead of failing the batch
// that carries them.
func testAuditSanitized(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := t.Context()
	s := newStore(t)
	hostile := event("token.refused", 0)
	hostile.ClientID = "cli\xff\xfe"
	hostile.Reason = "nul\x00byte"
	hostile.Scopes = []string{"ok", "bad\xc3"}
	hostile.Details = map[string]string{"k\x00": "v\xff"}
	require.NoError(t, s.AppendAudit(ctx, []audit.Event{event("token.issued", 0), hostile, event("token.issued", time.Second)}))
	got := all(t, s)
	require.Len(t, got, 3, "the whole batch is stored")
	want := hostile
	want.ClientID = "cli\uFFFD"
	want.Reason = "nul\uFFFDbyte"
	want.Scopes = []string{"ok", "bad\uFFFD"}
	want.Details = map[string]string{"k\uFFFD": "v\uFFFD"}
	assertEvent(t, want, got[1])
	found, err := s.QueryAudit(ctx, audit.Query{ClientID: "cli\uFFFD"})
	require.NoError(t, err)
	assert.Equal(t, []int64{got[1].ID}, ids(found))
}

func testAuditConcurrent(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := t.Context()
	s := newStore(t)
	errs := race(Concurrency, func(i int) error {
		return s.AppendAudit(ctx, []audit.Event{
			event(fmt.Sprintf("writer.%d.first", i), 0),
			event(fmt.Sprintf("writer.%d.second", i), 0),
		})
	})
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
	got := all(t, s)
	require.Len(t, got, 2*Concurrency)
	seen := map[string]bool{}
	for i := 0; i < len(got); i += 2 {
		// Newest first: each writer's second event directly precedes its
		// first, with no other writer's event between them.
		var w int
		_, err := fmt.Sscanf(got[i].Type, "writer.%d.second", &w)
		require.NoError(t, err, "event %d is %q", i, got[i].Type)
		assert.Equal(t, fmt.Sprintf("writer.%d.first", w), got[i+1].Type)
		assert.Less(t, got[i+1].ID, got[i].ID)
		if i > 0 {
			assert.Less(t, got[i].ID, got[i-1].ID)
		}
		assert.False(t, seen[got[i].Type], "each event once")
		seen[got[i].Type] = true
	}
}

func testAuditNotCleanedUp(t *testing.T, newStore func(t *testing.T) AuditStore) {
	ctx := t.Context()
	s := newStore(t)
	old := event("token.issued", -365*24*time.Hour)
	require.NoError(t, s.AppendAudit(ctx, []audit.Event{old}))
	n, err := s.Cleanup(ctx, base.Add(10*365*24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, int64(0), n)
	got := all(t, s)
	require.Len(t, got, 1)
	assertEvent(t, old, got[0])
}
