//! The key ring a running issuer signs with, kept in step with `KEYS_DIR`.
//!
//! Phases move by the clock alone (see [`lifecycle`](super::lifecycle)), so a key starts
//! signing at its time on every replica without any reload. Changes to the files (a rotation, a
//! retirement) are picked up by [`spawn_reloader`], which checks the directory every
//! `KEYS_RELOAD_INTERVAL` and, when `KEY_ROTATION_INTERVAL` is set, rotates on schedule. A
//! reload that fails (a file half-edited by hand) keeps the ring that works and logs why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::KeyError;
use super::manifest;
use super::ring::KeyRing;
use super::rotation::{self, RotationTiming};
use crate::clock::{Clock, unix_seconds};
use crate::time::format_time;

/// How the ring is kept up to date and rotated.
#[derive(Debug, Clone)]
pub struct RingSettings {
    /// `KEYS_DIR`.
    pub dir: PathBuf,
    /// The access-token lifetime: retired keys stay published this long (plus leeway).
    pub token_ttl: Duration,
    /// How long a new key is published before it signs (`KEY_PUBLISH_LEAD`).
    pub publish_lead: Duration,
    /// Scheduled rotation (`KEY_ROTATION_INTERVAL`); `None`: only by hand.
    pub rotation_interval: Option<Duration>,
    /// How often the directory is checked for changes (`KEYS_RELOAD_INTERVAL`).
    pub reload_interval: Duration,
}

impl RingSettings {
    /// The timing of a rotation at `now`.
    pub fn timing(&self, now: i64) -> RotationTiming {
        RotationTiming {
            now,
            publish_lead: self.publish_lead,
            token_ttl: self.token_ttl,
        }
    }
}

/// The loaded ring, swapped whole when the directory changes.
#[derive(Debug)]
pub struct LiveKeyRing {
    settings: RingSettings,
    ring: RwLock<Arc<KeyRing>>,
    /// What the loaded ring was read from; a reload with the same bytes does nothing.
    fingerprint: Mutex<Vec<u8>>,
}

impl LiveKeyRing {
    /// Loads the ring in `settings.dir` as of `now`.
    ///
    /// # Errors
    /// The first key or manifest that cannot be loaded.
    pub fn load(settings: RingSettings, now: i64) -> Result<Self, KeyError> {
        let fingerprint = manifest::fingerprint(&settings.dir);
        let ring = KeyRing::load(&settings.dir, now, settings.token_ttl, None)?;
        Ok(Self {
            settings,
            ring: RwLock::new(Arc::new(ring)),
            fingerprint: Mutex::new(fingerprint),
        })
    }

    /// The ring as last loaded.
    pub fn snapshot(&self) -> Arc<KeyRing> {
        Arc::clone(&self.ring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.settings.dir
    }

    /// Re-reads the directory if it changed; `Ok(true)` when a new ring was loaded.
    ///
    /// # Errors
    /// The new files cannot be loaded; the previous ring stays in use.
    pub fn reload(&self, now: i64) -> Result<bool, KeyError> {
        let fingerprint = manifest::fingerprint(&self.settings.dir);
        let mut known = self
            .fingerprint
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *known == fingerprint {
            return Ok(false);
        }
        let previous = self.snapshot();
        let ring = KeyRing::load(
            &self.settings.dir,
            now,
            self.settings.token_ttl,
            Some(&previous),
        )?;
        // Files moved aside, a mount gone, `keygen --force` half done: losing every signing
        // key is never what an operator meant, so it is refused like a broken file.
        if previous.signing_key(now).is_some() && ring.signing_key(now).is_none() {
            return Err(KeyError::NoSigningKey(self.settings.dir.clone()));
        }
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
        *known = fingerprint;
        Ok(true)
    }

    /// One tick of the background task: rotate if scheduled and due, then reload.
    fn tick(&self, now: i64) {
        if let Some(interval) = self.settings.rotation_interval {
            match rotation::rotate_if_due(&self.settings.dir, self.settings.timing(now), interval) {
                Ok(Some(rotation)) => tracing::info!(
                    kid = %rotation.kid,
                    signs_from = %format_time(rotation.signs_from),
                    "scheduled key rotation: new key published"
                ),
                Ok(None) => {}
                Err(error) => tracing::error!(%error, "scheduled key rotation failed"),
            }
        }
        match self.reload(now) {
            Ok(true) => {
                let ring = self.snapshot();
                let kids: Vec<&str> = ring.published(now).map(|key| key.kid()).collect();
                let signing = ring.signing_key(now).map(|key| key.kid().to_owned());
                tracing::info!(published = ?kids, signing = ?signing, "key ring reloaded");
            }
            Ok(false) => {}
            Err(error) => {
                tracing::error!(%error, "key ring not reloaded; keeping the previous one")
            }
        }
    }
}

/// Checks `KEYS_DIR` every reload interval (and rotates on schedule if configured) until the
/// returned task is aborted. File access runs on the blocking pool.
pub fn spawn_reloader(ring: Arc<LiveKeyRing>, clock: Arc<dyn Clock>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(ring.settings.reload_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let ring = Arc::clone(&ring);
            let now = unix_seconds(clock.now());
            if tokio::task::spawn_blocking(move || ring.tick(now))
                .await
                .is_err()
            {
                tracing::error!("key ring reload panicked");
            }
        }
    })
}

