//! Password hashing with argon2id, off the async runtime, bounded in concurrency, in memory
//! and in how long work may wait.
//!
//! Parameters: m = 19 MiB, t = 2, p = 1, OWASP's recommended minimum for argon2id (Password
//! Storage Cheat Sheet). One hash takes tens of milliseconds of one core and 19 MiB:
//! - a semaphore caps how many run at once ([`QueuePolicy::permits`]), and each permit reuses
//!   one block buffer ([`argon`]), so hashing holds at most `permits x 19 MiB` however many
//!   logins arrive, and returns none of it to the allocator to fragment;
//! - a request must be admitted before its work starts ([`PasswordHashing::admit`], before
//!   the database is read); beyond the wait the queue allows ([`admission`]) it is turned away
//!   at once with [`Busy`], which the API answers 503 + `Retry-After`;
//! - the async runtime never runs a hash (`spawn_blocking`).

mod admission;
mod argon;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use argon2::{Block, Params};
use tokio::sync::Semaphore;

use admission::Queue;
pub use admission::QueuePolicy;
pub use argon::HashError;
use argon::Memory;

use crate::domain::Password;
use crate::metrics;

/// argon2id memory cost in KiB.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// argon2id passes.
pub const ITERATIONS: u32 = 2;
/// argon2id lanes.
pub const PARALLELISM: u32 = 1;

/// Default hashes at once: one per core, at most this many (each holds [`MEMORY_KIB`]).
pub const DEFAULT_MAX_PERMITS: usize = 4;
/// Default requests waiting per permit, whatever the implied wait.
pub const DEFAULT_QUEUE_PER_PERMIT: usize = 32;

/// The hashing queue admits no more work now; nothing was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is at capacity; retry in {retry_after:?}")]
pub struct Busy {
    /// About how long the work already admitted takes.
    pub retry_after: Duration,
}

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct PasswordHashing {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    permits: Arc<Semaphore>,
    /// Block buffers of finished hashes, taken by the next ones.
    memory: Mutex<Vec<Memory>>,
    queue: Queue,
    /// A real hash of nothing anyone knows, verified when the e-mail is unknown so that the
    /// answer takes as long as for a wrong password.
    dummy_hash: String,
    stats: Counters,
}

#[derive(Default)]
struct Counters {
    running: AtomicUsize,
    completed: AtomicU64,
    /// Block buffers ever allocated (a panicking hash loses its buffer; the next allocates).
    buffers: AtomicUsize,
}

/// A snapshot of the hasher's work, for monitoring and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingStats {
    /// Hashes or verifications running right now on blocking threads.
    pub running: usize,
    /// Hashes or verifications finished since start.
    pub completed: u64,
    /// Block buffers allocated since start: at most the permits.
    pub buffers: usize,
}

impl PasswordHashing {
    /// A hasher admitting work as `policy` allows. Computes one hash (the dummy) to learn how
    /// long a hash takes on this machine.
    pub fn new(policy: QueuePolicy) -> Result<Self, HashError> {
        let params =
            Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).map_err(HashError::new)?;
        let mut memory = argon::memory_for(&params);
        let started = Instant::now();
        let secret = crate::tokens::new_opaque_token();
        let dummy_hash = argon::hash(&params, secret.as_bytes(), &mut memory)?;
        let hash_time = started.elapsed();
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                permits: Arc::new(Semaphore::new(policy.permits.max(1))),
                memory: Mutex::new(vec![memory]),
                queue: Queue::new(policy, hash_time),
                dummy_hash,
                stats: Counters {
                    buffers: AtomicUsize::new(1),
                    ..Counters::default()
                },
            }),
        })
    }

    /// A place in the queue for one hash or verification, or [`Busy`] when the wait it implies
    /// is longer than the policy allows. Take it before any other work of the request (reading
    /// the account, counting the attempt), so that a refused request costs nothing.
    pub fn admit(&self) -> Result<Admission, Busy> {
        if self.inner.queue.try_enter() {
            Ok(Admission {
                inner: Arc::clone(&self.inner),
            })
        } else {
            Err(Busy {
                retry_after: self.drain_time(),
            })
        }
    }

    /// What the hasher is doing.
    pub fn stats(&self) -> HashingStats {
        let stats = &self.inner.stats;
        HashingStats {
            running: stats.running.load(Ordering::SeqCst),
            completed: stats.completed.load(Ordering::SeqCst),
            buffers: stats.buffers.load(Ordering::SeqCst),
        }
    }

    /// The current estimate of one hash's duration (start-up measurement, then the average).
    pub fn hash_time(&self) -> Duration {
        self.inner.queue.average_hash_time()
    }

    /// About how long the queue takes to empty when full: the longest admitted wait.
    fn drain_time(&self) -> Duration {
        let policy = self.inner.queue.policy();
        policy.max_wait.max(self.hash_time())
    }
}

impl Inner {
    fn take_memory(&self) -> Memory {
        let free = self
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        free.unwrap_or_else(|| {
            self.stats.buffers.fetch_add(1, Ordering::SeqCst);
            argon::memory_for(&self.params)
        })
    }

