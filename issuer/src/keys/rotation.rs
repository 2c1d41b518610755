//! Changing the ring: `issuer keys rotate` and `retire`, and scheduled rotation.
//!
//! A rotation adds a key that signs one publish lead from now (publish-before-sign), so that
//! verifiers have fetched it before its first token arrives; the lifecycle
//! ([`lifecycle`](super::lifecycle)) then moves it on by the clock alone. Every change holds
//! the ring's lock and re-reads the manifest under it, so two writers (two operators, or
//! replicas that rotate on a schedule) never interleave.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::key_file::{create_keys_dir, write_file};
use super::keygen::new_private_key;
use super::lifecycle::Phase;
use super::manifest::{KeyEntry, Manifest, lock, read_manifest, write_manifest};
use super::{KeyError, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, RsaSigningKey};
use crate::time::{format_time, seconds};

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The new key.
    pub kid: String,
    /// Its file.
    pub path: PathBuf,
    /// When it starts signing.
    pub signs_from: i64,
    /// Removed keys whose entries and files were deleted.
    pub deleted: Vec<String>,
    /// Keys that were waiting to sign and were withdrawn (`--now` only).
    pub cancelled: Vec<String>,
}

/// How a rotation times the new key.
#[derive(Debug, Clone, Copy)]
pub struct RotationTiming {
    /// The time.
    pub now: i64,
    /// How long the new key is published before it signs (`KEY_PUBLISH_LEAD`).
    pub publish_lead: Duration,
    /// The access-token lifetime, which bounds how long retired keys stay.
    pub token_ttl: Duration,
}

/// Creates a new key in `dir` that signs one publish lead from now (publish-before-sign), or
/// at once when `immediately` is set or no key signs now (a new ring). Removed keys are
/// deleted on the way.
///
/// # Errors
/// A new key already waiting to sign (unless `immediately`), or an I/O failure.
pub fn rotate(dir: &Path, timing: RotationTiming, immediately: bool) -> Result<Rotation, KeyError> {
    create_keys_dir(dir)?;
    let _lock = lock(dir)?;
    let mut manifest = read_manifest(dir)?;
    let ttl = seconds(timing.token_ttl);
    if let (false, Some(next)) = (immediately, manifest.next(timing.now, ttl)) {
        return Err(KeyError::NextKeyPending {
            kid: next.kid.clone(),
            signs_from: format_time(next.signs_from),
        });
    }
    add_key(dir, &mut manifest, timing, immediately)
}

/// Rotates if the current key has signed for about `interval` (it would reach it one publish
/// lead from now) and no new key waits yet; otherwise only deletes removed keys. Safe to run
/// from every replica at once: the lock and a re-read decide.
///
/// # Errors
/// An I/O failure.
pub fn rotate_if_due(
    dir: &Path,
    timing: RotationTiming,
    interval: Duration,
) -> Result<Option<Rotation>, KeyError> {
    let _lock = lock(dir)?;
    let mut manifest = read_manifest(dir)?;
    let ttl = seconds(timing.token_ttl);
    let due = manifest.next(timing.now, ttl).is_none()
        && manifest.current(timing.now, ttl).is_some_and(|current| {
            let ends = current.signs_from.saturating_add(seconds(interval));
            timing.now.saturating_add(seconds(timing.publish_lead)) >= ends
        });
    if due {
        return add_key(dir, &mut manifest, timing, false).map(Some);
    }
    let removed = take_removed(&mut manifest, timing.now, ttl);
    if !removed.is_empty() {
        write_manifest(dir, &manifest)?;
        delete_files(dir, removed)?;
    }
    Ok(None)
}

