//! One download at a time: callers start one or join the one in flight, and wait on a watch
//! channel. The download runs in its own task, so a cancelled request does not cancel it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// The in-flight download, if any. The mutex is held only to start or join one, never across
/// I/O; [`is_running`](Self::is_running) is a lock-free read for the hot path.
#[derive(Debug, Default)]
pub(crate) struct SingleFlight {
    slot: Mutex<Option<watch::Receiver<bool>>>,
    running: Arc<AtomicBool>,
}

impl SingleFlight {
    /// Whether a download is in flight.
    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Joins the download in flight, or spawns `task()` as the new one.
    pub(crate) fn start<F>(&self, task: impl FnOnce() -> F) -> watch::Receiver<bool>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = slot.as_ref().filter(|flight| !*flight.borrow()) {
            return flight.clone();
        }
        let (done, flight) = watch::channel(false);
        *slot = Some(flight.clone());
        self.running.store(true, Ordering::Release);
        drop(slot);
        let guard = FlightGuard {
            running: Arc::clone(&self.running),
            done,
        };
        let task = task();
        tokio::spawn(async move {
            task.await;
            drop(guard);
        });
        flight
    }
}

/// Marks the flight done however the task ends, even by panic, so waiters wake and later
/// callers can start a new one.
struct FlightGuard {
    running: Arc<AtomicBool>,
    done: watch::Sender<bool>,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Release);
        self.done.send_replace(true);
    }
}

/// Waits until the flight is over.
pub(crate) async fn wait(mut flight: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means the flight is over.
    let _ = flight.wait_for(|done| *done).await;
}
