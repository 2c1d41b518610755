//! `user-service`: `POST /book` for tokens with the role `user` (PORT 3001 by default).

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
    user: String,
}

async fn book(Claims(caller): Claims<Caller>) -> Json<Reply> {
    Json(Reply {
        success: true,
        message: "Booking successful",
        user: caller.email,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let routes = Router::new().route(
        "/book",
        post(book).layer(RequireRoleLayer::any_of(["user"])),
    );
    example_services::main("user-service", 3001, routes).await
}
