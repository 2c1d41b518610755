//! The workspace's real binaries as the end-to-end tests start them: an `issuer` with its own
//! keys and working directory, and `user-service` / `raider-service` verifying with it, each
//! on a port of its own; plus the few HTTP calls every suite makes (an account, a call with a
//! token).
//!
//! # Where the binaries come from: no test runs `cargo build`
//!
//! Cargo builds a package's own binaries for its integration tests (that is
//! `env!("CARGO_BIN_EXE_<name>")`), but not another package's. The example services' suites
//! need the `issuer` binary too. Building it from inside a test (`cargo build` in a test) would
//! take the target directory's lock that the running `cargo test` may hold, hide a build in a
//! test's time, and be a second build with other features. Instead, binaries are found where
//! Cargo puts them, next to the test executable's `deps/` directory
//! (`target/<profile>/deps/<test>` → `target/<profile>/<name>`), see [`binary`]:
//!
//! - `cargo test --workspace` (the README's command, and `.ci/run`'s) builds the `issuer`
//!   binary before any test runs, because the `issuer` package has integration tests, into that
//!   same directory and with the same features; nothing else is needed, and `.ci/run` does not
//!   build it separately (a plain `cargo build -p issuer` would build it without the
//!   dev-dependency features and `cargo test` would then build it again).
//! - `cargo test -p example-services` alone does not build it: run `cargo build -p issuer` (or
//!   the workspace's tests) first. A missing binary fails with one message saying so; an old one
//!   is used as it is.
//! - The `dev_up` tests do not use these binaries: `scripts/dev-up.sh` builds and starts its own
//!   release binaries.
//!
//! ```no_run
//! use test_support::stack::{Issuer, account, call, service};
//!
//! # async fn demo() {
//! let issuer = Issuer::start(0);
//! let users = service("user-service", &issuer.jwks_url());
//! let client = reqwest::Client::new();
//! let alice = account(&client, issuer.url(), "alice@example.com", "user").await;
//! let booked = call(&client, format!("{}/book", users.base_url), Some(&alice)).await;
//! assert_eq!(booked.status(), 200);
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::process::Process;

/// The `iss` of every issuer and service these helpers start.
pub const ISSUER: &str = "http://issuer.test";
/// A password that meets the issuer's policy.
pub const PASSWORD: &str = "correct horse battery";

/// Environment for an issuer that many logins reach at once from one (loopback) address and
/// for one account: logins in flight count against the login back-off until they succeed, so
/// without room most would be answered 429 before any hashing. For tests and benches about
/// something else than the back-off.
pub fn room_in_the_back_off() -> Vec<(&'static str, String)> {
    vec![
        ("LOGIN_ACCOUNT_FREE_ATTEMPTS", "1000000".to_owned()),
        ("LOGIN_CLIENT_FREE_ATTEMPTS", "1000000".to_owned()),
    ]
}

/// The workspace binary `name` of package `package`, built with the profile (and into the
/// target directory) of the running test; panics with the command that builds it if it is not
/// there. See the [module docs](self) for why it is not built here.
pub fn binary(package: &str, name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = test_exe
        .parent()
        .and_then(Path::parent)
        .expect("a test executable lives in target/<profile>/deps/");
    let binary = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is not built; `cargo test --workspace` builds it, or run `cargo build -p {package}`{} first",
        binary.display(),
        if profile_dir.ends_with("release") {
            " --release"
        } else {
            ""
        },
    );
    binary
}

/// The `issuer` binary (see [`binary`]).
pub fn issuer_binary() -> PathBuf {
    binary("issuer", "issuer")
}

/// An `issuer serve` with its own keys (`issuer keygen`) and working directory (where its
/// default SQLite database goes, unless `DATABASE_URL` says otherwise).
pub struct Issuer {
    process: Process,
    dir: TempDir,
}

