//! The benchmarked server: `POST /book` behind one of the verifiers, and the JWKS they load.

use std::error::Error;
use std::net::Ipv4Addr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Json;
use jwt_authorizer::layer::AuthorizationLayer;
use jwt_authorizer::{AuthError, Authorizer, JwtAuthorizer, Validation};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use verifier_middleware::Verifier;

use crate::token::{AUDIENCE, ISSUER, SigningKey};

/// How `POST /book` is protected. Every verifier requires RS256, `iss` [`ISSUER`], `aud`
/// [`AUDIENCE`], `exp` and `nbf` with a 60 s leeway, and loads its keys from the JWKS URL.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum Mode {
    /// No verification: the `Authorization` header is ignored.
    None,
    /// `verifier_middleware::JwtAuthLayer` as configured by default (verified-token cache on).
    Layer,
    /// `JwtAuthLayer` with `disable_token_cache()`: every request verified in full.
    LayerUncached,
    /// `jwt-authorizer`'s `AuthorizationLayer` with its default JWKS refresh strategy.
    JwtAuthorizer,
}

/// Serves until killed. Prints `ready` on stderr once the verifier holds its keys (the
/// first measured request must not wait for the JWKS).
pub(crate) async fn run(mode: Mode, port: u16, key: &SigningKey) -> Result<(), Box<dyn Error>> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    let jwks_url = format!("http://{}/.well-known/jwks.json", listener.local_addr()?);
    let jwks = key.jwks_json();
    let jwks = Router::new().route(
        "/.well-known/jwks.json",
        get(|| async move { ([(CONTENT_TYPE, "application/json")], jwks) }),
    );
    // The shape of user-service's answer, so that every row serialises the same JSON.
    let book = Router::new().route(
        "/book",
        post(|| async {
            Json(serde_json::json!({
                "success": true,
                "message": "Booking successful",
                "user": "user0",
            }))
        }),
    );

    let (book, warm_up) = match mode {
        Mode::None => (book, WarmUp::Nothing),
        Mode::Layer | Mode::LayerUncached => {
            let mut builder = Verifier::builder()
                .jwks_url(&jwks_url)
                .issuer(ISSUER)
                .audience(AUDIENCE);
            if matches!(mode, Mode::LayerUncached) {
                builder = builder.disable_token_cache();
            }
            let verifier = builder.build()?;
            (book.layer(verifier.layer()), WarmUp::Layer(verifier))
        }
        Mode::JwtAuthorizer => {
            let validation = Validation::new()
                .iss(&[ISSUER])
                .aud(&[AUDIENCE])
                .algs(vec![jsonwebtoken_9::Algorithm::RS256])
                .nbf(true);
            let authorizer: Arc<Authorizer> = Arc::new(
                JwtAuthorizer::from_jwks_url(&jwks_url)
                    .validation(validation)
                    .build()
                    .await?,
            );
            // Around jwt-authorizer, only the response type changes (see `Reply`).
            let stack = ServiceBuilder::new()
                .map_response(|reply: Reply| reply.0)
                .layer(AuthorizationLayer::new(vec![Arc::clone(&authorizer)]))
                .map_response(Reply);
            (book.layer(stack), WarmUp::JwtAuthorizer(authorizer))
        }
    };

    let server = tokio::spawn(axum::serve(listener, book.merge(jwks)).into_future());
    match warm_up {
        WarmUp::Nothing => {}
        WarmUp::Layer(verifier) => verifier.prefetch().await?,
        // It has no prefetch: its key store loads on the first token it checks.
        WarmUp::JwtAuthorizer(authorizer) => drop(authorizer.check_auth(&key.token(0)?).await?),
    }
    eprintln!("ready: {mode:?} on {jwks_url}");
    Ok(server.await??)
}

/// What to do once the server listens, so that the verifier holds its keys.
enum WarmUp {
    Nothing,
    Layer(Verifier),
    JwtAuthorizer(Arc<Authorizer>),
}

/// An axum 0.8 response that jwt-authorizer can build from its errors: its `AuthorizationService`
/// needs `From<AuthError>` on the inner response type, and provides it only for axum 0.7's.
struct Reply(Response);

impl From<AuthError> for Reply {
    fn from(error: AuthError) -> Self {
        let (parts, body) = axum_core_04::response::IntoResponse::into_response(error).into_parts();
        Self(Response::from_parts(parts, Body::new(body)))
    }
}
