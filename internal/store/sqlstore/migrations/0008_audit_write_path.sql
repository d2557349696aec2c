-- The audit log is written on every token decision and sign-in, and read
-- only by administrators. Every secondary index costs each append a
-- B-tree insert and its pages in the commit (measured on SQLite: about
-- 30 us of a 455 us token exchange per index). Keep the two indexes the
-- common investigations use (a user's events, events of a type), and
-- serve actor, client and time filters by walking those indexes or the
-- primary key newest first.
DROP INDEX IF EXISTS audit_events_actor_id;
DROP INDEX IF EXISTS audit_events_client_id_id;
DROP INDEX IF EXISTS audit_events_occurred_at;
