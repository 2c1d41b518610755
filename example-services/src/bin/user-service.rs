//! `user-service`: `POST /book` for tokens with the role `user` (PORT 3001 by default).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    example_services::main("user-service", 3001, example_services::user::routes()).await
}
