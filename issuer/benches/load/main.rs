//! Issuer load benchmark: what the issuer's endpoints sustain next to the cryptography they
//! cannot avoid, in one command.
//!
//! ```sh
//! cargo bench -p issuer --bench load
//! TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p issuer --bench load
//! ```
//!
//! One run starts the real issuer in this process ([`issuer::startup::Application::build`], its
//! default configuration, port 0, a fresh RSA-2048 key) on a fresh SQLite file, and on a fresh
//! PostgreSQL database when `TEST_DATABASE_URL` is set (without it the PostgreSQL rows are
//! skipped with a notice). It registers one user per task, then `C` tokio tasks drive the
//! HTTP API through one shared keep-alive `reqwest` client, each phase for a fixed time:
//!
//! - `POST /login`, successful logins (each task its own user);
//! - `POST /refresh`, each task refreshing its own session, always with the successor it got;
//! - `GET /.well-known/jwks.json`, and `GET /healthz`, the cheapest route: the ceiling of the
//!   HTTP stack together with the in-process client.
//!
//! In the same run, at the same concurrency, on the same runtime and through the same driver,
//! it measures the bare operations (see [`baselines`]): an argon2id **verification** with the
//! issuer's parameters, shaped like the issuer runs it (a login verifies a stored hash; it
//! never creates one), and the RSA-2048 signature of an access-token-shaped payload, both
//! through `jsonwebtoken::encode` (aws_lc_rs backend, which parses the key on every call) and
//! with aws-lc and the key parsed once (what the issuer does, the physical limit). Each row
//! alternates with its baselines in slices ([`driver::interleave`]), so that whatever else runs
//! on the machine weighs on both alike.
//!
//! It prints a Markdown table: requests/s, p50 and p99 latency (exact, from every call), the
//! baselines' rates and the ratios. For logins, `ratio = logins/s ÷ argon2id verifications/s`
//! and the overhead beyond hashing is `1 - ratio` (target: at most 10 %); a login also signs
//! a token and makes 6 database statements, which the notes put in proportion. For refreshes,
//! `ratio = refreshes/s ÷ RSA signatures/s`, against each signing baseline. For the JWKS,
//! `ratio = JWKS/s ÷ /healthz/s`. "CPU/call" is `cores ÷ rate`, the machine time one call takes
//! when a phase keeps every core busy, which lets rows be subtracted from each other.
//!
//! The client runs in the same process and on the same cores as the server (and PostgreSQL,
//! locally, on the same machine): its work is counted against the issuer. The `/healthz` row
//! bounds it: a request can cost the client no more than `cores ÷ healthz rate` of CPU, so it
//! takes at most `rate ÷ healthz rate` of the machine from a phase; the notes print that bound.
//!
//! Settings (environment):
//! - `BENCH_SECONDS` [10]: measuring time of each row, split into `BENCH_ROUNDS` [5] slices
//!   that alternate with its baselines';
//! - `BENCH_WARMUP` [0.5]: seconds of unrecorded calls before each slice (so that the calls
//!   running across a slice's end are balanced by those running across its start);
//! - `BENCH_CONCURRENCY` [2 × cores]: tasks per phase. Logins are capped by the issuer's hash
//!   semaphore (one permit per core), so at least `cores` concurrent logins are needed to keep
//!   every permit busy; twice that keeps the permits and cores busy while other requests are in
//!   their HTTP or database parts, so the rate measures the issuer rather than the client's
//!   round trips. More only lengthens queues: the rate stays, p50 and p99 grow with `C`.
//! - `BENCH_LOG` [info]: the tracing filter, `info` being what `issuer serve` logs by default
//!   (one line per request); the lines are formatted and thrown away. `off` installs no
//!   subscriber.
//!
//! Run without `--bench` (as `cargo test --benches` does), every phase lasts 0.3 s without
//! warm-up: a smoke test of the whole bench, not a measurement.

mod baselines;
mod driver;
mod server;

use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;

use crate::baselines::{Argon2Verify, Signing};
use crate::driver::{Load, Sample, Window, interleave};
use crate::server::{Backend, Chain, Get, Issuer, Login, backend_name};

/// What the environment asked for.
struct Settings {
    /// Per slice: the warm-up; per phase: the measuring time (split over the rounds).
    window: Window,
    rounds: u32,
    concurrency: usize,
    cores: usize,
    log: String,
}

