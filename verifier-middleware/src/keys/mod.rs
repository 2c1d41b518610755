//! Verification keys: what each may verify, and the sets they are looked up in.

pub(crate) mod algorithm;
pub(crate) mod jwk;
pub(crate) mod jwks;
pub(crate) mod static_key;
#[cfg(test)]
mod wycheproof;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;

use crate::rejection::InvalidToken;

/// The smallest RSA modulus accepted, in bits (NIST SP 800-57: 2048 through 2030); an issuer
/// must not sign with a smaller key.
pub const MIN_RSA_BITS: usize = 2048;

/// One key and the algorithms it may verify.
pub(crate) struct VerifyingKey {
    kid: Option<String>,
    material: Material,
    /// The public key's numbers (RSA: exponent and modulus; EC: the point; Ed25519: the key;
    /// empty for the secret, which is never compared): what tells a changed key set from a
    /// re-download of the same keys.
    public_material: Box<[u8]>,
    /// The source's allow-list narrowed to what this kind of key verifies (and to the key's
    /// own `alg` when its JWK names one); HS256 alone for the secret.
    algorithms: Arc<[Algorithm]>,
}

/// A kind of elliptic-curve key, and the one algorithm it verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    /// NIST P-256: ES256.
    P256,
    /// NIST P-384: ES384.
    P384,
    /// Ed25519: EdDSA.
    Ed25519,
}

impl Curve {
    /// Every curve, in the order a PEM key is tried against them.
    pub(crate) const ALL: [Self; 3] = [Self::P256, Self::P384, Self::Ed25519];

    /// By its JWK `crv` name.
    pub(crate) fn from_jwk_name(crv: &str) -> Option<Self> {
        match crv {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "Ed25519" => Some(Self::Ed25519),
            _ => None,
        }
    }

    /// Its name in errors and JWKs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::Ed25519 => "Ed25519",
        }
    }

    /// The only algorithm a key on this curve verifies.
    pub(crate) fn algorithm(self) -> Algorithm {
        match self {
            Self::P256 => Algorithm::ES256,
            Self::P384 => Algorithm::ES384,
            Self::Ed25519 => Algorithm::EdDSA,
        }
    }

    /// Bytes in one coordinate (EC) or in the key (Ed25519), as a JWK carries them.
    pub(crate) fn coordinate_bytes(self) -> usize {
        match self {
            Self::P256 | Self::Ed25519 => 32,
            Self::P384 => 48,
        }
    }

    /// aws-lc's verification: ECDSA over the fixed-length `r || s` signature JOSE uses, so a
    /// DER signature never verifies; or Ed25519.
    fn verification(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            Self::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Self::P384 => &signature::ECDSA_P384_SHA384_FIXED,
            Self::Ed25519 => &signature::ED25519,
        }
    }
}

/// The algorithms of `allowed` that RSA keys verify.
fn rsa_algorithms(
    allowed: &[Algorithm],
) -> impl Iterator<Item = (Algorithm, &'static RsaParameters)> {
    allowed
        .iter()
        .filter_map(|&alg| Some((alg, rsa_parameters(alg)?)))
}

