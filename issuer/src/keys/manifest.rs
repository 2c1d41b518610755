//! `keyring.json`, the ring's manifest on disk: one entry per key, naming its file inside
//! `KEYS_DIR` (`<kid>.pem`) and the times of its lifecycle, in RFC 3339.
//!
//! Writers (`issuer keys rotate|retire`, and scheduled rotation) hold an exclusive lock on
//! `KEYS_DIR/.keyring.lock`, write new key files first and replace the manifest atomically
//! (write, sync, rename), so a reader never sees a manifest naming a file that is not there.
//!
//! A directory with only `private.pem` (from `scripts/gen-keys.sh` or `issuer keygen`) reads as
//! a ring of one key that has always been current; the first rotation adopts it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::key_file::write_file;
use super::{KeyError, PRIVATE_KEY_FILE, RsaSigningKey};

/// The manifest's file name inside `KEYS_DIR`.
pub const MANIFEST_FILE: &str = "keyring.json";
/// The lock file taken while the ring is changed.
const LOCK_FILE: &str = ".keyring.lock";

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
    #[serde(with = "crate::time::rfc3339")]
    pub created_at: i64,
    /// From when it may sign, unless a key with a later `signs_from` has started by then.
    #[serde(with = "crate::time::rfc3339")]
    pub signs_from: i64,
    /// When it was retired by hand (`issuer keys retire`); before `signs_from`, the key never
    /// signed and is removed at once.
    #[serde(
        default,
        with = "crate::time::rfc3339_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub retired_at: Option<i64>,
    /// When it was withdrawn from the JWKS early (`--unpublish`: a compromised key).
    #[serde(
        default,
        with = "crate::time::rfc3339_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub unpublished_at: Option<i64>,
}

/// The contents of `keyring.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Every key not yet deleted, oldest first.
    pub keys: Vec<KeyEntry>,
}

impl Manifest {
    /// The index of the key whose kid is `kid` or starts with it.
    pub(super) fn position(&self, kid: &str) -> Result<usize, KeyError> {
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

/// Replaces `keyring.json` atomically: a reader sees the old or the new one, never a part.
pub(super) fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), KeyError> {
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
pub(super) fn lock(dir: &Path) -> Result<File, KeyError> {
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A key named `kid` in `<kid>.pem`, neither retired nor unpublished.
    pub(crate) fn entry(kid: &str, created_at: i64, signs_from: i64) -> KeyEntry {
        KeyEntry {
            kid: kid.to_owned(),
            file: format!("{kid}.pem"),
            created_at,
            signs_from,
            retired_at: None,
            unpublished_at: None,
        }
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
