package audit

import (
	"context"
	"time"
)

// Outcomes.
const (
	Success = "success"
	Failure = "failure"
)

// Event is one audit record. It names who did what to whom; it never
// carries a secret (no token, password, code or assertion values).
type Event struct {
	// ID is assigned by the store: strictly increasing in append order.
	ID   int64
	Time time.Time
	// Type is a dotted name, e.g. "token.issued", "token.refused",
	// "token.introspected", "token.revoked", "device.approved",
	// "signin", "scim.user.created", "admin.application.updated".
	Type    string
	Outcome string // Success or Failure
	// Actor is who acted: a user ID, "client:<id>", "admin",
	// "scim:<token id>".
	Actor string
	// Subject is the user the event is about (the token's sub).
	Subject  string
	ClientID string
	Audience []string
	Scopes   []string
	// ActChain lists the act chain's subjects, outermost (the current
	// actor) first.
	ActChain  []string
	Source    string // client address
	RequestID string
	Reason    string
	// Details holds further event-specific fields.
	Details map[string]string
}

// Query selects events. Empty fields match everything; results are newest
// first.
type Query struct {
	Type     string // exact type, or a prefix ending in "." ("token.")
	Outcome  string
	Actor    string
	Subject  string
	ClientID string
	Since    time.Time // inclusive
	Until    time.Time // exclusive
	// Before, when non-zero, returns only events with ID < Before: the
	// cursor for the next page is the last returned ID.
	Before int64
	// Limit caps the number of events (1..MaxLimit; zero: DefaultLimit).
	Limit int
}

// Paging limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Store is an append-only audit log.
type Store interface {
	// AppendAudit stores events in order in one transaction: all or none.
	// The stored IDs are assigned by the store; Time is kept as given
	// (UTC, microsecond precision at least).
	AppendAudit(ctx context.Context, events []Event) error
	// QueryAudit returns the events matching q, newest first.
	QueryAudit(ctx context.Context, q Query) ([]Event, error)
}
