-- Gatehouse storage schema, version 10: multi-account access
-- (internal/access): accounts, permission sets, assignments and the
-- provisioning state of each permission set in each account.
--
-- Same portability rules as 0001: BIGINT Unix microseconds, TEXT, and no
-- ';' except at the end of a statement. Field contents are validated by
-- package access before they reach the store; the schema enforces keys,
-- uniqueness and references only.

-- Target (AWS) accounts. ou is the organizational unit path ("/" or
-- "/a/b"); ListAccounts selects an OU's subtree with ou = P OR (ou >= P/
-- AND ou < P0), so comparisons on ou must follow byte order: SQLite's
-- BINARY collation does, and on PostgreSQL the query and the index both
-- use COLLATE "C".
CREATE TABLE IF NOT EXISTS accounts (
    id              TEXT   NOT NULL PRIMARY KEY,
    name            TEXT   NOT NULL,
    email           TEXT   NOT NULL,
    ou              TEXT   NOT NULL,
    assume_role_arn TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
-- dialect: sqlite
CREATE INDEX IF NOT EXISTS accounts_ou ON accounts (ou);
-- dialect: postgres
CREATE INDEX IF NOT EXISTS accounts_ou ON accounts (ou COLLATE "C");

-- Permission sets, keyed by name. session_duration is in nanoseconds
-- (time.Duration); data is the JSON of the list, map and boundary fields
-- (managed policies, customer policies, boundary, tags), which are only
-- ever read and written whole. version increases with every update
-- (compare-and-set in UpdatePermissionSet).
CREATE TABLE IF NOT EXISTS permission_sets (
    name             TEXT   NOT NULL PRIMARY KEY,
    description      TEXT   NOT NULL,
    session_duration BIGINT NOT NULL,
    relay_state      TEXT   NOT NULL,
    inline_policy    TEXT   NOT NULL,
    data             TEXT   NOT NULL,
    version          BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- Assignments of a permission set to a user or group on an account or an
-- OU. target_id holds account IDs and OU paths, so it has no foreign key:
-- CreateAssignment checks, in its transaction, that an AWS_ACCOUNT target
-- exists, and DeleteAccount that no assignment targets the account. The
-- UNIQUE constraint is the natural key CreateAssignment is idempotent on;
-- its index starts with (principal_type, principal_id), so it is also the
-- index AssignmentsForPrincipals searches (a separate index on those two
-- columns would only cost every write).
CREATE TABLE IF NOT EXISTS assignments (
    id             TEXT   NOT NULL PRIMARY KEY,
    principal_type TEXT   NOT NULL,
    principal_id   TEXT   NOT NULL,
    permission_set TEXT   NOT NULL REFERENCES permission_sets (name),
    target_type    TEXT   NOT NULL,
    target_id      TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    reason         TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (principal_type, principal_id, permission_set, target_type, target_id)
);
CREATE INDEX IF NOT EXISTS assignments_target ON assignments (target_type, target_id);
CREATE INDEX IF NOT EXISTS assignments_permission_set ON assignments (permission_set);

-- Which version of a permission set the role in an account reflects.
-- Deleting the account deletes its rows. A row may outlive its permission
-- set (the role in the account still has to be removed), so
-- permission_set has no foreign key.
CREATE TABLE IF NOT EXISTS provisionings (
    account_id     TEXT   NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    permission_set TEXT   NOT NULL,
    version        BIGINT NOT NULL,
    role_name      TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    reason         TEXT   NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (account_id, permission_set)
);
CREATE INDEX IF NOT EXISTS provisionings_permission_set ON provisionings (permission_set);
