// Package sqlstore is Gatehouse's SQL storage: one implementation of
// sp.RequestTracker, sp.ReplayCache, sp.SessionStore, sp.UserDirectory and
// sp.Pinger over database/sql, for SQLite (modernc.org/sqlite, driver
// "sqlite") and PostgreSQL (github.com/jackc/pgx/v5/stdlib, driver "pgx").
//
// The queries are written once in SQL both databases accept; a small
// Dialect rewrites placeholders ('?' or '$n') and recognises each driver's
// uniqueness violation, which the store reports as sp.ErrConflict. This
// package imports no driver: the program (cmd/gatehouse) and the tests do.
// Open applies the embedded, ordered migrations (migrations/NNNN_*.sql),
// each in a transaction with its schema_migrations row, so reopening a
// database, or several processes opening it at once, is safe.
//
// The store rewrites each query's placeholders once and caches the result.
// On SQLite it also prepares each query once, on first use, and keeps the
// prepared statement (database/sql prepares it once more on each pooled
// connection it is used on); transactions reuse the cached statements
// through tx.StmtContext. On PostgreSQL it runs the query text, which pgx
// prepares once per connection in its own statement cache; that cache also
// recovers from a statement made stale by a schema change, which a
// statement prepared through database/sql would not. Store.Close releases
// the cached statements and makes every later call fail with ErrClosed;
// the caller still owns the *sql.DB and closes it afterwards.
//
// A SQLite database serves one gateway instance; instances behind a load
// balancer share one PostgreSQL database. Open SQLite with SQLiteDSN, which
// sets WAL, busy_timeout(5000), foreign_keys(1) and BEGIN IMMEDIATE
// transactions on every pooled connection; Open refuses a SQLite
// connection without foreign keys or a busy timeout.
//
// # Security model
//
// Single use and replay protection rest on the database, not on locks in
// this process, so they hold across instances and connections:
//   - ConsumeRequest is one DELETE ... WHERE id = ? AND expires_at > ?
//     RETURNING statement: of any number of concurrent callers exactly one
//     receives the pending request, and an expired one is never returned.
//   - MarkAssertionUsed is one INSERT ... ON CONFLICT (issuer,
//     assertion_id) DO UPDATE ... WHERE expires_at <= now statement: it
//     inserts a new pair or replaces an expired record, and otherwise
//     affects no row, which is reported as sp.ErrReplay. Concurrent calls
//     for one pair have exactly one winner.
//   - Sessions are stored under the hex SHA-256 of the session ID; the ID
//     itself (the cookie secret) is never written, so a copy of the
//     database or a backup does not yield a usable session.
//   - Users are keyed by (issuer, NameID) links, never by e-mail address;
//     ProvisionExternal never takes over an existing user_name (it returns
//     sp.ErrConflict) and never reactivates a deactivated user.
//   - Any database failure is returned as an error other than the
//     sentinels, so the caller fails closed (HTTP 503, no session).
//
// Expired rows are invisible to every method; Cleanup deletes them in
// bounded batches and is the caller's to schedule. Times are stored as
// Unix microseconds: sub-microsecond parts are dropped, which can only make
// an item expire earlier. Validating what is stored (assertion lifetimes,
// return paths, session lengths) is the caller's job.
package sqlstore
