//! axum extractors for the claims [`JwtAuthLayer`](crate::JwtAuthLayer) verified
//! (feature `axum`).

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::claims::VerifiedClaims;
use crate::rejection::{InvalidToken, Rejection};

/// The verified claims as your own type: `Claims<MyClaims>` deserializes the token's payload
/// into `MyClaims`. `Option<Claims<T>>` is `None` on routes where the layer is
/// [`optional`](crate::JwtAuthLayer::optional) and no token was sent.
///
/// Rejections: a payload that does not fit `T` is 401 `invalid_token` (the token lacks what
/// this route needs); using the extractor on a route without the layer is a programming error,
/// answered 500 and logged at `error`.
#[derive(Debug, Clone)]
pub struct Claims<T>(pub T);

/// Why [`Claims`] or [`VerifiedClaims`] could not be extracted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimsRejection {
    /// No [`JwtAuthLayer`](crate::JwtAuthLayer) ran for this request.
    #[error("no verified claims: is the route behind JwtAuthLayer?")]
    LayerMissing,
    /// The payload does not fit the requested type.
    #[error("the token claims do not fit this route: {0}")]
    Shape(#[source] serde_json::Error),
}

impl IntoResponse for ClaimsRejection {
    fn into_response(self) -> Response {
        match self {
            Self::LayerMissing => {
                tracing::error!("{self}");
                let body =
                    r#"{"error":"server_error","error_description":"internal server error"}"#;
                (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response()
            }
            Self::Shape(error) => {
                tracing::debug!(%error, "token claims do not fit the route's claims type");
                Rejection::InvalidToken(InvalidToken::MalformedClaims).into_response()
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedClaims {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(ClaimsRejection::LayerMissing)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for VerifiedClaims {
    type Rejection = ClaimsRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned())
    }
}

impl<S, T> FromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let claims = parts
            .extensions
            .get::<VerifiedClaims>()
            .ok_or(ClaimsRejection::LayerMissing)?;
        claims
            .deserialize()
            .map(Self)
            .map_err(ClaimsRejection::Shape)
    }
}

impl<S, T> OptionalFromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ClaimsRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match parts.extensions.get::<VerifiedClaims>() {
            None => Ok(None),
            Some(claims) => claims
                .deserialize()
                .map(|claims| Some(Self(claims)))
                .map_err(ClaimsRejection::Shape),
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        // The inherent method: status, WWW-Authenticate, Retry-After and the JSON body.
        Rejection::into_response(self)
    }
}
