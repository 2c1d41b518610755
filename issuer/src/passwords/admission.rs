//! Admission to the hashing queue: a login or registration is let in only when the wait the
//! queue implies is short enough; otherwise it is turned away at once (503 + `Retry-After`)
//! instead of joining a queue whose answer would come after the client has given up.
//!
//! The implied wait of a newcomer is the number of hashing rounds ahead of it (those admitted
//! beyond the permits, itself included, divided by the permits, rounded up) times the average
//! turn of a permit (from the permit's grant to the hash's end, hand-over to a blocking thread
//! included). The average starts from a hash timed at start-up and follows every hash
//! (exponentially weighted), so a machine that slows down under load admits fewer.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// How much hashing work may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    /// Hashes running at once (each holds one block buffer).
    pub permits: usize,
    /// Longest implied wait a newcomer is admitted into.
    pub max_wait: Duration,
    /// Most requests waiting for a permit, whatever their implied wait.
    pub max_queue: usize,
}

impl QueuePolicy {
    /// `permits` at once and no bound on waiting: for one-off work such as `issuer user add`.
    pub fn unlimited(permits: usize) -> Self {
        Self {
            permits,
            max_wait: Duration::MAX,
            max_queue: usize::MAX,
        }
    }

    /// Whether a newcomer is admitted when `admitted` requests hold a place already and a hash
    /// takes `hash_time`.
    pub fn admits(&self, admitted: usize, hash_time: Duration) -> bool {
        let permits = self.permits.max(1);
        let waiting = (admitted + 1).saturating_sub(permits);
        let rounds = u32::try_from(waiting.div_ceil(permits)).unwrap_or(u32::MAX);
        waiting <= self.max_queue && hash_time.saturating_mul(rounds) <= self.max_wait
    }
}

/// The places taken in the queue and the average hash time.
pub(super) struct Queue {
    policy: QueuePolicy,
    admitted: AtomicUsize,
    average_nanos: AtomicU64,
}

impl Queue {
    /// An empty queue whose first estimate of a hash is `hash_time`.
    pub(super) fn new(policy: QueuePolicy, hash_time: Duration) -> Self {
        Self {
            policy,
            admitted: AtomicUsize::new(0),
            average_nanos: AtomicU64::new(nanos(hash_time)),
        }
    }

    /// Takes a place if the policy admits one more; `false` (and nothing taken) otherwise.
    pub(super) fn try_enter(&self) -> bool {
        let hash_time = self.average_hash_time();
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |admitted| {
                self.policy
                    .admits(admitted, hash_time)
                    .then_some(admitted + 1)
            })
            .is_ok()
    }

    /// Gives a place back.
    pub(super) fn leave(&self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }

    /// Folds one hash's duration into the average (weight 1/8).
    pub(super) fn record(&self, took: Duration) {
        let sample = nanos(took);
        let _ = self
            .average_nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |average| {
                Some(average - average / 8 + sample / 8)
            });
    }

    /// The current estimate of one hash's duration.
    pub(super) fn average_hash_time(&self) -> Duration {
        Duration::from_nanos(self.average_nanos.load(Ordering::Relaxed))
    }

    /// What the queue is allowed.
    pub(super) fn policy(&self) -> QueuePolicy {
        self.policy
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: Duration = Duration::from_millis(50);

    fn policy(permits: usize, max_wait_ms: u64, max_queue: usize) -> QueuePolicy {
        QueuePolicy {
            permits,
            max_wait: Duration::from_millis(max_wait_ms),
            max_queue,
        }
    }

    #[test]
    fn up_to_the_permits_nobody_waits() {
        let no_waiting = policy(2, 0, 0);
        assert!(no_waiting.admits(0, HASH));
        assert!(no_waiting.admits(1, HASH));
        assert!(!no_waiting.admits(2, HASH));
    }

    #[test]
    fn the_implied_wait_counts_whole_rounds_of_hashing() {
        // 2 permits, 50 ms a hash, 100 ms at most: two rounds of two.
        let two_rounds = policy(2, 100, usize::MAX);
        assert!(two_rounds.admits(5, HASH), "6th: 4 waiting, 2 rounds");
        assert!(!two_rounds.admits(6, HASH), "7th: 5 waiting, 3 rounds");
        assert!(
            two_rounds.admits(6, HASH / 2),
            "faster hashes admit more: 3 rounds of 25 ms"
        );
    }

    #[test]
    fn the_queue_length_caps_whatever_the_wait() {
        let short_queue = policy(1, 60_000, 3);
        assert!(short_queue.admits(3, HASH), "3 waiting");
        assert!(!short_queue.admits(4, HASH), "4 waiting");
    }

    #[test]
    fn a_place_taken_is_counted_until_it_is_given_back() {
        let queue = Queue::new(policy(1, 0, 0), HASH);
        assert!(queue.try_enter());
        assert!(!queue.try_enter(), "the one permit is taken, no waiting");
        queue.leave();
        assert!(queue.try_enter());
    }

    #[test]
    fn the_average_follows_the_hashes() {
        let queue = Queue::new(policy(1, 0, 0), Duration::from_millis(80));
        for _ in 0..100 {
            queue.record(Duration::from_millis(40));
        }
        let average = queue.average_hash_time();
        assert!(
            average >= Duration::from_millis(40) && average < Duration::from_millis(41),
            "{average:?}"
        );
    }
}
