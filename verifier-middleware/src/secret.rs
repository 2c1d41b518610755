//! The HS256 shared secret: long enough not to be guessed, never printed.

use std::fmt;

/// The shortest HS256 secret accepted, in bytes (RFC 7518 section 3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// An HS256 secret as configured; `Debug` shows its length only.
#[derive(Clone)]
pub(crate) struct Secret(Vec<u8>);

impl Secret {
    pub(crate) fn new(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether it is shorter than [`MIN_SECRET_BYTES`].
    pub(crate) fn is_weak(&self) -> bool {
        self.0.len() < MIN_SECRET_BYTES
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([REDACTED; {} bytes])", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shorter_than_the_minimum_is_weak() {
        assert!(Secret::new(&[7; MIN_SECRET_BYTES - 1]).is_weak());
        assert!(!Secret::new(&[7; MIN_SECRET_BYTES]).is_weak());
    }

    #[test]
    fn debug_shows_the_length_but_not_the_bytes() {
        let text = format!("{:?}", Secret::new(b"0123456789abcdef0123456789abcdef"));

        assert_eq!(text, "Secret([REDACTED; 32 bytes])");
    }
}
