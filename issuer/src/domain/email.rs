use std::fmt;

/// The longest address RFC 5321 allows in a path (254 octets once the angle brackets go).
const MAX_LEN: usize = 254;

/// A syntactically plausible, normalised e-mail address.
///
/// Normalisation trims surrounding white space and lower-cases the whole address, so
/// `Alice@Example.COM ` and `alice@example.com` name the same account. (Local parts are
/// case-sensitive in theory; no mail provider in use treats them so, and two accounts that differ
/// only by case are a support incident, not a feature.)
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a string is not an [`Email`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Empty after trimming.
    #[error("email must not be empty")]
    Empty,
    /// Longer than 254 characters.
    #[error("email must be at most 254 characters")]
    TooLong,
    /// Not of the shape `local@domain.tld`.
    #[error("email must look like name@example.com")]
    Malformed,
}

impl Email {
    /// Parses and normalises an address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(EmailError::Empty);
        }
        if normalised.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = normalised.split_once('@').ok_or(EmailError::Malformed)?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        let no_odd_chars = !normalised
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ','));
        if local.is_empty() || !domain_ok || !no_odd_chars {
            return Err(EmailError::Malformed);
        }
        Ok(Self(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_address_is_accepted() {
        assert_eq!(
            Email::parse("alice@example.com").unwrap().as_str(),
            "alice@example.com"
        );
    }

    #[test]
    fn an_address_is_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
    }

    #[test]
    fn an_email_without_at_sign_is_rejected() {
        assert_eq!(
            Email::parse("alice.example.com"),
            Err(EmailError::Malformed)
        );
    }

    #[test]
    fn an_email_with_two_at_signs_is_rejected() {
        assert_eq!(Email::parse("a@b@example.com"), Err(EmailError::Malformed));
    }

    #[test]
    fn an_email_without_local_part_is_rejected() {
        assert_eq!(Email::parse("@example.com"), Err(EmailError::Malformed));
    }

    #[test]
    fn an_email_whose_domain_has_no_dot_is_rejected() {
        assert_eq!(Email::parse("alice@localhost"), Err(EmailError::Malformed));
    }

    #[test]
    fn an_email_with_inner_space_is_rejected() {
        assert_eq!(
            Email::parse("al ice@example.com"),
            Err(EmailError::Malformed)
        );
    }

    #[test]
    fn an_empty_email_is_rejected() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
    }

    #[test]
    fn an_overlong_email_is_rejected() {
        let raw = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&raw), Err(EmailError::TooLong));
    }
}
