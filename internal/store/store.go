// Package store holds what every Gatehouse storage backend shares: the Store
// interface the gateway runs on (the sp, oauth and audit store interfaces
// plus administration helpers) and small normalisations both backends
// apply. The backends are memory (tests, embedding) and sqlstore (SQLite,
// PostgreSQL); storetest is the conformance suite both pass.
//
// The identity store (directory.Store) and the sp.UserDirectory methods
// work on the same users: sign-in sees a directory.User through
// directory.SPUser, and every write through either interface keeps the
// user's Version, e-mail addresses and group memberships consistent (a
// sign-in that changes nothing changes no version).
//
// # Security model
//
// Backends keep session IDs only as hashes (device codes and refresh
// tokens arrive hashed already), consume pending requests, record replays,
// decide and consume device authorizations and rotate refresh tokens
// atomically (see the doc comments on the sp and oauth interfaces),
// revoke a refresh token's whole family when a rotated token comes back,
// append audit batches all or none and never delete audit events, make
// every identity store write all or none (deactivating or deleting a user
// ends its sessions and revokes its refresh tokens in the same step), and
// report any failure as an error so that callers fail closed. For the
// built-in sign-in (signin.CredentialStore) they keep sign-in flow IDs
// only as hashes, count failures without losing concurrent ones, count
// and add MFA devices, accept a TOTP time step and compare-and-set a
// WebAuthn signature counter each in one atomic step (of concurrent
// callers exactly one wins), complete a flow once (one of concurrent
// deletes succeeds), and delete a user's password, failure state,
// devices and flows with the user. For multi-account access
// (access.Store) they create an assignment once per natural key (of
// concurrent creations one creates it and all get its ID), compare-and-set
// permission set versions (of concurrent updates exactly one wins), and
// refuse, in the same transaction as the change, an assignment to an
// unknown permission set or account and the deletion of a permission set
// or account still assigned. For signing-key rings (keys.RingStore) they
// save a ring by compare-and-set on its version (of concurrent saves
// exactly one wins) and store its data as given, sealed by the caller.
package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/directory"
	"github.com/gatehouse-dev/gatehouse/internal/keys"
	"github.com/gatehouse-dev/gatehouse/internal/scimtoken"
	"github.com/gatehouse-dev/gatehouse/internal/signin"
	"github.com/gatehouse-dev/gatehouse/oauth"
	"github.com/gatehouse-dev/gatehouse/sp"
)

// Store is everything a Gatehouse storage backend provides.
type Store interface {
	sp.RequestTracker
	sp.ReplayCache
	sp.SignInStarter
	sp.SessionStore
	sp.UserDirectory
	sp.Pinger
	oauth.DeviceStore
	oauth.RefreshStore
	oauth.RevocationStore
	audit.Store
	directory.Store
	scimtoken.Store
	signin.CredentialStore
	access.Store
	keys.RingStore
	// CreateUser adds a user (random ID when u.ID is empty; groups set
	// when u.Groups is non-nil, by display name, created as needed) and
	// returns it; a user_name equal to another one's ignoring case (see
	// directory.Fold) or a duplicate ID returns sp.ErrConflict, a user
	// directory.ValidateUser rejects an error wrapping
	// directory.ErrInvalid.
	CreateUser(ctx context.Context, u sp.User) (sp.User, error)
	// Cleanup deletes expired pending requests, replay records,
	// sessions, SSO states, access-token revocations (expiry before now),
	// refresh tokens (their own or their family's expiry before now),
	// device authorizations (expired for more than DeviceRetention) and
	// sign-in flows (expiry not after now) and returns how many it
	// deleted. It never deletes audit events.
	Cleanup(ctx context.Context, now time.Time) (int64, error)
}

// DeviceRetention is how long Cleanup keeps a device authorization after
// its expiry, so that a device still polling gets expired_token rather
// than invalid_grant.
const DeviceRetention = time.Hour

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

