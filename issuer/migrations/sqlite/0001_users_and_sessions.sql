-- Users: one row per account. Times are Unix seconds.
CREATE TABLE users (
    id            TEXT    PRIMARY KEY NOT NULL,  -- UUID (v7), text form
    email         TEXT    NOT NULL UNIQUE,       -- normalised (trimmed, lower-case)
    password_hash TEXT    NOT NULL,              -- argon2id PHC string
    role          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- Sessions: created at login; the access token's `sid`. Only a hash of the refresh token is kept.
CREATE TABLE sessions (
    id                 TEXT    PRIMARY KEY NOT NULL,
    user_id            TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_token_hash TEXT    NOT NULL UNIQUE,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_user_id ON sessions (user_id);
