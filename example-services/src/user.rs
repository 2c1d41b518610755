//! The `user-service` route: `POST /book` for tokens with the role `user` (PORT 3001 by default).

use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use verifier_middleware::{Claims, RequireRoleLayer};

use crate::caller::Caller;

/// The answer, fields in this order.
#[derive(Serialize)]
struct Reply {
    success: bool,
    message: &'static str,
    user: String,
}

async fn book(Claims(caller): Claims<Caller>) -> Json<Reply> {
    Json(Reply {
        success: true,
        message: "Booking successful",
        user: caller.name(),
    })
}

/// The service's routes, each behind its role guard; [`crate::app`] adds the verifier.
pub fn routes() -> Router {
    Router::new().route(
        "/book",
        post(book).layer(RequireRoleLayer::any_of(["user"])),
    )
}
