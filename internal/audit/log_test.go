package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeStore records each AppendAudit call; gate, when set, blocks the
// first call until closed; fail makes every call fail.
type fakeStore struct {
	mu      sync.Mutex
	calls   [][]Event
	gate    chan struct{}
	entered chan struct{}
	fail    error
}

func (f *fakeStore) AppendAudit(_ context.Context, evs []Event) error {
	f.mu.Lock()
	gate := f.gate
	f.gate = nil
	f.mu.Unlock()
	if gate != nil {
		close(f.entered)
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.calls = append(f.calls, append([]Event(nil), evs...))
	return nil
}

func (f *fakeStore) QueryAudit(_ context.Context, q Query) ([]Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Event
	for _, c := range f.calls {
		out = append(out, c...)
	}
	return out, nil
}

func (f *fakeStore) stored() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Event
	for _, c := range f.calls {
		out = append(out, c...)
	}
	return out
}

var fixed = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func newLog(t *testing.T, st Store, logger *slog.Logger) *Log {
	t.Helper()
	l, err := New(Config{Store: st, Logger: logger, Now: func() time.Time { return fixed }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestNewValidates(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no store":       {},
		"negative batch": {Store: &fakeStore{}, MaxBatch: -1},
		"negative write": {Store: &fakeStore{}, WriteTimeout: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(cfg)
			require.Error(t, err)
		})
	}
}

func TestRecordStoresAndStamps(t *testing.T) {
	st := &fakeStore{}
	l := newLog(t, st, nil)
	require.NoError(t, l.Record(t.Context(), Event{Type: "token.issued", Outcome: Success, Subject: "u1", Scopes: []string{"read"}}))
	got := st.stored()
	require.Len(t, got, 1)
	assert.Equal(t, fixed, got[0].Time)
	assert.Equal(t, "u1", got[0].Subject)
	assert.Equal(t, []string{"read"}, got[0].Scopes)
}

func TestRecordRejectsIncompleteEvents(t *testing.T) {
	st := &fakeStore{}
	l := newLog(t, st, nil)
	valid := Event{Type: "signin", Outcome: Failure}
	require.NoError(t, l.Record(t.Context(), valid))
	for name, mutate := range map[string]func(*Event){
		"no type":       func(e *Event) { e.Type = "" },
		"no outcome":    func(e *Event) { e.Outcome = "" },
		"other outcome": func(e *Event) { e.Outcome = "maybe" },
	} {
		t.Run(name, func(t *testing.T) {
			e := valid
			mutate(&e)
			require.Error(t, l.Record(t.Context(), e))
		})
	}
	assert.Len(t, st.stored(), 1, "only the valid event is stored")
}

func TestRecordReportsStoreFailure(t *testing.T) {
	boom := errors.New("disk full")
	var buf bytes.Buffer
	l := newLog(t, &fakeStore{fail: boom}, slog.New(slog.NewJSONHandler(&buf, nil)))
	err := l.Record(t.Context(), Event{Type: "token.issued", Outcome: Success, Subject: "u1"})
	require.ErrorIs(t, err, boom)
	assert.Contains(t, buf.String(), `"level":"ERROR"`)
	assert.Contains(t, buf.String(), "audit event not stored")
}

// TestGroupCommit holds the first append open while more events arrive:
// they must all go to the store in one second call, in arrival order of
// the queue.
func TestGroupCommit(t *testing.T) {
	gate := make(chan struct{})
	st := &fakeStore{gate: gate, entered: make(chan struct{})}
	l := newLog(t, st, nil)
	const n = 20
	errs := make(chan error, n+1)
	go func() { errs <- l.Record(context.Background(), Event{Type: "first", Outcome: Success}) }()
	<-st.entered
	for range n {
		go func() { errs <- l.Record(context.Background(), Event{Type: "later", Outcome: Success}) }()
	}
	require.Eventually(t, func() bool { return len(l.queue) == n }, 5*time.Second, time.Millisecond)
	close(gate)
	for range n + 1 {
		require.NoError(t, <-errs)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	require.Len(t, st.calls, 2)
	assert.Len(t, st.calls[0], 1)
	assert.Len(t, st.calls[1], n)
}

func TestMaxBatchSplits(t *testing.T) {
	gate := make(chan struct{})
	st := &fakeStore{gate: gate, entered: make(chan struct{})}
	l, err := New(Config{Store: st, MaxBatch: 4})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	errs := make(chan error, 11)
	go func() { errs <- l.Record(context.Background(), Event{Type: "first", Outcome: Success}) }()
	<-st.entered
	for range 10 {
		go func() { errs <- l.Record(context.Background(), Event{Type: "later", Outcome: Success}) }()
	}
	require.Eventually(t, func() bool { return len(l.queue) == 10 }, 5*time.Second, time.Millisecond)
	close(gate)
	for range 11 {
		require.NoError(t, <-errs)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sizes := make([]int, 0, len(st.calls))
	for _, c := range st.calls {
		sizes = append(sizes, len(c))
	}
	assert.Equal(t, []int{1, 4, 4, 2}, sizes)
}

func TestRecordHonoursContext(t *testing.T) {
	gate := make(chan struct{})
	st := &fakeStore{gate: gate, entered: make(chan struct{})}
	l := newLog(t, st, nil)
	go func() { _ = l.Record(context.Background(), Event{Type: "first", Outcome: Success}) }()
	<-st.entered
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := l.Record(ctx, Event{Type: "late", Outcome: Success})
	require.ErrorIs(t, err, context.Canceled)
	close(gate)
}

func TestCloseDrainsAndRefuses(t *testing.T) {
	st := &fakeStore{}
	l, err := New(Config{Store: st})
	require.NoError(t, err)
	require.NoError(t, l.Record(t.Context(), Event{Type: "a", Outcome: Success}))
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "Close is idempotent")
	require.ErrorIs(t, l.Record(t.Context(), Event{Type: "b", Outcome: Success}), ErrClosed)
	assert.Len(t, st.stored(), 1)
}

func TestBoundedFields(t *testing.T) {
	long := strings.Repeat("é", MaxFieldLength) // two bytes each
	many := make([]string, 100)
	for i := range many {
		many[i] = "s"
	}
	details := map[string]string{}
	for i := range 100 {
		details[strings.Repeat("k", i+1)] = long
	}
	e := bounded(Event{Type: "t", Reason: long, Scopes: many, Details: details, Time: fixed.In(time.FixedZone("x", 3600))})
	assert.LessOrEqual(t, len(e.Reason), MaxFieldLength+len("…"))
	assert.True(t, strings.HasSuffix(e.Reason, "…"))
	assert.NotContains(t, e.Reason, "\ufffd")
	assert.True(t, utf8Valid(e.Reason))
	assert.Len(t, e.Scopes, maxListLength)
	assert.Len(t, e.Details, maxListLength)
	assert.Equal(t, time.UTC, e.Time.Location())
	short := bounded(Event{Type: "t", Reason: "short"})
	assert.Equal(t, "short", short.Reason)
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\x00") == s }

func TestEmitJSON(t *testing.T) {
	var buf bytes.Buffer
	l := newLog(t, &fakeStore{}, slog.New(slog.NewJSONHandler(&buf, nil)))
	require.NoError(t, l.Record(t.Context(), Event{
		Type: "token.issued", Outcome: Success, Subject: "u1", ClientID: "bi",
		Audience: []string{"https://wh"}, ActChain: []string{"svc"},
	}))
	var line struct {
		Msg   string `json:"msg"`
		Audit struct {
			Type     string   `json:"type"`
			Subject  string   `json:"subject"`
			ClientID string   `json:"client_id"`
			ActChain []string `json:"act_chain"`
		} `json:"audit"`
	}
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	assert.Equal(t, "audit", line.Msg)
	assert.Equal(t, "token.issued", line.Audit.Type)
	assert.Equal(t, "u1", line.Audit.Subject)
	assert.Equal(t, "bi", line.Audit.ClientID)
	assert.Equal(t, []string{"svc"}, line.Audit.ActChain)
}
