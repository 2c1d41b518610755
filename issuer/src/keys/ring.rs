//! The key ring: several RSA keys in `KEYS_DIR`, each going through a lifecycle
//!
//! **next** (published in the JWKS, not signing yet) -> **current** (signing) -> **retired**
//! (no longer signing, still published until every token it signed has expired, plus
//! [`RETIRED_KEY_LEEWAY`]) -> **removed** (no longer published; its file is deleted at the next
//! rotation).
//!
//! The ring is `keyring.json` (the [`Manifest`]) plus one private key file per key, named
//! after its kid. A key's phase is a pure function of the manifest's times, the access-token
//! lifetime and the clock ([`Manifest::phase`]), so every replica reading the same directory
//! signs with the same key, whichever started first, and nothing has to be written for a key
//! to move on: a rotation only writes a new key whose `signs_from` lies one publish lead in the
//! future (publish-before-sign), and the time does the rest.
//!
//! Changes (`issuer keys rotate|retire`, and scheduled rotation) take an exclusive lock on
//! `KEYS_DIR/.keyring.lock`, write new key files first and replace the manifest atomically
//! (write, sync, rename), so a reader never sees a manifest naming a file that is not there.
//!
//! A directory with only `private.pem` (from `scripts/gen-keys.sh` or `issuer keygen`) is a
//! ring of one key that has always been current; the first rotation adopts it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{
    KeyError, KeyFileAccess, PRIVATE_KEY_FILE, RsaSigningKey, create_keys_dir, new_private_key,
    write_file,
};

/// The manifest's file name inside `KEYS_DIR`.
pub const MANIFEST_FILE: &str = "keyring.json";
/// The lock file taken while the ring is changed.
const LOCK_FILE: &str = ".keyring.lock";

/// How long a retired key stays published after the last token it signed expired: the largest
/// leeway a verifier built with `verifier-middleware` may apply to `exp` (5 min), which also
/// absorbs clock skew between issuer replicas.
pub const RETIRED_KEY_LEEWAY: Duration = Duration::from_secs(5 * 60);

/// Where a key stands in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Published, not signing yet.
    Next,
    /// Signing (and published).
    Current,
    /// No longer signing; published while tokens it signed may still be valid.
    Retired,
    /// Not published any more.
    Removed,
}

impl Phase {
    /// Whether verifiers may fetch the key.
    pub fn is_published(self) -> bool {
        !matches!(self, Self::Removed)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retired => "retired",
            Self::Removed => "removed",
        })
    }
}

/// One key of the ring, as `keyring.json` records it. Times are RFC 3339 in the file and Unix
/// seconds here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// The key id (RFC 7638 thumbprint), checked against the file when loaded.
    pub kid: String,
    /// The private key's file name inside `KEYS_DIR` (no directories).
    pub file: String,
    /// When the key was created (and published).
    #[serde(with = "rfc3339")]
    pub created_at: i64,
    /// From when it may sign, unless a key with a later `signs_from` has started by then.
    #[serde(with = "rfc3339")]
    pub signs_from: i64,
    /// When it was retired by hand (`issuer keys retire`); before `signs_from`, the key never
    /// signed and is removed at once.
    #[serde(
        default,
        with = "rfc3339_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub retired_at: Option<i64>,
    /// When it was withdrawn from the JWKS early (`--unpublish`: a compromised key).
    #[serde(
        default,
        with = "rfc3339_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub unpublished_at: Option<i64>,
}

impl KeyEntry {
    /// Retired before it could sign: it never signed anything. (Retired in the second it
    /// started signing, it may have signed, and is kept for its tokens.)
    fn cancelled(&self) -> bool {
        self.retired_at.is_some_and(|at| at < self.signs_from)
    }

    /// The order in which keys take over signing; ties are broken so that every replica agrees.
    fn rank(&self) -> (i64, i64, &str) {
        (self.signs_from, self.created_at, &self.kid)
    }
}

/// The contents of `keyring.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Every key not yet deleted, oldest first.
    pub keys: Vec<KeyEntry>,
}

/// What a key's lifecycle looks like at some moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// The key.
    pub entry: KeyEntry,
    /// Its phase.
    pub phase: Phase,
    /// When it stops (or stopped) signing, if that is known yet.
    pub signs_until: Option<i64>,
    /// When it leaves (or left) the JWKS, if that is known yet.
    pub published_until: Option<i64>,
}

