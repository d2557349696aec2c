-- Gatehouse storage schema, version 5: the identity store (SCIM users and
-- groups, internal/directory).
--
-- Same portability rules as 0001: BIGINT Unix microseconds, TEXT, BOOLEAN,
-- and no ';' except at the end of a statement.
--
-- Case-insensitive attributes (userName, displayName, the name parts, the
-- e-mail values and types) are kept twice: as given, and as the key
-- directory.Fold computes, in a *_fold column. Uniqueness ignoring case
-- and case-insensitive filters use the keys, so they do not depend on the
-- database's collation or lower() (ASCII-only in SQLite, locale-dependent
-- in PostgreSQL). The keys of existing rows are computed by the Go step
-- fold-directory, which fails the migration, naming both, when two users'
-- user names (or two groups' display names) differ only in case: rename
-- one (UPDATE users SET user_name = ...) and start again. The UNIQUE
-- constraints of 0001 on users.user_name and groups.display_name stay;
-- the unique indexes on the keys are stricter.

-- users.email stays the primary address (the sp.User projection and
-- UserByAttribute read it); emails is the JSON array of every address
-- (value, type, primary) and attributes the JSON object of the custom
-- attributes. version is the SCIM meta.version.
ALTER TABLE users ADD COLUMN user_name_fold TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN given_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN given_name_fold TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN family_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN family_name_fold TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN display_name_fold TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN emails TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- The folded e-mail values, types and primary flags of users.emails, one
-- row per address (ord is its index in the array), written in the same
-- transaction as users.emails: what filters on emails search, by index.
CREATE TABLE IF NOT EXISTS user_emails (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ord        INTEGER NOT NULL,
    value_fold TEXT    NOT NULL,
    type_fold  TEXT    NOT NULL,
    is_primary BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, ord)
);
CREATE INDEX IF NOT EXISTS user_emails_value_fold ON user_emails (value_fold);

ALTER TABLE groups ADD COLUMN display_name_fold TEXT NOT NULL DEFAULT '';
ALTER TABLE groups ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
ALTER TABLE groups ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE groups ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE groups SET updated_at = created_at;

-- go: fold-directory

CREATE UNIQUE INDEX IF NOT EXISTS users_user_name_fold ON users (user_name_fold);
CREATE INDEX IF NOT EXISTS users_external_id ON users (external_id);
CREATE INDEX IF NOT EXISTS users_created_at_id ON users (created_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS groups_display_name_fold ON groups (display_name_fold);
CREATE INDEX IF NOT EXISTS groups_external_id ON groups (external_id);
CREATE INDEX IF NOT EXISTS groups_created_at_id ON groups (created_at, id);
