-- Token exchange and JWT bearer grants find the user a trusted issuer's
-- token names by e-mail (oauth.trusted_token_issuers[].user_attribute:
-- email) on every request: without this index each one scanned users.
CREATE INDEX IF NOT EXISTS users_email ON users (email);
