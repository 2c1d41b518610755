//! [`SignatureAlgorithm`]: the public-key signature algorithms a key source may be pinned to,
//! and which kind of key each needs.

use jsonwebtoken::Algorithm;

/// The public-key signature algorithms a key source may verify
/// ([`VerifierBuilder::algorithms`](crate::VerifierBuilder::algorithms)).
///
/// Each needs its own kind of key, and a key verifies only the algorithms of its kind: an RSA
/// key RS*/PS*, a P-256 key ES256, a P-384 key ES384, an Ed25519 key EdDSA. So a header can
/// never make one kind of key verify another kind's algorithm, whatever the list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (what the issuer signs with).
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA on P-256 with SHA-256; the signature in JOSE form (`r || s`, 64 bytes).
    Es256,
    /// ECDSA on P-384 with SHA-384; the signature in JOSE form (`r || s`, 96 bytes).
    Es384,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl SignatureAlgorithm {
    /// What [`VerifierBuilder::algorithms`](crate::VerifierBuilder::algorithms) defaults to:
    /// the usual algorithm of each kind of key (RS256, ES256, ES384, EdDSA). The other RSA
    /// algorithms (RS384, RS512, PS*) are for issuers that use them, named explicitly.
    pub const DEFAULT: [Self; 4] = [Self::Rs256, Self::Es256, Self::Es384, Self::EdDsa];
}

impl From<SignatureAlgorithm> for Algorithm {
    fn from(alg: SignatureAlgorithm) -> Self {
        match alg {
            SignatureAlgorithm::Rs256 => Self::RS256,
            SignatureAlgorithm::Rs384 => Self::RS384,
            SignatureAlgorithm::Rs512 => Self::RS512,
            SignatureAlgorithm::Ps256 => Self::PS256,
            SignatureAlgorithm::Ps384 => Self::PS384,
            SignatureAlgorithm::Ps512 => Self::PS512,
            SignatureAlgorithm::Es256 => Self::ES256,
            SignatureAlgorithm::Es384 => Self::ES384,
            SignatureAlgorithm::EdDsa => Self::EdDSA,
        }
    }
}
