//! `raider-service`: `POST /accept-booking` for tokens with the role `raider` (PORT 3002 by
//! default).

use std::process::ExitCode;

use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use verifier_middleware::{Claims, RequireRoleLayer};

/// The claims this route reads from the verified token.
#[derive(Deserialize)]
struct Caller {
    email: String,
}

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
        raider: caller.email,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let routes = Router::new().route(
        "/accept-booking",
        post(accept_booking).layer(RequireRoleLayer::any_of(["raider"])),
    );
    example_services::main("raider-service", 3002, routes).await
}
