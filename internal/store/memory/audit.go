package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var _ audit.Store = (*Store)(nil)

// AppendAudit stores events, normalized as store.NormalizeAuditEvent
// describes, all or none, with IDs increasing by one in slice order. An
// event without a Type or Time fails the whole call; events is not
// modified.
func (s *Store) AppendAudit(ctx context.Context, events []audit.Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: append audit: %w", err)
	}
	add := make([]audit.Event, len(events))
	for i, e := range events {
		if err := store.CheckAuditEvent(e); err != nil {
			return fmt.Errorf("memory: append audit: event %d: %w", i, err)
		}
		add[i] = store.NormalizeAuditEvent(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range add {
		add[i].ID = int64(len(s.audit) + i + 1)
	}
	s.audit = append(s.audit, add...)
	return nil
}

// QueryAudit returns the events matching q, newest (highest ID) first.
func (s *Store) QueryAudit(_ context.Context, q audit.Query) ([]audit.Event, error) {
	limit, err := store.AuditQueryLimit(q)
	if err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	// The SQL store compares Unix microseconds; so does this.
	since, until := q.Since.Truncate(time.Microsecond), q.Until.Truncate(time.Microsecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []audit.Event{}
	for i := len(s.audit) - 1; i >= 0 && len(out) < limit; i-- {
		e := s.audit[i]
		switch {
		case q.Before != 0 && e.ID >= q.Before,
			!store.AuditTypeMatches(q.Type, e.Type),
			q.Outcome != "" && e.Outcome != q.Outcome,
			q.Actor != "" && e.Actor != q.Actor,
			q.Subject != "" && e.Subject != q.Subject,
			q.ClientID != "" && e.ClientID != q.ClientID,
			!since.IsZero() && e.Time.Before(since),
			!until.IsZero() && !e.Time.Before(until):
			continue
		}
		e.Audience, e.Scopes, e.ActChain = slices.Clone(e.Audience), slices.Clone(e.Scopes), slices.Clone(e.ActChain)
		e.Details = maps.Clone(e.Details)
		out = append(out, e)
	}
	return out, nil
}
