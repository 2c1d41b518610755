//! `issuer`: see `issuer --help`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use issuer::cli::{Cli, Command};
use issuer::commands;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, None | Some(Command::Serve)) {
        init_tracing();
    }
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("issuer: error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // The default reports a failed log write with `eprintln!`, which panics when stderr is
        // gone (a log collector that died): every request would then answer 500. A lost log
        // line must not cost a request.
        .log_internal_errors(false)
        .init();
}
