-- Gatehouse storage schema, version 3: app-facing IdP state.
--
-- Same portability rules as 0001: BIGINT Unix microseconds, TEXT, BOOLEAN,
-- and no ';' except at the end of a statement.

-- Applications created through the admin API (config-file applications are
-- never stored). spec is the JSON of apps.Spec, kept as TEXT so that both
-- databases store the exact bytes. metadata_copy is the last metadata
-- document fetched from the application's metadata URL that passed
-- validation ('' when none), used while the URL is down.
CREATE TABLE IF NOT EXISTS applications (
    id                  TEXT   NOT NULL PRIMARY KEY,
    name                TEXT   NOT NULL,
    spec                TEXT   NOT NULL,
    metadata_copy       TEXT   NOT NULL,
    metadata_fetched_at BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- Pending SP-initiated sign-ins of the app-facing IdP (idp.PendingSSO),
-- consumed once with DELETE ... RETURNING; expired rows are removed by
-- Cleanup.
CREATE TABLE IF NOT EXISTS sso_states (
    id           TEXT    NOT NULL PRIMARY KEY,
    sp_entity_id TEXT    NOT NULL,
    request_id   TEXT    NOT NULL,
    acs_url      TEXT    NOT NULL,
    relay_state  TEXT    NOT NULL,
    force_authn  BOOLEAN NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL
);
CREATE INDEX IF NOT EXISTS sso_states_expires_at ON sso_states (expires_at);
