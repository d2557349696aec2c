// Package ratelimit limits repeated failures per key (a user, a client
// address) for the gateway's interactive pages: the device code page and
// the built-in sign-in.
//
// # Security model
//
// Failures is a generic cell rate limiter kept in process memory: each
// instance of a multi-instance deployment limits on its own, so the
// effective limit is the per-instance limit times the number of
// instances (account lockout, which is in the shared store, is the
// cross-instance defence). A request is charged before the guarded check
// and refunded only when it did not fail, so concurrent requests cannot
// all slip through before any failure is recorded. The table of keys is
// bounded; when it is full of keys still inside their window, new keys
// are refused (fail closed) rather than old failures forgotten. IPv6
// clients are keyed by their /64.
package ratelimit
