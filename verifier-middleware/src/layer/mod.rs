//! The tower layers: [`JwtAuthLayer`] verifies the bearer token (and optionally checks roles);
//! [`RequireRoleLayer`] checks roles on claims an outer [`JwtAuthLayer`] already verified.
//!
//! Both work with any request body and any response body that can be built from bytes
//! (`ResBody: From<Bytes>`), leave the inner service's error type unchanged, and answer
//! rejections themselves as `Ok(Response)` (see [`Rejection::into_response`]).
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response, header::AUTHORIZATION};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use verifier_middleware::{JwtAuthLayer, VerifiedClaims, Verifier};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! const SECRET: &str = "an example secret of at least 32 bytes!";
//! let verifier = Verifier::builder()
//!     .hs256_secret(SECRET)
//!     .issuer("http://localhost:3000")
//!     .audience("api")
//!     .build()
//!     .unwrap();
//!
//! // A plain tower service, no web framework.
//! let service = ServiceBuilder::new()
//!     .layer(JwtAuthLayer::new(verifier).require_any_role(["user"]))
//!     .service(service_fn(|request: Request<Full<Bytes>>| async move {
//!         let claims = request.extensions().get::<VerifiedClaims>().unwrap();
//!         let body = format!("hello {}", claims.subject().unwrap_or("?"));
//!         Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(body)))
//!     }));
//!
//! // No token: 401 with a bare challenge, before the service runs.
//! let response = service.clone().oneshot(Request::new(Full::default())).await.unwrap();
//! assert_eq!(response.status(), 401);
//! assert_eq!(response.headers()["www-authenticate"], "Bearer");
//!
//! // A token as the issuer would sign it (here with the shared secret).
//! let exp = std::time::SystemTime::now()
//!     .duration_since(std::time::UNIX_EPOCH)
//!     .unwrap()
//!     .as_secs() + 900;
//! let claims = serde_json::json!({
//!     "iss": "http://localhost:3000", "aud": "api", "sub": "alice", "exp": exp, "role": "user",
//! });
//! let token = jsonwebtoken::encode(
//!     &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
//!     &claims,
//!     &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
//! )
//! .unwrap();
//! let request = Request::builder()
//!     .header(AUTHORIZATION, format!("Bearer {token}"))
//!     .body(Full::default())
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, "hello alice");
//! # }
//! ```

mod bearer;
#[cfg(feature = "fuzzing")]
pub(crate) use bearer::bearer_token;
mod future;
mod guard;
mod sources;

use std::task::{Context, Poll};

use std::sync::Arc;

use bytes::Bytes;
use http::header::HeaderName;
use http::{Request, Response};
use tower::{Layer, Service};

pub use self::future::ResponseFuture;
use self::guard::ClaimGuard;
use self::sources::TokenSources;
use crate::claims::VerifiedClaims;
use crate::metrics;
use crate::rejection::Rejection;
use crate::verifier::{Attempt, Verifier};

/// Verifies the bearer token of every request; see the [module docs](self).
///
/// On success the [`VerifiedClaims`] are inserted into the request's extensions and the inner
/// service is called. Otherwise the layer answers itself: 401 (missing or invalid token), 403
/// (a required role is missing) or 503 (no keys could be loaded).
#[derive(Debug, Clone)]
#[must_use]
pub struct JwtAuthLayer {
    verifier: Verifier,
    guard: ClaimGuard,
    optional: bool,
    sources: Arc<TokenSources>,
}

impl JwtAuthLayer {
    /// Requires a valid token on every request.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            guard: ClaimGuard::default(),
            optional: false,
            sources: Arc::default(),
        }
    }

    /// Also requires the token to carry one of `roles` (in its `role` string or `roles`
    /// array); otherwise 403 `insufficient_scope`.
    ///
    /// # Panics
    /// When `roles` is empty: no token could pass, which is never what was meant.
    pub fn require_any_role<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.guard = ClaimGuard::any_of(roles);
        self
    }

    /// Lets requests without a token (no `Authorization: Bearer`, nor a configured header or
    /// cookie) through without claims (read them with `Option<Claims<T>>`). A token that is present must still be valid. Has no
    /// effect together with [`require_any_role`](Self::require_any_role).
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Also reads the token from header `name` (its value the token, or `Bearer <token>`) in
    /// requests without `Authorization: Bearer`, e.g. `X-Access-Token` from a gateway.
    ///
    /// Precedence: `Authorization: Bearer` first; then the headers, then the cookies, each in
    /// the order they were added. The first one present is used: if it is malformed or
    /// repeated the request is refused (401 `the header or cookie carrying the token is
    /// malformed`), never read from the next source. A request with none of them is answered
    /// as without a token (401 with a bare `WWW-Authenticate: Bearer`, RFC 6750).
    ///
    /// # Panics
    /// When `name` is not a valid header name.
    pub fn token_from_header(mut self, name: &str) -> Self {
        let name = HeaderName::try_from(name)
            .unwrap_or_else(|_| panic!("token_from_header: {name:?} is not a header name"));
        Arc::make_mut(&mut self.sources).add_header(name);
        self
    }

    /// Also reads the token from cookie `name` in requests without `Authorization: Bearer`
    /// (a browser session; precedence as for [`token_from_header`](Self::token_from_header)).
    /// The value may be quoted; a cookie sent twice under the name is refused. A cookie is
    /// sent by the browser on requests other sites make too: protect state-changing routes
    /// against CSRF (`SameSite=Strict` or `Lax` on the cookie, or a CSRF token).
    pub fn token_from_cookie(mut self, name: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.sources).add_cookie(name.into());
        self
    }
}

