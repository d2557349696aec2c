package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var _ audit.Store = (*Store)(nil)

// auditData is the JSON of an event's list and map fields, kept in the
// data column.
type auditData struct {
	Audience []string          `json:"audience,omitempty"`
	Scopes   []string          `json:"scopes,omitempty"`
	ActChain []string          `json:"act_chain,omitempty"`
	Details  map[string]string `json:"details,omitempty"`
}

// AppendAudit stores events, normalized as store.NormalizeAuditEvent
// describes, in one transaction: all or none. The database assigns each
// row an ID (identity column, never reused), in slice order. The
// transaction first takes the audit lock (SQLite's write lock, taken at
// BEGIN IMMEDIATE, or a PostgreSQL transaction-scoped advisory lock), so
// appends commit one at a time and IDs increase in commit order too: a
// reader that has seen an ID never later finds a new event below it. An
// event without a Type or Time fails the whole call before anything is
// written; events is not modified (its IDs stay as they are).
func (s *Store) AppendAudit(ctx context.Context, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	type row struct {
		e    audit.Event
		data string
	}
	rows := make([]row, len(events))
	for i, e := range events {
		if err := store.CheckAuditEvent(e); err != nil {
			return fmt.Errorf("sqlstore: append audit: event %d: %w", i, err)
		}
		e = store.NormalizeAuditEvent(e)
		data, err := json.Marshal(auditData{Audience: e.Audience, Scopes: e.Scopes, ActChain: e.ActChain, Details: e.Details})
		if err != nil {
			return fmt.Errorf("sqlstore: append audit: event %d: %w", i, err)
		}
		rows[i] = row{e, string(data)}
	}
	if s.d == PostgreSQL && len(rows) <= maxAuditInsertRows {
		// One round trip: a single statement is its own transaction, and
		// it takes the audit lock before it inserts (see
		// postgresAuditInsert), which is all the transaction below does.
		args := make([]any, 0, 1+len(rows)*auditInsertColumns)
		args = append(args, auditLockKey)
		for _, w := range rows {
			e := w.e
			args = append(args, toMicros(e.Time), e.Type, e.Outcome, e.Actor, e.Subject, e.ClientID, e.Source, e.RequestID, e.Reason, w.data)
		}
		if _, err := s.pool().exec(ctx, postgresAuditInsert(len(rows)), args...); err != nil {
			return s.fail("append audit", err)
		}
		return nil
	}
	return s.inTx(ctx, func(r runner) error {
		if err := s.d.lockAudit(ctx, r); err != nil {
			return s.fail("append audit", err)
		}
		for len(rows) > 0 {
			// Multi-row INSERTs of 32, 16, ..., 1 rows: one round trip
			// per chunk, and at most six distinct cached statements.
			n := min(maxAuditInsertRows, 1<<(bits.Len(uint(len(rows)))-1))
			args := make([]any, 0, n*auditInsertColumns)
			for _, w := range rows[:n] {
				e := w.e
				args = append(args, toMicros(e.Time), e.Type, e.Outcome, e.Actor, e.Subject, e.ClientID, e.Source, e.RequestID, e.Reason, w.data)
			}
			if _, err := r.exec(ctx, auditInsert(n), args...); err != nil {
				return s.fail("append audit", err)
			}
			rows = rows[n:]
		}
		return nil
	})
}

// maxAuditInsertRows is the most rows one audit INSERT statement carries;
// with auditInsertColumns placeholders per row it stays far below both
// databases' limits on placeholders.
const (
	maxAuditInsertRows = 32
	auditInsertColumns = 10
)

// auditInsert returns the INSERT statement for n audit events. The
// database assigns their IDs in VALUES order.
func auditInsert(n int) string {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	return `INSERT INTO audit_events (occurred_at, type, outcome, actor, subject, client_id, source, request_id, reason, data) VALUES ` +
		strings.Repeat(row+", ", n-1) + row
}

// postgresAuditInsert returns one PostgreSQL statement that takes the
// audit lock (a transaction-scoped advisory lock, held until the
// statement's own transaction commits) and inserts n events. Every row the
// INSERT receives comes out of the join with the lock's one-row CTE, so
// the lock is held before the first identity value is drawn: IDs still
// increase in commit order. The casts type the parameters, which a
// SELECT over VALUES would otherwise leave as text.
func postgresAuditInsert(n int) string {
	const row = "(?::bigint, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text)"
	return `WITH audit_lock AS (SELECT pg_advisory_xact_lock(?::bigint))
		INSERT INTO audit_events (occurred_at, type, outcome, actor, subject, client_id, source, request_id, reason, data)
		SELECT v.* FROM audit_lock, (VALUES ` + strings.Repeat(row+", ", n-1) + row + `) AS v`
}

// QueryAudit returns the events matching q, newest (highest ID) first. The
// statement is built from the filters present, so each combination is one
// cached statement that the (subject, id), (client_id, id), (actor, id),
// (type, id) and occurred_at indexes serve. A type prefix is compared with
// substr, which is exact in every collation.
func (s *Store) QueryAudit(ctx context.Context, q audit.Query) ([]audit.Event, error) {
	limit, err := store.AuditQueryLimit(q)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	var where []string
	var args []any
	add := func(cond string, v ...any) {
		where = append(where, cond)
		args = append(args, v...)
	}
	switch {
	case strings.HasSuffix(q.Type, "."):
		add("substr(type, 1, ?) = ?", utf8.RuneCountInString(q.Type), q.Type)
	case q.Type != "":
		add("type = ?", q.Type)
	}
	for _, f := range [...]struct{ column, value string }{
		{"outcome", q.Outcome}, {"actor", q.Actor}, {"subject", q.Subject}, {"client_id", q.ClientID},
	} {
		if f.value != "" {
			add(f.column+" = ?", f.value)
		}
	}
	if !q.Since.IsZero() {
		add("occurred_at >= ?", toMicros(q.Since))
	}
	if !q.Until.IsZero() {
		add("occurred_at < ?", toMicros(q.Until))
	}
	if q.Before != 0 {
		add("id < ?", q.Before)
	}
	query := `SELECT id, occurred_at, type, outcome, actor, subject, client_id, source, request_id, reason, data
		FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)

	rows, err := s.pool().query(ctx, query, args...)
	if err != nil {
		return nil, s.fail("query audit", err)
	}
	defer rows.Close()
	out := make([]audit.Event, 0, min(limit, 64))
	for rows.Next() {
		var e audit.Event
		var at int64
		var data string
		if err := rows.Scan(&e.ID, &at, &e.Type, &e.Outcome, &e.Actor, &e.Subject, &e.ClientID, &e.Source, &e.RequestID, &e.Reason, &data); err != nil {
			return nil, s.fail("query audit", err)
		}
		var d auditData
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			return nil, fmt.Errorf("sqlstore: query audit: event %d: data column: %w", e.ID, err)
		}
		e.Time = fromMicros(at)
		e.Audience, e.Scopes, e.ActChain, e.Details = d.Audience, d.Scopes, d.ActChain, d.Details
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("query audit", err)
	}
	return out, nil
}
