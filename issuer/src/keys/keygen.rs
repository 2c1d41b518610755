//! New RSA keys: `issuer keygen`'s key pair, and the keys a rotation adds to the ring.

use std::path::{Path, PathBuf};

use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

use super::key_file::{create_keys_dir, write_file};
use super::manifest::MANIFEST_FILE;
use super::{KeyError, MIN_RSA_BITS, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE};

/// What `issuer keygen` wrote.
#[derive(Debug)]
pub struct GeneratedKeys {
    /// The private key file (mode 0600).
    pub private_path: PathBuf,
    /// The public key file.
    pub public_path: PathBuf,
}

/// The file that makes `keys_dir` hold a key already, if any: its key ring's manifest, or a
/// lone `private.pem`.
pub fn existing_key(keys_dir: &Path) -> Option<PathBuf> {
    [MANIFEST_FILE, PRIVATE_KEY_FILE]
        .into_iter()
        .map(|file| keys_dir.join(file))
        .find(|path| path.exists())
}

/// Generates an RSA-2048 pair into `keys_dir` as `private.pem` (PKCS#8, mode 0600) and
/// `public.pem` (SubjectPublicKeyInfo), the same files `scripts/gen-keys.sh` writes. Refused
/// when the directory holds a key ring, which `issuer keys rotate` manages instead.
pub fn generate(keys_dir: &Path, force: bool) -> Result<GeneratedKeys, KeyError> {
    if keys_dir.join(MANIFEST_FILE).exists() {
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
pub(super) fn new_private_key() -> Result<(RsaPrivateKey, String), KeyError> {
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, MIN_RSA_BITS)
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    let pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Generation(e.to_string()))?;
    Ok((private, pem.to_string()))
}