    fn give_back(&self, memory: Memory) {
        self.memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(memory);
    }
}

/// A place in the hashing queue ([`PasswordHashing::admit`]), used by one hash or
/// verification; dropping it unused gives the place back.
#[must_use = "an admission holds a place in the hashing queue until it is used or dropped"]
pub struct Admission {
    inner: Arc<Inner>,
}

impl Admission {
    /// Hashes a new password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    pub async fn hash(self, password: Password) -> Result<String, HashError> {
        self.run(move |params, memory| argon::hash(params, password.expose().as_bytes(), memory))
            .await
    }

    /// Checks `password` against `stored`, or against a dummy hash when there is no account, so
    /// both cases cost the same. Returns whether it matched (never true without an account).
    pub async fn verify(self, password: String, stored: Option<String>) -> Result<bool, HashError> {
        let inner = Arc::clone(&self.inner);
        self.run(move |_, memory| {
            let has_account = stored.is_some();
            let phc = stored.as_deref().unwrap_or(&inner.dummy_hash);
            let matches = argon::verify(phc, password.as_bytes(), memory)?;
            Ok(has_account && matches)
        })
        .await
    }

    /// Waits for a permit, then runs `job` on a blocking thread with a block buffer.
    async fn run<T: Send + 'static>(
        self,
        job: impl FnOnce(&Params, &mut [Block]) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        // Only a hash that has to wait is counted in the queue.
        let permit = match Arc::clone(&self.inner.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let _queued = metrics::gauge_while(metrics::PASSWORD_HASH_QUEUE_DEPTH);
                Arc::clone(&self.inner.permits)
                    .acquire_owned()
                    .await
                    .map_err(HashError::new)?
            }
        };
        // A permit's turn is timed from here, so that the estimate of the queue's wait also
        // counts the hand-over to a blocking thread, which grows on a busy machine.
        let granted = Instant::now();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let inner = &self.inner;
            let _running = metrics::gauge_while(metrics::PASSWORD_HASHES_RUNNING);
            inner.stats.running.fetch_add(1, Ordering::SeqCst);
            let mut memory = inner.take_memory();
            let result = job(&inner.params, &mut memory);
            inner.queue.record(granted.elapsed());
            inner.give_back(memory);
            inner.stats.running.fetch_sub(1, Ordering::SeqCst);
            inner.stats.completed.fetch_add(1, Ordering::SeqCst);
            ::metrics::counter!(metrics::PASSWORD_HASHES_TOTAL).increment(1);
            result
        })
        .await
        .map_err(HashError::new)?
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.inner.queue.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(permits: usize) -> PasswordHashing {
        PasswordHashing::new(QueuePolicy::unlimited(permits)).unwrap()
    }

    fn password(text: &str) -> Password {
        Password::parse(text.into()).unwrap()
    }

    async fn verify(hashing: &PasswordHashing, password: &str, stored: Option<String>) -> bool {
        let admission = hashing.admit().unwrap();
        admission.verify(password.into(), stored).await.unwrap()
    }

    #[tokio::test]
    async fn a_hash_is_argon2id_with_the_documented_parameters() {
        let hash = hasher(1)
            .admit()
            .unwrap()
            .hash(password("correct horse"))
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
    }

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let hashing = hasher(2);
        let hash = hashing
            .admit()
            .unwrap()
            .hash(password("correct horse"))
            .await
            .unwrap();
        assert!(verify(&hashing, "correct horse", Some(hash.clone())).await);
        assert!(!verify(&hashing, "wrong horse!", Some(hash)).await);
    }

    #[tokio::test]
    async fn no_password_verifies_without_an_account() {
        assert!(!verify(&hasher(1), "anything at all", None).await);
    }

    #[tokio::test]
    async fn however_many_verify_at_once_the_buffers_stay_one_per_permit() {
        let hashing = hasher(2);
        let verifications: Vec<_> = (0..8)
            .map(|_| {
                let admission = hashing.admit().unwrap();
                tokio::spawn(admission.verify("pw".into(), None))
            })
            .collect();
        for verification in verifications {
            assert!(!verification.await.unwrap().unwrap());
        }
        let stats = hashing.stats();
        assert_eq!(stats.completed, 8);
        assert!(stats.buffers <= 2, "{stats:?}");
    }

    #[tokio::test]
    async fn a_full_queue_turns_work_away_until_a_place_is_given_back() {
        let hashing = PasswordHashing::new(QueuePolicy {
            permits: 1,
            max_wait: Duration::from_secs(60),
            max_queue: 1,
        })
        .unwrap();
        let running = hashing.admit().unwrap();
        let waiting = hashing.admit().unwrap();
        let busy = hashing.admit().err().expect("third admission refused");
        assert!(busy.retry_after >= Duration::from_secs(60), "{busy:?}");

        drop(waiting);
        let again = hashing.admit().unwrap();
        assert!(!again.verify("pw".into(), None).await.unwrap());
        assert!(!running.verify("pw".into(), None).await.unwrap());
        assert_eq!(hashing.stats().completed, 2);
    }
}
