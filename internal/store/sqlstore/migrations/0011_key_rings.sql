-- Gatehouse storage schema, version 11: signing-key rings
-- (internal/keys.RingStore), so that every gateway instance on the store
-- agrees on which key is current, next and previous.
--
-- Same portability rules as 0001: BIGINT Unix microseconds, TEXT, and no
-- ';' except at the end of a statement. data is binary, BLOB on SQLite and
-- BYTEA on PostgreSQL, so the table is created once per dialect.

-- One row per ring. data is the ring's state sealed by the caller (the
-- store never sees key material in the clear); version increases with
-- every save (compare-and-set in SaveRing).
-- dialect: sqlite
CREATE TABLE IF NOT EXISTS key_rings (
    name       TEXT   NOT NULL PRIMARY KEY,
    version    BIGINT NOT NULL,
    data       BLOB   NOT NULL,
    updated_at BIGINT NOT NULL
);
-- dialect: postgres
CREATE TABLE IF NOT EXISTS key_rings (
    name       TEXT   NOT NULL PRIMARY KEY,
    version    BIGINT NOT NULL,
    data       BYTEA  NOT NULL,
    updated_at BIGINT NOT NULL
);
