//! Login storm against the shipped binary: what a user sees when far more clients log in than
//! the machine can hash for, in one command.
//!
//! ```sh
//! cargo bench -p issuer --bench storm
//! STORM_ISSUER_BIN=/path/to/an/older/issuer cargo bench -p issuer --bench storm   # compare
//! ```
//!
//! It starts the release `issuer serve` binary that Cargo built (not an in-process server), on a
//! fresh SQLite file with its default settings (`RUST_LOG` unset: `info` events and a line per
//! 5xx answer, read and discarded) but for the login back-off (`room_in_the_back_off`: the storm comes
//! from one address and account), registers one
//! account, and then:
//!
//! 1. **idle** (`STORM_IDLE_SECONDS` [3]): one client fetches the JWKS and another refreshes
//!    a session, each in a loop, one request at a time; the issuer's resident memory (RSS,
//!    `/proc/PID/status`) is sampled;
//! 2. **storm** (`STORM_SECONDS` [20]): `STORM_CONNECTIONS` [256] clients, each on its own
//!    connection, POST the account's correct login in a loop (as `wrk -c256` would), while the
//!    same two probes go on beside them and RSS is sampled every 50 ms. `STORM_CLIENTS`
//!    [`hammer`]: after a 503 a client sends its next login at once, as `wrk` does; `polite`:
//!    it waits the answer's `Retry-After` first, as a well-behaved client does;
//! 3. **after**: the storm's last requests are awaited, then RSS is read again after
//!    `STORM_SETTLE_SECONDS` [3] of quiet.
//!
//! It prints a Markdown table: logins/s (200s), the p50/p99 of admitted logins, how many were
//! shed (503 + `Retry-After`) and any other answers, the JWKS and refresh p99 idle and during
//! the storm, the cores the issuer kept busy (and those the clients did, in this process), and
//! RSS idle / peak / after. Every client has a 30 s timeout; a timeout counts
//! as an error. The clients run in this process, on the same cores as the issuer: a storm
//! client costs little (it waits), but the figures are those of a machine shared with its load.
//!
//! Run without `--bench` (as `cargo test --benches` does), it storms for 1 s with 16 clients
//! against the debug binary: a smoke test of the whole bench, not a measurement.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::stack::{Issuer, PASSWORD, issuer_binary, room_in_the_back_off};
use tokio::sync::Mutex;

const EMAIL: &str = "storm@example.com";

/// The run's settings.
struct Settings {
    idle: Duration,
    storm: Duration,
    settle: Duration,
    connections: usize,
    /// Whether a client waits `Retry-After` after a 503 (`STORM_CLIENTS=polite`) or sends its
    /// next login at once, as `wrk` does (`hammer`, the default).
    polite: bool,
    binary: PathBuf,
}