impl VerifyingKey {
    pub(crate) fn hmac(secret: &[u8]) -> Self {
        Self {
            kid: None,
            material: Material::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret))),
            public_material: Box::default(),
            algorithms: Arc::from([Algorithm::HS256]),
        }
    }

    /// An RSA public key from its big-endian modulus and exponent, for the RSA algorithms of
    /// `allowed`.
    pub(crate) fn rsa(
        kid: Option<String>,
        modulus: &[u8],
        exponent: &[u8],
        allowed: &[Algorithm],
    ) -> Result<Self, KeyRejected> {
        let modulus = strip_leading_zeros(modulus);
        let exponent = strip_leading_zeros(exponent);
        let bits = bit_length(modulus);
        if bits < MIN_RSA_BITS {
            return Err(KeyRejected::TooSmall { bits });
        }
        // aws-lc accepts exponents up to 2^33 - 1; a real key uses 65537.
        if exponent.is_empty() || exponent.len() > 4 || exponent[exponent.len() - 1] & 1 == 0 {
            return Err(KeyRejected::BadExponent);
        }
        let components = RsaPublicKeyComponents {
            n: modulus,
            e: exponent,
        };
        let parsed: Vec<_> = rsa_algorithms(allowed)
            .map(|(alg, parameters)| {
                components
                    .to_parsed_public_key(parameters)
                    .map(|key| (alg, key))
                    .map_err(|_| KeyRejected::Malformed("not a valid RSA public key"))
            })
            .collect::<Result<_, _>>()?;
        // The exponent is at most 4 bytes: its length in one byte makes the pair unambiguous.
        let public_material = [&[exponent.len() as u8], exponent, modulus].concat();
        Self::public(kid, parsed, public_material, "RSA")
    }

    /// A P-256, P-384 or Ed25519 public key: the uncompressed point (`04 || x || y`) or the raw
    /// Ed25519 key, or either as DER SubjectPublicKeyInfo; for the curve's one algorithm,
    /// which `allowed` must hold.
    pub(crate) fn curve(
        kid: Option<String>,
        curve: Curve,
        public_key: &[u8],
        allowed: &[Algorithm],
    ) -> Result<Self, KeyRejected> {
        let parsed = ParsedPublicKey::new(curve.verification(), public_key)
            .map_err(|_| KeyRejected::Malformed("not a valid public key on its curve"))?;
        let alg = curve.algorithm();
        let parsed = if allowed.contains(&alg) {
            vec![(alg, parsed)]
        } else {
            Vec::new()
        };
        Self::public(kid, parsed, public_key.into(), curve.name())
    }

    fn public(
        kid: Option<String>,
        parsed: Vec<(Algorithm, ParsedPublicKey)>,
        public_material: Vec<u8>,
        kind: &'static str,
    ) -> Result<Self, KeyRejected> {
        if parsed.is_empty() {
            return Err(KeyRejected::NoAlgorithmForKind(kind));
        }
        Ok(Self {
            kid,
            algorithms: parsed.iter().map(|(alg, _)| *alg).collect(),
            material: Material::Public(parsed),
            public_material: public_material.into(),
        })
    }

    pub(crate) fn verifies(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }

    /// Checks `signature` (base64url, as in a compact JWS) over `message` with this key and
    /// `alg`, which must be one this key is pinned to. The one signature check the verifier
    /// makes; the Wycheproof vectors run through it too.
    pub(crate) fn verify_signature(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &str,
    ) -> Result<(), InvalidToken> {
        if !self.verifies(alg) {
            return Err(InvalidToken::AlgorithmNotAllowed);
        }
        // Canonical base64url only, as for the other segments.
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| InvalidToken::BadSignature)?;
        let verified = match &self.material {
            Material::Hmac(key) if alg == Algorithm::HS256 => {
                hmac::verify(key, message, &signature).is_ok()
            }
            Material::Public(keys) => keys
                .iter()
                .find(|(pinned, _)| *pinned == alg)
                .is_some_and(|(_, key)| key.verify_sig(message, &signature).is_ok()),
            Material::Hmac(_) => false,
        };
        if verified {
            Ok(())
        } else {
            Err(InvalidToken::BadSignature)
        }
    }
}

/// The key itself, prepared once so that each token costs only the signature math: a public
/// key parsed for each algorithm it may verify (RSA: one per allowed RSA algorithm; a curve:
/// its one), an HMAC key with its pads computed. Verification is aws-lc's, the backend
/// jsonwebtoken uses (`hmac::verify` compares in constant time).
enum Material {
    Public(Vec<(Algorithm, ParsedPublicKey)>),
    Hmac(Box<hmac::Key>),
}

