-- Gatehouse storage schema, version 9: built-in sign-in (internal/signin):
-- passwords, failure counters, MFA devices and sign-in flows.
--
-- Same portability rules as 0001: BIGINT Unix microseconds, TEXT, and no
-- ';' except at the end of a statement. Binary values are BLOB on SQLite
-- and BYTEA on PostgreSQL, so the tables holding them are created once
-- per dialect. Every table references users (id) ON DELETE CASCADE:
-- deleting a user deletes its password, lockout state, devices and flows
-- (SQLite enforces it: the store refuses to open without foreign_keys).

-- A user's password: a PHC string (package password), never the password.
CREATE TABLE IF NOT EXISTS user_passwords (
    user_id    TEXT   NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hash       TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Failed sign-ins since the last success or reset, kept apart from the
-- password so that a user without one still counts failures. A missing
-- row is the zero state; locked_until is NULL when not locked.
CREATE TABLE IF NOT EXISTS signin_lockouts (
    user_id      TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until BIGINT
);

-- Second factors. secret is the TOTP secret sealed with the gateway key;
-- credential_id (NULL for TOTP) is the WebAuthn credential ID, unique
-- across users; credential is the JSON of the go-webauthn credential.
-- The per-user limit is enforced by AddMFADevice's conditional insert.
-- dialect: sqlite
CREATE TABLE IF NOT EXISTS mfa_devices (
    id            TEXT   NOT NULL PRIMARY KEY,
    user_id       TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    secret        BLOB,
    last_step     BIGINT NOT NULL DEFAULT 0,
    credential_id BLOB UNIQUE,
    credential    BLOB,
    sign_count    BIGINT NOT NULL DEFAULT 0
);
-- dialect: postgres
CREATE TABLE IF NOT EXISTS mfa_devices (
    id            TEXT   NOT NULL PRIMARY KEY,
    user_id       TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    secret        BYTEA,
    last_step     BIGINT NOT NULL DEFAULT 0,
    credential_id BYTEA UNIQUE,
    credential    BYTEA,
    sign_count    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS mfa_devices_user_id ON mfa_devices (user_id, kind);

-- Sign-in flows, keyed by the hex SHA-256 of the flow ID (the cookie
-- secret is never stored). user_id is NULL while the user is not known
-- yet. Expired rows are invisible and removed by Cleanup.
-- dialect: sqlite
CREATE TABLE IF NOT EXISTS signin_flows (
    id_hash    TEXT   NOT NULL PRIMARY KEY CHECK (length(id_hash) = 64),
    user_id    TEXT   REFERENCES users (id) ON DELETE CASCADE,
    stage      TEXT   NOT NULL,
    data       BLOB,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
-- dialect: postgres
CREATE TABLE IF NOT EXISTS signin_flows (
    id_hash    TEXT   NOT NULL PRIMARY KEY CHECK (length(id_hash) = 64),
    user_id    TEXT   REFERENCES users (id) ON DELETE CASCADE,
    stage      TEXT   NOT NULL,
    data       BYTEA,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS signin_flows_expires_at ON signin_flows (expires_at);
CREATE INDEX IF NOT EXISTS signin_flows_user_id ON signin_flows (user_id);