fn add_key(
    dir: &Path,
    manifest: &mut Manifest,
    timing: RotationTiming,
    immediately: bool,
) -> Result<Rotation, KeyError> {
    let ttl = seconds(timing.token_ttl);
    let now = timing.now;
    let signs_from = match manifest.current(now, ttl) {
        None => now,
        Some(current) if immediately => takeover_time(current, now),
        Some(_) => now.saturating_add(seconds(timing.publish_lead)),
    };
    let mut cancelled = Vec::new();
    if immediately {
        // Keys waiting to sign would take over from the new one at their time; after a
        // compromise they may be compromised too.
        for index in 0..manifest.keys.len() {
            if manifest.phase(&manifest.keys[index], now, ttl) == Phase::Next {
                manifest.keys[index].retired_at = Some(now);
                cancelled.push(manifest.keys[index].kid.clone());
            }
        }
    }
    let removed = take_removed(manifest, now, ttl);
    let (_, pem) = new_private_key()?;
    let scratch = dir.join(format!(".new-key-{}.pem", std::process::id()));
    write_file(&scratch, pem.as_bytes(), 0o600)?;
    let key = RsaSigningKey::load_file(&scratch)?;
    let file = format!("{}.pem", key.kid());
    let path = dir.join(&file);
    fs::rename(&scratch, &path).map_err(|source| KeyError::Unwritable {
        path: path.clone(),
        source,
    })?;
    manifest.keys.push(KeyEntry {
        kid: key.kid().to_owned(),
        file,
        created_at: now,
        signs_from,
        retired_at: None,
        unpublished_at: None,
    });
    write_manifest(dir, manifest)?;
    let deleted = delete_files(dir, removed)?;
    Ok(Rotation {
        kid: key.kid().to_owned(),
        path,
        signs_from,
        deleted,
        cancelled,
    })
}

/// When a key made current by hand can take over from `current` at `now`: now, or a second
/// after `current` started if that is now, so that it ranks after `current` (a tie would let
/// `current` win and leave the new key never signing).
fn takeover_time(current: &KeyEntry, now: i64) -> i64 {
    now.max(current.signs_from.saturating_add(1))
}

/// How long after a key left the JWKS its entry and file are deleted. The margin covers an
/// `issuer keys` run with a shorter `ACCESS_TOKEN_TTL` than the servers' (which would see the key
/// as removed too early): deleting is the only step that cannot be taken back.
pub const DELETE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Takes out of `manifest` the keys removed for longer than [`DELETE_AFTER`].
fn take_removed(manifest: &mut Manifest, now: i64, ttl: i64) -> Vec<KeyEntry> {
    let deletable = |key: &KeyEntry| {
        let status = manifest.status(key, now, ttl);
        status.phase == Phase::Removed
            && status
                .published_until
                .is_some_and(|until| now >= until.saturating_add(seconds(DELETE_AFTER)))
    };
    let (removed, kept): (Vec<KeyEntry>, Vec<KeyEntry>) =
        manifest.keys.iter().cloned().partition(deletable);
    manifest.keys = kept;
    removed
}

/// Deletes the files of keys the manifest no longer names (it is written first, so no reader
/// sees an entry without its file); an adopted `private.pem` takes its `public.pem` along.
fn delete_files(dir: &Path, removed: Vec<KeyEntry>) -> Result<Vec<String>, KeyError> {
    for entry in &removed {
        let mut files = vec![entry.file.as_str()];
        if entry.file == PRIVATE_KEY_FILE {
            files.push(PUBLIC_KEY_FILE);
        }
        for file in files {
            let path = dir.join(file);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(KeyError::Unwritable { path, source }),
            }
        }
    }
    Ok(removed.into_iter().map(|entry| entry.kid).collect())
}

/// What retiring a key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retirement {
    /// The key's full kid.
    pub kid: String,
    /// Its phase before.
    pub was: Phase,
    /// Its phase now.
    pub now: Phase,
    /// When it leaves the JWKS.
    pub published_until: Option<i64>,
    /// The next key, made current at once because the retired key was signing, and since
    /// when it had been published.
    pub promoted: Option<(String, i64)>,
}

