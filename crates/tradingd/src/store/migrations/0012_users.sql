-- Users of the HTTP API: the `users` table of 0001 gains a password, a
-- disabled flag and the time before which its access tokens are refused
-- (a role change, a password change, disabling). Roles keep the scope
-- names of 0001 (`read` = viewer, `trade` = trader, `admin`). The local
-- socket's `admin` has no password: it cannot log in over HTTP.
ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN tokens_valid_from_ms INTEGER NOT NULL DEFAULT 0;

-- Refresh tokens, stored as SHA-256 of the token. A family is one login and
-- every token refreshed from it; a token used twice revokes its family.
CREATE TABLE refresh_tokens (
    hash        TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    family      TEXT NOT NULL,
    issued_ms   INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,
    used        INTEGER NOT NULL DEFAULT 0,
    revoked     INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens(family);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
