//! RSA signing keys: loading them from `KEYS_DIR`, publishing them as JWK and PEM, and
//! generating new ones.
//!
//! `KEYS_DIR` holds either one key pair (`private.pem`, as written by `scripts/gen-keys.sh` and
//! `issuer keygen`) or a key ring ([`ring`]: `keyring.json` and one PEM file per key, managed
//! with `issuer keys rotate|list|retire`). [`live`] keeps the ring a server signs with up to date.
//!
//! The `rsa` crate only parses, converts and generates keys here; signing is done by aws-lc
//! (constant-time RSA), the backend `jsonwebtoken` uses, called directly with the key parsed
//! once when it is loaded. `jsonwebtoken::encode` parses and checks the private key again on
//! every call, and a fresh key also sets up its Montgomery and blinding state on its first
//! signature: about 40 % of each RS256 signature's time (1.35 ms -> 0.76 ms, `benches/load`).

pub mod live;
pub mod ring;

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, KeyAlgorithm, PublicKeyUse, RSAKeyParameters,
    RSAKeyType, ThumbprintHash,
};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};

/// File name of the private key inside `KEYS_DIR`.
pub const PRIVATE_KEY_FILE: &str = "private.pem";
/// File name of the public key inside `KEYS_DIR`.
pub const PUBLIC_KEY_FILE: &str = "public.pem";
/// Smallest modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// An RSA signing key with everything derived from it that the issuer publishes.
pub struct RsaSigningKey {
    kid: String,
    /// The private key, parsed once.
    key_pair: RsaKeyPair,
    jwk: Jwk,
    public_pem: String,
    file_access: KeyFileAccess,
}

/// Who besides its owner may read or write a private key file, by the file's mode.
///
/// Any permission for other users, or write permission for the group, refuses the key
/// ([`KeyError::ExposedKey`]): whoever can write the file can replace the signing key. Group
/// read is tolerated with a warning, because a Kubernetes secret mounted with `fsGroup` is
/// `0640` (or `0440`) and the issuer reads it through that group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileAccess {
    /// The owner only (`0600`, `0400`).
    Owner,
    /// The file's group may read it too (`0640`, `0440`).
    Group,
    /// Other users may read it, or the group may write it (`0644`, `0604`, `0660`, `0620`, ...).
    Others,
}

impl KeyFileAccess {
    /// Judges a Unix mode (`st_mode`; only the permission bits count).
    pub fn of_mode(mode: u32) -> Self {
        if mode & 0o027 != 0 {
            Self::Others
        } else if mode & 0o050 != 0 {
            Self::Group
        } else {
            Self::Owner
        }
    }
}

impl std::fmt::Debug for RsaSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaSigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

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
    #[error("KEYS_DIR: {} is a {bits}-bit key; use at least 2048 bits", path.display())]
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

impl RsaSigningKey {
    /// Loads `private.pem` from `keys_dir`.
    pub fn load(keys_dir: &Path) -> Result<Self, KeyError> {
        Self::load_file(&keys_dir.join(PRIVATE_KEY_FILE))
    }

    /// Loads a private key file (PEM, PKCS#1 or PKCS#8). A file other users may read or write
    /// is refused (see [`KeyFileAccess`]).
    pub fn load_file(path: &Path) -> Result<Self, KeyError> {
        let (pem, file_access) = read_key_file(path)?;
        Self::from_pem(&pem, path, file_access)
    }

    /// Parses a private key; `path` only names it in errors.
    fn from_pem(pem: &str, path: &Path, file_access: KeyFileAccess) -> Result<Self, KeyError> {
        let path = path.to_owned();
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| KeyError::NotAnRsaKey(path.clone()))?;
        let bits = private.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(KeyError::TooSmall { path, bits });
        }
        // The DER `jsonwebtoken` would sign with, parsed the way its aws-lc backend parses it.
        let key_pair = EncodingKey::from_rsa_pem(pem.as_bytes())
            .ok()
            .and_then(|encoding| RsaKeyPair::from_der(encoding.as_bytes()).ok())
            .ok_or_else(|| KeyError::NotAnRsaKey(path.clone()))?;
        let public = private.to_public_key();
        let public_pem = public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Generation(e.to_string()))?;
        let jwk = public_jwk(&public);
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        Ok(Self {
            kid,
            key_pair,
            jwk,
            public_pem,
            file_access,
        })
    }

    /// The key id: the RFC 7638 JWK thumbprint (SHA-256) of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The RS256 signature (RSA PKCS#1 v1.5 with SHA-256) of `message`, as `jsonwebtoken`
    /// would make it with this key: the scheme is deterministic, so byte for byte the same.
    ///
    /// # Errors
    /// Only if aws-lc fails inside.
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
        let mut signature = vec![0; self.key_pair.public_modulus_len()];
        // PKCS#1 v1.5 draws no randomness; aws-lc's API asks for a source all the same.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key_pair
            .sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)?;
        Ok(signature)
    }

    /// The public key as a JWK (`kty n e kid use alg`), nothing private.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The public key as SubjectPublicKeyInfo PEM.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// Who besides its owner could access the file when it was read.
    pub fn file_access(&self) -> KeyFileAccess {
        self.file_access
    }
}