/// aws-lc's parameters for an RSA JOSE algorithm: PKCS#1 v1.5 or PSS, 2048 to 8192 bits.
fn rsa_parameters(alg: Algorithm) -> Option<&'static RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// Same `kid`, same algorithms, same public key.
impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.kid == other.kid
            && self.algorithms == other.algorithms
            && self.public_material == other.public_material
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// Why a key was not taken into a key set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeyRejected {
    /// A `kty` other than `RSA`, `EC` and `OKP`.
    #[error("unsupported key type {0}")]
    UnsupportedType(String),
    /// A curve other than P-256, P-384 and Ed25519 (`crv`).
    #[error("unsupported curve {0}")]
    UnsupportedCurve(String),
    /// None of the algorithms the source accepts is one this kind of key verifies (an EC key
    /// where only RS256 is allowed; a JWK `alg` of another kind of key).
    #[error("no accepted algorithm fits this {0} key")]
    NoAlgorithmForKind(&'static str),
    /// Marked for another use than signatures (`use`, `key_ops`).
    #[error("not a signature verification key")]
    NotForVerification,
    /// Its `alg` is not one the source accepts.
    #[error("its alg {0} is not accepted here")]
    AlgorithmNotAccepted(String),
    /// Shorter than [`MIN_RSA_BITS`].
    #[error("a {bits}-bit RSA key is too small; at least {MIN_RSA_BITS} bits are required")]
    TooSmall {
        /// The modulus length.
        bits: usize,
    },
    /// The public exponent is even, zero or implausibly large.
    #[error("the RSA exponent is not acceptable")]
    BadExponent,
    /// Missing or malformed fields.
    #[error("malformed key: {0}")]
    Malformed(&'static str),
    /// A second key with a `kid` already in the set.
    #[error("duplicate kid")]
    DuplicateKid,
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn bit_length(big_endian: &[u8]) -> usize {
    match big_endian.first() {
        None => 0,
        Some(&first) => (big_endian.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

fn only(keys: &[VerifyingKey]) -> Option<&VerifyingKey> {
    only_of(keys.iter())
}

/// The single item of `keys`, if there is exactly one.
fn only_of<'a>(mut keys: impl Iterator<Item = &'a VerifyingKey>) -> Option<&'a VerifyingKey> {
    match (keys.next(), keys.next()) {
        (Some(key), None) => Some(key),
        _ => None,
    }
}

/// The result of looking a token's key up in a [`KeySet`].
pub(crate) enum Lookup<'a> {
    Found(&'a VerifyingKey),
    /// No key with this `kid`: a refetch might find it.
    UnknownKid,
    /// No `kid` in the token, and not exactly one key that could verify it.
    Ambiguous,
    /// The key exists but may not verify this algorithm.
    AlgorithmMismatch,
}

/// Keys by `kid`, plus keys without one (a PEM has no `kid`).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct KeySet {
    by_kid: HashMap<String, VerifyingKey>,
    without_kid: Vec<VerifyingKey>,
}

impl KeySet {
    pub(crate) fn insert(&mut self, key: VerifyingKey) -> Result<(), KeyRejected> {
        match key.kid.clone() {
            Some(kid) if self.by_kid.contains_key(&kid) => Err(KeyRejected::DuplicateKid),
            Some(kid) => {
                self.by_kid.insert(kid, key);
                Ok(())
            }
            None => {
                self.without_kid.push(key);
                Ok(())
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_kid.len() + self.without_kid.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key for a token: by `kid` when the token names one; otherwise the only key that
    /// verifies `alg`. A token naming a `kid` may also use the single key without one (a PEM
    /// source), since a PEM carries no `kid` to compare with.
    pub(crate) fn find(&self, kid: Option<&str>, alg: Algorithm) -> Lookup<'_> {
        let key = match kid {
            Some(kid) => match self.by_kid.get(kid).or_else(|| only(&self.without_kid)) {
                Some(key) => key,
                None => return Lookup::UnknownKid,
            },
            None => match only_of(self.by_kid.values().chain(&self.without_kid)) {
                Some(key) => key,
                None => return Lookup::Ambiguous,
            },
        };
        if key.verifies(alg) {
            Lookup::Found(key)
        } else {
            Lookup::AlgorithmMismatch
        }
    }

    /// The `kid`s in the set, for logs.
    pub(crate) fn kids(&self) -> Vec<&str> {
        self.by_kid.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs256() -> Arc<[Algorithm]> {
        Arc::from([Algorithm::RS256])
    }

    fn key(kid: Option<&str>) -> VerifyingKey {
        let mut modulus = vec![0xC5; 256];
        modulus[255] |= 1;
        VerifyingKey::rsa(kid.map(str::to_owned), &modulus, &[1, 0, 1], &rs256()).unwrap()
    }

    #[test]
    fn a_key_under_2048_bits_is_refused() {
        let modulus = [0xFF; 255];

        let error = VerifyingKey::rsa(None, &modulus, &[1, 0, 1], &rs256()).unwrap_err();

        assert_eq!(error, KeyRejected::TooSmall { bits: 2040 });
    }

    #[test]
    fn leading_zero_bytes_do_not_count_as_bits() {
        let mut modulus = vec![0; 2];
        modulus.extend([0x01; 255]);

        let error = VerifyingKey::rsa(None, &modulus, &[1, 0, 1], &rs256()).unwrap_err();

        assert_eq!(error, KeyRejected::TooSmall { bits: 2033 });
    }

    #[test]
    fn an_even_or_empty_exponent_is_refused() {
        let modulus = [0xC5; 256];
        for exponent in [&[][..], &[2][..], &[0, 0][..], &[1, 0, 0, 0, 1][..]] {
            assert_eq!(
                VerifyingKey::rsa(None, &modulus, exponent, &rs256()).unwrap_err(),
                KeyRejected::BadExponent
            );
        }
    }

    #[test]
    fn a_kid_finds_its_key_only_for_an_allowed_algorithm() {
        let mut set = KeySet::default();
        set.insert(key(Some("a"))).unwrap();
        set.insert(key(Some("b"))).unwrap();

        assert!(
            matches!(set.find(Some("b"), Algorithm::RS256), Lookup::Found(k) if k.kid.as_deref() == Some("b"))
        );
        assert!(matches!(
            set.find(Some("b"), Algorithm::PS256),
            Lookup::AlgorithmMismatch
        ));
        assert!(matches!(
            set.find(Some("c"), Algorithm::RS256),
            Lookup::UnknownKid
        ));
        assert!(matches!(
            set.find(None, Algorithm::RS256),
            Lookup::Ambiguous
        ));
    }

    #[test]
    fn a_single_key_serves_tokens_without_a_kid() {
        let mut set = KeySet::default();
        set.insert(key(Some("a"))).unwrap();

        assert!(matches!(set.find(None, Algorithm::RS256), Lookup::Found(_)));
    }

    #[test]
    fn a_key_without_kid_serves_any_kid() {
        let mut set = KeySet::default();
        set.insert(key(None)).unwrap();

        assert!(matches!(
            set.find(Some("whatever"), Algorithm::RS256),
            Lookup::Found(_)
        ));
    }

    #[test]
    fn a_duplicate_kid_is_refused() {
        let mut set = KeySet::default();
        set.insert(key(Some("a"))).unwrap();

        assert_eq!(
            set.insert(key(Some("a"))).unwrap_err(),
            KeyRejected::DuplicateKid
        );
        assert_eq!(set.len(), 1);
    }
}
