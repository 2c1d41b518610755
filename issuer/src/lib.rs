//! The token issuer: registers users, logs them in, signs short-lived RS256 (or HS256) access
//! tokens and publishes its public keys as a JWKS and as PEM.
//!
//! The binary (`issuer`) is a thin wrapper: [`cli`] parses flags and environment, [`config`]
//! validates them, and [`startup::Application`] builds and serves the app. Tests build the same
//! `Application` on port 0.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use clap::Parser;
//! use issuer::{cli::Cli, config::Config, startup::Application};
//!
//! let cli = Cli::parse_from(["issuer", "--port", "0", "--database-url", "sqlite://issuer.db"]);
//! let app = Application::build(Config::from_raw(&cli.settings)?).await?;
//! println!("listening on port {}", app.port());
//! app.run_until_stopped().await?;
//! # Ok(()) }
//! ```

pub mod account_mail;
pub mod accounts;
pub mod cli;
pub mod commands;
pub mod config;
pub mod cors;
pub mod domain;
pub mod email;
pub mod error;
pub mod jobs;
pub mod keys;
pub mod limits;
pub mod login;
pub mod metrics;
pub mod otp;
pub mod passwords;
pub mod routes;
pub mod secret;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod storage;
pub mod throttle;
pub mod time;
pub mod tokens;

/// Time, injected; shared with the verifier layer so both read the same kind of clock.
pub use verifier_middleware::clock;