impl Manifest {
    /// When `key` stops (or stopped) signing: when it was retired, or when a key ranked after
    /// it starts signing, whichever comes first. `None` while neither is scheduled.
    pub fn signs_until(&self, key: &KeyEntry) -> Option<i64> {
        let superseded = self
            .keys
            .iter()
            .filter(|other| !other.cancelled() && other.rank() > key.rank())
            .map(|other| other.signs_from)
            .min();
        [key.retired_at, superseded].into_iter().flatten().min()
    }

    /// The phase of `key` at `now`, given that tokens live for `token_ttl` seconds.
    pub fn phase(&self, key: &KeyEntry, now: i64, token_ttl: i64) -> Phase {
        self.status(key, now, token_ttl).phase
    }

    /// The phase of `key` at `now` and the times that bound it.
    pub fn status(&self, key: &KeyEntry, now: i64, token_ttl: i64) -> KeyStatus {
        let signs_until = if key.cancelled() {
            key.retired_at
        } else {
            self.signs_until(key)
        };
        let retention = token_ttl.saturating_add(seconds(RETIRED_KEY_LEEWAY));
        let mut published_until = match (key.cancelled(), signs_until) {
            (true, until) => until,
            (false, until) => until.map(|until| until.saturating_add(retention)),
        };
        if let Some(unpublished) = key.unpublished_at {
            published_until = Some(published_until.map_or(unpublished, |p| p.min(unpublished)));
        }
        let phase = if published_until.is_some_and(|until| now >= until) {
            Phase::Removed
        } else if now < key.signs_from {
            Phase::Next
        } else if signs_until.is_some_and(|until| now >= until) {
            Phase::Retired
        } else {
            Phase::Current
        };
        KeyStatus {
            entry: key.clone(),
            phase,
            signs_until,
            published_until,
        }
    }

    /// Every key with its status at `now`.
    pub fn statuses(&self, now: i64, token_ttl: i64) -> Vec<KeyStatus> {
        self.keys
            .iter()
            .map(|key| self.status(key, now, token_ttl))
            .collect()
    }

    /// The key that signs at `now`, if any.
    pub fn current(&self, now: i64, token_ttl: i64) -> Option<&KeyEntry> {
        self.keys
            .iter()
            .find(|key| self.phase(key, now, token_ttl) == Phase::Current)
    }

    /// The key waiting to sign next at `now`, if any.
    pub fn next(&self, now: i64, token_ttl: i64) -> Option<&KeyEntry> {
        self.keys
            .iter()
            .filter(|key| self.phase(key, now, token_ttl) == Phase::Next)
            .min_by(|a, b| a.rank().cmp(&b.rank()))
    }

    /// The index of the key whose kid is `kid` or starts with it.
    fn position(&self, kid: &str) -> Result<usize, KeyError> {
        if let Some(exact) = self.keys.iter().position(|key| key.kid == kid) {
            return Ok(exact);
        }
        let mut matches = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, key)| !kid.is_empty() && key.kid.starts_with(kid));
        match (matches.next(), matches.next()) {
            (Some((index, _)), None) => Ok(index),
            (Some(_), Some(_)) => Err(KeyError::AmbiguousKid(kid.to_owned())),
            (None, _) => Err(KeyError::UnknownKid(kid.to_owned())),
        }
    }
}

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

/// Reads `keyring.json`, or makes a one-key manifest of a lone `private.pem` (current since
/// forever), or an empty one when the directory holds neither.
///
/// # Errors
/// An unreadable or invalid manifest or legacy key.
pub fn read_manifest(dir: &Path) -> Result<Manifest, KeyError> {
    let path = dir.join(MANIFEST_FILE);
    let bad = |reason: String| KeyError::BadManifest {
        path: path.clone(),
        reason,
    };
    match fs::read(&path) {
        Ok(bytes) => {
            let manifest: Manifest =
                serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
            let mut files = std::collections::HashSet::new();
            for entry in &manifest.keys {
                check_file_name(entry).map_err(|reason| bad(reason.to_owned()))?;
                if !files.insert(entry.file.as_str()) {
                    return Err(bad(format!("{} is named twice", entry.file)));
                }
            }
            Ok(manifest)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => legacy_manifest(dir),
        Err(source) => Err(KeyError::Unreadable { path, source }),
    }
}

/// What identifies the ring's state on disk: a SHA-256 of the manifest's bytes, or of the lone
/// key's. Equal fingerprints mean nothing to reload. A digest, so that the running issuer keeps
/// no second copy of a private key, which `Debug` of the live ring would show.
pub(crate) fn fingerprint(dir: &Path) -> Vec<u8> {
    let bytes = fs::read(dir.join(MANIFEST_FILE))
        .or_else(|_| fs::read(dir.join(PRIVATE_KEY_FILE)))
        .unwrap_or_default();
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes)
        .as_ref()
        .to_vec()
}

