-- Phone logins: the same change as migrations/sqlite 0004, in place. Users gain a phone
-- number (E.164, unique); e-mail and password become optional, one of e-mail or phone being
-- required.
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE users ADD COLUMN phone text UNIQUE;    -- E.164 (+ and digits)
ALTER TABLE users ADD CONSTRAINT users_email_or_phone CHECK (email IS NOT NULL OR phone IS NOT NULL);

-- Codes of the local (development) OTP provider: one live code per phone, only its keyed hash.
CREATE TABLE otp_codes (
    phone      text   PRIMARY KEY,                 -- E.164
    code_hash  text   NOT NULL,                    -- HMAC-SHA256 under a per-process key
    expires_at bigint NOT NULL,
    attempts   bigint NOT NULL                     -- checks made against this code
);

-- Hourly OTP counters (sends per phone and per client, checks per phone), shared by every
-- replica.
CREATE TABLE otp_counters (
    key          text   PRIMARY KEY,               -- e.g. 'send:phone:+447700900123'
    window_start bigint NOT NULL,                  -- first event of the current window
    count        bigint NOT NULL
);

CREATE INDEX otp_counters_window_start ON otp_counters (window_start);
