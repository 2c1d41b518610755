//! argon2id in memory the caller owns: each hashing permit keeps one block buffer and reuses
//! it, so a login storm allocates nothing and the process's memory stays at what the permits
//! hold (the allocator would otherwise keep each blocking thread's freed 19 MiB).
//!
//! Stored hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), written and read
//! as the `argon2` crate's `PasswordHasher`/`PasswordVerifier` do; only the memory differs.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Hashing failed: the library refused, or the worker thread died.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl HashError {
    pub(super) fn new(cause: impl std::fmt::Display) -> Self {
        Self(cause.to_string())
    }
}

/// The block buffer of one running hash: `Params::block_count` blocks of 1 KiB.
pub(super) type Memory = Box<[Block]>;

/// A zeroed buffer for hashes with `params`.
pub(super) fn memory_for(params: &Params) -> Memory {
    vec![Block::default(); params.block_count()].into_boxed_slice()
}

/// A new PHC string for `password` with a random salt and `params`, computed in `memory`.
pub(super) fn hash(
    params: &Params,
    password: &[u8],
    memory: &mut [Block],
) -> Result<String, HashError> {
    let salt = Salt::generate();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2
        .hash_password_into_with_memory(password, &salt, &mut out, memory)
        .map_err(HashError::new)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(HashError::new)?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(HashError::new)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` is the one `phc` was made from. The comparison is constant-time
/// (`Output`'s equality). A hash whose parameters need more memory than `memory` holds (raised
/// parameters on an old deployment, say) is verified in memory of its own.
pub(super) fn verify(phc: &str, password: &[u8], memory: &mut [Block]) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(phc).map_err(HashError::new)?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(HashError::new("stored hash has no salt or no output"));
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(HashError::new)?;
    let version = match parsed.version {
        Some(version) => Version::try_from(version).map_err(HashError::new)?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(HashError::new)?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    if params.block_count() <= memory.len() {
        argon2.hash_password_into_with_memory(password, salt, &mut out, memory)
    } else {
        argon2.hash_password_into(password, salt, &mut out)
    }
    .map_err(HashError::new)?;
    Ok(Output::new(&out).map_err(HashError::new)? == *expected)
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    fn small() -> Params {
        Params::new(64, 1, 1, None).unwrap()
    }

    #[test]
    fn a_hash_made_here_verifies_with_the_argon2_crate_and_back() {
        let params = small();
        let mut memory = memory_for(&params);
        let ours = hash(&params, b"correct horse", &mut memory).unwrap();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        assert!(
            argon2
                .verify_password(b"correct horse", ours.as_str())
                .is_ok()
        );
        assert!(
            argon2
                .verify_password(b"wrong horse", ours.as_str())
                .is_err()
        );

        let theirs = argon2.hash_password(b"correct horse").unwrap().to_string();
        assert!(verify(&theirs, b"correct horse", &mut memory).unwrap());
        assert!(!verify(&theirs, b"wrong horse", &mut memory).unwrap());
    }

    #[test]
    fn one_buffer_serves_hash_after_hash() {
        let params = small();
        let mut memory = memory_for(&params);
        let first = hash(&params, b"first password", &mut memory).unwrap();
        let second = hash(&params, b"second password", &mut memory).unwrap();
        assert!(verify(&first, b"first password", &mut memory).unwrap());
        assert!(verify(&second, b"second password", &mut memory).unwrap());
        assert!(!verify(&first, b"second password", &mut memory).unwrap());
    }

    #[test]
    fn a_hash_needing_more_memory_than_the_buffer_still_verifies() {
        let mut memory = memory_for(&small());
        let bigger = Params::new(256, 1, 1, None).unwrap();
        let phc = hash(&bigger, b"pw", &mut memory_for(&bigger)).unwrap();
        assert!(verify(&phc, b"pw", &mut memory).unwrap());
    }

    #[test]
    fn a_malformed_hash_is_an_error_not_a_match() {
        let mut memory = memory_for(&small());
        assert!(verify("$argon2id$v=19$nonsense", b"pw", &mut memory).is_err());
        assert!(verify("not a phc string", b"pw", &mut memory).is_err());
    }
}