impl Settings {
    fn from_env() -> Self {
        let smoke = !std::env::args().any(|arg| arg == "--bench");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let number = |var: &str, default: f64| {
            std::env::var(var).map_or(default, |raw| {
                raw.parse::<f64>()
                    .ok()
                    .filter(|value| value.is_finite() && *value >= 0.0)
                    .unwrap_or_else(|| panic!("{var}={raw} is not a non-negative number"))
            })
        };
        let (measure, warmup, rounds) = if smoke {
            (0.3, 0.0, 1.0)
        } else {
            (10.0, 0.5, 5.0)
        };
        let default_concurrency = (2 * cores) as f64;
        Self {
            window: Window {
                warmup: Duration::from_secs_f64(number("BENCH_WARMUP", warmup)),
                measure: Duration::from_secs_f64(number("BENCH_SECONDS", measure)),
            },
            rounds: (number("BENCH_ROUNDS", rounds) as u32).max(1),
            concurrency: (number("BENCH_CONCURRENCY", default_concurrency) as usize).max(1),
            cores,
            log: std::env::var("BENCH_LOG").unwrap_or_else(|_| "info".to_owned()),
        }
    }

    async fn interleave(&self, loads: &mut [&mut dyn driver::Slice]) {
        interleave(loads, self.window, self.rounds).await;
    }
}

/// A measured rate to compare a row with.
#[derive(Clone, Copy)]
struct Baseline {
    name: &'static str,
    rate: f64,
    /// Whether `1 - ratio` is the row's overhead beyond the baseline's work.
    overhead: bool,
}

impl Baseline {
    fn of(name: &'static str, sample: &Sample, overhead: bool) -> Self {
        Self {
            name,
            rate: sample.rate(),
            overhead,
        }
    }
}

struct Row {
    backend: &'static str,
    operation: String,
    sample: Sample,
    baselines: Vec<Baseline>,
}

impl Row {
    fn new(backend: &'static str, operation: impl Into<String>, sample: Sample) -> Self {
        Self {
            backend,
            operation: operation.into(),
            sample,
            baselines: Vec::new(),
        }
    }

    fn against(mut self, baseline: Baseline) -> Self {
        self.baselines.push(baseline);
        self
    }
}

/// The baselines' fixtures, built once and measured next to each backend's phases.
struct Shared {
    argon2: Arc<Argon2Verify>,
    signing: Arc<Signing>,
}

const LOGIN: &str = "POST /login";
const REFRESH: &str = "POST /refresh";
const NO_DATABASE: &str = "none";
const ARGON2_ROW: &str = "bare argon2id verify";
const SIGNER_ROW: &str = "issuer Signer::sign";
const JSONWEBTOKEN_SIGN: &str = "RSA sign (jsonwebtoken)";
const PARSED_SIGN: &str = "RSA sign (key parsed once)";
const HEALTHZ: &str = "GET /healthz";
const HEALTHZ_ROW: &str = "GET /healthz (ceiling: HTTP stack + in-process client)";

fn main() {
    let settings = Settings::from_env();
    if settings.log != "off" {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(&settings.log))
            .with_writer(std::io::sink)
            .with_ansi(false)
            .init();
    }
    // What `#[tokio::main]` builds for `issuer serve`: one worker thread per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(&settings));
}

async fn run(settings: &Settings) {
    eprintln!(
        "issuer load bench: {} cores, {} tasks, {:?} per phase in {} slices, each after {:?} of warm-up, BENCH_LOG={}",
        settings.cores,
        settings.concurrency,
        settings.window.measure,
        settings.rounds,
        settings.window.warmup,
        settings.log
    );
    let keys = TempDir::new().expect("temp dir");
    issuer::keys::generate(keys.path(), false).expect("generate the bench key");
    let postgres = Backend::postgres().await;

    let sqlite = Issuer::start(&Backend::Sqlite, keys.path()).await;
    let shared = Shared {
        argon2: Argon2Verify::new(sqlite.hash_permits).await,
        signing: Signing::new(keys.path(), server::config("sqlite://unused", keys.path())),
    };
    let single_verification = baselines::one_verification(&shared.argon2);

    let mut rows = backend_phases(settings, &Backend::Sqlite, &sqlite, &shared, true).await;
    let mut http_only = http_only_phases(settings, &sqlite).await;
    sqlite.stop().await;
    if let Some(backend) = postgres {
        let issuer = Issuer::start(&backend, keys.path()).await;
        rows.extend(backend_phases(settings, &backend, &issuer, &shared, false).await);
        issuer.stop().await;
    }
    rows.append(&mut http_only);

    print_table(settings, &rows);
    print_notes(settings, &rows, single_verification);
}

