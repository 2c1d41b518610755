//! `issuer`: see `issuer --help`.

use std::process::ExitCode;

use clap::Parser;
use issuer::cli::{Cli, Command};
use issuer::commands;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs and error reporting are for the server; the other subcommands print their results.
    let _telemetry = match cli.command {
        None | Some(Command::Serve) => {
            match telemetry::init("issuer", env!("CARGO_PKG_VERSION"), &cli.telemetry) {
                Ok(telemetry) => Some(telemetry),
                Err(error) => {
                    eprintln!("issuer: error: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
        Some(_) => None,
    };
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("issuer: error: {error}");
            ExitCode::FAILURE
        }
    }
}
