// Package sqlstore is Gatehouse's SQL storage: one implementation of
// store.Store (sp.RequestTracker, sp.ReplayCache, sp.SessionStore,
// sp.UserDirectory, sp.Pinger, oauth.DeviceStore, oauth.RefreshStore,
// oauth.RevocationStore, audit.Store, directory.Store and
// keys.RingStore, among others),
// idp.SSOStateStore and apps.Store
// over database/sql, for SQLite (modernc.org/sqlite, driver "sqlite") and
// PostgreSQL (github.com/jackc/pgx/v5/stdlib, driver "pgx").
//
// The queries are written once in SQL both databases accept; a small
// Dialect rewrites placeholders ('?' or '$n') and recognises each driver's
// uniqueness violation, which the store reports as sp.ErrConflict (or the
// sentinel of the interface concerned, such as oauth.ErrConflict). This
// package imports no driver: the program (cmd/gatehouse) and the tests do.
// Open applies the embedded, ordered migrations (migrations/NNNN_*.sql),
// each in a transaction with its schema_migrations row, so reopening a
// database, or several processes opening it at once, is safe. A migration
// statement preceded by a "-- dialect: NAME" line runs on that dialect
// only: the audit log's identity column is the one thing written twice.
// A "-- go: NAME" line runs a Go step inside the migration's transaction:
// migration 0005 uses one to compute the case-folded keys
// (directory.Fold) of existing users and groups.
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
// Store.Metrics exports gatehouse_store_errors_total{operation}: the
// database errors the store returned, by operation name (a set fixed in
// this package), each counted once; not-found results, uniqueness
// conflicts and cancelled requests are not counted. The gateway
// registers it.
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
//   - Device authorizations and refresh tokens are stored under the hex
//     SHA-256 the oauth package computes; device codes and refresh tokens
//     themselves never reach the database. DecideDevice and ConsumeDevice
//     are single conditional UPDATEs (WHERE status = 'pending' / 'approved'
//     and RowsAffected), so of concurrent callers exactly one changes the
//     state. CreateDevice never takes a code from an unexpired
//     authorization: the primary key and a unique index on user_code
//     decide; an expired authorization gives its user code up (the column
//     becomes NULL) but stays, to answer polls with expired_token.
//   - RotateRefreshToken marks the old token used with a conditional
//     UPDATE (used_at IS NULL AND revoked_at IS NULL AND unexpired) and
//     inserts the next one in the same transaction, so of concurrent
//     rotations exactly one succeeds: on PostgreSQL the others wait for
//     the winner's row lock and find the token used once it commits. A
//     rotated token presented again (to RotateRefreshToken or
//     RefreshTokenByHash) revokes its whole family in its own committed
//     statement, after the rotation transaction has ended, and the call
//     returns oauth.ErrRefreshReused: after a race the winner's new token
//     is revoked too, which is the intended reuse detection. The next
//     token must keep the family, client and user and may not outlive the
//     family.
//   - Revoke is one INSERT ... ON CONFLICT DO UPDATE keeping the later
//     expiry; IsRevoked answers true while the row exists, and Cleanup
//     deletes it only after the token's exp, so a revocation is never
//     forgotten while the token could still be accepted.
//   - AppendAudit writes a batch in one transaction (all or none) under a
//     lock (SQLite's write lock, or a PostgreSQL advisory lock), so audit
//     IDs, assigned by the database and never reused, increase in commit
//     order: a reader that has seen an ID never later finds a new event
//     below it. Values are stored as valid UTF-8 without NUL (see
//     store.NormalizeAuditEvent), so a hostile value in one event cannot
//     make PostgreSQL refuse the batch it shares with others. Cleanup
//     never deletes audit events; nothing in this package updates them.
//   - SCIM bearer tokens (scimtoken.Store) are stored under their hex
//     SHA-256; the tokens themselves never reach the database.
//     InsertToken counts the active tokens and inserts in one INSERT ...
//     SELECT ... WHERE count < limit statement, in a transaction that
//     first takes a lock (SQLite's write lock, or a PostgreSQL advisory
//     lock), so of concurrent creations in any number of processes no
//     more succeed than the limit allows. RevokeToken and TouchToken are
//     single conditional UPDATEs: a token is revoked once, and concurrent
//     touches write at most once per interval.
//   - Directory sign-in credentials (signin.CredentialStore): sign-in
//     flows are stored under the SHA-256 of their ID, like sessions, and
//     DeleteSignInFlow is one DELETE whose row count decides which of
//     concurrent completions wins. RecordFailure is one upsert that adds
//     one and returns the new count, so concurrent failures are all
//     counted; UseTOTPStep and UseWebAuthn are single conditional UPDATEs
//     (a TOTP step is accepted once, a WebAuthn counter moves once);
//     AddMFADevice locks the user's row before it counts and inserts, so
//     no more devices than the limit are stored. TOTP secrets arrive
//     sealed. Every table references users with ON DELETE CASCADE.
//   - Starting an ACS (sp.SignInStarter): on PostgreSQL through pgx's
//     driver, MarkAssertionUsed's INSERT, ConsumeRequest's DELETE ...
//     RETURNING and LookupExternal's SELECT go out as one pgx batch, one
//     round trip, which PostgreSQL runs as one implicit transaction; each
//     keeps the atomicity it has alone. Elsewhere the three run in turn.
//   - Signing key rings (keys.RingStore): one row per ring in key_rings,
//     saved with INSERT ... ON CONFLICT DO NOTHING (the first state) or an
//     UPDATE conditional on the version read, so of concurrent rotations
//     or activations in any number of instances exactly one is stored.
//     The data arrives sealed (keys.OpenStoreRing) and is stored as is.
//   - Identity store writes (directory.Store, and the sign-in writes of
//     sp.UserDirectory) run in one transaction each, so they happen
//     entirely or not at all; on PostgreSQL they first lock the row they
//     change (SELECT ... FOR UPDATE), so concurrent updates of one user or
//     group queue instead of losing one another, and a transaction that
//     PostgreSQL ends with a deadlock or serialization failure is run
//     again (at most five times). Deactivating or deleting a user deletes
//     its sessions and revokes its refresh tokens in that transaction.
//   - userName and group displayName are unique ignoring case through
//     unique indexes on keys computed in Go (directory.Fold), and every
//     case-insensitive filter compares those keys, so neither depends on
//     the database's collation; ordering comparisons use COLLATE "C" on
//     PostgreSQL, like SQLite's BINARY, so both order as Go does.
//   - Filters are compiled from directory's resolved Cond into SQL whose
//     text comes only from this package and whose values are all bound
//     parameters. Substring tests use instr/strpos and substr, never LIKE,
//     so % and _ in values are ordinary characters on both databases.
//     Filter queries with more than one comparison bypass the statement
//     cache: their number is unbounded, and caching them would let a
//     client grow the cache without end. Queries with IN lists use chunks
//     of 512, 256, ... 1 values, so they have few shapes.
//   - Any database failure is returned as an error other than the
//     sentinels, so the caller fails closed (HTTP 503, no session).
//
// Expired rows are invisible to every method, except where a method says
// otherwise (DeviceByCode, IsRevoked); Cleanup deletes them in bounded
// batches and is the caller's to schedule. It keeps a device authorization
// for store.DeviceRetention after its expiry. Times are stored as
// Unix microseconds: sub-microsecond parts are dropped, which can only make
// an item expire earlier. Validating what is stored (assertion lifetimes,
// return paths, session lengths) is the caller's job.
package sqlstore
