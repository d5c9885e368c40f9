-- Personal access tokens, for scripts: a scope no wider than the user's
-- role, an expiry, stored as SHA-256 of the token.
CREATE TABLE access_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    scope       TEXT NOT NULL CHECK (scope IN ('read', 'trade', 'admin')),
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX access_tokens_user ON access_tokens(user_id);
