-- SCIM bearer tokens (internal/scimtoken): only the SHA-256 of a token is
-- stored; revoked rows stay as history. The two-active limit is enforced
-- by scimtoken's conditional insert, not by a constraint.
CREATE TABLE IF NOT EXISTS scim_bearer_tokens (
    id           TEXT   NOT NULL PRIMARY KEY,
    token_hash   TEXT   NOT NULL UNIQUE,
    name         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
