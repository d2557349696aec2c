-- Gatehouse storage schema, version 4: OAuth device authorizations,
-- refresh tokens, access-token revocations and the audit log.
--
-- Same portability rules as 0001: BIGINT Unix microseconds, TEXT, and no
-- ';' except at the end of a statement. The audit log's identity column has
-- no syntax both databases accept, so it is written once per dialect, each
-- statement after a "-- dialect: NAME" line. Lists (scopes) and the audit
-- event's further fields are JSON kept as TEXT.

-- RFC 8628 device authorizations (oauth.DeviceAuthorization), keyed by the
-- hex SHA-256 of the device code: the code itself is never stored.
-- user_code is NULL once an expired authorization has given its user code
-- up to a new one (CreateDevice), so the unique index holds only for
-- codes in use, while the expired row still answers polls with
-- expired_token until Cleanup removes it an hour after expiry.
-- poll_interval_ns is the polling interval in nanoseconds.
CREATE TABLE IF NOT EXISTS device_authorizations (
    device_code_hash TEXT   NOT NULL PRIMARY KEY,
    user_code        TEXT,
    client_id        TEXT   NOT NULL,
    audience         TEXT   NOT NULL,
    scopes           TEXT   NOT NULL,
    status           TEXT   NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
    user_id          TEXT   NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    poll_interval_ns BIGINT NOT NULL,
    last_polled_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS device_authorizations_user_code ON device_authorizations (user_code);
CREATE INDEX IF NOT EXISTS device_authorizations_expires_at ON device_authorizations (expires_at);

-- Refresh tokens (oauth.RefreshToken), keyed by the hex SHA-256 of the
-- token. used_at is set when the token is rotated, revoked_at when its
-- family is revoked; both are NULL for the family's current token.
CREATE TABLE IF NOT EXISTS refresh_tokens (
    hash              TEXT   NOT NULL PRIMARY KEY,
    family_id         TEXT   NOT NULL,
    client_id         TEXT   NOT NULL,
    user_id           TEXT   NOT NULL,
    audience          TEXT   NOT NULL,
    scopes            TEXT   NOT NULL,
    issued_at         BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    family_expires_at BIGINT NOT NULL,
    used_at           BIGINT,
    revoked_at        BIGINT
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX IF NOT EXISTS refresh_tokens_family_expires_at ON refresh_tokens (family_expires_at);

-- Revoked access tokens by jti (RFC 7009), kept until the token's exp.
CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti        TEXT   NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS revoked_tokens_expires_at ON revoked_tokens (expires_at);

-- The append-only audit log (audit.Event). id is assigned by the database
-- and never reused. occurred_at is the event's time. data is the JSON of
-- the audience, scopes, act chain and details. Cleanup never deletes
-- from this table.
-- dialect: sqlite
CREATE TABLE IF NOT EXISTS audit_events (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    occurred_at BIGINT  NOT NULL,
    type        TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    data        TEXT    NOT NULL
);
-- dialect: postgres
CREATE TABLE IF NOT EXISTS audit_events (
    id          BIGINT  NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at BIGINT  NOT NULL,
    type        TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    data        TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_events_subject_id ON audit_events (subject, id);
CREATE INDEX IF NOT EXISTS audit_events_client_id_id ON audit_events (client_id, id);
CREATE INDEX IF NOT EXISTS audit_events_type_id ON audit_events (type, id);
CREATE INDEX IF NOT EXISTS audit_events_actor_id ON audit_events (actor, id);
CREATE INDEX IF NOT EXISTS audit_events_occurred_at ON audit_events (occurred_at);