fn legacy_manifest(dir: &Path) -> Result<Manifest, KeyError> {
    match RsaSigningKey::load(dir) {
        Ok(key) => Ok(Manifest {
            keys: vec![KeyEntry {
                kid: key.kid().to_owned(),
                file: PRIVATE_KEY_FILE.to_owned(),
                created_at: 0,
                signs_from: 0,
                retired_at: None,
                unpublished_at: None,
            }],
        }),
        Err(KeyError::Missing(_)) => Ok(Manifest::default()),
        Err(error) => Err(error),
    }
}

/// A key's file is `<kid>.pem` (as `rotate` writes it) or an adopted `private.pem`: nothing
/// else in or outside `KEYS_DIR` can be named, read or deleted through the manifest.
fn check_file_name(entry: &KeyEntry) -> Result<(), &'static str> {
    let kid_is_plain = !entry.kid.is_empty()
        && entry
            .kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let own_file = entry.file.strip_suffix(".pem") == Some(entry.kid.as_str());
    if kid_is_plain && (own_file || entry.file == PRIVATE_KEY_FILE) {
        Ok(())
    } else {
        Err("a key's file must be <kid>.pem or private.pem, with a base64url kid")
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
            files.push(super::PUBLIC_KEY_FILE);
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

/// Replaces `keyring.json` atomically: a reader sees the old or the new one, never a part.
fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), KeyError> {
    let path = dir.join(MANIFEST_FILE);
    let scratch = dir.join(format!(".{MANIFEST_FILE}.{}", std::process::id()));
    let mut json = serde_json::to_vec_pretty(manifest).map_err(|e| KeyError::BadManifest {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    json.push(b'\n');
    write_file(&scratch, &json, 0o644)?;
    fs::rename(&scratch, &path)
        .and_then(|()| File::open(dir)?.sync_all())
        .map_err(|source| KeyError::Unwritable { path, source })
}

/// Holds the ring's lock until dropped, so that two writers (two operators, or replicas that
/// rotate on a schedule) never interleave.
fn lock(dir: &Path) -> Result<File, KeyError> {
    let path = dir.join(LOCK_FILE);
    let unwritable = |source| KeyError::Unwritable {
        path: path.clone(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(unwritable)?;
    file.lock().map_err(unwritable)?;
    let mut file = file;
    // Who holds it, for an operator looking at a stuck rotation.
    let _ = writeln!(file, "{}", std::process::id());
    Ok(file)
}

/// Whole seconds of `duration`, saturating.
fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// RFC 3339 (UTC, seconds) of a Unix time.
pub fn format_time(unix: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

fn parse_time(raw: &str) -> Result<i64, String> {
    let at = humantime::parse_rfc3339(raw).map_err(|e| format!("'{raw}': {e}"))?;
    let since = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("'{raw}' is before 1970"))?;
    Ok(seconds(since))
}

mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(unix: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_time(*unix))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        let raw = String::deserialize(deserializer)?;
        super::parse_time(&raw).map_err(serde::de::Error::custom)
    }
}

mod rfc3339_option {
    use serde::{Deserialize, Deserializer, Serializer};

    // serde's `with` hands `&Option<T>` to serialize.
    #[allow(clippy::ref_option)]
    pub(super) fn serialize<S: Serializer>(
        unix: &Option<i64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match unix {
            Some(unix) => super::rfc3339::serialize(unix, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|raw| super::parse_time(&raw).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: i64 = 900;
    const RETENTION: i64 = TTL + 300;

    fn entry(kid: &str, created_at: i64, signs_from: i64) -> KeyEntry {
        KeyEntry {
            kid: kid.to_owned(),
            file: format!("{kid}.pem"),
            created_at,
            signs_from,
            retired_at: None,
            unpublished_at: None,
        }
    }

    fn phases(manifest: &Manifest, now: i64) -> Vec<Phase> {
        manifest
            .keys
            .iter()
            .map(|key| manifest.phase(key, now, TTL))
            .collect()
    }

    use Phase::{Current, Next, Removed, Retired};

    #[test]
    fn a_rotation_moves_next_to_current_to_retired_to_removed_by_time_alone() {
        let manifest = Manifest {
            keys: vec![entry("a", 0, 0), entry("b", 1000, 4600)],
        };

        assert_eq!(phases(&manifest, 1000), [Current, Next]);
        assert_eq!(phases(&manifest, 4599), [Current, Next]);
        assert_eq!(phases(&manifest, 4600), [Retired, Current]);
        assert_eq!(phases(&manifest, 4600 + RETENTION - 1), [Retired, Current]);
        assert_eq!(phases(&manifest, 4600 + RETENTION), [Removed, Current]);
        assert_eq!(manifest.current(4600, TTL).unwrap().kid, "b");
    }

    #[test]
    fn exactly_one_key_signs_whatever_the_order_of_the_entries() {
        let mut manifest = Manifest {
            keys: vec![entry("b", 10, 10), entry("a", 10, 10), entry("c", 5, 20)],
        };
        for now in [10, 19, 20, 5000] {
            let current: Vec<_> = manifest
                .keys
                .iter()
                .filter(|key| manifest.phase(key, now, TTL) == Current)
                .map(|key| key.kid.clone())
                .collect();
            manifest.keys.reverse();
            let again = manifest.current(now, TTL).map(|key| key.kid.clone());
            assert_eq!(current.len(), 1, "at {now}");
            assert_eq!(Some(current[0].clone()), again, "at {now}");
        }
        assert_eq!(manifest.current(15, TTL).unwrap().kid, "b");
        assert_eq!(manifest.current(20, TTL).unwrap().kid, "c");
    }

    #[test]
    fn a_next_key_retired_before_it_signed_is_removed_at_once_and_supersedes_nothing() {
        let mut manifest = Manifest {
            keys: vec![entry("a", 0, 0), entry("b", 100, 3700)],
        };
        manifest.keys[1].retired_at = Some(200);

        assert_eq!(phases(&manifest, 199), [Current, Next]);
        assert_eq!(phases(&manifest, 200), [Current, Removed]);
        assert_eq!(phases(&manifest, 10_000), [Current, Removed]);
    }

    #[test]
    fn a_key_retired_in_the_second_it_started_signing_is_kept_for_its_tokens() {
        let mut manifest = Manifest {
            keys: vec![entry("a", 0, 100), entry("b", 50, 100)],
        };
        manifest.keys[0].retired_at = Some(100);

        assert_eq!(phases(&manifest, 100), [Retired, Current]);
        assert_eq!(phases(&manifest, 100 + RETENTION), [Removed, Current]);
    }

    #[test]
    fn an_unpublished_key_leaves_the_jwks_at_once() {
        let mut manifest = Manifest {
            keys: vec![entry("a", 0, 0), entry("b", 100, 200)],
        };
        manifest.keys[0].retired_at = Some(200);
        manifest.keys[0].unpublished_at = Some(250);

        assert_eq!(phases(&manifest, 249), [Retired, Current]);
        assert_eq!(phases(&manifest, 250), [Removed, Current]);
    }

    #[test]
    fn the_manifest_round_trips_with_readable_times() {
        let mut key = entry("a", 1_763_900_000, 1_763_903_600);
        key.retired_at = Some(1_763_910_000);
        let manifest = Manifest { keys: vec![key] };

        let json = serde_json::to_string(&manifest).unwrap();

        assert!(
            json.contains(r#""signs_from":"2025-11-23T13:13:20Z""#),
            "{json}"
        );
        assert!(!json.contains("unpublished_at"), "{json}");
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), manifest);
    }

    fn timing(now: i64) -> RotationTiming {
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

    #[test]
    fn a_key_file_must_be_named_after_its_kid() {
        let named = |kid: &str, file: &str| KeyEntry {
            file: file.to_owned(),
            ..entry(kid, 0, 0)
        };
        for (kid, file) in [
            ("a", ""),
            ("a", ".."),
            ("a", "../etc/passwd"),
            ("a", "/abs.pem"),
            ("a", "b.pem"),
            ("a", "keyring.json"),
            ("a", ".keyring.lock"),
            ("../x", "../x.pem"),
            ("", ".pem"),
        ] {
            assert!(check_file_name(&named(kid, file)).is_err(), "{kid} {file}");
        }
        assert!(check_file_name(&named("abc-_9", "abc-_9.pem")).is_ok());
        assert!(check_file_name(&named("abc", "private.pem")).is_ok());
    }

    #[test]
    fn a_manifest_naming_one_file_twice_is_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let manifest = Manifest {
            keys: vec![
                KeyEntry {
                    file: PRIVATE_KEY_FILE.to_owned(),
                    ..entry("a", 0, 0)
                },
                KeyEntry {
                    file: PRIVATE_KEY_FILE.to_owned(),
                    ..entry("b", 0, 0)
                },
            ],
        };
        fs::write(
            dir.path().join(MANIFEST_FILE),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();

        assert!(matches!(
            read_manifest(dir.path()),
            Err(KeyError::BadManifest { .. })
        ));
    }
}
