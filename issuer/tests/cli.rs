//! The `issuer` binary as an operator meets it: configuration errors, `keygen`, `user add`, and
//! `serve` with graceful shutdown. Every test runs the real binary built by cargo, with a cleared
//! environment and a temporary working directory; a serving one through the workspace's process
//! harness (`test_support::process`).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tempfile::TempDir;
use test_support::free_port;
use test_support::process::Process;
use test_support::wait::wait_until;

/// A scratch directory that is the working directory of the commands run in it.
struct Workspace {
    dir: TempDir,
}

impl Workspace {
    fn new() -> Self {
        Self {
            dir: TempDir::new().expect("temporary directory"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn keys_dir(&self) -> PathBuf {
        self.path().join("keys")
    }

    /// `issuer ARGS` with only the given environment.
    fn issuer(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_issuer"));
        command
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .current_dir(self.path());
        command
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.issuer(args, env).output().expect("run issuer")
    }

    /// Generates a key pair in `keys/` with `issuer keygen`; returns its kid.
    fn keygen(&self) -> String {
        let output = self.run(&["keygen"], &[]);
        assert!(output.status.success(), "{}", stderr(&output));
        kid_from_keygen(&stdout(&output))
    }

    /// Starts `issuer serve` on a free port and waits until it listens.
    fn serve(&self, env: &[(&str, &str)]) -> Process {
        let mut env = env.to_vec();
        env.push(("PORT", "0"));
        Process::start(self.issuer(&["serve"], &env))
    }
}

/// The kid of the first key in the issuer's JWKS.
async fn jwks_kid(issuer: &Process) -> String {
    issuer.jwks_kids().await.swap_remove(0)
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 stderr")
}

/// Asserts the command failed with exactly one line on stderr, and returns that line.
fn single_error_line(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    let text = stderr(output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {text}");
    lines[0].to_owned()
}

fn kid_from_keygen(stdout: &str) -> String {
    stdout
        .trim_end()
        .rsplit_once("; kid ")
        .expect("keygen prints the kid")
        .1
        .to_owned()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn token_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWS has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[test]
fn a_missing_key_stops_start_up_with_one_line_saying_what_to_run() {
    let workspace = Workspace::new();

    let line = single_error_line(&workspace.run(&["serve"], &[]));

    assert!(
        line.starts_with("issuer: error: KEYS_DIR: no private key at keys/private.pem"),
        "{line}"
    );
    assert!(
        line.contains("run scripts/gen-keys.sh or `issuer keygen`"),
        "{line}"
    );
    assert!(
        !workspace.path().join("issuer.db").exists(),
        "no database is created when start-up fails"
    );
}

#[test]
fn a_key_file_that_is_not_a_key_stops_start_up() {
    let workspace = Workspace::new();
    fs::create_dir(workspace.keys_dir()).unwrap();
    let path = workspace.keys_dir().join("private.pem");
    fs::write(&path, "not a key").unwrap();
    chmod(&path, 0o600);

    let line = single_error_line(&workspace.run(&["serve"], &[]));

    assert_eq!(
        line,
        "issuer: error: KEYS_DIR: keys/private.pem is not an RSA private key in PEM (PKCS#1 or PKCS#8)"
    );
}

#[test]
fn a_key_file_other_users_may_read_stops_start_up_with_one_line_saying_how_to_fix_it() {
    let lone = Workspace::new();
    lone.keygen();
    chmod(&lone.keys_dir().join("private.pem"), 0o644);
    let ring = Workspace::new();
    let kid = rotated_kid(&ring.run(&["keys", "rotate"], &[]));
    chmod(&ring.keys_dir().join(format!("{kid}.pem")), 0o604);

    let lone_output = lone.run(&["serve"], &[]);
    let ring_output = ring.run(&["serve"], &[]);

    assert_eq!(
        single_error_line(&lone_output),
        "issuer: error: KEYS_DIR: keys/private.pem may be read or written by other users (mode 0644); run `chmod 600 keys/private.pem`"
    );
    assert_eq!(
        single_error_line(&ring_output),
        format!(
            "issuer: error: KEYS_DIR: keys/{kid}.pem may be read or written by other users (mode 0604); run `chmod 600 keys/{kid}.pem`"
        )
    );
    for output in [&lone_output, &ring_output] {
        assert!(!stderr(output).contains("panicked"), "{}", stderr(output));
    }
    assert!(
        !lone.path().join("issuer.db").exists(),
        "no database is created when start-up fails"
    );
}

#[tokio::test]
async fn a_key_file_its_group_may_read_is_used_with_a_warning_naming_it() {
    let workspace = Workspace::new();
    let kid = workspace.keygen();
    chmod(&workspace.keys_dir().join("private.pem"), 0o640);

    let issuer = workspace.serve(&[]);
    let served = jwks_kid(&issuer).await;
    let (status, output) = issuer.terminate_with_output();

    assert_eq!(served, kid);
    assert!(status.success(), "{output}");
    let warnings: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("WARN") && line.contains("may be read by its group"))
        .collect();
    assert_eq!(warnings.len(), 1, "{output}");
    assert!(
        warnings[0].contains("file=keys/private.pem"),
        "{}",
        warnings[0]
    );
}

#[test]
fn an_unreadable_key_stops_start_up() {
    let workspace = Workspace::new();
    // A directory where the file should be cannot be read as one, even by root.
    fs::create_dir_all(workspace.keys_dir().join("private.pem")).unwrap();

    let line = single_error_line(&workspace.run(&["serve"], &[]));

    assert!(
        line.starts_with("issuer: error: KEYS_DIR: cannot read keys/private.pem"),
        "{line}"
    );
}

#[test]
fn each_bad_setting_stops_start_up_with_one_line_naming_the_variable() {
    let workspace = Workspace::new();
    workspace.keygen();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("PORT", "http")],
            "invalid PORT: 'http' is not a port number",
        ),
        (&[("HOST", "example")], "invalid HOST:"),
        (&[("ACCESS_TOKEN_TTL", "soon")], "invalid ACCESS_TOKEN_TTL:"),
        (&[("REFRESH_TOKEN_TTL", "0s")], "invalid REFRESH_TOKEN_TTL:"),
        (
            &[("JWT_ALGORITHM", "ES256")],
            "invalid JWT_ALGORITHM: 'ES256' is not supported; use RS256 or HS256",
        ),
        (
            &[("JWT_ALGORITHM", "none")],
            "invalid JWT_ALGORITHM: 'none' is not supported",
        ),
        (&[("JWT_ALGORITHM", "HS256")], "JWT_SECRET is required"),
        (
            &[("DATABASE_URL", "mysql://db/issuer")],
            "invalid DATABASE_URL:",
        ),
        (&[("JWT_ISSUER", "issuer")], "invalid JWT_ISSUER:"),
        (
            &[("SELF_SERVICE_ROLES", "Admin")],
            "invalid SELF_SERVICE_ROLES:",
        ),
        (
            &[("DATABASE_MAX_CONNECTIONS", "none")],
            "invalid DATABASE_MAX_CONNECTIONS:",
        ),
        (
            &[("DATABASE_STATEMENT_TIMEOUT", "fast")],
            "invalid DATABASE_STATEMENT_TIMEOUT:",
        ),
        (
            &[("LOGIN_ACCOUNT_FREE_ATTEMPTS", "0")],
            "invalid LOGIN_ACCOUNT_FREE_ATTEMPTS:",
        ),
        (
            &[("CLIENT_IP_SOURCE", "X-Forwarded-For")],
            "invalid CLIENT_IP_SOURCE:",
        ),
    ];

    for (env, expected) in cases {
        let line = single_error_line(&workspace.run(&["serve"], env));
        assert!(
            line.starts_with(&format!("issuer: error: {expected}")),
            "{env:?}: {line}"
        );
    }
}

#[test]
fn an_unreachable_database_stops_start_up_with_one_line_that_hides_the_password() {
    let workspace = Workspace::new();
    workspace.keygen();
    let port = free_port();
    let url = format!("postgres://issuer:s3cret@127.0.0.1:{port}/issuer");

    let line = single_error_line(&workspace.run(
        &["serve"],
        &[("DATABASE_URL", &url), ("DATABASE_ACQUIRE_TIMEOUT", "1s")],
    ));

    assert!(
        line.starts_with(&format!(
            "issuer: error: DATABASE_URL: cannot open postgres://issuer:***@127.0.0.1:{port}/issuer:"
        )),
        "{line}"
    );
    assert!(!line.contains("s3cret"), "{line}");
}

#[test]
fn a_short_jwt_secret_is_refused_without_echoing_it() {
    let workspace = Workspace::new();
    let secret = "fifteen-bytes!!";

    let line = single_error_line(&workspace.run(
        &["serve"],
        &[("JWT_ALGORITHM", "HS256"), ("JWT_SECRET", secret)],
    ));

    assert!(
        line.starts_with("issuer: error: invalid JWT_SECRET: 15 bytes is too short"),
        "{line}"
    );
    assert!(!line.contains(secret), "the secret leaked: {line}");
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_can_read_and_refuses_to_overwrite_it() {
    let workspace = Workspace::new();

    let output = workspace.run(&["keygen"], &[]);

    assert!(output.status.success(), "{}", stderr(&output));
    let private = workspace.keys_dir().join("private.pem");
    let public = workspace.keys_dir().join("public.pem");
    assert_eq!(mode(&private), 0o600);
    assert_eq!(mode(&public), 0o644);
    assert!(
        fs::read_to_string(&private)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert!(
        fs::read_to_string(&public)
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let first_kid = kid_from_keygen(&stdout(&output));
    assert_eq!(first_kid.len(), 43, "a base64url SHA-256 thumbprint");
    let first_key = fs::read(&private).unwrap();

    let line = single_error_line(&workspace.run(&["keygen"], &[]));
    assert_eq!(
        line,
        "issuer: error: KEYS_DIR: keys/private.pem already exists; pass --force to replace it"
    );
    assert_eq!(
        fs::read(&private).unwrap(),
        first_key,
        "the key is untouched"
    );

    let forced = workspace.run(&["keygen", "--force"], &[]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_ne!(kid_from_keygen(&stdout(&forced)), first_kid);
    assert_eq!(mode(&private), 0o600);
}

#[test]
fn keygen_if_missing_writes_a_key_once_then_leaves_the_key_or_ring_alone() {
    let workspace = Workspace::new();
    let private = workspace.keys_dir().join("private.pem");

    let first = workspace.run(&["keygen", "--if-missing"], &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(kid_from_keygen(&stdout(&first)).len(), 43);
    let key = fs::read(&private).unwrap();

    let again = workspace.run(&["keygen", "--if-missing"], &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), "keys/private.pem exists; no key written\n");
    assert_eq!(fs::read(&private).unwrap(), key, "the key is untouched");

    let rotated = workspace.run(&["keys", "rotate"], &[]);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let ring = workspace.run(&["keygen", "--if-missing"], &[]);
    assert!(ring.status.success(), "{}", stderr(&ring));
    assert_eq!(stdout(&ring), "keys/keyring.json exists; no key written\n");

    let both = workspace.run(&["keygen", "--if-missing", "--force"], &[]);
    assert!(!both.status.success());
    assert!(
        stderr(&both).contains("cannot be used with"),
        "{}",
        stderr(&both)
    );
}

#[tokio::test]
async fn healthcheck_succeeds_on_a_ready_issuer_and_fails_in_one_line_otherwise() {
    let workspace = Workspace::new();
    workspace.keygen();
    let issuer = workspace.serve(&[]);
    let port = issuer.base_url.rsplit(':').next().unwrap().to_owned();
    let healthcheck = |args: &[&str]| {
        let mut all = vec!["healthcheck"];
        all.extend_from_slice(args);
        workspace.run(&all, &[("HOST", "0.0.0.0"), ("PORT", &port)])
    };

    let ready = healthcheck(&[]);
    assert!(ready.status.success(), "{}", stderr(&ready));
    assert_eq!(
        stdout(&ready),
        format!("http://127.0.0.1:{port}/readyz: ready\n")
    );

    let missing = format!("{}/no-such-page", issuer.base_url);
    let refused = healthcheck(&["--url", &missing]);
    assert_eq!(
        single_error_line(&refused),
        format!("issuer: error: {missing} is not ready: it answered 404 Not Found")
    );

    let stopped = issuer.terminate();
    assert!(stopped.success());
    let down = healthcheck(&[]);
    let line = single_error_line(&down);
    assert!(
        line.starts_with(&format!(
            "issuer: error: http://127.0.0.1:{port}/readyz is not ready: "
        )),
        "{line}"
    );
}

#[tokio::test]
async fn the_server_signs_with_the_key_keygen_wrote() {
    let workspace = Workspace::new();
    let kid = workspace.keygen();

    let issuer = workspace.serve(&[]);

    assert_eq!(jwks_kid(&issuer).await, kid);
    let pem = issuer.get("/public-key").await.text().await.unwrap();
    assert_eq!(
        pem,
        fs::read_to_string(workspace.keys_dir().join("public.pem")).unwrap()
    );
}

#[tokio::test]
async fn the_server_loads_the_keys_gen_keys_sh_writes() {
    let workspace = Workspace::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/gen-keys.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(workspace.keys_dir())
        .output()
        .expect("run gen-keys.sh");
    assert!(
        output.status.success(),
        "gen-keys.sh failed (it needs openssl): {}",
        stderr(&output)
    );
    assert_eq!(mode(&workspace.keys_dir().join("private.pem")), 0o600);

    let refused = Command::new("bash")
        .arg(&script)
        .arg(workspace.keys_dir())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("--force"), "{}", stderr(&refused));

    let issuer = workspace.serve(&[]);
    assert_eq!(issuer.jwks().await["keys"][0]["alg"], "RS256");
    let pem = issuer.get("/public-key").await.text().await.unwrap();
    let script_public = fs::read_to_string(workspace.keys_dir().join("public.pem")).unwrap();
    assert_eq!(pem.trim(), script_public.trim());
}

#[tokio::test]
async fn user_add_creates_a_role_self_service_refuses_and_that_user_can_log_in() {
    let workspace = Workspace::new();
    workspace.keygen();

    let output = workspace.run(
        &[
            "user",
            "add",
            "--email",
            "Admin@Example.com",
            "--password",
            "correct horse battery",
            "--role",
            "admin",
        ],
        &[],
    );

    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(
        printed.starts_with("created user ")
            && printed
                .trim_end()
                .ends_with("<admin@example.com> with role admin"),
        "{printed}"
    );
    let issuer = workspace.serve(&[]);
    let login = issuer
        .post(
            "/login",
            &json!({ "email": "admin@example.com", "password": "correct horse battery" }),
        )
        .await;
    assert_eq!(login.status(), 200);
    let body: Value = login.json().await.unwrap();
    let claims = token_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["email"], "admin@example.com");
}

#[test]
fn user_add_refuses_an_email_already_taken() {
    let workspace = Workspace::new();
    let args = [
        "user",
        "add",
        "--email",
        "ops@example.com",
        "--password",
        "correct horse battery",
        "--role",
        "admin",
    ];
    assert!(workspace.run(&args, &[]).status.success());

    let line = single_error_line(&workspace.run(&args, &[]));

    assert!(
        line.starts_with("issuer: error: cannot create user:"),
        "{line}"
    );
    assert_eq!(
        line,
        "issuer: error: cannot create user: an account with this email already exists"
    );
}

#[test]
fn user_add_reads_the_password_from_stdin_and_validates_it() {
    let workspace = Workspace::new();
    let add = |password: &str| {
        let mut child = workspace
            .issuer(
                &[
                    "user",
                    "add",
                    "--email",
                    "ops@example.com",
                    "--password-stdin",
                    "--role",
                    "admin",
                ],
                &[],
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };

    let line = single_error_line(&add("short"));
    assert!(
        line.starts_with("issuer: error: invalid --password:"),
        "{line}"
    );
    assert!(!line.contains("short"), "the password leaked: {line}");

    let output = add("correct horse battery");
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn user_add_refuses_a_bad_role_or_email_naming_the_flag() {
    let workspace = Workspace::new();
    let add = |email: &str, role: &str| {
        workspace.run(
            &[
                "user",
                "add",
                "--email",
                email,
                "--password",
                "correct horse battery",
                "--role",
                role,
            ],
            &[],
        )
    };

    let line = single_error_line(&add("ops@example.com", "Not A Role"));
    assert!(line.starts_with("issuer: error: invalid --role:"), "{line}");
    let line = single_error_line(&add("not-an-email", "admin"));
    assert!(
        line.starts_with("issuer: error: invalid --email:"),
        "{line}"
    );
}

#[tokio::test]
async fn serve_answers_and_exits_cleanly_on_sigterm() {
    let workspace = Workspace::new();
    workspace.keygen();
    let issuer = workspace.serve(&[]);
    let health = issuer.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({ "status": "ok" })
    );

    let status = issuer.terminate();

    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn serve_keeps_answering_when_its_stderr_is_closed() {
    let workspace = Workspace::new();
    workspace.keygen();
    let mut issuer = workspace.serve(&[]);

    issuer.close_log();

    for _ in 0..3 {
        let health = issuer.get("/healthz").await;
        assert_eq!(
            health.status(),
            200,
            "a lost log line must not cost a request"
        );
    }
    assert!(issuer.terminate().success());
}

#[tokio::test]
async fn session_list_shows_sessions_and_revoke_ends_them_for_a_running_issuer() {
    let workspace = Workspace::new();
    workspace.keygen();
    let issuer = workspace.serve(&[]);
    let credentials = json!({ "email": "a@example.com", "password": "correct horse battery" });
    assert_eq!(issuer.post("/register", &credentials).await.status(), 201);
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let login: Value = issuer
            .post("/login", &credentials)
            .await
            .json()
            .await
            .unwrap();
        sessions.push(login);
    }
    let sid = |tokens: &Value| {
        token_claims(tokens["access_token"].as_str().unwrap())["sid"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    let listed = workspace.run(&["session", "list", "--user", "A@example.com"], &[]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let listed = stdout(&listed);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(listed.contains(&sid(&sessions[0])) && listed.contains("\tactive\t127.0.0.1\t"));

    let revoked = workspace.run(&["session", "revoke", "--sid", &sid(&sessions[0])], &[]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert_eq!(stdout(&revoked), "ended 1 session(s)\n");
    let refresh = |tokens: &Value| json!({ "refresh_token": tokens["refresh_token"] });
    assert_eq!(
        issuer
            .post("/refresh", &refresh(&sessions[0]))
            .await
            .status(),
        401
    );
    assert_eq!(
        issuer
            .post("/refresh", &refresh(&sessions[1]))
            .await
            .status(),
        200
    );

    let revoked = workspace.run(&["session", "revoke", "--user", "a@example.com"], &[]);
    assert_eq!(stdout(&revoked), "ended 1 session(s)\n");
    let listed = stdout(&workspace.run(&["session", "list", "--user", "a@example.com"], &[]));
    assert_eq!(listed.matches("\tended:admin@").count(), 2, "{listed}");
    let revoked_list: Value = issuer.get("/revoked-sessions").await.json().await.unwrap();
    assert_eq!(revoked_list["sids"].as_array().unwrap().len(), 2);
}

#[test]
fn session_commands_refuse_unknown_users_and_bad_ids_in_one_line() {
    let workspace = Workspace::new();
    let unknown = workspace.run(&["session", "revoke", "--user", "nobody@example.com"], &[]);
    assert!(!unknown.status.success());
    assert_eq!(
        single_error_line(&unknown),
        "issuer: error: no account with email, phone or id nobody@example.com"
    );
    let bad = workspace.run(&["session", "revoke", "--sid", "42"], &[]);
    assert!(single_error_line(&bad).starts_with("issuer: error: invalid --sid: "));
    let neither = workspace.run(&["session", "revoke"], &[]);
    assert!(!neither.status.success());
}

#[tokio::test]
async fn session_commands_find_a_phone_account_stored_under_its_legacy_form() {
    let workspace = Workspace::new();
    let opened = workspace.run(&["session", "list", "--user", "nobody@example.com"], &[]);
    assert!(!opened.status.success(), "the database is created, empty");
    let url = format!("sqlite://{}", workspace.path().join("issuer.db").display());
    let database = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO users (id, phone, role, created_at, updated_at)
         VALUES ('0190a000-0000-7000-8000-00000000000a', '+4407700900400', 'user', 1, 1)",
    )
    .execute(&database)
    .await
    .unwrap();

    let listed = workspace.run(&["session", "list", "--user", "+44 (0)7700 900400"], &[]);

    assert!(listed.status.success(), "{}", stderr(&listed));
    assert_eq!(stdout(&listed).lines().count(), 1, "a header, no sessions");
    let stored: String = sqlx::query_scalar("SELECT phone FROM users")
        .fetch_one(&database)
        .await
        .unwrap();
    assert_eq!(stored, "+447700900400", "moved to the canonical number");
}

/// The rows of `issuer keys list` as (state, kid).
fn key_list(workspace: &Workspace) -> Vec<(String, String)> {
    let output = workspace.run(&["keys", "list"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("state\tkid\tcreated\tsigns_from\tsigns_until\tpublished_until\tfile")
    );
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 7, "{line}");
            (fields[0].to_owned(), fields[1].to_owned())
        })
        .collect()
}

/// The kid `issuer keys rotate` printed.
fn rotated_kid(output: &Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    let text = stdout(output);
    text.strip_prefix("created key ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected output: {text}"))
        .to_owned()
}

#[tokio::test]
async fn keys_rotate_list_and_retire_drive_a_running_issuer_without_a_restart() {
    let workspace = Workspace::new();
    let legacy = workspace.keygen();
    let env = [("KEYS_RELOAD_INTERVAL", "100ms")];
    let issuer = workspace.serve(&env);
    assert_eq!(key_list(&workspace), [("current".into(), legacy.clone())]);

    let rotated = workspace.run(&["keys", "rotate"], &[]);
    let next = rotated_kid(&rotated);
    assert!(
        stdout(&rotated).contains(", mode 0600): published now, signs from "),
        "{}",
        stdout(&rotated)
    );
    assert_eq!(
        mode(&workspace.keys_dir().join(format!("{next}.pem"))),
        0o600
    );
    assert_eq!(
        key_list(&workspace),
        [
            ("current".into(), legacy.clone()),
            ("next".into(), next.clone())
        ]
    );
    let again = workspace.run(&["keys", "rotate"], &[]);
    assert!(
        single_error_line(&again).contains(&format!("key {next} is already waiting to sign")),
        "{}",
        stderr(&again)
    );
    let keygen = workspace.run(&["keygen", "--force"], &[]);
    assert!(single_error_line(&keygen).contains("holds a key ring; use `issuer keys rotate`"));
    wait_until("the rotation reaches the server", || async {
        issuer.jwks_kids().await == [legacy.clone(), next.clone()]
    })
    .await;
    assert_eq!(jwks_kid(&issuer).await, legacy);

    let retired = workspace.run(&["keys", "retire", &legacy[..10]], &[]);
    assert!(retired.status.success(), "{}", stderr(&retired));
    let text = stdout(&retired);
    assert!(
        text.starts_with(&format!("key {next} signs from now\n")),
        "{text}"
    );
    assert!(text.contains("warning:"), "published moments ago: {text}");
    assert!(text.contains(&format!(
        "key {legacy} no longer signs and stays published until "
    )));
    assert_eq!(
        key_list(&workspace),
        [
            ("retired".into(), legacy.clone()),
            ("current".into(), next.clone())
        ]
    );
    let public_key_of_next = format!("/public-key/{next}");
    wait_until("the retirement reaches the server", || async {
        let current = issuer.get("/public-key").await.text().await.unwrap();
        current == issuer.get(&public_key_of_next).await.text().await.unwrap()
    })
    .await;

    let only = workspace.run(&["keys", "retire", &next], &[]);
    assert!(single_error_line(&only).contains("is the only key that can sign"));
    let unknown = workspace.run(&["keys", "retire", "nope"], &[]);
    assert_eq!(
        single_error_line(&unknown),
        "issuer: error: no published key has the kid nope; see `issuer keys list`"
    );
}

impl Workspace {
    /// `issuer user ARGS`, asserting success; its standard output.
    fn user(&self, args: &[&str]) -> String {
        let mut all = vec!["user"];
        all.extend_from_slice(args);
        let output = self.run(&all, &[]);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        stdout(&output)
    }

    /// `issuer user add` of `email` with `role` and the password [`PASSWORD`].
    fn add_user(&self, email: &str, role: &str) {
        self.user(&[
            "add",
            "--email",
            email,
            "--password",
            PASSWORD,
            "--role",
            role,
        ]);
    }
}

const PASSWORD: &str = "correct horse battery";

/// Logs `email` in on `issuer`; the response.
async fn log_in(issuer: &Process, email: &str) -> reqwest::Response {
    issuer
        .post("/login", &json!({ "email": email, "password": PASSWORD }))
        .await
}

#[tokio::test]
async fn an_operator_manages_accounts_without_sql_and_every_change_is_audited() {
    let workspace = Workspace::new();
    workspace.keygen();
    workspace.add_user("alice@example.com", "user");
    workspace.add_user("root@example.com", "admin");

    let listed = workspace.user(&["list"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines[0], "id\temail\tphone\trole\tstate\tcreated");
    let alice: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(alice[1..5], ["alice@example.com", "-", "user", "active"]);
    let id = alice[0].to_owned();
    assert_eq!(
        workspace.user(&["list", "--query", "ROOT"]).lines().count(),
        2
    );

    let set = workspace.user(&["set-role", "alice@example.com", "raider"]);
    assert_eq!(
        set.trim_end(),
        format!("{id} now has role raider (in its tokens from their next refresh)")
    );
    let issuer = workspace.serve(&[]);
    assert_eq!(log_in(&issuer, "alice@example.com").await.status(), 200);
    let disabled = workspace.user(&["disable", &id]);
    assert_eq!(
        disabled.trim_end(),
        format!("disabled {id}; ended 1 session(s)")
    );
    let refused = log_in(&issuer, "alice@example.com").await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "account_disabled");

    workspace.user(&["enable", "alice@example.com"]);
    let vouched = workspace.user(&["verify-email", "alice@example.com"]);
    assert_eq!(
        vouched.trim_end(),
        format!("marked the e-mail of {id} verified")
    );
    let login = log_in(&issuer, "alice@example.com").await;
    assert_eq!(login.status(), 200);
    let tokens: Value = login.json().await.unwrap();
    assert_eq!(
        token_claims(tokens["access_token"].as_str().unwrap())["role"],
        "raider"
    );
    let shown = workspace.user(&["show", &id]);
    assert!(
        shown.contains("alice@example.com\t-\traider\tactive"),
        "{shown}"
    );
    assert_eq!(
        shown
            .lines()
            .filter(|line| line.contains("\tactive\t127.0.0.1\t"))
            .count(),
        1,
        "one live session: {shown}"
    );
    assert!(shown.contains("ended:disabled@"), "{shown}");

    assert_eq!(
        workspace.user(&["delete", "alice@example.com"]).trim_end(),
        format!("deleted {id}")
    );
    let gone = workspace.run(&["user", "show", &id], &[]);
    assert_eq!(
        single_error_line(&gone),
        format!("issuer: error: no account with email, phone or id {id}")
    );

    // The audit trail names the command line as the actor, with no address.
    let admin: Value = log_in(&issuer, "root@example.com")
        .await
        .json()
        .await
        .unwrap();
    let audit: Value = reqwest::Client::new()
        .get(format!("{}/admin/audit", issuer.base_url))
        .bearer_auth(admin["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<(&str, &str, &str, &Value)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["actor"].as_str().unwrap(),
                entry["action"].as_str().unwrap(),
                entry["target"].as_str().unwrap(),
                &entry["client_ip"],
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("cli", "user.delete", id.as_str(), &Value::Null),
            ("cli", "user.verify_email", id.as_str(), &Value::Null),
            ("cli", "user.enable", id.as_str(), &Value::Null),
            ("cli", "user.disable", id.as_str(), &Value::Null),
            ("cli", "user.set_role", id.as_str(), &Value::Null),
        ]
    );
}
