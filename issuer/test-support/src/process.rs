//! A real binary under test: started from a [`Command`] the test prepares (program, arguments,
//! environment, working directory, `PORT=0`), awaited until it logs that it listens, its stdout
//! and stderr collected line by line, and killed when the test ends.
//!
//! A process is ready when it logs `NAME listening address=HOST:PORT` (text logs) or the JSON
//! line whose `fields.message` ends in `listening` with `fields.address` (`LOG_FORMAT=json`);
//! the issuer and both example services log exactly that. The output is read on threads of
//! its own into an unbounded channel, so a process never blocks on a full pipe.
//!
//! ```no_run
//! use std::process::Command;
//!
//! use test_support::process::Process;
//!
//! # async fn demo() {
//! let mut command = Command::new(test_support::stack::issuer_binary());
//! command.arg("serve").env_clear().env("PORT", "0");
//! let issuer = Process::start(command);
//! assert_eq!(issuer.get("/healthz").await.status(), 200);
//! let (status, output) = issuer.terminate_with_output();
//! assert!(status.success(), "{output}");
//! # }
//! ```

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;

use serde_json::Value;

use crate::http::Http;
use crate::wait::PATIENCE;

/// A running binary; killed (and reaped) if the test ends without stopping it.
pub struct Process {
    child: Child,
    /// `http://HOST:PORT`, from its `listening` line.
    pub base_url: String,
    /// The lines read so far, in the order they were read.
    seen: Vec<String>,
    /// The lines not read yet; dropping it closes the pipes at the process's next line.
    log: Option<mpsc::Receiver<String>>,
    client: reqwest::Client,
}

impl Process {
    /// Starts `command` with its stdout and stderr piped to the test, and waits (at most
    /// [`PATIENCE`]) until it logs that it listens. Panics with the output so far if it exits
    /// first.
    pub fn start(mut command: Command) -> Self {
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("start {program}: {error}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = lines_of([Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)]);
        let mut seen = Vec::new();
        let address = loop {
            let Ok(line) = log.recv_timeout(PATIENCE) else {
                panic!(
                    "{program} exited or never said it was listening; its output:\n{}",
                    seen.join("\n")
                );
            };
            let address = listening_address(&line);
            seen.push(line);
            if let Some(address) = address {
                break address;
            }
        };
        Self {
            child,
            base_url: format!("http://{address}"),
            seen,
            log: Some(log),
            client: reqwest::Client::new(),
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Requests to it, by path, with its client.
    pub fn http(&self) -> Http<'_> {
        Http::new(&self.client, &self.base_url)
    }

    /// `GET {path}`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http().get(path).await
    }

    /// `POST {path}` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http().post_json(path, body).await
    }

    /// The JWKS it serves at `/.well-known/jwks.json` (an issuer), asserting 200.
    pub async fn jwks(&self) -> Value {
        self.http().jwks().await
    }

    /// The kids of its JWKS, in order.
    pub async fn jwks_kids(&self) -> Vec<String> {
        self.http().jwks_kids().await
    }

    /// The first line of its output that `matches`, among those read so far or, waiting for
    /// it (at most [`PATIENCE`]), those still to come. Panics naming `what` if the process
    /// exits or the time runs out first.
    pub fn wait_for_line(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.seen.iter().find(|line| matches(line)) {
            return line.clone();
        }
        let log = self
            .log
            .as_ref()
            .expect("the output is still read (no close_log)");
        loop {
            let Ok(line) = log.recv_timeout(PATIENCE) else {
                panic!(
                    "never logged: {what}; its output:\n{}",
                    self.seen.join("\n")
                );
            };
            let found = matches(&line);
            self.seen.push(line);
            if found {
                return self.seen.last().expect("just pushed").clone();
            }
        }
    }

    /// Stops reading its output: its next line closes the pipe, as when a log collector dies.
    pub fn close_log(&mut self) {
        self.log = None;
    }

    /// Sends SIGKILL and reaps the process: a crash, or a host lost, with no chance to finish
    /// anything. (Dropping a `Process` does the same.)
    pub fn kill(self) {}

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(self) -> ExitStatus {
        self.terminate_with_output().0
    }

    /// Sends SIGTERM, waits for the process to exit, and returns everything it wrote to stdout
    /// and stderr since it started (the lines of the two streams interleaved as they were read).
    pub fn terminate_with_output(mut self) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {}", self.child.id());
        let status = self.child.wait().expect("wait for the process");
        let mut lines = std::mem::take(&mut self.seen);
        // The readers stop at the end of the streams, which the exit closed: this ends.
        lines.extend(self.log.take().into_iter().flatten());
        (status, lines.join("\n"))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines of `streams`, read on a thread each into one channel, in the order they were read.
/// The channel closes once every stream has ended; a stream stops being read at its next line
/// once the receiver is gone. A line that is not UTF-8 is kept (lossily), not the end of the
/// stream.
pub fn lines_of(streams: impl IntoIterator<Item = Box<dyn Read + Send>>) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    for stream in streams {
        let sender = sender.clone();
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
    receiver
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

#[cfg(test)]
mod tests {
    use super::listening_address;

    #[test]
    fn a_text_listening_line_gives_its_address() {
        let line = "2026-01-01T00:00:00Z  INFO issuer: issuer listening address=127.0.0.1:4000";
        assert_eq!(listening_address(line).as_deref(), Some("127.0.0.1:4000"));
    }

    #[test]
    fn a_json_listening_line_gives_its_address() {
        let line = r#"{"level":"INFO","fields":{"message":"user-service listening","address":"127.0.0.1:4001"}}"#;
        assert_eq!(listening_address(line).as_deref(), Some("127.0.0.1:4001"));
    }

    #[test]
    fn other_lines_give_none() {
        assert_eq!(listening_address("INFO issuer: starting"), None);
        assert_eq!(
            listening_address(r#"{"fields":{"message":"response"}}"#),
            None
        );
    }
}
