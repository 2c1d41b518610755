//! Why a key, a key file or the key ring cannot be used or changed.

use std::io;
use std::path::PathBuf;

use super::MIN_RSA_BITS;

/// A key that cannot be loaded or written. `Display` is one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No private key where one is expected.
    #[error(
        "KEYS_DIR: no private key at {}; run scripts/gen-keys.sh or `issuer keygen` to create one",
        .0.display()
    )]
    Missing(PathBuf),
    /// The file exists but cannot be read.
    #[error("KEYS_DIR: cannot read {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Other users of the host may read or write the key file.
    #[error(
        "KEYS_DIR: {} may be read or written by other users (mode {mode:04o}); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    ExposedKey {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not an RSA private key in PEM.
    #[error("KEYS_DIR: {} is not an RSA private key in PEM (PKCS#1 or PKCS#8)", .0.display())]
    NotAnRsaKey(PathBuf),
    /// The key is too small to be safe.
    #[error(
        "KEYS_DIR: {} is a {bits}-bit key; use at least {min} bits",
        path.display(),
        min = MIN_RSA_BITS
    )]
    TooSmall {
        /// The file.
        path: PathBuf,
        /// Its modulus size.
        bits: usize,
    },
    /// `keygen` would overwrite existing files.
    #[error("KEYS_DIR: {} already exists; pass --force to replace it", .0.display())]
    WouldOverwrite(PathBuf),
    /// Writing a generated key failed.
    #[error("KEYS_DIR: cannot write {}: {source}", path.display())]
    Unwritable {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Key generation or encoding failed inside the crypto library.
    #[error("cannot generate an RSA key: {0}")]
    Generation(String),
    /// `keyring.json` cannot be parsed or names files it should not.
    #[error("KEYS_DIR: {} is not a valid key ring: {reason}", path.display())]
    BadManifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key file holds another key than the manifest says.
    #[error("KEYS_DIR: {} holds key {found}, but keyring.json says {expected}", path.display())]
    KidMismatch {
        /// The key file.
        path: PathBuf,
        /// The kid in the manifest.
        expected: String,
        /// The kid of the file's key.
        found: String,
    },
    /// No key of the ring may sign now.
    #[error(
        "KEYS_DIR: no key in {} may sign now; run `issuer keys rotate --now`",
        .0.display()
    )]
    NoSigningKey(PathBuf),
    /// No published key has this kid (or prefix).
    #[error("no published key has the kid {0}; see `issuer keys list`")]
    UnknownKid(String),
    /// A kid prefix matches several keys.
    #[error("the kid prefix {0} matches several keys; give more of it")]
    AmbiguousKid(String),
    /// Rotating again while a new key waits to sign.
    #[error(
        "key {kid} is already waiting to sign (from {signs_from}); retire it first, or pass --now to sign with a new key at once"
    )]
    NextKeyPending {
        /// The waiting key.
        kid: String,
        /// When it starts signing (RFC 3339).
        signs_from: String,
    },
    /// Retiring the signing key with nothing to take over.
    #[error(
        "key {0} is the only key that can sign; run `issuer keys rotate` first and retire it once the new key signs (or `issuer keys rotate --now`)"
    )]
    OnlySigningKey(String),
    /// `keygen` on a directory that holds a key ring.
    #[error(
        "KEYS_DIR: {} holds a key ring; use `issuer keys rotate` instead of keygen",
        .0.display()
    )]
    RingPresent(PathBuf),
}
