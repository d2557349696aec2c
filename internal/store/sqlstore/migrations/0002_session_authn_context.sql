-- How the user authenticated upstream (the IdP's AuthnContextClassRef),
-- passed on in the assertions the app-facing IdP issues.
ALTER TABLE sessions ADD COLUMN authn_context TEXT NOT NULL DEFAULT '';
