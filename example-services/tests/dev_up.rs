//! `scripts/dev-up.sh` brings the stack up healthy and takes all of it down again.
//!
//! It builds release binaries, which takes minutes on a fresh clone, so these tests are
//! ignored by the README's test command and run by `.ci/run`
//! (`cargo test -p example-services --test dev_up -- --ignored`). The script is driven here
//! (its `ready` line, the pids it names, its walkthrough on stdout); its ports and the reading
//! of its log lines come from the workspace's `test-support` crate.

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use test_support::free_port;
use test_support::process::lines_of;

/// A release build from scratch can take this long on a small machine.
const BUILD_PATIENCE: Duration = Duration::from_secs(30 * 60);

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

struct DevUp {
    script: Child,
    ports: [u16; 3],
    /// `started NAME (pid N)` lines, in order: issuer, user-service, raider-service.
    pids: Vec<u32>,
    walkthrough: String,
    _log: mpsc::Receiver<String>,
}

impl DevUp {
    fn start() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let ports = [free_port(), free_port(), free_port()];
        let mut script = Command::new("bash")
            .arg(root.join("scripts/dev-up.sh"))
            .env("ISSUER_PORT", ports[0].to_string())
            .env("USER_PORT", ports[1].to_string())
            .env("RAIDER_PORT", ports[2].to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run dev-up.sh");
        let log = lines_of([Box::new(script.stderr.take().unwrap()) as Box<dyn Read + Send>]);
        let mut pids = Vec::new();
        loop {
            let line = log
                .recv_timeout(BUILD_PATIENCE)
                .expect("dev-up.sh exited or never became ready");
            if let Some(rest) = line.strip_prefix("dev-up: started ") {
                let pid = rest.split("(pid ").nth(1).unwrap().trim_end_matches(')');
                pids.push(pid.parse().unwrap());
            }
            if line == "dev-up: ready" {
                break;
            }
        }
        let mut walkthrough = String::new();
        let mut stdout = script.stdout.take().unwrap();
        // The walkthrough is printed before "ready" and stdout is then left idle; read what
        // is there without waiting for the script to end.
        let mut buffer = [0u8; 64 * 1024];
        let read = stdout.read(&mut buffer).unwrap();
        walkthrough.push_str(&String::from_utf8_lossy(&buffer[..read]));
        Self {
            script,
            ports,
            pids,
            walkthrough,
            _log: log,
        }
    }

    fn signal(&self, signal: &str, pid: u32) {
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for DevUp {
    fn drop(&mut self) {
        for pid in &self.pids {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let _ = self.script.kill();
        let _ = self.script.wait();
    }
}

#[tokio::test]
#[ignore = "builds release binaries; run by .ci/run"]
async fn dev_up_starts_a_healthy_stack_and_ctrl_c_stops_all_of_it() {
    let mut stack = DevUp::start();
    let client = reqwest::Client::new();
    for port in stack.ports {
        let health = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200, "port {port}");
    }
    assert_eq!(stack.pids.len(), 3);
    for port in stack.ports {
        assert!(stack.walkthrough.contains(&format!("localhost:{port}")));
    }

    stack.signal("-INT", stack.script.id());
    let status = stack.script.wait().unwrap();

    assert!(!status.success());
    for port in stack.ports {
        assert!(!listening(port), "port {port} is still served: an orphan");
    }
}

#[tokio::test]
#[ignore = "builds release binaries; run by .ci/run"]
async fn when_one_process_dies_dev_up_stops_the_others() {
    let mut stack = DevUp::start();

    stack.signal("-KILL", stack.pids[1]);
    let status = stack.script.wait().unwrap();

    assert_eq!(status.code(), Some(1));
    for port in stack.ports {
        assert!(!listening(port), "port {port} is still served: an orphan");
    }
}
