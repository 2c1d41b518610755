//! Why a request was refused, and the RFC 6750 response that says so.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

/// Why the layer refused a request. Each maps to one response (see
/// [`Rejection::into_response`]); the reason is logged at `debug` and never includes token text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The request carries no bearer token: 401 with a bare `WWW-Authenticate: Bearer`.
    #[error("the request has no bearer token")]
    MissingToken,
    /// The token is not acceptable: 401 `error="invalid_token"`.
    #[error(transparent)]
    InvalidToken(#[from] InvalidToken),
    /// The token is valid but carries none of the roles the route needs: 403
    /// `error="insufficient_scope"`.
    #[error("the token carries none of the roles this route needs ({0})")]
    InsufficientRole(RoleList),
    /// The token is valid but lacks a scope the route needs: 403
    /// `error="insufficient_scope"`, with the scopes in the challenge's `scope` attribute.
    #[error("the token lacks scopes this route needs ({0})")]
    InsufficientScope(ScopeList),
    /// No keys could be loaded to verify the token with: 503 with `Retry-After`.
    #[error("the signing keys are not available")]
    KeysUnavailable {
        /// When the next attempt to load them may happen.
        retry_after: Duration,
    },
}

/// What is wrong with a token. The `Display` text is the `error_description` clients receive:
/// specific enough to debug a client, free of token contents and of internals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidToken {
    /// The `Authorization` header is not `Bearer <token>`, or appears more than once.
    #[error("the Authorization header is not a well-formed bearer token")]
    MalformedAuthorization,
    /// The header or cookie configured to carry the token
    /// ([`JwtAuthLayer::token_from_header`](crate::JwtAuthLayer::token_from_header),
    /// [`token_from_cookie`](crate::JwtAuthLayer::token_from_cookie)) holds something other
    /// than one token, or appears more than once.
    #[error("the header or cookie carrying the token is malformed")]
    MalformedTokenSource,
    /// Longer than the configured cap; refused before any parsing.
    #[error("the token is too long")]
    TooLong,
    /// Not three non-empty base64url segments.
    #[error("the token is not a compact JWS")]
    NotCompactJws,
    /// The header is not a JSON object of the expected shape.
    #[error("the token header is malformed")]
    MalformedHeader,
    /// `alg` is not one this verifier pins (never `none`).
    #[error("the token's algorithm is not accepted")]
    AlgorithmNotAllowed,
    /// The header lists critical extensions (`crit`); none are supported.
    #[error("the token requires extensions this verifier does not support")]
    UnsupportedCritical,
    /// A refresh token (by `typ` header or `type` claim) offered as an access token.
    #[error("a refresh token is not an access token")]
    RefreshToken,
    /// No known key has the token's `kid` (after at most one permitted refetch).
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    /// The token has no `kid` and more than one key could have signed it.
    #[error("the token has no key id")]
    MissingKeyId,
    /// The signature does not verify.
    #[error("the token signature is invalid")]
    BadSignature,
    /// The payload is not a JSON object, or a claim has the wrong type.
    #[error("the token claims are malformed")]
    MalformedClaims,
    /// No `exp` claim.
    #[error("the token has no expiry")]
    MissingExpiry,
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// `iss` is missing or not the configured issuer.
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    /// `aud` is missing or names none of the configured audiences.
    #[error("the token is meant for another audience")]
    WrongAudience,
    /// The token's session (`sid`) is on the issuer's revocation list (logged out or revoked).
    #[error("the token's session has ended")]
    Revoked,
}

/// The roles a route accepts (any one of them suffices), as named in a 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleList(pub(crate) Arc<[String]>);

impl RoleList {
    /// A list of `roles`, e.g. for an application that checks a role itself (against its own
    /// database) and answers as [`RequireRoleLayer`](crate::RequireRoleLayer) does:
    /// `Rejection::InsufficientRole(RoleList::new(["admin"])).into_response()`.
    pub fn new<I, S>(roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(roles.into_iter().map(Into::into).collect())
    }

    /// The roles, in the order they were configured.
    pub fn roles(&self) -> &[String] {
        &self.0
    }
}

/// The scopes a route needs (all of them), as named in a 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeList(pub(crate) Arc<[String]>);

impl ScopeList {
    /// The scopes, in the order they were configured.
    pub fn scopes(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for ScopeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl fmt::Display for RoleList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" or "))
    }
}

impl Rejection {
    /// The HTTP status this rejection is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientRole(_) | Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::KeysUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `error` code of the JSON body (RFC 6750 section 3.1 where one applies).
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::MissingToken => "invalid_request",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientRole(_) | Self::InsufficientScope(_) => "insufficient_scope",
            Self::KeysUnavailable { .. } => "temporarily_unavailable",
        }
    }

    /// Builds the response: status, `WWW-Authenticate` (RFC 6750 section 3), `Retry-After` for
    /// a 503, and the JSON body `{"error", "error_description"}`.
    ///
    /// The body type only needs `From<Bytes>` (`axum::body::Body` and
    /// `http_body_util::Full<Bytes>` have it); see the crate docs for why this is not `Default`.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let description = self.to_string();
        let body = serde_json::json!({
            "error": self.error_code(),
            "error_description": description,
        });
        let mut response = Response::new(B::from(Bytes::from(body.to_string())));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let challenge = match &self {
            Self::MissingToken => Some("Bearer".to_owned()),
            Self::InvalidToken(_) | Self::InsufficientRole(_) => Some(format!(
                "Bearer error=\"{}\", error_description=\"{}\"",
                self.error_code(),
                description.replace(['"', '\\'], "")
            )),
            // RFC 6750 section 3: the scope attribute lists what the request needs.
            Self::InsufficientScope(scopes) => Some(format!(
                "Bearer error=\"{}\", error_description=\"{}\", scope=\"{}\"",
                self.error_code(),
                description.replace(['"', '\\'], ""),
                scopes.to_string().replace(['"', '\\'], "")
            )),
            Self::KeysUnavailable { .. } => None,
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::try_from(c).ok()) {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if let Self::KeysUnavailable { retry_after } = self {
            headers.insert(RETRY_AFTER, HeaderValue::from(whole_seconds(retry_after)));
        }
        response
    }
}

