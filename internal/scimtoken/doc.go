// Package scimtoken manages the bearer tokens that identity providers use
// to provision users and groups through the gateway's SCIM 2.0 endpoints
// (/scim/v2): creation (the value shown once), listing with expiry,
// revocation, and the authentication middleware in front of /scim/v2.
//
// A token is "ghscim_" followed by the unpadded base64url encoding of 32
// random bytes; its public ID is 16 random bytes in hex. A token expires
// after Config.Lifetime (one year by default; a creation request may ask
// for fewer days). At most MaxActive (two) tokens are active at once, so a
// token can be rotated: create a second one, configure it in the identity
// provider, then revoke the first. Expiry surfaces early: the admin API
// lists each token's days left and a warning within Config.WarnBefore (30
// days by default), Warn logs the same warnings (the gateway calls it
// periodically, see WarnEvery), and the metric
// gatehouse_scim_token_expiry_days{id} gives the days left of each active
// token (with gatehouse_scim_token_expiry_timestamp_seconds{id},
// gatehouse_scim_tokens_active and
// gatehouse_scim_token_auth_failures_total{reason} beside it). Suggested
// alerts: min(gatehouse_scim_token_expiry_days) < 14,
// gatehouse_scim_tokens_active == 0, and a rising
// gatehouse_scim_token_auth_failures_total{reason="expired"}, which means
// an identity provider still uses an expired token.
//
// Tokens live in a Store: MemoryStore for tests and embedding, or the
// gateway's store (internal/store/sqlstore: table scim_bearer_tokens of
// migration 7, in SQLite or PostgreSQL).
//
// # Security model
//
//   - Token values are never stored, logged or listed: the store keeps the
//     hex SHA-256 of the token, and Create returns the value once. A copy
//     of the database or a backup yields no usable token. Lookup is by
//     that hash, so no comparison of secrets happens in this process.
//   - Authenticate reads the store on every request and caches nothing,
//     positive or negative: a revoked or expired token is refused at once,
//     on every instance sharing the store. Unknown, malformed, expired and
//     revoked tokens all get the same 401 response; the reason goes only
//     to the log and to a bounded metric label. A store failure (reading
//     the token, or writing its last use, at most once a minute) refuses
//     the request with 503: nothing is let through unauthenticated.
//   - The Authorization header must be exactly one "Bearer <token>" (the
//     scheme in any letter case, one space, an RFC 6750 b64token of at
//     most MaxAuthorizationLength bytes); a string that does not have the
//     shape of an issued token is refused before the store is read.
//   - The limit of active tokens holds across instances: the count and the
//     insert are one INSERT ... SELECT ... WHERE count < limit statement,
//     under SQLite's write lock or, on PostgreSQL, after a transaction
//     advisory lock taken by every creation.
//   - Creations and revocations are recorded in the audit log (actor
//     "admin", the token ID in details, never the value). A creation is
//     recorded after the insert; if the record fails, the token is
//     revoked again and its value never returned, so no token exists
//     without an audit record (should that revocation fail as well, it is
//     logged; the unshown token stays listed until revoked). A revocation
//     takes effect first and is never undone; if its record then fails,
//     the caller gets ErrAudit and the revocation is logged at error
//     level.
//   - Revoked tokens stay in the store (revoked_at set, hidden from List)
//     as history; their hash keeps refusing them.
//
// The caller's job: serve the admin endpoints behind the admin token,
// serve /scim/v2 only behind Require, and call Warn periodically.
package scimtoken
