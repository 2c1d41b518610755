//! A real `issuer serve` process, shared by the test binaries that run the binary
//! (`tests/cli.rs`, and the replica tests of `tests/api`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// How long a child process may take to reach a state we wait for. Only a bound on a
/// condition wait: a healthy run never waits this long.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// A running `issuer serve`; killed if the test ends without stopping it.
pub(crate) struct RunningIssuer {
    child: Child,
    /// The rest of its stderr; dropping it closes the pipe at the next line.
    log: Option<mpsc::Receiver<String>>,
    /// `http://HOST:PORT`
    pub(crate) base_url: String,
    client: reqwest::Client,
}

impl RunningIssuer {
    /// Starts `command` (an `issuer serve` with `PORT=0`) and waits until it listens.
    pub(crate) fn start(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start issuer serve");
        let log = log_lines(&mut child);
        let address = loop {
            let line = log
                .recv_timeout(PATIENCE)
                .expect("issuer serve exited or never said it was listening");
            if let Some(address) = listening_address(&line) {
                break address;
            }
        };
        Self {
            child,
            log: Some(log),
            base_url: format!("http://{address}"),
            client: reqwest::Client::new(),
        }
    }

    /// `GET {path}`.
    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .expect("GET")
    }

    /// `POST {path}` with a JSON body.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base_url))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// The served JWKS.
    #[allow(dead_code)] // used by one of the two test binaries that include this file
    pub(crate) async fn jwks(&self) -> Value {
        let response = self.get("/.well-known/jwks.json").await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON JWKS")
    }

    /// The kids of the served JWKS, in order.
    #[allow(dead_code)] // used by one of the two test binaries that include this file
    pub(crate) async fn jwks_kids(&self) -> Vec<String> {
        self.jwks().await["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|key| key["kid"].as_str().expect("kid").to_owned())
            .collect()
    }

    /// Stops reading the server's stderr: its next log line closes the pipe, as when a log
    /// collector dies.
    #[allow(dead_code)] // used by one of the two test binaries that include this file
    pub(crate) fn close_log(&mut self) {
        self.log = None;
    }

    /// Sends SIGTERM and waits for the process to exit.
    #[allow(dead_code)] // used by one of the two test binaries that include this file
    pub(crate) fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        self.child.wait().expect("wait for issuer")
    }
}

impl Drop for RunningIssuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards the child's stderr line by line; the channel closes when the child exits, and the
/// pipe closes once the receiver is gone.
fn log_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("piped stderr");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The address in the `issuer listening address=HOST:PORT` log line.
fn listening_address(line: &str) -> Option<String> {
    if !line.contains("issuer listening") {
        return None;
    }
    let (_, rest) = line.split_once("address=")?;
    Some(rest.split_whitespace().next()?.to_owned())
}

/// Polls `condition` until it holds; panics after [`PATIENCE`].
/// For changes that land in the background (a key ring reload, a cache refresh), never to
/// let time pass.
pub(crate) async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + PATIENCE;
    while !condition().await {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
