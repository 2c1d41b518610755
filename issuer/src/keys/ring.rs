//! The key ring as loaded: each published key parsed from its file, and the signer's view of
//! it at a given time (which key signs, which are published).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::lifecycle::Phase;
use super::manifest::{KeyEntry, Manifest, read_manifest};
use super::{KeyError, KeyFileAccess, RsaSigningKey};
use crate::time::seconds;

/// The ring as loaded: the manifest and each published key's material.
#[derive(Debug)]
pub struct KeyRing {
    manifest: Manifest,
    keys: Vec<Option<Arc<RsaSigningKey>>>,
    token_ttl: i64,
}

impl KeyRing {
    /// A ring without keys (HS256 mode with nothing in `KEYS_DIR`).
    pub fn empty(token_ttl: Duration) -> Self {
        Self {
            manifest: Manifest::default(),
            keys: Vec::new(),
            token_ttl: seconds(token_ttl),
        }
    }

    /// Loads the ring in `dir` as of `now`: the keys not removed by then. Keys of `previous`
    /// with the same file and kid are reused rather than parsed again.
    ///
    /// # Errors
    /// A missing key file for a published key, a file holding another key than the manifest
    /// says, or an unreadable manifest.
    pub fn load(
        dir: &Path,
        now: i64,
        token_ttl: Duration,
        previous: Option<&KeyRing>,
    ) -> Result<Self, KeyError> {
        let manifest = read_manifest(dir)?;
        let token_ttl = seconds(token_ttl);
        let mut keys = Vec::with_capacity(manifest.keys.len());
        for entry in &manifest.keys {
            if !manifest.phase(entry, now, token_ttl).is_published() {
                keys.push(None);
                continue;
            }
            let reused = previous.and_then(|ring| ring.loaded(entry));
            let key = match reused {
                Some(key) => key,
                None => Arc::new(load_entry(dir, entry)?),
            };
            keys.push(Some(key));
        }
        Ok(Self {
            manifest,
            keys,
            token_ttl,
        })
    }

    fn loaded(&self, entry: &KeyEntry) -> Option<Arc<RsaSigningKey>> {
        self.manifest
            .keys
            .iter()
            .zip(&self.keys)
            .find(|(known, _)| known.file == entry.file && known.kid == entry.kid)
            .and_then(|(_, key)| key.clone())
    }

    /// Whether the ring holds no key at all.
    pub fn is_empty(&self) -> bool {
        self.manifest.keys.is_empty()
    }

    /// The manifest it was loaded from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The key that signs at `now`.
    pub fn signing_key(&self, now: i64) -> Option<&RsaSigningKey> {
        self.with_phase(now)
            .find(|(phase, _)| *phase == Phase::Current)
            .map(|(_, key)| key)
    }

    /// The keys verifiers may use at `now` (next, current and retired), oldest first.
    pub fn published(&self, now: i64) -> impl Iterator<Item = &RsaSigningKey> {
        self.with_phase(now)
            .filter(|(phase, _)| phase.is_published())
            .map(|(_, key)| key)
    }

    /// The published key with this kid at `now`.
    pub fn published_key(&self, kid: &str, now: i64) -> Option<&RsaSigningKey> {
        self.published(now).find(|key| key.kid() == kid)
    }

    fn with_phase(&self, now: i64) -> impl Iterator<Item = (Phase, &RsaSigningKey)> {
        self.manifest
            .keys
            .iter()
            .zip(&self.keys)
            .filter_map(move |(entry, key)| {
                let key = key.as_deref()?;
                Some((self.manifest.phase(entry, now, self.token_ttl), key))
            })
    }
}

fn load_entry(dir: &Path, entry: &KeyEntry) -> Result<RsaSigningKey, KeyError> {
    let path = dir.join(&entry.file);
    let key = RsaSigningKey::load_file(&path)?;
    if key.kid() != entry.kid {
        return Err(KeyError::KidMismatch {
            path,
            expected: entry.kid.clone(),
            found: key.kid().to_owned(),
        });
    }
    if key.file_access() == KeyFileAccess::Group {
        tracing::warn!(
            file = %path.display(),
            "private key file may be read by its group: fine for a shared secret mount (Kubernetes fsGroup), otherwise run `chmod 600` on it"
        );
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::keys::rotation::rotate;
    use crate::keys::rotation::tests::timing;

    #[test]
    fn a_manifest_naming_another_key_than_its_file_holds_is_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let ours = rotate(dir.path(), timing(0), false).unwrap();
        let elsewhere = tempfile::TempDir::new().unwrap();
        let theirs = rotate(elsewhere.path(), timing(0), false).unwrap();
        fs::copy(&theirs.path, &ours.path).unwrap();

        let error = KeyRing::load(dir.path(), 0, Duration::from_secs(900), None).unwrap_err();

        assert!(matches!(error, KeyError::KidMismatch { .. }), "{error}");
    }
}