/// Logins next to bare argon2id verifications, refreshes next to both bare signatures, on one
/// backend; with `decompose`, the issuer's `Signer::sign` too.
async fn backend_phases(
    settings: &Settings,
    backend: &Backend,
    issuer: &Issuer,
    shared: &Shared,
    decompose: bool,
) -> Vec<Row> {
    let name = backend_name(backend);
    let c = settings.concurrency;
    let http = &issuer.http;
    let credentials = issuer.register_users(c).await;

    eprintln!("{name}: POST /login, alternating with bare argon2id verifications");
    let mut argon2 = Load::new(
        vec![Arc::clone(&shared.argon2); c],
        baselines::argon2_verify,
    );
    let logins = credentials
        .iter()
        .map(|credentials| Login {
            http: Arc::clone(http),
            credentials: credentials.clone(),
        })
        .collect();
    let mut logins = Load::new(logins, server::login);
    settings.interleave(&mut [&mut argon2, &mut logins]).await;

    eprintln!("{name}: POST /refresh, alternating with bare RSA-2048 signatures");
    let mut chains = Vec::with_capacity(c);
    for credentials in &credentials {
        let token = http
            .login(credentials.clone())
            .await
            .expect("log in to start a refresh chain");
        chains.push(Chain {
            http: Arc::clone(http),
            token,
        });
    }
    let signing = || vec![Arc::clone(&shared.signing); c];
    let mut encode = Load::new(signing(), baselines::jsonwebtoken_encode);
    let mut parsed = Load::new(signing(), baselines::parsed_key_sign);
    let mut signer = Load::new(signing(), baselines::issuer_signer);
    let mut refreshes = Load::new(chains, server::refresh);
    if decompose {
        let loads: &mut [&mut dyn driver::Slice] =
            &mut [&mut encode, &mut parsed, &mut signer, &mut refreshes];
        settings.interleave(loads).await;
    } else {
        let loads: &mut [&mut dyn driver::Slice] = &mut [&mut encode, &mut parsed, &mut refreshes];
        settings.interleave(loads).await;
    }

    let argon2_rate = Baseline::of("argon2id verify", &argon2.sample, true);
    let encode_rate = Baseline::of(JSONWEBTOKEN_SIGN, &encode.sample, false);
    let parsed_rate = Baseline::of(PARSED_SIGN, &parsed.sample, false);
    let mut rows = vec![
        Row::new(name, argon2_operation(issuer.hash_permits), argon2.finish()),
        Row::new(name, LOGIN, logins.finish()).against(argon2_rate),
        Row::new(
            name,
            "bare RSA-2048 sign: jsonwebtoken::encode (aws_lc_rs)",
            encode.finish(),
        ),
        Row::new(
            name,
            "bare RSA-2048 sign, key parsed once (aws-lc RsaKeyPair::sign)",
            parsed.finish(),
        )
        .against(encode_rate),
    ];
    if decompose {
        rows.push(Row::new(name, SIGNER_ROW, signer.finish()).against(parsed_rate));
    }
    rows.push(
        Row::new(name, REFRESH, refreshes.finish())
            .against(encode_rate)
            .against(parsed_rate),
    );
    rows
}

fn argon2_operation(permits: usize) -> String {
    format!(
        "{ARGON2_ROW} (m={},t={},p={}; {permits} permits, spawn_blocking)",
        issuer::passwords::MEMORY_KIB,
        issuer::passwords::ITERATIONS,
        issuer::passwords::PARALLELISM,
    )
}

/// `GET /healthz` (the ceiling) alternating with `GET /.well-known/jwks.json`; neither touches
/// the database.
async fn http_only_phases(settings: &Settings, issuer: &Issuer) -> Vec<Row> {
    eprintln!("GET /.well-known/jwks.json, alternating with GET /healthz");
    let http = &issuer.http;
    let gets = |url: &reqwest::Url| {
        (0..settings.concurrency)
            .map(|_| Get {
                http: Arc::clone(http),
                url: url.clone(),
            })
            .collect()
    };
    let mut healthz = Load::new(gets(&http.healthz), server::get);
    let mut jwks = Load::new(gets(&http.jwks), server::get);
    settings.interleave(&mut [&mut healthz, &mut jwks]).await;
    let ceiling = Baseline::of(HEALTHZ, &healthz.sample, false);
    vec![
        Row::new(NO_DATABASE, HEALTHZ_ROW, healthz.finish()),
        Row::new(NO_DATABASE, "GET /.well-known/jwks.json", jwks.finish()).against(ceiling),
    ]
}

