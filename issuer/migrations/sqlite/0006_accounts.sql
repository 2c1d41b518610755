-- Accounts: e-mail verification and password-reset tokens, disabling, an audit trail, and the sessions
-- of deleted accounts kept on the revocation list.

-- When the user proved they read mail at their address; NULL until then (and for phone users).
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
-- When an administrator disabled the account; NULL while it may log in.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;

-- Sessions of deleted accounts whose access tokens may still be live: listed at
-- /revoked-sessions like ended sessions, until `access_expires_at` plus the margin.
CREATE TABLE revoked_sessions (
    id                TEXT    PRIMARY KEY NOT NULL,  -- the session id (`sid`)
    access_expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX revoked_sessions_access_expires_at ON revoked_sessions (access_expires_at);

-- What administrators did: one row per action, never a secret.
CREATE TABLE audit_log (
    id        TEXT    PRIMARY KEY NOT NULL,  -- UUID (v7): orders the rows in time
    at        INTEGER NOT NULL,              -- Unix seconds
    actor     TEXT    NOT NULL,              -- the administrator's user id, or 'cli'
    action    TEXT    NOT NULL,              -- e.g. 'user.disable'
    target    TEXT,                          -- the user id acted on (kept after a deletion)
    client_ip TEXT,                          -- where the request came from (HTTP only)
    details   TEXT                           -- JSON: what changed (e.g. the new role)
) STRICT;

-- Tokens mailed for a password reset or an e-mail verification: only their SHA-256, single use
-- (a confirmation deletes the row), one per user and purpose (a unique index).
CREATE TABLE email_tokens (
    token_hash TEXT    PRIMARY KEY NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL,                 -- 'password_reset' or 'email_verification'
    email      TEXT    NOT NULL,                 -- the address it was sent to
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

-- One live token per user and purpose: a newer request replaces the older one.
CREATE UNIQUE INDEX email_tokens_user_purpose ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_expires_at ON email_tokens (expires_at);

-- Sign-ups waiting for their address to be confirmed (REGISTRATION_ENUMERATION_SAFE): the
-- account is created only when the mailed token comes back. One per address.
CREATE TABLE pending_registrations (
    token_hash    TEXT    PRIMARY KEY NOT NULL,  -- SHA-256 of the mailed token
    email         TEXT    NOT NULL UNIQUE,       -- normalised
    password_hash TEXT    NOT NULL,              -- argon2id PHC string
    role          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX pending_registrations_expires_at ON pending_registrations (expires_at);
