//! Waiting for something that happens in the background (a process starting, a key ring
//! reload, a cache refresh, a report arriving), never to let time pass.
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let done = AtomicBool::new(false);
//! done.store(true, Ordering::Release);
//! test_support::wait::wait_until("the flag is set", || async { done.load(Ordering::Acquire) })
//!     .await;
//! # }
//! ```

use std::future::Future;
use std::time::{Duration, Instant};

/// How long anything a test waits for may take: a process to say it listens, a line to be
/// logged, a condition to hold, an event to arrive. Only a bound on a condition wait: a healthy
/// run never waits this long.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How often [`wait_until`] checks its condition.
const POLL: Duration = Duration::from_millis(20);

/// Polls `condition` until it holds; panics naming `what` after [`PATIENCE`].
pub async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !condition().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(POLL).await;
    }
}