// NormalizeAuditEvent returns the form of e both backends store and
// return: Time in UTC, cut to the microsecond; every string (Details keys
// included) valid UTF-8 without NUL characters, which are replaced by
// U+FFFD, so that no value a client sent can make an append fail on one
// database and not on another; empty lists and Details nil; slices and
// map copied. The ID is left as it is.
func NormalizeAuditEvent(e audit.Event) audit.Event {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.Type, e.Outcome, e.Actor, e.Subject = cleanText(e.Type), cleanText(e.Outcome), cleanText(e.Actor), cleanText(e.Subject)
	e.ClientID, e.Source, e.RequestID, e.Reason = cleanText(e.ClientID), cleanText(e.Source), cleanText(e.RequestID), cleanText(e.Reason)
	e.Audience, e.Scopes, e.ActChain = cleanList(e.Audience), cleanList(e.Scopes), cleanList(e.ActChain)
	if len(e.Details) == 0 {
		e.Details = nil
	} else {
		d := make(map[string]string, len(e.Details))
		for _, k := range slices.Sorted(maps.Keys(e.Details)) {
			d[cleanText(k)] = cleanText(e.Details[k])
		}
		e.Details = d
	}
	return e
}

func cleanText(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func cleanList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	out := make([]string, len(l))
	for i, v := range l {
		out[i] = cleanText(v)
	}
	return out
}

// CheckAuditEvent rejects an event no backend stores: one without a Type
// or a Time.
func CheckAuditEvent(e audit.Event) error {
	if e.Type == "" || e.Time.IsZero() {
		return errors.New("audit event needs a type and a time")
	}
	return nil
}

// AuditQueryLimit validates q and returns the number of events it asks
// for: q.Limit, or audit.DefaultLimit when it is zero. A Limit outside
// 0..audit.MaxLimit, a negative Before, or a filter that is not valid
// UTF-8 or contains NUL (no stored value does) is an error.
func AuditQueryLimit(q audit.Query) (int, error) {
	if q.Limit < 0 || q.Limit > audit.MaxLimit {
		return 0, fmt.Errorf("audit query: limit %d is outside 1..%d", q.Limit, audit.MaxLimit)
	}
	if q.Before < 0 {
		return 0, fmt.Errorf("audit query: negative cursor %d", q.Before)
	}
	for _, v := range []string{q.Type, q.Outcome, q.Actor, q.Subject, q.ClientID} {
		if cleanText(v) != v {
			return 0, errors.New("audit query: a filter is not valid UTF-8 or contains NUL")
		}
	}
	if q.Limit == 0 {
		return audit.DefaultLimit, nil
	}
	return q.Limit, nil
}

// AuditTypeMatches reports whether an event type matches the Type filter
// of an audit.Query: every type when the filter is empty, types starting
// with it when it ends in ".", else only the type equal to it.
func AuditTypeMatches(filter, typ string) bool {
	if strings.HasSuffix(filter, ".") {
		return strings.HasPrefix(typ, filter)
	}
	return filter == "" || filter == typ
}

// CopyPermissionSet returns the form of ps both backends store and
// return: a deep copy (slices, map, boundary) with empty lists and Tags
// nil and the times in UTC, cut to the microsecond.
func CopyPermissionSet(ps access.PermissionSet) access.PermissionSet {
	ps.ManagedPolicies = slices.Clone(ps.ManagedPolicies)
	if len(ps.ManagedPolicies) == 0 {
		ps.ManagedPolicies = nil
	}
	ps.CustomerPolicies = slices.Clone(ps.CustomerPolicies)
	if len(ps.CustomerPolicies) == 0 {
		ps.CustomerPolicies = nil
	}
	if len(ps.Tags) == 0 {
		ps.Tags = nil
	} else {
		ps.Tags = maps.Clone(ps.Tags)
	}
	if ps.Boundary != nil {
		b := *ps.Boundary
		if b.CustomerPolicy != nil {
			c := *b.CustomerPolicy
			b.CustomerPolicy = &c
		}
		ps.Boundary = &b
	}
	ps.CreatedAt = ps.CreatedAt.UTC().Truncate(time.Microsecond)
	ps.UpdatedAt = ps.UpdatedAt.UTC().Truncate(time.Microsecond)
	return ps
}

// GroupNames normalizes asserted group names (NormalizeGroups) and checks
// each with directory.ValidateGroupName; nil stays nil.
func GroupNames(names []string) ([]string, error) {
	if names == nil {
		return nil, nil
	}
	out := NormalizeGroups(names)
	for _, n := range out {
		if err := directory.ValidateGroupName(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// InvalidAttributes marks a directory validation failure of sign-in
// attributes as sp.ErrInvalidAttributes, so the ACS rejects the sign-in
// instead of reporting the store unavailable.
func InvalidAttributes(err error) error {
	if err != nil && errors.Is(err, directory.ErrInvalid) && !errors.Is(err, sp.ErrInvalidAttributes) {
		return fmt.Errorf("%w: %w", sp.ErrInvalidAttributes, err)
	}
	return err
}