/// Retires the key `kid` (or the only key whose kid starts with it) at `now`: it stops
/// signing and stays published until its tokens have expired; a next key that never signed
/// is removed at once. Retiring the current key makes the next key current at once (refused
/// when there is none). With `unpublish`, the key also leaves the JWKS now (a compromised key:
/// its tokens stop verifying as soon as verifiers refresh).
///
/// # Errors
/// An unknown or ambiguous kid, no key to take over signing, or an I/O failure.
pub fn retire(
    dir: &Path,
    kid: &str,
    timing: RotationTiming,
    unpublish: bool,
) -> Result<Retirement, KeyError> {
    let _lock = lock(dir)?;
    let mut manifest = read_manifest(dir)?;
    let (now, ttl) = (timing.now, seconds(timing.token_ttl));
    let index = manifest.position(kid)?;
    let was = manifest.phase(&manifest.keys[index], now, ttl);
    let mut promoted = None;
    match was {
        Phase::Removed => return Err(KeyError::UnknownKid(kid.to_owned())),
        Phase::Current => {
            let next = manifest
                .next(now, ttl)
                .map(|next| next.kid.clone())
                .ok_or_else(|| KeyError::OnlySigningKey(manifest.keys[index].kid.clone()))?;
            let next = manifest.position(&next)?;
            let takeover = takeover_time(&manifest.keys[index], now);
            manifest.keys[next].signs_from = takeover;
            promoted = Some((
                manifest.keys[next].kid.clone(),
                manifest.keys[next].created_at,
            ));
            manifest.keys[index].retired_at = Some(takeover);
        }
        Phase::Next => manifest.keys[index].retired_at = Some(now),
        Phase::Retired => {}
    }
    if unpublish {
        // Not before it stops signing (a second at most): the ring always has a signing key.
        let at = manifest.keys[index]
            .retired_at
            .map_or(now, |at| at.max(now));
        manifest.keys[index].unpublished_at = Some(at);
    }
    write_manifest(dir, &manifest)?;
    let status = manifest.status(&manifest.keys[index], now, ttl);
    Ok(Retirement {
        kid: status.entry.kid.clone(),
        was,
        now: status.phase,
        published_until: status.published_until,
        promoted,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::keys::lifecycle::tests::{RETENTION, TTL};
    use crate::keys::ring::KeyRing;

    /// The default lead and token lifetime, at `now`.
    pub(crate) fn timing(now: i64) -> RotationTiming {
        RotationTiming {
            now,
            publish_lead: Duration::from_secs(3600),
            token_ttl: Duration::from_secs(u64::try_from(TTL).unwrap()),
        }
    }

    #[test]
    fn the_first_key_signs_at_once_and_a_second_rotation_waits_for_the_first() {
        let dir = tempfile::TempDir::new().unwrap();

        let first = rotate(dir.path(), timing(1000), false).unwrap();
        let second = rotate(dir.path(), timing(1010), false).unwrap();
        let refused = rotate(dir.path(), timing(1020), false).unwrap_err();
        let urgent = rotate(dir.path(), timing(1030), true).unwrap();

        assert_eq!(first.signs_from, 1000);
        assert_eq!(second.signs_from, 1010 + 3600);
        assert!(matches!(refused, KeyError::NextKeyPending { ref kid, .. } if *kid == second.kid));
        assert_eq!(urgent.signs_from, 1030);
        let manifest = read_manifest(dir.path()).unwrap();
        assert_eq!(manifest.current(1030, TTL).unwrap().kid, urgent.kid);
        assert_eq!(manifest.current(1010 + 3600, TTL).unwrap().kid, urgent.kid);
        assert_eq!(
            urgent.cancelled,
            std::slice::from_ref(&second.kid),
            "--now withdraws waiting keys"
        );
        let ring = KeyRing::load(dir.path(), 1030, Duration::from_secs(900), None).unwrap();
        assert_eq!(ring.signing_key(1030).unwrap().kid(), urgent.kid);
        assert_eq!(ring.published(1030).count(), 2);
    }

    #[test]
    fn a_lone_private_pem_is_adopted_as_the_current_key() {
        let dir = tempfile::TempDir::new().unwrap();
        crate::keys::generate(dir.path(), false).unwrap();
        let legacy = RsaSigningKey::load(dir.path()).unwrap().kid().to_owned();

        let next = rotate(dir.path(), timing(5000), false).unwrap();

        let manifest = read_manifest(dir.path()).unwrap();
        assert_eq!(manifest.keys[0].kid, legacy);
        assert_eq!(manifest.keys[0].file, PRIVATE_KEY_FILE);
        assert_eq!(manifest.current(5000, TTL).unwrap().kid, legacy);
        assert_eq!(manifest.next(5000, TTL).unwrap().kid, next.kid);
        assert!(matches!(
            crate::keys::generate(dir.path(), true),
            Err(KeyError::RingPresent(_))
        ));
    }

    #[test]
    fn a_key_made_current_by_hand_in_the_second_the_current_one_started_still_takes_over() {
        let dir = tempfile::TempDir::new().unwrap();
        let first = rotate(dir.path(), timing(1000), false).unwrap();
        let pending = rotate(dir.path(), timing(1000), false).unwrap();

        let urgent = rotate(dir.path(), timing(1000), true).unwrap();

        assert_eq!(urgent.cancelled, [pending.kid]);
        assert_eq!(urgent.signs_from, 1001);
        let manifest = read_manifest(dir.path()).unwrap();
        assert_eq!(manifest.current(1000, TTL).unwrap().kid, first.kid);
        assert_eq!(manifest.current(1001, TTL).unwrap().kid, urgent.kid);
        assert_eq!(manifest.current(100_000, TTL).unwrap().kid, urgent.kid);

        let next = rotate(dir.path(), timing(1001), false).unwrap();
        let retired = retire(dir.path(), &urgent.kid, timing(1001), false).unwrap();
        assert_eq!(retired.promoted.map(|(kid, _)| kid), Some(next.kid.clone()));
        let manifest = read_manifest(dir.path()).unwrap();
        for now in [1002, 5000, 100_000] {
            assert_eq!(
                manifest.current(now, TTL).unwrap().kid,
                next.kid,
                "at {now}"
            );
        }
    }

    #[test]
    fn scheduled_rotation_from_many_replicas_at_once_adds_one_key() {
        let dir = tempfile::TempDir::new().unwrap();
        rotate(dir.path(), timing(0), false).unwrap();
        let interval = Duration::from_secs(2 * 3600);

        let rotations: Vec<Option<Rotation>> = std::thread::scope(|scope| {
            let replicas: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| rotate_if_due(dir.path(), timing(3600), interval)))
                .collect();
            replicas
                .into_iter()
                .map(|replica| replica.join().unwrap().unwrap())
                .collect()
        });

        assert_eq!(rotations.iter().flatten().count(), 1);
        assert_eq!(read_manifest(dir.path()).unwrap().keys.len(), 2);
    }

    #[test]
    fn the_only_signing_key_cannot_be_retired() {
        let dir = tempfile::TempDir::new().unwrap();
        let only = rotate(dir.path(), timing(1000), false).unwrap();

        let refused = retire(dir.path(), &only.kid, timing(2000), false).unwrap_err();

        assert!(matches!(refused, KeyError::OnlySigningKey(ref kid) if *kid == only.kid));
        assert!(matches!(
            retire(dir.path(), "no-such-kid", timing(2000), false),
            Err(KeyError::UnknownKid(_))
        ));
    }

    #[test]
    fn scheduled_rotation_publishes_one_lead_before_the_interval_ends_and_deletes_removed_keys() {
        let dir = tempfile::TempDir::new().unwrap();
        let interval = Duration::from_secs(30 * 86_400);
        let first = rotate(dir.path(), timing(0), false).unwrap();
        let due_at = 30 * 86_400 - 3600;

        assert_eq!(
            rotate_if_due(dir.path(), timing(due_at - 1), interval).unwrap(),
            None
        );
        let second = rotate_if_due(dir.path(), timing(due_at), interval)
            .unwrap()
            .expect("due");
        assert_eq!(second.signs_from, 30 * 86_400);
        assert_eq!(
            rotate_if_due(dir.path(), timing(due_at + 1), interval).unwrap(),
            None
        );

        let gone = 30 * 86_400 + RETENTION;
        assert_eq!(
            rotate_if_due(dir.path(), timing(gone), interval).unwrap(),
            None
        );
        assert!(first.path.exists(), "kept a day past its removal");
        let deletable = gone + 86_400;
        assert_eq!(
            rotate_if_due(dir.path(), timing(deletable), interval).unwrap(),
            None
        );
        assert!(!first.path.exists(), "the removed key's file is deleted");
        assert!(second.path.exists());
        let kids: Vec<String> = read_manifest(dir.path())
            .unwrap()
            .keys
            .into_iter()
            .map(|key| key.kid)
            .collect();
        assert_eq!(kids, [second.kid]);
    }

    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::TempDir::new().unwrap();

        let key = rotate(dir.path(), timing(0), false).unwrap();

        let mode = fs::metadata(&key.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
