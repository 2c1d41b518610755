//! `raider-service`: `POST /accept-booking` for tokens with the role `raider` (PORT 3002 by
//! default).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    example_services::main("raider-service", 3002, example_services::raider::routes()).await
}
