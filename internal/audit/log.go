package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
)

// Defaults and bounds of a Log.
const (
	// DefaultMaxBatch caps the events appended in one transaction.
	DefaultMaxBatch = 256
	// DefaultWriteTimeout bounds one AppendAudit call.
	DefaultWriteTimeout = 5 * time.Second
	// MaxFieldLength caps each free-text field (longer values are cut and
	// marked with "…").
	MaxFieldLength = 512
	// maxListLength caps Audience, Scopes, ActChain and Details.
	maxListLength = 64
	// queueLength is how many events may wait for the writer.
	queueLength = 4096
)

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit: log closed")

// Config configures New.
type Config struct {
	Store Store // required
	// Logger receives every event as a JSON-ready log line ("audit");
	// nil: events are only stored.
	Logger       *slog.Logger
	Now          func() time.Time
	MaxBatch     int           // zero: DefaultMaxBatch
	WriteTimeout time.Duration // zero: DefaultWriteTimeout
}

// Log records audit events durably with group commit. It is safe for
// concurrent use; Close stops its writer.
type Log struct {
	store        Store
	log          *slog.Logger
	now          func() time.Time
	maxBatch     int
	writeTimeout time.Duration

	queue chan *pending
	// mu guards closed and makes Close wait for senders.
	mu     sync.RWMutex
	closed bool
	done   chan struct{}
}

type pending struct {
	ev  Event
	err chan error // buffered 1
}

// New validates cfg and starts the writer.
func New(cfg Config) (*Log, error) {
	if cfg.Store == nil {
		return nil, errors.New("audit: a store is required")
	}
	if cfg.MaxBatch < 0 || cfg.WriteTimeout < 0 {
		return nil, errors.New("audit: negative MaxBatch or WriteTimeout")
	}
	l := &Log{
		store:        cfg.Store,
		log:          cfg.Logger,
		now:          cfg.Now,
		maxBatch:     cfg.MaxBatch,
		writeTimeout: cfg.WriteTimeout,
		queue:        make(chan *pending, queueLength),
		done:         make(chan struct{}),
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.maxBatch == 0 {
		l.maxBatch = DefaultMaxBatch
	}
	if l.writeTimeout == 0 {
		l.writeTimeout = DefaultWriteTimeout
	}
	go l.run()
	return l, nil
}

// Record stores e (Time set to now when zero, fields bounded) and returns
// once it is durable. An error means the event may not have been stored:
// a caller that needs the record must not go on.
func (l *Log) Record(ctx context.Context, e Event) error {
	if e.Type == "" || (e.Outcome != Success && e.Outcome != Failure) {
		return fmt.Errorf("audit: event needs a type and an outcome of %q or %q", Success, Failure)
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	e = bounded(e)
	p := &pending{ev: e, err: make(chan error, 1)}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	select {
	case l.queue <- p:
		l.mu.RUnlock()
	case <-ctx.Done():
		l.mu.RUnlock()
		return fmt.Errorf("audit: record %s: %w", e.Type, ctx.Err())
	}
	select {
	case err := <-p.err:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit: record %s: %w", e.Type, ctx.Err())
	}
}

// Query returns the stored events matching q, newest first; the store
// refuses a Limit out of range.
func (l *Log) Query(ctx context.Context, q Query) ([]Event, error) {
	evs, err := l.store.QueryAudit(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("audit: query: %w", err)
	}
	return evs, nil
}

// Close stops accepting events, writes those already queued and stops the
// writer.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.queue)
	l.mu.Unlock()
	<-l.done
	return nil
}

// run is the single writer: it takes the first waiting event, adds every
// other already waiting one up to maxBatch, and appends them in one call.
func (l *Log) run() {
	defer close(l.done)
	batch := make([]*pending, 0, l.maxBatch)
	events := make([]Event, 0, l.maxBatch)
	for p := range l.queue {
		batch = append(batch[:0], p)
	fill:
		for len(batch) < l.maxBatch {
			select {
			case q, ok := <-l.queue:
				if !ok {
					break fill
				}
				batch = append(batch, q)
			default:
				break fill
			}
		}
		events = events[:0]
		for _, q := range batch {
			events = append(events, q.ev)
		}
		err := l.write(events)
		for _, q := range batch {
			l.emit(q.ev, err)
			q.err <- err
		}
		clear(batch)
	}
}

func (l *Log) write(events []Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.writeTimeout)
	defer cancel()
	if err := l.store.AppendAudit(ctx, events); err != nil {
		return fmt.Errorf("audit: append %d events: %w", len(events), err)
	}
	return nil
}

// emit writes e as a log line; a failed write is logged at error level.
func (l *Log) emit(e Event, err error) {
	if l.log == nil {
		return
	}
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs,
		slog.String("type", e.Type),
		slog.String("outcome", e.Outcome),
		slog.Time("time", e.Time),
	)
	for _, kv := range [...][2]string{
		{"actor", e.Actor}, {"subject", e.Subject}, {"client_id", e.ClientID},
		{"source", e.Source}, {"request_id", e.RequestID}, {"reason", e.Reason},
	} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	for _, kv := range [...]struct {
		k string
		v []string
	}{{"audience", e.Audience}, {"scopes", e.Scopes}, {"act_chain", e.ActChain}} {
		if len(kv.v) > 0 {
			attrs = append(attrs, slog.Any(kv.k, kv.v))
		}
	}
	if len(e.Details) > 0 {
		attrs = append(attrs, slog.Any("details", e.Details))
	}
	level := slog.LevelInfo
	msg := "audit"
	if err != nil {
		level = slog.LevelError
		msg = "audit event not stored"
		attrs = append(attrs, slog.Any("error", err))
	}
	l.log.LogAttrs(context.Background(), level, msg, slog.GroupAttrs("audit", attrs...))
}

// bounded returns e with every field within the length limits and its
// slices and map copied.
func bounded(e Event) Event {
	cut := func(s string) string {
		if len(s) <= MaxFieldLength {
			return s
		}
		// Cut on a rune boundary: s[i] is the first byte left out.
		i := MaxFieldLength
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		return s[:i] + "…"
	}
	list := func(v []string) []string {
		if len(v) == 0 {
			return nil
		}
		v = slices.Clone(v[:min(len(v), maxListLength)])
		for i := range v {
			v[i] = cut(v[i])
		}
		return v
	}
	e.Type, e.Actor, e.Subject, e.ClientID = cut(e.Type), cut(e.Actor), cut(e.Subject), cut(e.ClientID)
	e.Source, e.RequestID, e.Reason = cut(e.Source), cut(e.RequestID), cut(e.Reason)
	e.Audience, e.Scopes, e.ActChain = list(e.Audience), list(e.Scopes), list(e.ActChain)
	if len(e.Details) > 0 {
		d := make(map[string]string, min(len(e.Details), maxListLength))
		for _, k := range slices.Sorted(maps.Keys(e.Details)) {
			if len(d) == maxListLength {
				break
			}
			d[cut(k)] = cut(e.Details[k])
		}
		e.Details = d
	}
	e.Time = e.Time.UTC()
	return e
}