impl<S> Layer<S> for JwtAuthLayer {
    type Service = JwtAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtAuth {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`JwtAuthLayer`] wraps around yours.
#[derive(Debug, Clone)]
pub struct JwtAuth<S> {
    inner: S,
    layer: JwtAuthLayer,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for JwtAuth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let attempt = match self.layer.sources.token(request.headers()) {
            Ok(Some(token)) => self.layer.verifier.try_verify(token),
            Ok(None) if self.layer.optional && self.layer.guard.is_open() => {
                return ResponseFuture::calling(self.inner.call(request));
            }
            Ok(None) => return ResponseFuture::rejected(Rejection::MissingToken, &request),
            Err(invalid) => {
                // Counted like a verification: the client did send a token, unreadable.
                let rejection = Rejection::from(invalid);
                metrics::refused(&rejection);
                return ResponseFuture::rejected(rejection, &request);
            }
        };
        match attempt {
            Attempt::Done(result) => match result.and_then(|c| self.layer.guard.admit(c)) {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    ResponseFuture::calling(self.inner.call(request))
                }
                Err(rejection) => ResponseFuture::rejected(rejection, &request),
            },
            Attempt::Pending(verification) => {
                // The inner service was driven to readiness in `poll_ready`; keep that one for
                // the call and leave a clone here (tower's usual pattern for async middleware).
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::verifying(verification, ready, request, self.layer.guard.clone())
            }
        }
    }
}

/// Requires one of a set of roles on claims that an outer [`JwtAuthLayer`] verified: use it
/// per route under one shared [`JwtAuthLayer`]. Without verified claims in the request it
/// answers 401; with claims lacking every role, 403.
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireRoleLayer {
    guard: ClaimGuard,
}

impl RequireRoleLayer {
    /// Accepts tokens carrying any one of `roles`.
    ///
    /// # Panics
    /// When `roles` is empty.
    pub fn any_of<I, R>(roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        Self {
            guard: ClaimGuard::any_of(roles),
        }
    }
}

/// Requires scopes (OAuth 2.0 `scope`/`scp`) on claims that an outer [`JwtAuthLayer`]
/// verified, per route like [`RequireRoleLayer`]. Without verified claims: 401; lacking a
/// scope: 403 `insufficient_scope` naming the scopes, also in the challenge's `scope`
/// attribute (RFC 6750 section 3).
///
/// ```
/// use axum::{Router, routing::post};
/// use verifier_middleware::{RequireScopeLayer, Verifier};
///
/// # fn app(verifier: Verifier) -> Router {
/// Router::new()
///     .route("/book", post(|| async { "booked" }).layer(RequireScopeLayer::all_of(["bookings:write"])))
///     .layer(verifier.layer())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireScopeLayer {
    guard: ClaimGuard,
}

impl RequireScopeLayer {
    /// Accepts tokens granting every one of `scopes`.
    ///
    /// # Panics
    /// When `scopes` is empty.
    pub fn all_of<I, R>(scopes: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        Self {
            guard: ClaimGuard::all_scopes(scopes),
        }
    }
}

impl<S> Layer<S> for RequireRoleLayer {
    type Service = RequireClaims<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireClaims::new(inner, &self.guard)
    }
}

impl<S> Layer<S> for RequireScopeLayer {
    type Service = RequireClaims<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireClaims::new(inner, &self.guard)
    }
}

/// The service [`RequireRoleLayer`] and [`RequireScopeLayer`] wrap around yours.
#[derive(Debug, Clone)]
pub struct RequireClaims<S> {
    inner: S,
    guard: ClaimGuard,
}

impl<S> RequireClaims<S> {
    fn new(inner: S, guard: &ClaimGuard) -> Self {
        Self {
            inner,
            guard: guard.clone(),
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireClaims<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let Some(claims) = request.extensions().get::<VerifiedClaims>() else {
            return ResponseFuture::rejected(Rejection::MissingToken, &request);
        };
        match self.guard.admit(claims.clone()) {
            Ok(_) => ResponseFuture::calling(self.inner.call(request)),
            Err(rejection) => ResponseFuture::rejected(rejection, &request),
        }
    }
}

impl Verifier {
    /// A [`JwtAuthLayer`] using this verifier.
    pub fn layer(&self) -> JwtAuthLayer {
        JwtAuthLayer::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "at least one role")]
    fn an_empty_role_list_is_refused() {
        let _ = RequireRoleLayer::any_of(Vec::<String>::new());
    }

    #[test]
    #[should_panic(expected = "at least one scope")]
    fn an_empty_scope_list_is_refused() {
        let _ = RequireScopeLayer::all_of(Vec::<String>::new());
    }
}
