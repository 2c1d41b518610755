//! Server and token generator for the HTTP load benchmark, `scripts/bench-http.sh`.
//!
//! `tokens --key PEM --count N` prints N distinct RS256 access tokens shaped like the
//! issuer's, one per line. `serve --mode MODE --port P --key PEM` serves the key's JWKS at
//! `GET /.well-known/jwks.json` and a trivial `POST /book` behind the verifier `MODE` names
//! (see [`serve::Mode`]), on 127.0.0.1 with a one-worker tokio runtime, so that the script can
//! pin the whole server to one core. Both verifiers fetch their keys from that JWKS URL, as
//! they would from an issuer.

mod serve;
mod token;

use std::error::Error;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Parser;

use crate::serve::Mode;
use crate::token::SigningKey;

/// The two subcommands.
#[derive(Parser)]
#[command(about = "HTTP load-benchmark server and token generator")]
enum Command {
    /// Prints COUNT distinct RS256 access tokens signed with KEY, one per line.
    Tokens {
        /// RSA private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// How many tokens.
        #[arg(long)]
        count: usize,
    },
    /// Serves the JWKS and `POST /book` protected as MODE says, until killed.
    Serve {
        /// How `/book` is protected.
        #[arg(long, value_enum)]
        mode: Mode,
        /// Port on 127.0.0.1.
        #[arg(long)]
        port: u16,
        /// RSA private key (PEM) whose public half the JWKS serves.
        #[arg(long)]
        key: PathBuf,
    },
}

fn main() -> Result<(), Box<dyn Error>> {
    match Command::parse() {
        Command::Tokens { key, count } => {
            let key = SigningKey::from_pem_file(&key)?;
            // One share of the numbers per core: 100,000 RSA signatures take a while.
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            let shares: Vec<Vec<String>> = std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads)
                    .map(|first| {
                        let key = &key;
                        scope.spawn(move || {
                            (first..count)
                                .step_by(threads)
                                .map(|n| key.token(n).map_err(|e| e.to_string()))
                                .collect::<Result<Vec<_>, _>>()
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|worker| worker.join().expect("a token worker panicked"))
                    .collect::<Result<_, _>>()
            })?;
            let mut out = BufWriter::new(std::io::stdout().lock());
            for token in shares.iter().flatten() {
                writeln!(out, "{token}")?;
            }
            out.flush()?;
            Ok(())
        }
        Command::Serve { mode, port, key } => {
            let key = SigningKey::from_pem_file(&key)?;
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?
                .block_on(serve::run(mode, port, &key))
        }
    }
}
