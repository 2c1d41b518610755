-- no-transaction
-- Phone logins: users gain a phone number (E.164, unique), and e-mail and password become
-- optional (a phone user has neither), one of e-mail or phone being required. SQLite cannot
-- change a column's constraints in place, so `users` is rebuilt the documented way: foreign
-- keys off (only possible outside a transaction, hence `no-transaction` above), copy, swap,
-- check, on. Sessions keep pointing at the same user ids.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE users_new (
    id            TEXT    PRIMARY KEY NOT NULL,  -- UUID (v7), text form
    email         TEXT    UNIQUE,                -- normalised (trimmed, lower-case)
    phone         TEXT    UNIQUE,                -- E.164 (+ and digits)
    password_hash TEXT,                          -- argon2id PHC string; none for phone users
    role          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CHECK (email IS NOT NULL OR phone IS NOT NULL)
) STRICT;
INSERT INTO users_new (id, email, password_hash, role, created_at, updated_at)
SELECT id, email, password_hash, role, created_at, updated_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

-- Codes of the local (development) OTP provider: one live code per phone, only its keyed hash.
CREATE TABLE otp_codes (
    phone      TEXT    PRIMARY KEY NOT NULL,     -- E.164
    code_hash  TEXT    NOT NULL,                 -- HMAC-SHA256 under a per-process key
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL                  -- checks made against this code
) STRICT;

-- Hourly OTP counters (sends per phone and per client, checks per phone), shared by every
-- process using this database.
CREATE TABLE otp_counters (
    key          TEXT    PRIMARY KEY NOT NULL,   -- e.g. 'send:phone:+447700900123'
    window_start INTEGER NOT NULL,               -- first event of the current window
    count        INTEGER NOT NULL
) STRICT;

CREATE INDEX otp_counters_window_start ON otp_counters (window_start);

COMMIT;
PRAGMA foreign_keys = ON;