impl Settings {
    fn from_env() -> Self {
        let measuring = std::env::args().any(|arg| arg == "--bench");
        let seconds = |name: &str, default: f64, smoke: f64| {
            let value = std::env::var(name).ok().and_then(|v| v.parse().ok());
            Duration::from_secs_f64(if measuring {
                value.unwrap_or(default)
            } else {
                smoke
            })
        };
        let connections = std::env::var("STORM_CONNECTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|_| measuring)
            .unwrap_or(if measuring { 256 } else { 16 });
        Self {
            idle: seconds("STORM_IDLE_SECONDS", 3.0, 0.5),
            storm: seconds("STORM_SECONDS", 20.0, 1.0),
            settle: seconds("STORM_SETTLE_SECONDS", 3.0, 0.2),
            connections,
            polite: std::env::var("STORM_CLIENTS").is_ok_and(|clients| clients == "polite"),
            binary: std::env::var_os("STORM_ISSUER_BIN").map_or_else(issuer_binary, PathBuf::from),
        }
    }
}

/// Latencies of one kind of request, and the answers that were not what it expects.
#[derive(Default)]
struct Timings {
    latencies: Vec<Duration>,
    shed: usize,
    other: Vec<String>,
}

impl Timings {
    fn quantile(&mut self, q: f64) -> String {
        self.latencies.sort_unstable();
        let n = self.latencies.len();
        if n == 0 {
            return "-".to_owned();
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        format_duration(self.latencies[rank - 1])
    }
}

fn format_duration(duration: Duration) -> String {
    if duration < Duration::from_millis(10) {
        format!("{:.2} ms", duration.as_secs_f64() * 1e3)
    } else if duration < Duration::from_secs(1) {
        format!("{:.0} ms", duration.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", duration.as_secs_f64())
    }
}

/// The issuer's resident memory in MiB (`VmRSS`).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// CPU seconds (user + system) a process has used: `/proc/PID/stat` fields 14 and 15, in
/// clock ticks of 1/100 s (Linux's `USER_HZ`).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Cores a process kept busy, on average, since `before` (its CPU seconds then) `elapsed` ago.
fn cores_busy(pid: &str, before: f64, elapsed: Duration) -> f64 {
    (cpu_seconds(pid) - before) / elapsed.as_secs_f64()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
) -> Result<reqwest::Response, String> {
    client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| e.to_string())
}

/// Repeats `request` (which answers a status, its body read) until `until`, one at a time
/// with 10 ms between, timing each 200.
async fn probe<F, Fut>(until: Instant, mut request: F) -> Timings
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u16, String>>,
{
    let mut timings = Timings::default();
    while Instant::now() < until {
        let started = Instant::now();
        match request().await {
            Ok(200) => timings.latencies.push(started.elapsed()),
            Ok(status) => timings.other.push(status.to_string()),
            Err(error) => timings.other.push(error),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    timings
}

/// The JWKS probe and the refresh probe (which keeps the session's latest refresh token),
/// until `until`.
async fn probes(
    url: &str,
    refresh_token: Arc<Mutex<String>>,
    until: Instant,
) -> (Timings, Timings) {
    let jwks_client = client();
    let jwks_url = format!("{url}/.well-known/jwks.json");
    let jwks = probe(until, || {
        let request = jwks_client.get(&jwks_url).send();
        async move {
            let response = request.await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            response.bytes().await.map_err(|e| e.to_string())?;
            Ok(status)
        }
    });
    let refresh_client = client();
    let refresh_url = format!("{url}/refresh");
    let refresh = probe(until, || {
        let client = refresh_client.clone();
        let url = refresh_url.clone();
        let token = Arc::clone(&refresh_token);
        async move {
            let mut token = token.lock().await;
            let response = post(&client, &url, &json!({ "refresh_token": *token })).await?;
            let status = response.status().as_u16();
            let body: Value = response.json().await.map_err(|e| e.to_string())?;
            if let Some(successor) = body["refresh_token"].as_str() {
                *token = successor.to_owned();
            }
            Ok(status)
        }
    });
    tokio::join!(jwks, refresh)
}

/// `connections` clients logging in until `until`, each on its own connection.
async fn storm(url: &str, connections: usize, polite: bool, until: Instant) -> Timings {
    let login_url = format!("{url}/login");
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let url = login_url.clone();
            tokio::spawn(async move {
                let client = client();
                let body = json!({ "email": EMAIL, "password": PASSWORD });
                let mut timings = Timings::default();
                while Instant::now() < until {
                    let started = Instant::now();
                    match post(&client, &url, &body).await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let retry_after = response
                                .headers()
                                .get("retry-after")
                                .and_then(|value| value.to_str().ok()?.parse().ok())
                                .map(Duration::from_secs);
                            let _ = response.bytes().await;
                            match status {
                                200 => timings.latencies.push(started.elapsed()),
                                503 => {
                                    timings.shed += 1;
                                    if let Some(wait) = retry_after.filter(|_| polite) {
                                        tokio::time::sleep(wait).await;
                                    }
                                }
                                other => timings.other.push(other.to_string()),
                            }
                        }
                        Err(error) => timings.other.push(error),
                    }
                }
                timings
            })
        })
        .collect();
    let mut all = Timings::default();
    for task in tasks {
        let timings = task.await.expect("storm client");
        all.latencies.extend(timings.latencies);
        all.shed += timings.shed;
        all.other.extend(timings.other);
    }
    all
}