/// The contents of a key file and who may access it; refused when other users may. The mode
/// is read from the open file, so it is the mode of the file that is read.
fn read_key_file(path: &Path) -> Result<(String, KeyFileAccess), KeyError> {
    let unreadable = |source| KeyError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(KeyError::Missing(path.to_owned()));
        }
        Err(source) => return Err(unreadable(source)),
    };
    let mode = regular_file_mode(&file).map_err(unreadable)?;
    let access = KeyFileAccess::of_mode(mode);
    if access == KeyFileAccess::Others {
        return Err(KeyError::ExposedKey {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    let mut pem = String::new();
    file.read_to_string(&mut pem).map_err(unreadable)?;
    Ok((pem, access))
}

/// The mode of `file`, which must be a regular file (after symbolic links, as Kubernetes
/// secret mounts use them): a FIFO or a device is not a key file.
fn regular_file_mode(file: &File) -> io::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(metadata.permissions().mode())
}

/// The public JWK of `public`, with its thumbprint as `kid`.
fn public_jwk(public: &RsaPublicKey) -> Jwk {
    let mut jwk = Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::RS256),
            ..CommonParameters::default()
        },
        algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
            key_type: RSAKeyType::RSA,
            n: URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }),
    };
    // An RSA JWK always has a thumbprint; only EC/OKP variants can fail.
    jwk.common.key_id = jwk.thumbprint(ThumbprintHash::SHA256).ok();
    jwk
}

/// What `issuer keygen` wrote.
#[derive(Debug)]
pub struct GeneratedKeys {
    /// The private key file (mode 0600).
    pub private_path: PathBuf,
    /// The public key file.
    pub public_path: PathBuf,
}

/// Generates an RSA-2048 pair into `keys_dir` as `private.pem` (PKCS#8, mode 0600) and
/// `public.pem` (SubjectPublicKeyInfo), the same files `scripts/gen-keys.sh` writes. Refused
/// when the directory holds a key ring, which `issuer keys rotate` manages instead.
pub fn generate(keys_dir: &Path, force: bool) -> Result<GeneratedKeys, KeyError> {
    if keys_dir.join(ring::MANIFEST_FILE).exists() {
        return Err(KeyError::RingPresent(keys_dir.to_owned()));
    }
    let private_path = keys_dir.join(PRIVATE_KEY_FILE);
    let public_path = keys_dir.join(PUBLIC_KEY_FILE);
    let existing = [&private_path, &public_path]
        .into_iter()
        .find(|p| p.exists());
    if let (false, Some(existing)) = (force, existing) {
        return Err(KeyError::WouldOverwrite(existing.clone()));
    }
    let (private, private_pem) = new_private_key()?;
    let public_pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Generation(e.to_string()))?;

    create_keys_dir(keys_dir)?;
    write_file(&private_path, private_pem.as_bytes(), 0o600)?;
    write_file(&public_path, public_pem.as_bytes(), 0o644)?;
    Ok(GeneratedKeys {
        private_path,
        public_path,
    })
}

/// A new RSA-2048 private key and its PKCS#8 PEM.
fn new_private_key() -> Result<(RsaPrivateKey, String), KeyError> {
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, MIN_RSA_BITS)
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    let pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    Ok((private, pem.to_string()))
}

/// Creates `keys_dir` (mode 0700) unless it exists.
fn create_keys_dir(keys_dir: &Path) -> Result<(), KeyError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(keys_dir)
        .map_err(|source| KeyError::Unwritable {
            path: keys_dir.to_owned(),
            source,
        })
}

/// Writes a fresh file with `mode`, replacing any file of that name, and syncs it.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let unwritable = |source| KeyError::Unwritable {
        path: path.to_owned(),
        source,
    };
    // Remove first so that the mode applies to a fresh file, never to an old one's permissions.
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(unwritable(e)),
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(unwritable)?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(unwritable)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_key_file_is_private_to_its_owner_shared_with_its_group_or_exposed_to_others() {
        for mode in [0o600, 0o400, 0o700, 0o100_600] {
            assert_eq!(
                KeyFileAccess::of_mode(mode),
                KeyFileAccess::Owner,
                "{mode:o}"
            );
        }
        for mode in [0o640, 0o440, 0o650, 0o610] {
            assert_eq!(
                KeyFileAccess::of_mode(mode),
                KeyFileAccess::Group,
                "{mode:o}"
            );
        }
        for mode in [
            0o644, 0o604, 0o602, 0o601, 0o666, 0o777, 0o100_644, 0o660, 0o620,
        ] {
            assert_eq!(
                KeyFileAccess::of_mode(mode),
                KeyFileAccess::Others,
                "{mode:o}"
            );
        }
    }

    #[test]
    fn a_key_file_other_users_may_read_is_refused_and_one_its_group_may_read_is_loaded() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = generate(dir.path(), false).unwrap().private_path;
        let chmod = |mode| fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();

        chmod(0o644);
        let refused = RsaSigningKey::load_file(&path).unwrap_err();
        chmod(0o640);
        let shared = RsaSigningKey::load_file(&path).unwrap();
        chmod(0o600);
        let private = RsaSigningKey::load_file(&path).unwrap();

        assert!(
            matches!(refused, KeyError::ExposedKey { mode: 0o644, .. }),
            "{refused}"
        );
        assert_eq!(
            refused.to_string(),
            format!(
                "KEYS_DIR: {0} may be read or written by other users (mode 0644); run `chmod 600 {0}`",
                path.display()
            )
        );
        assert_eq!(shared.file_access(), KeyFileAccess::Group);
        assert_eq!(private.file_access(), KeyFileAccess::Owner);
        assert_eq!(shared.kid(), private.kid());
    }
}
