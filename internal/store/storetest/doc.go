// Package storetest is the conformance suite every Gatehouse storage
// backend must pass. A backend's own tests call Run with a constructor that
// returns a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Store { return memory.New() })
//	}
//
// # Security model
//
// The suite checks the guarantees the SP relies on to fail closed: a
// pending request is consumed at most once, also when Concurrency
// goroutines race for it, and never after its expiry; an (issuer,
// assertion ID) pair is accepted once while its record lives, also under
// concurrency, and different issuers do not collide; sessions and requests
// expire exactly at ExpiresAt; users are keyed by (issuer, NameID), an
// existing user_name is never taken over by provisioning, and group
// memberships change only when groups are asserted; Cleanup removes
// expired rows and nothing else. For OAuth (RunOAuth) it checks that a
// device authorization is decided and consumed exactly once, also under
// concurrency, and never through an expired user code; that exactly one of
// Concurrency rotations of a refresh token wins and that reuse revokes the
// whole family, the winner's new token included; that a rotation cannot
// move a token to another family, client or user; and that revocations
// are idempotent and kept until their expiry. For the audit log (RunAudit)
// it checks all-or-none appends, IDs in append order, every filter, paging
// with the Before cursor, and that Cleanup never deletes events. For the
// identity store (RunDirectory) it checks every method and error, that
// failed writes change nothing, versions (one per change, none without),
// uniqueness ignoring case, deactivation and deletion ending sessions and
// refresh tokens, cascades, paging, concurrent updates that lose nothing,
// concurrent membership changes, the interplay with sign-in, and that
// the store selects, for a large table of filters over tricky values (LIKE
// wildcards, quotes, case variants, non-ASCII folding, empty strings),
// exactly what the reference evaluator directory.MatchUser selects.
// Every negative case has a positive control
// beside it, so a store that rejects everything fails. Checks that need to
// look inside a backend (for example that session IDs are stored only
// hashed) belong in that backend's own tests.
package storetest
