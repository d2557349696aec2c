// Package store holds what every Gatehouse storage backend shares: the Store
// interface the gateway runs on (the sp interfaces plus administration
// helpers) and small normalisations both backends apply. The backends are
// memory (tests, embedding) and sqlstore (SQLite, PostgreSQL); storetest is
// the conformance suite both pass.
//
// # Security model
//
// Backends keep session IDs only as hashes, consume pending requests and
// record replays atomically (see the doc comments on the sp interfaces),
// and report any failure as an error so that callers fail closed.
package store

import (
	"context"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/sp"
)

// Store is everything a Gatehouse storage backend provides.
type Store interface {
	sp.RequestTracker
	sp.ReplayCache
	sp.SessionStore
	sp.UserDirectory
	sp.Pinger
	// CreateUser adds a user (random ID when u.ID is empty; groups set
	// when u.Groups is non-nil) and returns it; a duplicate user_name or
	// ID returns sp.ErrConflict.
	CreateUser(ctx context.Context, u sp.User) (sp.User, error)
	// Cleanup deletes expired pending requests, replay records and
	// sessions and returns how many rows it deleted.
	Cleanup(ctx context.Context, now time.Time) (int64, error)
}

// NormalizeGroups returns the distinct non-empty group names, sorted.
func NormalizeGroups(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n != "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
