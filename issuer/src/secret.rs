//! [`Secret`]: a string whose `Debug` output is redacted.

use std::fmt;

/// A secret string whose `Debug` output is redacted (the HS256 secret, a database URL that may
/// hold a password, a password given on the command line, the Twilio auth token).
#[derive(Clone)]
pub struct Secret(String);

/// How clap builds it from a flag or an environment variable.
impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_secret() {
        let shown = format!("{:?}", Secret::new("hunter2hunter2".into()));
        assert_eq!(shown, "Secret(<redacted>)");
    }
}
