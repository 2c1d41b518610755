//! [`ClaimGuard`]: what a route requires of verified claims (any one of a set of roles, or all
//! of a set of scopes), checked by both [`JwtAuth`](super::JwtAuth) and
//! [`RequireClaims`](super::RequireClaims).

use std::sync::Arc;

use crate::claims::VerifiedClaims;
use crate::rejection::{Rejection, RoleList, ScopeList};

/// A route's requirement on verified claims, if any.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClaimGuard(Option<Requirement>);

#[derive(Debug, Clone)]
enum Requirement {
    AnyRole(RoleList),
    AllScopes(ScopeList),
}

/// The names as a shared list, refusing an empty one: no token could pass, which is never
/// what was meant.
fn names<I, R>(names: I, what: &str) -> Arc<[String]>
where
    I: IntoIterator<Item = R>,
    R: Into<String>,
{
    let names: Vec<String> = names.into_iter().map(Into::into).collect();
    assert!(
        !names.is_empty(),
        "a {what} requirement needs at least one {what}"
    );
    Arc::from(names)
}

impl ClaimGuard {
    pub(super) fn any_of<I, R>(roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        Self(Some(Requirement::AnyRole(RoleList(names(roles, "role")))))
    }

    pub(super) fn all_scopes<I, R>(scopes: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        Self(Some(Requirement::AllScopes(ScopeList(names(
            scopes, "scope",
        )))))
    }

    pub(super) fn is_open(&self) -> bool {
        self.0.is_none()
    }

    /// Passes the claims on when they meet the requirement.
    pub(crate) fn admit(&self, claims: VerifiedClaims) -> Result<VerifiedClaims, Rejection> {
        match &self.0 {
            Some(Requirement::AnyRole(required)) if !claims.has_any_role(required.roles()) => {
                Err(Rejection::InsufficientRole(required.clone()))
            }
            Some(Requirement::AllScopes(required)) if !claims.has_all_scopes(required.scopes()) => {
                Err(Rejection::InsufficientScope(required.clone()))
            }
            _ => Ok(claims),
        }
    }
}