impl Rejection {
    /// The status gRPC clients expect for this rejection (the HTTP-to-gRPC mapping): 16
    /// `UNAUTHENTICATED` for a 401, 7 `PERMISSION_DENIED` for a 403, 14 `UNAVAILABLE` for a 503.
    pub fn grpc_status(&self) -> u8 {
        match self.status() {
            StatusCode::UNAUTHORIZED => 16,
            StatusCode::FORBIDDEN => 7,
            _ => 14,
        }
    }

    /// The answer to a gRPC request (`content-type: application/grpc...`): a trailers-only
    /// gRPC response (HTTP 200, `grpc-status`, `grpc-message` with the description), which is
    /// what gRPC clients read as a status; the RFC 6750 `WWW-Authenticate` and the 503's
    /// `Retry-After` stay. A gRPC client given the plain HTTP 401 would instead try to read
    /// the JSON body as gRPC messages and report an internal error.
    pub fn into_grpc_response<B: From<Bytes>>(self) -> Response<B> {
        let status = self.grpc_status();
        let message = self.to_string().replace('%', "%25");
        let mut response: Response<B> = self.into_response();
        *response.status_mut() = StatusCode::OK;
        *response.body_mut() = B::from(Bytes::new());
        let headers = response.headers_mut();
        headers.remove(http::header::CONTENT_LENGTH);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from(u16::from(status)));
        if let Ok(message) = HeaderValue::try_from(message) {
            headers.insert("grpc-message", message);
        }
        response
    }
}

/// Seconds for `Retry-After`, rounded up and at least 1 so clients never retry in a busy loop.
fn whole_seconds(duration: Duration) -> u64 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(rejection: Rejection) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let response: Response<Bytes> = rejection.into_response();
        let (parts, body) = response.into_parts();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&body).unwrap(),
        )
    }

    #[test]
    fn a_grpc_answer_is_trailers_only_with_the_mapped_status_and_the_description() {
        let cases = [
            (Rejection::MissingToken, "16"),
            (Rejection::InvalidToken(InvalidToken::Expired), "16"),
            (
                Rejection::InsufficientRole(RoleList(Arc::from(vec!["admin".to_owned()]))),
                "7",
            ),
            (
                Rejection::KeysUnavailable {
                    retry_after: Duration::from_secs(2),
                },
                "14",
            ),
        ];
        for (rejection, code) in cases {
            let description = rejection.to_string();
            let response: Response<Bytes> = rejection.into_grpc_response();
            let headers = response.headers();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(headers["content-type"], "application/grpc");
            assert_eq!(headers["grpc-status"], code);
            assert_eq!(headers["grpc-message"], description.as_str());
            assert!(headers.get("content-length").is_none());
            assert!(response.body().is_empty());
        }
    }

    #[test]
    fn a_missing_token_is_a_bare_bearer_challenge() {
        let (status, headers, body) = parts(Rejection::MissingToken);

        assert_eq!(status, 401);
        assert_eq!(headers[WWW_AUTHENTICATE], "Bearer");
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
    }

    #[test]
    fn an_invalid_token_names_the_error_in_the_challenge_and_the_body() {
        let (status, headers, body) = parts(InvalidToken::Expired.into());

        assert_eq!(status, 401);
        assert_eq!(
            headers[WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\", error_description=\"the token has expired\""
        );
        assert_eq!(
            body,
            serde_json::json!({"error": "invalid_token", "error_description": "the token has expired"})
        );
    }

    #[test]
    fn a_missing_role_is_403_insufficient_scope_naming_the_roles() {
        let roles = RoleList(Arc::from(vec!["user".to_owned(), "admin".to_owned()]));
        let (status, headers, body) = parts(Rejection::InsufficientRole(roles));

        assert_eq!(status, 403);
        assert!(
            headers[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer error=\"insufficient_scope\"")
        );
        assert_eq!(
            body["error_description"],
            "the token carries none of the roles this route needs (user or admin)"
        );
    }

    #[test]
    fn unavailable_keys_are_503_with_retry_after_rounded_up() {
        let (status, headers, body) = parts(Rejection::KeysUnavailable {
            retry_after: Duration::from_millis(2500),
        });

        assert_eq!(status, 503);
        assert_eq!(headers[RETRY_AFTER], "3");
        assert_eq!(body["error"], "temporarily_unavailable");
        assert!(!headers.contains_key(WWW_AUTHENTICATE));
    }

    #[test]
    fn retry_after_is_never_zero() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
    }
}
