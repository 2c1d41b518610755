use std::fmt;

/// Shortest password accepted, in characters: a shorter one is a "weak password" (422).
pub const MIN_CHARS: usize = 8;
/// Longest password accepted, in bytes: hashing cost must not grow with attacker-chosen input.
pub const MAX_BYTES: usize = 1024;

/// A password that meets the length policy. Its `Debug` output never shows the secret.
#[derive(Clone)]
pub struct Password(String);

/// Why a string is not an acceptable [`Password`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than [`MIN_CHARS`] characters.
    #[error("password must be at least 8 characters")]
    TooShort,
    /// More than [`MAX_BYTES`] bytes.
    #[error("password must be at most 1024 bytes")]
    TooLong,
}

impl Password {
    /// Checks a new password against the policy.
    pub fn parse(raw: String) -> Result<Self, PasswordError> {
        if raw.chars().count() < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if raw.len() > MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        Ok(Self(raw))
    }

    /// The secret itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_of_eight_characters_is_accepted() {
        assert!(Password::parse("12345678".into()).is_ok());
    }

    #[test]
    fn a_password_of_seven_characters_is_rejected() {
        assert_eq!(
            Password::parse("1234567".into()).err(),
            Some(PasswordError::TooShort)
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert_eq!(
            Password::parse("ééééééé".into()).err(),
            Some(PasswordError::TooShort)
        );
    }

    #[test]
    fn an_overlong_password_is_rejected() {
        assert_eq!(
            Password::parse("x".repeat(1025)).err(),
            Some(PasswordError::TooLong)
        );
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let shown = format!("{:?}", Password::parse("hunter2hunter2".into()).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
