-- Sessions gain activity, client and end fields; refresh tokens move to their own table so that
-- every rotation keeps the used token (for reuse detection) and the sealed successor (for the
-- grace window). Existing sessions keep working: their token becomes the active one.
ALTER TABLE sessions RENAME TO sessions_v1;

CREATE TABLE sessions (
    id                TEXT    PRIMARY KEY NOT NULL,  -- UUID (v7): the access token's `sid`
    user_id           TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at        INTEGER NOT NULL,
    last_used_at      INTEGER NOT NULL,              -- last login or refresh
    expires_at        INTEGER NOT NULL,              -- absolute end (REFRESH_TOKEN_TTL)
    access_expires_at INTEGER NOT NULL,              -- `exp` of the newest access token issued
    client_ip         TEXT,
    user_agent        TEXT,
    ended_at          INTEGER,                       -- set by logout, reuse detection, admin
    end_reason        TEXT
) STRICT;

CREATE TABLE refresh_tokens (
    token_hash       TEXT    PRIMARY KEY NOT NULL,   -- SHA-256 of the token; never the token
    session_id       TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at       INTEGER NOT NULL,
    used_at          INTEGER,                        -- set when rotated
    successor_sealed TEXT                            -- the successor, encrypted to this token
) STRICT;

INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, access_expires_at)
SELECT id, user_id, created_at, created_at, expires_at, expires_at FROM sessions_v1;
INSERT INTO refresh_tokens (token_hash, session_id, created_at)
SELECT refresh_token_hash, id, created_at FROM sessions_v1;
DROP TABLE sessions_v1;

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_ended ON sessions (access_expires_at) WHERE ended_at IS NOT NULL;
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
-- One active (unused) refresh token per session, enforced by the database.
CREATE UNIQUE INDEX refresh_tokens_one_active ON refresh_tokens (session_id) WHERE used_at IS NULL;
