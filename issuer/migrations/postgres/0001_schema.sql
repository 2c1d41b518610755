-- The issuer's schema on PostgreSQL: the same tables as migrations/sqlite 0001-0003, in
-- PostgreSQL's types. Ids are uuid (v7); times are Unix seconds (bigint), as on SQLite, so both
-- backends run the same queries.

CREATE TABLE users (
    id            uuid   PRIMARY KEY,
    email         text   NOT NULL UNIQUE,           -- normalised (trimmed, lower-case)
    password_hash text   NOT NULL,                  -- argon2id PHC string
    role          text   NOT NULL,
    created_at    bigint NOT NULL,
    updated_at    bigint NOT NULL
);

-- Sessions: created at login; the id is the access token's `sid`.
CREATE TABLE sessions (
    id                uuid   PRIMARY KEY,
    user_id           uuid   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at        bigint NOT NULL,
    last_used_at      bigint NOT NULL,              -- last login or refresh
    expires_at        bigint NOT NULL,              -- absolute end (REFRESH_TOKEN_TTL)
    access_expires_at bigint NOT NULL,              -- `exp` of the newest access token issued
    client_ip         text,
    user_agent        text,
    ended_at          bigint,                       -- set by logout, reuse detection, admin
    end_reason        text
);

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_ended ON sessions (access_expires_at) WHERE ended_at IS NOT NULL;

-- Refresh tokens: only a hash is kept; used tokens stay (reuse detection) with their successor
-- sealed to them (the grace window).
CREATE TABLE refresh_tokens (
    token_hash       text   PRIMARY KEY,            -- SHA-256 of the token; never the token
    session_id       uuid   NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at       bigint NOT NULL,
    used_at          bigint,                        -- set when rotated
    successor_sealed text                           -- the successor, encrypted to this token
);

CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
-- One active (unused) refresh token per session, enforced by the database.
CREATE UNIQUE INDEX refresh_tokens_one_active ON refresh_tokens (session_id) WHERE used_at IS NULL;

-- Failed-login counters, shared by every replica.
CREATE TABLE login_failures (
    key             text   PRIMARY KEY,             -- 'account:<email>' or 'client:<address>'
    failures        bigint NOT NULL,                -- consecutive failures
    blocked_until   bigint NOT NULL,                -- no attempt is checked before this
    last_failure_at bigint NOT NULL
);

CREATE INDEX login_failures_last_failure_at ON login_failures (last_failure_at);
