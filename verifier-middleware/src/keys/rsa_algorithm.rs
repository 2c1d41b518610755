//! [`RsaAlgorithm`]: the RSA signature algorithms a key source may be pinned to.

use jsonwebtoken::Algorithm;

/// The RSA signature algorithms a key source may be pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RsaAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (the default, and what the issuer signs with).
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
}

impl From<RsaAlgorithm> for Algorithm {
    fn from(alg: RsaAlgorithm) -> Self {
        match alg {
            RsaAlgorithm::Rs256 => Self::RS256,
            RsaAlgorithm::Rs384 => Self::RS384,
            RsaAlgorithm::Rs512 => Self::RS512,
            RsaAlgorithm::Ps256 => Self::PS256,
            RsaAlgorithm::Ps384 => Self::PS384,
            RsaAlgorithm::Ps512 => Self::PS512,
        }
    }
}
