// Package audit is Gatehouse's append-only audit log: who signed in, which
// tokens were issued, refused, introspected or revoked, what SCIM clients
// and administrators changed. Events are stored through a Store (the SQL
// backends in internal/store keep them in one table) and also written as
// JSON log lines.
//
// Log.Record is a group commit: events recorded concurrently are appended
// in one store transaction by a single writer goroutine, and each caller
// returns only once its event is durable (or with the error that kept it
// from being stored). Callers that must not act without an audit record
// (the token endpoint issuing a token) refuse when Record fails.
//
// # Security model
//
// Events never carry secrets: no token, password, one-time code, device
// code or assertion values, only identifiers (user IDs, client IDs, jti,
// key IDs). The log is append-only through this package: there is no
// update or delete, and the store's Cleanup never touches it. Free-text
// fields are bounded (MaxFieldLength) so a hostile request cannot bloat
// the log, and queries are bounded by MaxLimit.
package audit
