package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

// ErrClosed is returned, wrapped, by every Store method called after Close.
var ErrClosed = errors.New("sqlstore: closed")

// stmtCache keeps, keyed by the query as written in this package ('?'
// placeholders), each query's text in the dialect's form and, on SQLite,
// its prepared statement, so neither rebinding nor preparing runs per call.
//
// Statements are prepared through database/sql only where that saves
// work. modernc.org/sqlite prepares (sqlite3_prepare_v2) on every
// unprepared call, and a cached statement re-prepares by itself after a
// schema change. pgx already runs every query with arguments as a
// statement it prepared once per connection and keeps in its own cache,
// which it invalidates when the server reports the statement stale
// ("cached plan must not change result type" after a column type change);
// a statement prepared through database/sql would instead stay stale on
// its connections until the process restarts. So on PostgreSQL the store
// runs the cached query text and leaves preparing to pgx.
//
// A query is prepared on its first use outside a transaction (database/sql
// then prepares it once more on each pooled connection it is used on);
// concurrent first uses wait for one preparation instead of each
// preparing. Failed preparations are not cached: the next use tries again.
type stmtCache struct {
	db *sql.DB
	d  Dialect
	// prepare is whether queries run as statements prepared through
	// database/sql (SQLite) or as query text (PostgreSQL).
	prepare bool

	// ready maps a query to its *sql.Stmt. Reads take no lock; entries
	// are added and removed only with mu held.
	ready sync.Map
	// texts maps a query to its text in the dialect's form (PostgreSQL
	// only: rebinding is the identity for SQLite).
	texts sync.Map

	mu       sync.Mutex
	closed   atomic.Bool            // set with mu held, read without
	inflight map[string]*stmtFlight // preparations under way, by query

	// prepares counts calls of db.PrepareContext, for the tests.
	prepares atomic.Int64
}

// stmtFlight is one preparation under way; done is closed when it ends.
type stmtFlight struct {
	done chan struct{}
}

func newStmtCache(db *sql.DB, d Dialect) *stmtCache {
	return &stmtCache{db: db, d: d, prepare: d == SQLite, inflight: map[string]*stmtFlight{}}
}

// text returns query in the dialect's form, rebinding each query once.
func (c *stmtCache) text(query string) string {
	if c.d != PostgreSQL {
		return query
	}
	if v, ok := c.texts.Load(query); ok {
		return v.(string)
	}
	v, _ := c.texts.LoadOrStore(query, c.d.rebind(query))
	return v.(string)
}

// lookup returns query's statement when it is already prepared.
func (c *stmtCache) lookup(query string) (*sql.Stmt, bool) {
	v, ok := c.ready.Load(query)
	if !ok {
		return nil, false
	}
	return v.(*sql.Stmt), true
}

// get returns query's statement, preparing it on the pool when the cache
// does not hold it yet. It needs a free pooled connection to prepare, so it
// must not be called while the caller holds a transaction.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if stmt, ok := c.lookup(query); ok {
		return stmt, nil
	}
	for {
		c.mu.Lock()
		if c.closed.Load() {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		if stmt, ok := c.lookup(query); ok {
			c.mu.Unlock()
			return stmt, nil
		}
		f, preparing := c.inflight[query]
		if !preparing {
			break // with mu held: this caller prepares
		}
		c.mu.Unlock()
		select {
		case <-f.done:
			// Prepared (found on the next pass), closed, or failed (then
			// this caller prepares in its own context).
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &stmtFlight{done: make(chan struct{})}
	c.inflight[query] = f
	c.mu.Unlock()

	c.prepares.Add(1)
	stmt, err := c.db.PrepareContext(ctx, c.text(query))

	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inflight, query)
	close(f.done)
	if err != nil {
		return nil, err
	}
	if c.closed.Load() {
		// Close ran while this statement was being prepared: it was not
		// in the cache for Close to release, so release it here.
		_ = stmt.Close()
		return nil, ErrClosed
	}
	c.ready.Store(query, stmt)
	return stmt, nil
}

// warm prepares queries that ran unprepared inside a transaction, now that
// the transaction has released its connection. Failures are dropped: the
// query ran without the cache and is prepared again on a later use.
func (c *stmtCache) warm(ctx context.Context, queries []string) {
	for _, q := range queries {
		if _, err := c.get(ctx, q); err != nil {
			return
		}
	}
}

func (c *stmtCache) isClosed() bool { return c.closed.Load() }

// close releases every cached statement and makes later get calls fail
// with ErrClosed. A statement in use is released by database/sql when
// that use ends. Closing twice is a no-op.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil
	}
	c.closed.Store(true)
	var errs []error
	c.ready.Range(func(k, v any) bool {
		c.ready.Delete(k)
		if err := v.(*sql.Stmt).Close(); err != nil {
			errs = append(errs, err)
		}
		return true
	})
	return errors.Join(errs...)
}