fn print_table(settings: &Settings, rows: &[Row]) {
    println!();
    println!(
        "| backend | operation | requests/s | p50 | p99 | CPU/call | baseline | baseline rate | ratio |"
    );
    println!("|---|---|---:|---:|---:|---:|---|---:|---|");
    for row in rows {
        let rate = row.sample.rate();
        let cell = |show: &dyn Fn(&Baseline) -> String| {
            let shown: Vec<String> = row.baselines.iter().map(show).collect();
            shown.join("<br>")
        };
        let against = cell(&|baseline| baseline.name.to_owned());
        let baseline_rate = cell(&|baseline| format_rate(baseline.rate));
        let ratio = cell(&|baseline| {
            let ratio = rate / baseline.rate;
            if baseline.overhead {
                format!("{ratio:.3} (overhead {:.1} %)", (1.0 - ratio) * 100.0)
            } else {
                format!("{ratio:.3}")
            }
        });
        println!(
            "| {} | {} | {} | {} | {} | {} | {against} | {baseline_rate} | {ratio} |",
            row.backend,
            row.operation,
            format_rate(rate),
            format_latency(row.sample.quantile(0.50)),
            format_latency(row.sample.quantile(0.99)),
            format_latency(cpu_per_call(settings, rate)),
        );
    }
    println!();
}

/// `cores ÷ rate`: what one call costs the machine when the phase keeps every core busy.
fn cpu_per_call(settings: &Settings, rate: f64) -> Option<Duration> {
    (rate > 0.0).then(|| Duration::from_secs_f64(settings.cores as f64 / rate))
}

fn print_notes(settings: &Settings, rows: &[Row], verification: Duration) {
    println!(
        "{} concurrent tasks on {} cores; every phase {:?} in {} slices alternating with its baseline, each slice after {:?} of warm-up; tracing `{}`.",
        settings.concurrency,
        settings.cores,
        settings.window.measure,
        settings.rounds,
        settings.window.warmup,
        settings.log
    );
    println!(
        "- Logins are compared with argon2id *verify* of a stored hash, exactly the hash work of a successful login (it never creates a hash); one verification alone takes {}.",
        format_latency(Some(verification))
    );
    let cpu_of = |prefix: &str| {
        rows.iter()
            .find(|row| row.operation.starts_with(prefix))
            .and_then(|row| cpu_per_call(settings, row.sample.rate()))
    };
    if let (Some(sign), Some(verify)) = (cpu_of(SIGNER_ROW), cpu_of(ARGON2_ROW)) {
        println!(
            "- A successful login also signs an access token: {} of CPU ({SIGNER_ROW} row), {:.1} % of a verification's {}; the rest of its overhead is the database (6 statements: the back-off's read of the address and the account, the user, the session's transaction of 4; a login after failures also clears them), HTTP and JSON.",
            format_latency(Some(sign)),
            100.0 * sign.as_secs_f64() / verify.as_secs_f64(),
            format_latency(Some(verify)),
        );
    }
    for row in rows.iter().filter(|row| row.operation == LOGIN) {
        if let Some(baseline) = row.baselines.first() {
            let overhead = 1.0 - row.sample.rate() / baseline.rate;
            let verdict = if overhead <= 0.10 { "met" } else { "NOT met" };
            println!(
                "- {}: login overhead beyond argon2 {:.1} % (target <= 10 %: {verdict}).",
                row.backend,
                overhead * 100.0
            );
        }
    }
    let ceiling = rows
        .iter()
        .find(|row| row.operation == HEALTHZ_ROW)
        .map(|row| row.sample.rate());
    if let Some(ceiling) = ceiling.filter(|rate| *rate > 0.0) {
        println!(
            "- The client shares the process and the cores. {HEALTHZ} at {}/s bounds a request's HTTP work, client and server together, to {} of CPU; so it takes at most this share of the machine from each phase:",
            format_rate(ceiling),
            format_latency(cpu_per_call(settings, ceiling))
        );
        for row in rows
            .iter()
            .filter(|row| row.operation == LOGIN || row.operation == REFRESH)
        {
            println!(
                "  {} {}: {:.1} %",
                row.backend,
                row.operation,
                100.0 * row.sample.rate() / ceiling
            );
        }
    }
    if rows.iter().any(|row| row.backend == "PostgreSQL") {
        println!("- PostgreSQL runs on the same machine: its CPU time counts against the issuer.");
    }
    for row in rows.iter().filter(|row| row.sample.errors > 0) {
        println!(
            "- {} {}: {} tasks stopped on an error, first: {}",
            row.backend,
            row.operation,
            row.sample.errors,
            row.sample.first_error.as_deref().unwrap_or("?")
        );
    }
    for row in rows.iter().filter(|row| row.sample.count() == 0) {
        println!(
            "- {} {}: no call finished in the window",
            row.backend, row.operation
        );
    }
}

fn format_rate(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

fn format_latency(latency: Option<Duration>) -> String {
    match latency {
        None => "-".into(),
        Some(latency) if latency < Duration::from_millis(1) => {
            format!("{:.0} µs", latency.as_secs_f64() * 1e6)
        }
        Some(latency) => format!("{:.2} ms", latency.as_secs_f64() * 1e3),
    }
}
