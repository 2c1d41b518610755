//! Password-hashing capacity: `PASSWORD_HASH_CONCURRENCY`, `PASSWORD_HASH_MAX_WAIT`,
//! `PASSWORD_HASH_MAX_QUEUE` (see [`crate::passwords`] for what they bound).

use std::time::Duration;

use clap::Args;

use super::ConfigError;
use super::parse::{invalid, parse_count};
use crate::passwords::{DEFAULT_MAX_PERMITS, DEFAULT_QUEUE_PER_PERMIT, QueuePolicy};

/// More concurrent hashes than this is a typo, not a machine: 64 x 19 MiB is 1.2 GiB.
const MAX_PERMITS: usize = 64;

/// Password-hashing settings.
#[derive(Debug, Clone, Args)]
pub struct HashingArgs {
    /// argon2 hashes run at once, each holding 19 MiB (`auto`: one per core, at most 4).
    #[arg(long, env = "PASSWORD_HASH_CONCURRENCY", default_value = "auto", global = true)]
    pub password_hash_concurrency: String,
    /// Longest wait for a hash a login or registration is admitted into; beyond it the answer
    /// is 503 + `Retry-After` at once. The wait is estimated from the hashes' measured time.
    #[arg(long, env = "PASSWORD_HASH_MAX_WAIT", default_value = "1s", global = true)]
    pub password_hash_max_wait: String,
    /// Most logins and registrations waiting for a hash, whatever the wait (`auto`: 32 per
    /// concurrent hash).
    #[arg(long, env = "PASSWORD_HASH_MAX_QUEUE", default_value = "auto", global = true)]
    pub password_hash_max_queue: String,
}

impl HashingArgs {
    /// The hashing queue's policy.
    pub(super) fn parse(&self) -> Result<QueuePolicy, ConfigError> {
        let permits = match self.password_hash_concurrency.as_str() {
            "auto" => std::thread::available_parallelism()
                .map_or(2, |cores| cores.get())
                .min(DEFAULT_MAX_PERMITS),
            raw => count("PASSWORD_HASH_CONCURRENCY", raw, 1)?,
        };
        if permits > MAX_PERMITS {
            return Err(invalid(
                "PASSWORD_HASH_CONCURRENCY",
                format!("at most {MAX_PERMITS} (each concurrent hash holds 19 MiB)"),
            ));
        }
        let max_queue = match self.password_hash_max_queue.as_str() {
            "auto" => permits * DEFAULT_QUEUE_PER_PERMIT,
            raw => count("PASSWORD_HASH_MAX_QUEUE", raw, 0)?,
        };
        Ok(QueuePolicy {
            permits,
            max_wait: parse_wait(&self.password_hash_max_wait)?,
            max_queue,
        })
    }
}

fn count(var: &'static str, raw: &str, min: u32) -> Result<usize, ConfigError> {
    let count = parse_count(var, raw, min)?;
    usize::try_from(count).map_err(|_| invalid(var, "too large"))
}

fn parse_wait(raw: &str) -> Result<Duration, ConfigError> {
    const VAR: &str = "PASSWORD_HASH_MAX_WAIT";
    let wait = humantime::parse_duration(raw)
        .map_err(|_| invalid(VAR, format!("'{raw}' is not a duration (e.g. 1s, 500ms)")))?;
    if wait > Duration::from_secs(60) {
        return Err(invalid(
            VAR,
            "must be at most 60s (clients give up long before)",
        ));
    }
    Ok(wait)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::tests::{error_for, parse};
    use crate::passwords::QueuePolicy;

    #[test]
    fn the_defaults_follow_the_cores_up_to_four() {
        let cores = std::thread::available_parallelism().unwrap().get();
        let policy = parse(&[]).unwrap().hashing;
        assert_eq!(policy.permits, cores.min(4));
        assert_eq!(policy.max_queue, 32 * policy.permits);
        assert_eq!(policy.max_wait, Duration::from_secs(1));
    }

    #[test]
    fn each_bound_can_be_set() {
        let args = [
            "--password-hash-concurrency",
            "3",
            "--password-hash-max-wait",
            "250ms",
            "--password-hash-max-queue",
            "0",
        ];
        assert_eq!(
            parse(&args).unwrap().hashing,
            QueuePolicy {
                permits: 3,
                max_wait: Duration::from_millis(250),
                max_queue: 0,
            }
        );
    }

    #[test]
    fn nonsense_is_refused_naming_the_variable() {
        for (flag, value, var) in [
            (
                "--password-hash-concurrency",
                "0",
                "PASSWORD_HASH_CONCURRENCY",
            ),
            (
                "--password-hash-concurrency",
                "many",
                "PASSWORD_HASH_CONCURRENCY",
            ),
            (
                "--password-hash-concurrency",
                "65",
                "PASSWORD_HASH_CONCURRENCY",
            ),
            ("--password-hash-max-wait", "soon", "PASSWORD_HASH_MAX_WAIT"),
            ("--password-hash-max-wait", "2m", "PASSWORD_HASH_MAX_WAIT"),
            (
                "--password-hash-max-queue",
                "few",
                "PASSWORD_HASH_MAX_QUEUE",
            ),
        ] {
            let error = error_for(&[flag, value]);
            assert!(error.starts_with(&format!("invalid {var}:")), "{error}");
        }
    }
}
