//! What the end-to-end suites share: the real `issuer`, `user-service` and `raider-service`
//! binaries started on free ports with their own temporary directories, and small HTTP helpers.

#![allow(dead_code, unreachable_pub)] // each test binary uses its own part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

/// Bound on waiting for a process to say it listens; a healthy start takes well under a second.
pub const PATIENCE: Duration = Duration::from_secs(60);
pub const ISSUER: &str = "http://issuer.test";
pub const PASSWORD: &str = "correct horse battery";

/// The issuer binary: built by cargo beside this test's binaries when the whole workspace is
/// tested; built here when only this package is.
fn issuer_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let test_exe = std::env::current_exe().expect("test binary path");
        let profile_dir = test_exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>/deps");
        let binary = profile_dir.join("issuer");
        if !binary.exists() {
            let mut build = Command::new(env!("CARGO"));
            build.args(["build", "-p", "issuer", "--bin", "issuer"]);
            if profile_dir.ends_with("release") {
                build.arg("--release");
            }
            assert!(build.status().expect("run cargo build").success());
        }
        binary
    })
}

/// A running binary; killed when dropped.
pub struct Process {
    child: Child,
    pub base_url: String,
    /// Its stderr up to the `listening` line.
    start_log: Vec<String>,
    /// The rest of its stderr, kept draining so the process never blocks on a full pipe.
    log: mpsc::Receiver<String>,
}

impl Process {
    /// Starts `program` with only `env`, and waits for its `listening address=` log line.
    pub fn start(program: &Path, args: &[&str], env: &[(&str, String)], dir: &Path) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start process");
        let stderr = child.stderr.take().expect("piped stderr");
        let (sender, log) = mpsc::channel();
        std::thread::spawn(move || {
            // Lossy, so a line that is not UTF-8 is kept (and searched), not the end of the log.
            for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
                let _ = sender.send(String::from_utf8_lossy(&line).into_owned());
            }
        });
        let mut start_log = Vec::new();
        let address = loop {
            let line = log
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("{} never said it was listening", program.display()));
            if let Some(address) = listening_address(&line) {
                break address;
            }
            start_log.push(line);
        };
        Self {
            child,
            base_url: format!("http://{address}"),
            start_log,
            log,
        }
    }

    /// Stops the process (SIGTERM) and returns everything it wrote to stderr.
    pub fn stop_and_read_log(mut self) -> String {
        self.send_sigterm();
        self.child.wait().unwrap();
        let mut lines = std::mem::take(&mut self.start_log);
        // The reader thread ends, and the channel closes, at the pipe's end of file.
        lines.extend(self.log.iter());
        lines.join("\n")
    }

    fn send_sigterm(&self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Stops the process with SIGTERM and returns how it exited.
    pub fn terminate(mut self) -> ExitStatus {
        self.send_sigterm();
        self.child.wait().unwrap()
    }
}

/// The address in a `... listening address=ADDR` log line, text or JSON (`LOG_FORMAT=json`).
fn listening_address(line: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<Value>(line) {
        let fields = &json["fields"];
        let message = fields["message"].as_str()?;
        return message
            .ends_with("listening")
            .then(|| fields["address"].as_str().map(str::to_owned))
            .flatten();
    }
    let (_, rest) = line.split_once("listening address=")?;
    rest.split_whitespace().next().map(str::to_owned)
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An issuer with its own keys and database in a temporary directory.
pub struct Issuer {
    process: Process,
    dir: TempDir,
}

impl Issuer {
    pub fn start(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// An issuer with `extra` environment (e.g. HS256 mode).
    pub fn start_with(port: u16, extra: &[(&'static str, String)]) -> Self {
        let dir = TempDir::new().unwrap();
        let keygen = Command::new(issuer_binary())
            .args(["keygen", "--keys-dir", "keys"])
            .env_clear()
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(keygen.status.success(), "{keygen:?}");
        let mut env = vec![
            ("PORT", port.to_string()),
            ("JWT_ISSUER", ISSUER.to_owned()),
        ];
        env.extend_from_slice(extra);
        let process = Process::start(issuer_binary(), &["serve"], &env, dir.path());
        Self { process, dir }
    }

    /// The issuer's RSA private key (PEM), as `issuer keygen` wrote it.
    pub fn private_key_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("keys/private.pem")).unwrap()
    }

    /// The issuer's public key as `issuer keygen` wrote it (SPKI PEM).
    pub fn public_key_pem(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("keys/public.pem")).unwrap()
    }

    pub fn url(&self) -> &str {
        &self.process.base_url
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.url())
    }
}

pub fn service(name: &str, jwks_url: &str) -> Process {
    service_with(name, jwks_url, &[])
}

/// A service verifying with `jwks_url`, with `extra` environment.
pub fn service_with(name: &str, jwks_url: &str, extra: &[(&'static str, String)]) -> Process {
    let mut env = vec![("JWT_JWKS_URL", jwks_url.to_owned())];
    env.extend_from_slice(extra);
    service_on(name, &env)
}

/// A service configured by `env` alone (plus port and issuer).
pub fn service_on(name: &str, env: &[(&'static str, String)]) -> Process {
    let program = match name {
        "user-service" => env!("CARGO_BIN_EXE_user-service"),
        _ => env!("CARGO_BIN_EXE_raider-service"),
    };
    let env = [
        vec![("PORT", "0".to_owned()), ("JWT_ISSUER", ISSUER.to_owned())],
        env.to_vec(),
    ]
    .concat();
    Process::start(Path::new(program), &[], &env, &std::env::temp_dir())
}

pub async fn post(client: &reqwest::Client, url: String, body: &Value) -> reqwest::Response {
    client.post(url).json(body).send().await.unwrap()
}

/// Registers `email` with `role` and logs in; returns the access token.
pub async fn account(client: &reqwest::Client, issuer: &str, email: &str, role: &str) -> String {
    let credentials = json!({ "email": email, "password": PASSWORD });
    let mut registration = credentials.clone();
    registration["role"] = json!(role);
    let registered = post(client, format!("{issuer}/register"), &registration).await;
    assert_eq!(registered.status(), 201);
    let login = post(client, format!("{issuer}/login"), &credentials).await;
    assert_eq!(login.status(), 200);
    let body: Value = login.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

pub async fn call(client: &reqwest::Client, url: String, token: Option<&str>) -> reqwest::Response {
    let mut request = client.post(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}
