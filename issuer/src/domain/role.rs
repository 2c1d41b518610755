use std::fmt;

const MAX_LEN: usize = 32;

/// The role of administrators: only it may use the admin API (`/admin/...`), and no one can
/// grant it to themselves (it is never a self-service role unless configured so).
pub const ADMIN_ROLE: &str = "admin";

/// A role name: 1 to 32 of `a-z`, `0-9`, `-`, `_`, starting with a letter.
///
/// Roles travel in tokens and are compared byte for byte by verifiers, so the alphabet is kept
/// narrow and lower-case to avoid look-alike roles.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Role(String);

/// Why a string is not a [`Role`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be 1-32 characters of a-z, 0-9, '-' or '_', starting with a letter")]
pub struct RoleError;

impl Role {
    /// Parses a role name.
    pub fn parse(raw: &str) -> Result<Self, RoleError> {
        let starts_with_letter = raw.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        let alphabet_ok = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if starts_with_letter && alphabet_ok && raw.len() <= MAX_LEN {
            Ok(Self(raw.to_owned()))
        } else {
            Err(RoleError)
        }
    }

    /// A role anyone may get without an administrator (by `/register` or a first phone login):
    /// any but [`ADMIN_ROLE`].
    ///
    /// # Errors
    /// A sentence saying why, for a configuration error.
    pub fn parse_self_service(raw: &str) -> Result<Self, String> {
        let role = Self::parse(raw).map_err(|e| format!("'{raw}': {e}"))?;
        if role.as_str() == ADMIN_ROLE {
            return Err(format!(
                "'{ADMIN_ROLE}' is granted only by an administrator (the admin API or `issuer user set-role`)"
            ));
        }
        Ok(role)
    }

    /// The role name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Role({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_case_word_is_a_role() {
        assert_eq!(Role::parse("raider").unwrap().as_str(), "raider");
    }

    #[test]
    fn digits_dashes_and_underscores_are_allowed_after_the_first_letter() {
        assert!(Role::parse("ops-admin_2").is_ok());
    }

    #[test]
    fn an_empty_role_is_rejected() {
        assert_eq!(Role::parse(""), Err(RoleError));
    }

    #[test]
    fn an_upper_case_role_is_rejected() {
        assert_eq!(Role::parse("Admin"), Err(RoleError));
    }

    #[test]
    fn a_role_starting_with_a_digit_is_rejected() {
        assert_eq!(Role::parse("1user"), Err(RoleError));
    }

    #[test]
    fn a_role_longer_than_32_characters_is_rejected() {
        assert_eq!(Role::parse(&"a".repeat(33)), Err(RoleError));
    }
}
