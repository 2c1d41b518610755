//! [`RoleGuard`]: the role requirement of a route, checked on verified claims by both
//! [`JwtAuth`](super::JwtAuth) and [`RequireRole`](super::RequireRole).

use std::sync::Arc;

use crate::claims::VerifiedClaims;
use crate::rejection::{Rejection, RoleList};

/// Which roles a route accepts: none required, or any one of a list.
#[derive(Debug, Clone, Default)]
pub(crate) struct RoleGuard(Option<RoleList>);

impl RoleGuard {
    pub(super) fn any_of<I, R>(roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        let roles: Vec<String> = roles.into_iter().map(Into::into).collect();
        assert!(
            !roles.is_empty(),
            "a role requirement needs at least one role"
        );
        Self(Some(RoleList(Arc::from(roles))))
    }

    pub(super) fn is_open(&self) -> bool {
        self.0.is_none()
    }

    /// Passes the claims on when they carry one of the roles.
    pub(crate) fn admit(&self, claims: VerifiedClaims) -> Result<VerifiedClaims, Rejection> {
        match &self.0 {
            Some(required) if !claims.has_any_role(required.roles()) => {
                Err(Rejection::InsufficientRole(required.clone()))
            }
            _ => Ok(claims),
        }
    }
}
