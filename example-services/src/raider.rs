//! The `raider-service` route: `POST /accept-booking` for tokens with the role `raider` (PORT 3002 by
//! default).

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
    raider: String,
}

async fn accept_booking(Claims(caller): Claims<Caller>) -> Json<Reply> {
    Json(Reply {
        success: true,
        message: "Booking accepted",
        raider: caller.name(),
    })
}

/// The service's routes, each behind its role guard; [`crate::app`] adds the verifier.
pub fn routes() -> Router {
    Router::new().route(
        "/accept-booking",
        post(accept_booking).layer(RequireRoleLayer::any_of(["raider"])),
    )
}
