//! The issuer's background jobs, started by [`crate::startup::Application::run_until`]: the
//! pruner, and the key ring's reload and scheduled rotation
//! ([`crate::keys::live::spawn_reloader`]).

use std::sync::Arc;

use crate::clock::Clock;
use crate::limits::HourlyCounts;
use crate::otp::OtpLimits;
use crate::sessions;
use crate::storage::Store;
use crate::throttle::LoginThrottle;
use crate::tokens::SessionPolicy;

pub use crate::keys::live::spawn_reloader as spawn_key_reloader;

/// What the pruner cleans up.
pub struct Prunable {
    /// Dead sessions ([`sessions::prune`]).
    pub store: Store,
    /// Forgotten login-failure counts.
    pub throttle: LoginThrottle,
    /// Hourly counts whose window is over.
    pub counts: HourlyCounts,
    /// Expired local OTP codes, when phone login is on.
    pub otp_limits: Option<OtpLimits>,
}

/// Prunes every `policy.prune_interval` until the returned task is aborted. A failed step is
/// logged and tried again at the next tick.
pub fn spawn_pruner(
    prunable: Prunable,
    clock: Arc<dyn Clock>,
    policy: SessionPolicy,
) -> tokio::task::JoinHandle<()> {
    let Prunable {
        store,
        throttle,
        counts,
        otp_limits,
    } = prunable;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(policy.prune_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match sessions::prune(&store, clock.now(), &policy).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "pruned dead sessions"),
                Err(error) => tracing::warn!(%error, "pruning sessions failed; will retry"),
            }
            if let Err(error) = throttle.prune().await {
                tracing::warn!(%error, "pruning login failure counts failed; will retry");
            }
            if let Err(error) = counts.prune().await {
                tracing::warn!(%error, "pruning hourly counts failed; will retry");
            }
            let now = crate::clock::unix_seconds(clock.now());
            if let Err(error) = store.prune_mailed_tokens(now).await {
                tracing::warn!(%error, "pruning mailed tokens failed; will retry");
            }
            if let Some(limits) = &otp_limits
                && let Err(error) = limits.prune().await
            {
                tracing::warn!(%error, "pruning OTP codes failed; will retry");
            }
        }
    })
}
