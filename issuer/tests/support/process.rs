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
    /// The lines read while waiting for it to listen.
    seen: Vec<String>,
    /// The rest of its stdout and stderr; dropping it closes the pipes at the next line.
    log: Option<mpsc::Receiver<String>>,
    /// `http://HOST:PORT`
    pub(crate) base_url: String,
    client: reqwest::Client,
}

impl RunningIssuer {
    /// Starts `command` (an `issuer serve` with `PORT=0`) and waits until it listens.
    pub(crate) fn start(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start issuer serve");
        let log = log_lines(&mut child);
        let mut seen = Vec::new();
        let address = loop {
            let line = log
                .recv_timeout(PATIENCE)
                .expect("issuer serve exited or never said it was listening");
            let address = listening_address(&line);
            seen.push(line);
            if let Some(address) = address {
                break address;
            }
        };
        Self {
            child,
            seen,
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

    /// Stops reading the server's output: its next log line closes the pipe, as when a log
    /// collector dies.
    #[allow(dead_code)] // used by one of the two test binaries that include this file
    pub(crate) fn close_log(&mut self) {
        self.log = None;
    }

    /// Sends SIGTERM and waits for the process to exit.
    #[allow(dead_code)] // used by one of the two test binaries that include this file
    pub(crate) fn terminate(self) -> ExitStatus {
        self.terminate_with_output().0
    }

    /// Sends SIGTERM, waits for the process to exit, and returns everything it wrote to stdout
    /// and stderr since it started (lines of the two streams interleaved as they were read).
    pub(crate) fn terminate_with_output(mut self) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let status = self.child.wait().expect("wait for issuer");
        let mut lines = std::mem::take(&mut self.seen);
        // The readers stop at the end of the streams, which the exit closed: this ends.
        lines.extend(self.log.take().into_iter().flatten());
        (status, lines.join("\n"))
    }
}

impl Drop for RunningIssuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards the child's stdout and stderr line by line into one channel; the channel closes
/// when the child exits, and each pipe closes once the receiver is gone.
fn log_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    forward_lines(stdout, sender.clone());
    forward_lines(stderr, sender);
    receiver
}

/// Lines that are not UTF-8 are kept (lossily) rather than ending the stream.
fn forward_lines(stream: impl std::io::Read + Send + 'static, sender: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(read) if read > 0) {
            let text = String::from_utf8_lossy(&line);
            if sender
                .send(text.trim_end_matches(['\n', '\r']).to_owned())
                .is_err()
            {
                break;
            }
            line.clear();
        }
    });
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
