-- Gatehouse storage schema, version 1.
--
-- Portable between SQLite (3.35 or later) and PostgreSQL: times are BIGINT
-- Unix microseconds (UTC), identifiers TEXT, flags BOOLEAN. The migration
-- runner splits this file on ';' at the end of a line, so statements must
-- not contain a ';' anywhere else.

-- AuthnRequests sent and not yet answered. Rows are consumed with
-- DELETE ... RETURNING; expired rows are removed by Cleanup.
CREATE TABLE IF NOT EXISTS pending_requests (
    id              TEXT   NOT NULL PRIMARY KEY,
    relay_state     TEXT   NOT NULL,
    browser_binding TEXT   NOT NULL,
    return_to       TEXT   NOT NULL,
    region          TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_requests_expires_at ON pending_requests (expires_at);

-- Accepted assertions, kept until their NotOnOrAfter.
CREATE TABLE IF NOT EXISTS replay_cache (
    issuer       TEXT   NOT NULL,
    assertion_id TEXT   NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (issuer, assertion_id)
);
CREATE INDEX IF NOT EXISTS replay_cache_expires_at ON replay_cache (expires_at);

-- Identity store users.
CREATE TABLE IF NOT EXISTS users (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_name    TEXT    NOT NULL UNIQUE,
    email        TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    active       BOOLEAN NOT NULL,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);

-- Upstream identities, keyed by (issuer, NameID); one per user and issuer.
CREATE TABLE IF NOT EXISTS external_identities (
    issuer     TEXT   NOT NULL,
    name_id    TEXT   NOT NULL,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, name_id),
    UNIQUE (issuer, user_id)
);
CREATE INDEX IF NOT EXISTS external_identities_user_id ON external_identities (user_id);

CREATE TABLE IF NOT EXISTS groups (
    id           TEXT   NOT NULL PRIMARY KEY,
    display_name TEXT   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS group_members (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX IF NOT EXISTS group_members_user_id ON group_members (user_id);

-- Browser sessions, keyed by the hex SHA-256 of the session ID: the secret
-- itself is never stored.
CREATE TABLE IF NOT EXISTS sessions (
    id_hash       TEXT   NOT NULL PRIMARY KEY CHECK (length(id_hash) = 64),
    user_id       TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    authn_instant BIGINT NOT NULL,
    session_index TEXT   NOT NULL,
    method        TEXT   NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);
CREATE INDEX IF NOT EXISTS sessions_user_id ON sessions (user_id);
