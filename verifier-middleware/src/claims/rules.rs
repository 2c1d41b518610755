//! What a token's claims must satisfy besides its signature: the issuer, the audiences and the
//! leeway on the time claims, as configured and checked when the verifier is built.

use std::sync::Arc;
use std::time::Duration;

use crate::build_error::{BuildError, Setting};

/// The default leeway on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// The largest leeway accepted: more would make short-lived tokens meaningless.
pub const MAX_LEEWAY: Duration = Duration::from_secs(5 * 60);

/// What the claims of a token must satisfy, besides its signature.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    /// `None` only after an explicit `insecure_skip_issuer_check`.
    pub(crate) issuer: Option<Arc<str>>,
    /// Any one suffices; `None` only after an explicit `insecure_skip_audience_check`.
    pub(crate) audiences: Option<Arc<[String]>>,
    pub(crate) leeway_seconds: i64,
    /// Where roles are read (JSON pointers into the payload); `None`: the issuer's `role`
    /// string and `roles` array.
    pub(crate) role_claims: Option<Arc<[String]>>,
}

/// A leeway in whole seconds, as NumericDates are compared.
pub(crate) fn leeway_seconds(leeway: Duration) -> i64 {
    i64::try_from(leeway.as_secs()).unwrap_or(0)
}

/// An expectation on a claim, or an explicit decision not to check it.
#[derive(Debug, Clone, Default)]
pub(crate) enum Expectation<T> {
    #[default]
    Unset,
    Expect(T),
    SkipInsecure,
}

/// The builder's `issuer`, `audience` (and their `insecure_skip_*`) and `leeway`.
#[derive(Debug, Clone)]
pub(crate) struct ClaimSettings {
    pub(crate) issuer: Expectation<String>,
    pub(crate) audiences: Expectation<Vec<String>>,
    pub(crate) leeway: Duration,
    pub(crate) role_claims: Option<Vec<String>>,
}

impl Default for ClaimSettings {
    fn default() -> Self {
        Self {
            issuer: Expectation::Unset,
            audiences: Expectation::Unset,
            leeway: DEFAULT_LEEWAY,
            role_claims: None,
        }
    }
}

impl ClaimSettings {
    /// The rules, once the leeway is within [`MAX_LEEWAY`] and the issuer and the audience are
    /// each either given (not empty) or skipped by name.
    pub(crate) fn rules(self) -> Result<ClaimRules, BuildError> {
        Setting::Leeway.require(self.leeway <= MAX_LEEWAY, "at most 5 minutes")?;
        let issuer = match self.issuer {
            Expectation::Unset => return Err(BuildError::MissingIssuer),
            Expectation::Expect(issuer) if issuer.is_empty() => {
                return Err(BuildError::invalid(Setting::Issuer, "empty"));
            }
            Expectation::Expect(issuer) => Some(Arc::from(issuer)),
            Expectation::SkipInsecure => None,
        };
        let audiences = match self.audiences {
            Expectation::Unset => return Err(BuildError::MissingAudience),
            Expectation::Expect(audiences) if audiences.iter().any(String::is_empty) => {
                return Err(BuildError::invalid(Setting::Audience, "empty"));
            }
            Expectation::Expect(audiences) => Some(Arc::from(audiences)),
            Expectation::SkipInsecure => None,
        };
        let role_claims = match self.role_claims {
            None => None,
            Some(pointers) => {
                Setting::RoleClaims.require(!pointers.is_empty(), "name at least one claim")?;
                Setting::RoleClaims.require(
                    pointers.iter().all(|p| p.starts_with('/')),
                    "each is a JSON pointer (RFC 6901), e.g. /roles or /realm_access/roles",
                )?;
                Some(Arc::from(pointers))
            }
        };
        Ok(ClaimRules {
            issuer,
            audiences,
            leeway_seconds: leeway_seconds(self.leeway),
            role_claims,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expecting(issuer: &str, audience: &str) -> ClaimSettings {
        ClaimSettings {
            issuer: Expectation::Expect(issuer.to_owned()),
            audiences: Expectation::Expect(vec![audience.to_owned()]),
            ..ClaimSettings::default()
        }
    }

    #[test]
    fn the_default_leeway_is_applied_in_seconds() {
        let rules = expecting("https://issuer.test", "api").rules().unwrap();

        assert_eq!(rules.leeway_seconds, 60);
        assert_eq!(rules.issuer.as_deref(), Some("https://issuer.test"));
        assert_eq!(rules.audiences.as_deref(), Some(&["api".to_owned()][..]));
    }

    #[test]
    fn a_leeway_over_the_maximum_is_refused() {
        let settings = |leeway| ClaimSettings {
            leeway,
            ..expecting("https://issuer.test", "api")
        };

        assert_eq!(
            settings(MAX_LEEWAY + Duration::from_secs(1))
                .rules()
                .unwrap_err(),
            BuildError::invalid(Setting::Leeway, "at most 5 minutes")
        );
        assert!(settings(MAX_LEEWAY).rules().is_ok());
    }

    #[test]
    fn issuer_and_audience_must_be_given_or_skipped_by_name() {
        let unset = |edit: fn(&mut ClaimSettings)| {
            let mut settings = expecting("https://issuer.test", "api");
            edit(&mut settings);
            settings.rules().unwrap_err()
        };

        assert_eq!(
            unset(|s| s.issuer = Expectation::Unset),
            BuildError::MissingIssuer
        );
        assert_eq!(
            unset(|s| s.audiences = Expectation::Unset),
            BuildError::MissingAudience
        );
        let skipped = ClaimSettings {
            issuer: Expectation::SkipInsecure,
            audiences: Expectation::SkipInsecure,
            ..ClaimSettings::default()
        };
        let rules = skipped.rules().unwrap();
        assert!(rules.issuer.is_none() && rules.audiences.is_none());
    }

    #[test]
    fn an_empty_issuer_or_audience_is_refused() {
        assert_eq!(
            expecting("", "api").rules().unwrap_err(),
            BuildError::invalid(Setting::Issuer, "empty")
        );
        assert_eq!(
            expecting("https://issuer.test", "").rules().unwrap_err(),
            BuildError::invalid(Setting::Audience, "empty")
        );
    }

    #[test]
    fn role_claims_must_be_json_pointers_and_at_least_one() {
        let with = |pointers: &[&str]| ClaimSettings {
            role_claims: Some(pointers.iter().map(|&p| p.to_owned()).collect()),
            ..expecting("https://issuer.test", "api")
        };

        assert_eq!(
            with(&[]).rules().unwrap_err(),
            BuildError::invalid(Setting::RoleClaims, "name at least one claim")
        );
        assert_eq!(
            with(&["/roles", "realm_access.roles"]).rules().unwrap_err(),
            BuildError::invalid(
                Setting::RoleClaims,
                "each is a JSON pointer (RFC 6901), e.g. /roles or /realm_access/roles"
            )
        );
        let rules = with(&["/realm_access/roles"]).rules().unwrap();
        assert_eq!(
            rules.role_claims.as_deref(),
            Some(&["/realm_access/roles".to_owned()][..])
        );
        assert!(
            expecting("https://issuer.test", "api")
                .rules()
                .unwrap()
                .role_claims
                .is_none()
        );
    }
}
