//! The load driver: `C` tasks repeat one operation for a fixed time, each timing every call.
//!
//! Every phase runs the same way, whether the operation is an HTTP request or a bare hash: the
//! tasks start together, run a warm-up whose calls are not recorded, then record every call
//! that *starts* inside the measuring window. The rate is those calls divided by the window
//! (unbiased in steady state: the calls still running at the end are balanced by those that
//! were already running at the start, thanks to the warm-up), and the latencies are exact (a
//! sorted `Vec` of every call, no histogram buckets).
//!
//! A row and its baseline are measured in alternating slices ([`interleave`]): on a shared
//! machine, whatever else runs slows both alike, and their ratio holds even when the absolute
//! figures move.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// When a slice warms up and measures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Calls in this first stretch are made but not recorded.
    pub(crate) warmup: Duration,
    /// Calls starting in this stretch after the warm-up are recorded.
    pub(crate) measure: Duration,
}

/// What a phase measured, over all its slices.
#[derive(Debug, Default)]
pub(crate) struct Sample {
    /// Latency of every successful call, in nanoseconds; sorted once the phase is done.
    latencies: Vec<u64>,
    /// The measuring windows, added up.
    measured: Duration,
    /// Failed calls (a task stops at its first failure).
    pub(crate) errors: usize,
    /// What the first failure said.
    pub(crate) first_error: Option<String>,
}

impl Sample {
    /// Successful calls per second.
    pub(crate) fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.measured.as_secs_f64()
    }

    /// Successful calls recorded.
    pub(crate) fn count(&self) -> usize {
        self.latencies.len()
    }

    /// The latency below which a fraction `q` of the calls finished (nearest rank).
    pub(crate) fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.latencies.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n.max(1));
        self.latencies
            .get(rank - 1)
            .copied()
            .map(Duration::from_nanos)
    }
}

/// One operation and the state of each task that runs it, measured slice by slice.
///
/// `op` takes a task's state and gives it back with the call's outcome (a refresh chain keeps
/// its latest token this way), so the states carry over from one slice to the next.
pub(crate) struct Load<S, F> {
    states: Vec<S>,
    op: F,
    /// Everything measured so far.
    pub(crate) sample: Sample,
}

impl<S, F, Fut> Load<S, F>
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = (S, Result<(), String>)> + Send + 'static,
{
    /// One task per state, each calling `op`.
    pub(crate) fn new(states: Vec<S>, op: F) -> Self {
        Self {
            states,
            op,
            sample: Sample::default(),
        }
    }

    /// Runs the tasks for one window. A task stops at its first failure (and takes no part in
    /// later slices), so a broken setup shows as errors, not as a storm of them.
    ///
    /// Each task yields to the scheduler between calls, so that operations that never wait (a
    /// signature) still share the worker threads the way request handlers do; the yield is
    /// outside the timed call.
    async fn run(&mut self, window: Window) {
        let recording_from = Instant::now() + window.warmup;
        let until = recording_from + window.measure;
        let op = self.op;
        let tasks: Vec<_> = std::mem::take(&mut self.states)
            .into_iter()
            .map(|mut state| {
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    loop {
                        let started = Instant::now();
                        if started >= until {
                            return (latencies, Ok(state));
                        }
                        let (next, outcome) = op(state).await;
                        state = next;
                        let took = started.elapsed();
                        match outcome {
                            Ok(()) if started >= recording_from => {
                                latencies.push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
                            }
                            Ok(()) => {}
                            Err(error) => return (latencies, Err(error)),
                        }
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        self.sample.measured += window.measure;
        for task in tasks {
            let (latencies, state) = task.await.expect("a load task panicked");
            self.sample.latencies.extend(latencies);
            match state {
                Ok(state) => self.states.push(state),
                Err(error) => {
                    self.sample.errors += 1;
                    self.sample.first_error.get_or_insert(error);
                }
            }
        }
    }
}

/// A [`Load`] of any state and operation, so that loads of different kinds can alternate.
pub(crate) trait Slice: Send {
    /// Runs one window.
    fn slice(&mut self, window: Window) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

impl<S, F, Fut> Slice for Load<S, F>
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = (S, Result<(), String>)> + Send + 'static,
{
    fn slice(&mut self, window: Window) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.run(window))
    }
}

/// Measures `loads` in turn, `rounds` times, each slice getting `window.measure / rounds` after
/// its own warm-up.
pub(crate) async fn interleave(loads: &mut [&mut dyn Slice], window: Window, rounds: u32) {
    let slice = Window {
        warmup: window.warmup,
        measure: window.measure / rounds.max(1),
    };
    for _ in 0..rounds.max(1) {
        for load in loads.iter_mut() {
            load.slice(slice).await;
        }
    }
}

impl<S, F> Load<S, F> {
    /// The sample, its latencies sorted.
    pub(crate) fn finish(mut self) -> Sample {
        self.sample.latencies.sort_unstable();
        self.sample
    }
}
