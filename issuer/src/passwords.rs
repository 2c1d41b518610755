//! Password hashing with argon2id, off the async runtime and bounded in concurrency.
//!
//! Parameters: m = 19 MiB, t = 2, p = 1, OWASP's recommended minimum for argon2id (Password
//! Storage Cheat Sheet). One hash takes tens of milliseconds of one core and 19 MiB; the
//! semaphore caps how many run at once (default: one per core), so a login storm queues instead
//! of exhausting memory or the blocking thread pool, and the async runtime never runs a hash.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;
use crate::metrics;

/// argon2id memory cost in KiB.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// argon2id passes.
pub const ITERATIONS: u32 = 2;
/// argon2id lanes.
pub const PARALLELISM: u32 = 1;

/// Hashing failed: the library refused, or the worker thread died.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct PasswordHashing {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// A real hash of nothing anyone knows, verified when the e-mail is unknown so that the
    /// answer takes as long as for a wrong password.
    dummy_hash: Arc<str>,
    stats: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    running: AtomicUsize,
    completed: AtomicU64,
}

/// A snapshot of the hasher's work, for monitoring and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingStats {
    /// Hashes or verifications running right now on blocking threads.
    pub running: usize,
    /// Hashes or verifications finished since start.
    pub completed: u64,
}

impl PasswordHashing {
    /// A hasher allowing `max_concurrent` hashes at once.
    pub fn new(max_concurrent: usize) -> Result<Self, HashError> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
            .map_err(|e| HashError(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash =
            hash_blocking(&argon2, crate::tokens::new_refresh_token().as_bytes())?.into();
        Ok(Self {
            argon2,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash,
            stats: Arc::default(),
        })
    }

    /// Hashes a new password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        let argon2 = self.argon2.clone();
        self.run_blocking(move || hash_blocking(&argon2, password.expose().as_bytes()))
            .await?
    }

    /// Checks `password` against `stored`, or against a dummy hash when there is no account, so
    /// both cases cost the same. Returns whether it matched (never true without an account).
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let argon2 = self.argon2.clone();
        let dummy = Arc::clone(&self.dummy_hash);
        self.run_blocking(move || {
            let has_account = stored.is_some();
            let phc = stored.as_deref().unwrap_or(&dummy);
            let parsed = PasswordHash::new(phc).map_err(|e| HashError(e.to_string()))?;
            let matches = argon2.verify_password(password.as_bytes(), &parsed).is_ok();
            Ok(has_account && matches)
        })
        .await?
    }

    /// What the hasher is doing.
    pub fn stats(&self) -> HashingStats {
        HashingStats {
            running: self.stats.running.load(Ordering::SeqCst),
            completed: self.stats.completed.load(Ordering::SeqCst),
        }
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        // Only a hash that has to wait is counted in the queue.
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let _queued = metrics::gauge_while(metrics::PASSWORD_HASH_QUEUE_DEPTH);
                Arc::clone(&self.permits)
                    .acquire_owned()
                    .await
                    .map_err(|e| HashError(e.to_string()))?
            }
        };
        let stats = Arc::clone(&self.stats);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _running = metrics::gauge_while(metrics::PASSWORD_HASHES_RUNNING);
            stats.running.fetch_add(1, Ordering::SeqCst);
            let result = job();
            stats.running.fetch_sub(1, Ordering::SeqCst);
            stats.completed.fetch_add(1, Ordering::SeqCst);
            ::metrics::counter!(metrics::PASSWORD_HASHES_TOTAL).increment(1);
            result
        })
        .await
        .map_err(|e| HashError(e.to_string()))
    }
}

fn hash_blocking(argon2: &Argon2<'_>, password: &[u8]) -> Result<String, HashError> {
    argon2
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> PasswordHashing {
        PasswordHashing::new(2).unwrap()
    }

    #[tokio::test]
    async fn a_hash_is_argon2id_with_the_documented_parameters() {
        let hash = hasher()
            .hash(Password::parse("correct horse".into()).unwrap())
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
    }

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let hashing = hasher();
        let hash = hashing
            .hash(Password::parse("correct horse".into()).unwrap())
            .await
            .unwrap();
        assert!(
            hashing
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hashing
                .verify("wrong horse!".into(), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn no_password_verifies_without_an_account() {
        assert!(
            !hasher()
                .verify("anything at all".into(), None)
                .await
                .unwrap()
        );
    }
}