// runner runs the store's queries through the statement cache, on the pool
// (tx nil) or inside one transaction.
type runner struct {
	s  *Store
	tx *sql.Tx
	// missed collects, inside a transaction, the queries the cache did
	// not hold yet; inTx prepares them once the transaction has ended.
	missed *[]string
}

// row is what *sql.Row offers; errRow carries an error to Scan.
type row interface {
	Scan(dest ...any) error
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// prepared returns query's cached statement, bound to the transaction when
// there is one, or nil and the query's text to run unprepared.
//
// Inside a transaction a query the cache does not hold yet is not prepared
// here, because preparing on the pool could wait for the very connection
// the transaction holds: it runs unprepared and is recorded for inTx to
// prepare afterwards. Cached statements join the transaction through
// tx.StmtContext, which reuses the statement already prepared on the
// transaction's connection (or prepares it there once, for later calls
// too), so it saves the per-call prepare.
func (r runner) prepared(ctx context.Context, query string) (*sql.Stmt, string, error) {
	c := r.s.stmts
	if c.isClosed() {
		return nil, "", ErrClosed
	}
	if !c.prepare {
		return nil, c.text(query), nil
	}
	if r.tx == nil {
		stmt, err := c.get(ctx, query)
		return stmt, "", err
	}
	if stmt, ok := c.lookup(query); ok {
		return r.tx.StmtContext(ctx, stmt), "", nil
	}
	if !slices.Contains(*r.missed, query) {
		*r.missed = append(*r.missed, query)
	}
	return nil, c.text(query), nil
}

// exec, query, queryRow and queryDirect outside a transaction each make
// one span (see spanStarter); inside one, inTx's span covers them.

func (r runner) exec(ctx context.Context, query string, args ...any) (_ sql.Result, err error) {
	if r.tx == nil {
		var span trace.Span
		ctx, span = r.s.spans.start(ctx)
		defer func() { endSpan(span, err) }()
	}
	stmt, text, err := r.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	switch {
	case stmt != nil:
		return stmt.ExecContext(ctx, args...)
	case r.tx != nil:
		return r.tx.ExecContext(ctx, text, args...)
	default:
		return r.s.db.ExecContext(ctx, text, args...)
	}
}

func (r runner) query(ctx context.Context, query string, args ...any) (_ *sql.Rows, err error) {
	if r.tx == nil {
		var span trace.Span
		ctx, span = r.s.spans.start(ctx)
		defer func() { endSpan(span, err) }()
	}
	stmt, text, err := r.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	switch {
	case stmt != nil:
		return stmt.QueryContext(ctx, args...)
	case r.tx != nil:
		return r.tx.QueryContext(ctx, text, args...)
	default:
		return r.s.db.QueryContext(ctx, text, args...)
	}
}

func (r runner) queryRow(ctx context.Context, query string, args ...any) row {
	if r.tx == nil {
		var span trace.Span
		ctx, span = r.s.spans.start(ctx)
		defer span.End() // the row's error, if any, is known at Scan
	}
	stmt, text, err := r.prepared(ctx, query)
	if err != nil {
		return errRow{err}
	}
	switch {
	case stmt != nil:
		return stmt.QueryRowContext(ctx, args...)
	case r.tx != nil:
		return r.tx.QueryRowContext(ctx, text, args...)
	default:
		return r.s.db.QueryRowContext(ctx, text, args...)
	}
}

// queryDirect runs query (written with '?' placeholders) without the
// statement cache, rebinding it on every call. It is for queries whose
// text depends on the input, such as compiled directory filters: their
// number is unbounded, so caching them would let clients grow the cache
// without end.
func (r runner) queryDirect(ctx context.Context, query string, args ...any) (_ *sql.Rows, err error) {
	if r.s.stmts.isClosed() {
		return nil, ErrClosed
	}
	if r.tx == nil {
		var span trace.Span
		ctx, span = r.s.spans.start(ctx)
		defer func() { endSpan(span, err) }()
	}
	text := r.s.d.rebind(query)
	if r.tx != nil {
		return r.tx.QueryContext(ctx, text, args...)
	}
	return r.s.db.QueryContext(ctx, text, args...)
}
