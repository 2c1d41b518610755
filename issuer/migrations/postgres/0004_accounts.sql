-- The same change as migrations/sqlite 0006: e-mail verification, disabling, an audit trail,
-- and the sessions of deleted accounts kept on the revocation list.
ALTER TABLE users ADD COLUMN email_verified_at bigint;
ALTER TABLE users ADD COLUMN disabled_at bigint;

CREATE TABLE revoked_sessions (
    id                uuid   PRIMARY KEY,           -- the session id (`sid`)
    access_expires_at bigint NOT NULL
);

CREATE INDEX revoked_sessions_access_expires_at ON revoked_sessions (access_expires_at);

CREATE TABLE audit_log (
    id        uuid   PRIMARY KEY,                   -- UUID (v7): orders the rows in time
    at        bigint NOT NULL,                      -- Unix seconds
    actor     text   NOT NULL,                      -- the administrator's user id, or 'cli'
    action    text   NOT NULL,                      -- e.g. 'user.disable'
    target    text,                                 -- the user id acted on (kept after a deletion)
    client_ip text,                                 -- where the request came from (HTTP only)
    details   text                                  -- JSON: what changed (e.g. the new role)
);

CREATE TABLE email_tokens (
    token_hash text   PRIMARY KEY,                  -- SHA-256 of the mailed token
    user_id    uuid   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text   NOT NULL,                     -- 'password_reset' or 'email_verification'
    email      text   NOT NULL,                     -- the address it was sent to
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL
);

-- One live token per user and purpose: a newer request replaces the older one.
CREATE UNIQUE INDEX email_tokens_user_purpose ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_expires_at ON email_tokens (expires_at);

CREATE TABLE pending_registrations (
    token_hash    text   PRIMARY KEY,               -- SHA-256 of the mailed token
    email         text   NOT NULL UNIQUE,           -- normalised
    password_hash text   NOT NULL,                  -- argon2id PHC string
    role          text   NOT NULL,
    created_at    bigint NOT NULL,
    expires_at    bigint NOT NULL
);

CREATE INDEX pending_registrations_expires_at ON pending_registrations (expires_at);
