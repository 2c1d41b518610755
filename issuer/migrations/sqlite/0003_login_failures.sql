-- Failed-login counters, shared by every process using this database. Times are Unix seconds.
CREATE TABLE login_failures (
    key             TEXT    PRIMARY KEY NOT NULL,  -- 'account:<email>' or 'client:<address>'
    failures        INTEGER NOT NULL,              -- consecutive failures
    blocked_until   INTEGER NOT NULL,              -- no attempt is checked before this
    last_failure_at INTEGER NOT NULL
) STRICT;

CREATE INDEX login_failures_last_failure_at ON login_failures (last_failure_at);