#[cfg(test)]
impl RingSettings {
    /// The defaults' lifetimes for a ring in `dir`, without scheduled rotation.
    pub(crate) fn for_tests(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            token_ttl: Duration::from_secs(900),
            publish_lead: Duration::from_secs(3600),
            rotation_interval: None,
            reload_interval: Duration::from_secs(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::manifest::MANIFEST_FILE;

    #[test]
    fn a_reload_picks_up_a_rotation_and_a_broken_change_keeps_the_working_ring() {
        let dir = tempfile::TempDir::new().unwrap();
        let settings = RingSettings::for_tests(dir.path());
        let first = rotation::rotate(dir.path(), settings.timing(0), false).unwrap();
        let live = LiveKeyRing::load(settings.clone(), 0).unwrap();

        assert!(!live.reload(0).unwrap(), "nothing changed");
        let next = rotation::rotate(dir.path(), settings.timing(10), false).unwrap();
        assert!(live.reload(10).unwrap());
        assert_eq!(live.snapshot().published(10).count(), 2);

        std::fs::write(dir.path().join(MANIFEST_FILE), "{ not json").unwrap();
        assert!(matches!(live.reload(20), Err(KeyError::BadManifest { .. })));
        let kept = live.snapshot();
        assert_eq!(kept.signing_key(20).unwrap().kid(), first.kid);
        assert!(kept.published_key(&next.kid, 20).is_some());

        std::fs::remove_file(dir.path().join(MANIFEST_FILE)).unwrap();
        assert!(matches!(live.reload(30), Err(KeyError::NoSigningKey(_))));
        assert_eq!(live.snapshot().signing_key(30).unwrap().kid(), first.kid);
    }

    #[test]
    fn a_reload_that_would_read_a_key_file_other_users_may_read_keeps_the_working_ring() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::TempDir::new().unwrap();
        let settings = RingSettings::for_tests(dir.path());
        let first = rotation::rotate(dir.path(), settings.timing(0), false).unwrap();
        let live = LiveKeyRing::load(settings.clone(), 0).unwrap();
        let next = rotation::rotate(dir.path(), settings.timing(10), false).unwrap();
        let chmod = |mode| {
            std::fs::set_permissions(&next.path, std::fs::Permissions::from_mode(mode)).unwrap();
        };

        chmod(0o644);
        let refused = live.reload(10);
        let kept: Vec<String> = live
            .snapshot()
            .published(10)
            .map(|key| key.kid().to_owned())
            .collect();
        chmod(0o600);
        let fixed = live.reload(20);

        assert!(
            matches!(refused, Err(KeyError::ExposedKey { ref path, .. }) if *path == next.path),
            "{refused:?}"
        );
        assert_eq!(kept, [first.kid]);
        assert!(fixed.unwrap(), "the fixed file is picked up");
        assert_eq!(live.snapshot().published(20).count(), 2);
    }
}