impl Issuer {
    /// An issuer on `port` (0: any free one).
    pub fn start(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// An issuer on `port` with `extra` environment (e.g. HS256 mode, `DATABASE_URL`).
    pub fn start_with(port: u16, extra: &[(&'static str, String)]) -> Self {
        Self::start_binary(&issuer_binary(), port, extra)
    }

    /// [`Issuer::start_with`] of another build of the issuer (`binary`), e.g. an older
    /// release to compare with.
    pub fn start_binary(binary: &Path, port: u16, extra: &[(&'static str, String)]) -> Self {
        let dir = TempDir::new().expect("temp dir");
        let keygen = Command::new(binary)
            .args(["keygen", "--keys-dir", "keys"])
            .env_clear()
            .current_dir(dir.path())
            .output()
            .expect("run issuer keygen");
        assert!(keygen.status.success(), "{keygen:?}");
        let mut env = vec![
            ("PORT", port.to_string()),
            ("JWT_ISSUER", ISSUER.to_owned()),
        ];
        env.extend_from_slice(extra);
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env_clear()
            .envs(env.iter().map(|(key, value)| (key, value)))
            .current_dir(dir.path());
        Self {
            process: Process::start(command),
            dir,
        }
    }

    /// The issuer's RSA private key (PEM), as `issuer keygen` wrote it.
    pub fn private_key_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("keys/private.pem")).expect("keys/private.pem")
    }

    /// The issuer's public key as `issuer keygen` wrote it (SPKI PEM).
    pub fn public_key_pem(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("keys/public.pem")).expect("keys/public.pem")
    }

    /// `http://HOST:PORT`
    pub fn url(&self) -> &str {
        &self.process.base_url
    }

    /// Its process id (to read its memory use from `/proc`, or to kill it).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Its JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.url())
    }

    /// The first line of its log that `matches`, waiting for it if need be (see
    /// [`Process::wait_for_line`]).
    pub fn wait_for_log_line(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        self.process.wait_for_line(what, matches)
    }
}

/// `name` (`user-service` or `raider-service`) verifying with `jwks_url`.
pub fn service(name: &str, jwks_url: &str) -> Process {
    service_with(name, jwks_url, &[])
}

/// `name` verifying with `jwks_url`, with `extra` environment.
pub fn service_with(name: &str, jwks_url: &str, extra: &[(&'static str, String)]) -> Process {
    let mut env = vec![("JWT_JWKS_URL", jwks_url.to_owned())];
    env.extend_from_slice(extra);
    service_on(name, &env)
}

/// `name` configured by `env` alone, plus `PORT=0` and `JWT_ISSUER` [`ISSUER`].
pub fn service_on(name: &str, env: &[(&'static str, String)]) -> Process {
    let mut command = Command::new(binary("example-services", name));
    command
        .env_clear()
        .env("PORT", "0")
        .env("JWT_ISSUER", ISSUER)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .current_dir(std::env::temp_dir());
    Process::start(command)
}

/// `POST url` with a JSON body.
pub async fn post(client: &reqwest::Client, url: String, body: &Value) -> reqwest::Response {
    client.post(url).json(body).send().await.expect("POST")
}

/// Registers `email` with [`PASSWORD`] and `role` and logs in, asserting 201 and 200; the
/// access token.
pub async fn account(client: &reqwest::Client, issuer: &str, email: &str, role: &str) -> String {
    let credentials = json!({ "email": email, "password": PASSWORD });
    let mut registration = credentials.clone();
    registration["role"] = json!(role);
    let registered = post(client, format!("{issuer}/register"), &registration).await;
    assert_eq!(registered.status(), 201);
    let login = post(client, format!("{issuer}/login"), &credentials).await;
    assert_eq!(login.status(), 200);
    let body: Value = login.json().await.expect("JSON token response");
    body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// `POST url`, with `token` as its bearer token if there is one.
pub async fn call(client: &reqwest::Client, url: String, token: Option<&str>) -> reqwest::Response {
    let mut request = client.post(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("POST")
}
