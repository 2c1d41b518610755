//! RSA signing keys: loading them from `KEYS_DIR`, publishing them as JWK and PEM, generating
//! new ones, and the key ring that rotates them.
//!
//! `KEYS_DIR` holds either one key pair (`private.pem`, as written by `scripts/gen-keys.sh` and
//! `issuer keygen`) or a key ring (`keyring.json` and one PEM file per key, managed with
//! `issuer keys rotate|list|retire`). A lone `private.pem` is a ring of one key.
//!
//! Where each part lives:
//! - [`RsaSigningKey`]: one key, parsed once; its files are read and written by the rules of
//!   [`KeyFileAccess`] (owner only, or group-readable for a Kubernetes secret mount).
//! - [`generate`]: `issuer keygen`.
//! - [`lifecycle`]: which key is next, current, retired or removed at a given time: pure
//!   functions of the manifest and the clock.
//! - [`manifest`]: `keyring.json` on disk, its lock and its atomic replacement.
//! - [`rotation`]: `issuer keys rotate|retire` and scheduled rotation.
//! - [`ring`]: the ring as loaded, what a signer asks of it.
//! - [`live`]: keeps the ring a server signs with up to date.
//!
//! The `rsa` crate only parses, converts and generates keys here; signing is done by aws-lc
//! (constant-time RSA), the backend `jsonwebtoken` uses, called directly with the key parsed
//! once when it is loaded. `jsonwebtoken::encode` parses and checks the private key again on
//! every call, and a fresh key also sets up its Montgomery and blinding state on its first
//! signature, a large share of each RS256 signature's time (measured in `BENCHMARKS.md`).

pub mod lifecycle;
pub mod live;
pub mod manifest;
pub mod ring;
pub mod rotation;

mod error;
mod key_file;
mod keygen;
mod signing_key;

pub use error::KeyError;
pub use key_file::{KeyFileAccess, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE};
pub use keygen::{GeneratedKeys, existing_key, generate};
pub use signing_key::{MIN_RSA_BITS, RsaSigningKey};