/// Samples the RSS of `pid` every 50 ms until `until`; the highest.
async fn peak_rss(pid: u32, until: Instant) -> f64 {
    let mut peak = 0.0_f64;
    while Instant::now() < until {
        peak = peak.max(rss_mib(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    peak
}

fn summary(other: &[String]) -> String {
    if other.is_empty() {
        return "none".to_owned();
    }
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for answer in other {
        *counts.entry(answer.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(answer, n)| format!("{n} x {answer}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() {
    let settings = Settings::from_env();
    // The storm stands for many users on many addresses, but comes from one address and account.
    let issuer = Issuer::start_binary(&settings.binary, 0, &room_in_the_back_off());
    let url = issuer.url().to_owned();
    let pid = issuer.pid();
    let setup = client();
    let credentials = json!({ "email": EMAIL, "password": PASSWORD });
    for (path, status) in [("register", 201), ("login", 200)] {
        let answer = post(&setup, &format!("{url}/{path}"), &credentials).await;
        assert_eq!(answer.expect(path).status(), status, "{path}");
    }
    let login = post(&setup, &format!("{url}/login"), &credentials).await;
    let tokens: Value = login.expect("login").json().await.expect("tokens");
    let refresh_token = Arc::new(Mutex::new(
        tokens["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned(),
    ));

    let issuer_pid = pid.to_string();
    let issuer_cpu = cpu_seconds(&issuer_pid);
    let idle_started = Instant::now();
    let idle_until = idle_started + settings.idle;
    let ((mut jwks_idle, mut refresh_idle), rss_idle) = tokio::join!(
        probes(&url, Arc::clone(&refresh_token), idle_until),
        peak_rss(pid, idle_until)
    );

    let idle_took = idle_started.elapsed();
    let issuer_idle_cores = cores_busy(&issuer_pid, issuer_cpu, idle_took);
    let (issuer_cpu, own_cpu_storm) = (cpu_seconds(&issuer_pid), cpu_seconds("self"));
    let started = Instant::now();
    let storm_until = started + settings.storm;
    let (mut logins, (mut jwks_storm, mut refresh_storm), rss_peak) = tokio::join!(
        storm(&url, settings.connections, settings.polite, storm_until),
        probes(&url, Arc::clone(&refresh_token), storm_until),
        peak_rss(pid, storm_until)
    );
    let storm_took = started.elapsed();
    let issuer_storm_cores = cores_busy(&issuer_pid, issuer_cpu, storm_took);
    let clients_storm_cores = cores_busy("self", own_cpu_storm, storm_took);
    tokio::time::sleep(settings.settle).await;
    let rss_after = rss_mib(pid);

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let binary = settings.binary.display();
    println!(
        "\nLogin storm: {} {} clients for {:.0} s against `issuer serve` ({binary}), SQLite, {cores} cores\n",
        settings.connections,
        if settings.polite {
            "polite"
        } else {
            "hammering"
        },
        settings.storm.as_secs_f64()
    );
    println!("| figure | idle | storm |");
    println!("|---|---|---|");
    println!(
        "| logins/s (200) | | {:.1} |",
        logins.latencies.len() as f64 / storm_took.as_secs_f64()
    );
    println!(
        "| admitted login p50 / p99 | | {} / {} |",
        logins.quantile(0.5),
        logins.quantile(0.99)
    );
    println!(
        "| shed (503) | | {} ({:.0}/s) |",
        logins.shed,
        logins.shed as f64 / storm_took.as_secs_f64()
    );
    println!("| other answers | | {} |", summary(&logins.other));
    println!(
        "| JWKS p99 | {} | {} |",
        jwks_idle.quantile(0.99),
        jwks_storm.quantile(0.99)
    );
    println!(
        "| refresh p99 | {} | {} |",
        refresh_idle.quantile(0.99),
        refresh_storm.quantile(0.99)
    );
    println!(
        "| probe failures (JWKS, refresh) | {}, {} | {}, {} |",
        summary(&jwks_idle.other),
        summary(&refresh_idle.other),
        summary(&jwks_storm.other),
        summary(&refresh_storm.other)
    );
    println!(
        "| cores busy: issuer (clients) | {issuer_idle_cores:.2} | {issuer_storm_cores:.2} ({clients_storm_cores:.2}) |"
    );
    println!(
        "| RSS idle / peak / {:.0} s after | {rss_idle:.0} MiB | {rss_peak:.0} MiB / {rss_after:.0} MiB |",
        settings.settle.as_secs_f64()
    );
    assert!(
        !logins.latencies.is_empty(),
        "no login succeeded during the storm"
    );
    assert!(
        !jwks_storm.latencies.is_empty(),
        "the JWKS never answered during the storm"
    );
}
