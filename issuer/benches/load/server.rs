//! The issuer under load: the real [`Application`] on a real socket (port 0) in this process,
//! on a fresh SQLite file or a fresh PostgreSQL database, driven over HTTP by one shared
//! keep-alive `reqwest` client. The database is the tests' own (`test_support::database`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use issuer::cli::Cli;
use issuer::config::Config;
use issuer::startup::Application;
use reqwest::{StatusCode, Url, header};
use serde::Deserialize;
use tokio::sync::oneshot;

/// The `iss` of the bench's tokens.
pub(crate) const ISSUER: &str = "http://issuer.bench";
/// Every bench user's password (meets the policy).
pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) use test_support::database::Backend;
use test_support::database::TestDatabase;

/// The table's name for `backend`.
pub(crate) fn backend_name(backend: &Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres { .. } => "PostgreSQL",
    }
}

/// The issuer's configuration for a bench run: its defaults (as `issuer serve` would have
/// them), on port 0, with `keys_dir` and `database_url`.
///
/// The failed-login back-off counts every attempt before its password is checked and gives a
/// successful one back, so successful logins are never throttled whatever its limits; the free
/// attempts are raised anyway so that a stray failure cannot turn the rest of a run into 429s,
/// and so is the registration cap (every bench user registers from one address). The
/// back-off's work on a successful login (counting the attempt against the address and the
/// account, then giving it back) still runs, as in production.
pub(crate) fn config(database_url: &str, keys_dir: &Path) -> Config {
    let keys_dir = keys_dir.display().to_string();
    let cli = Cli::try_parse_from([
        "issuer",
        "--port",
        "0",
        "--database-url",
        database_url,
        "--keys-dir",
        &keys_dir,
        "--jwt-issuer",
        ISSUER,
    ])
    .expect("bench flags parse");
    let mut config = Config::from_raw(&cli.settings).expect("bench config is valid");
    config.login_throttle.account_free_attempts = u32::MAX;
    config.login_throttle.client_free_attempts = u32::MAX;
    config.accounts.registrations_per_client = u32::MAX;
    config
}

/// A running issuer and the client that talks to it.
pub(crate) struct Issuer {
    /// URLs and the shared client.
    pub(crate) http: Arc<Http>,
    /// Password hashes the issuer runs at once (its `PASSWORD_HASH_CONCURRENCY`).
    pub(crate) hash_permits: usize,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    _database: TestDatabase,
}

impl Issuer {
    /// Builds and starts an issuer on a fresh database of `backend`, signing with the key in
    /// `keys_dir`.
    pub(crate) async fn start(backend: &Backend, keys_dir: &Path) -> Self {
        let database = TestDatabase::create(backend).await;
        let config = config(&database.url, keys_dir);
        let hash_permits = config.hashing.permits;
        let app = Application::build(config).await.expect("issuer builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Self {
            http: Arc::new(Http::new(&base)),
            hash_permits,
            stop,
            served,
            _database: database,
        }
    }

    /// Stops the issuer (draining in-flight requests) and removes its database.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(Duration::from_secs(30), self.served).await {
            Ok(Ok(Ok(()))) => {}
            other => eprintln!("the issuer did not stop cleanly: {other:?}"),
        }
    }

    /// Registers `count` users (`bench-N@example.com`, [`PASSWORD`]) and returns their
    /// `POST /login` bodies.
    pub(crate) async fn register_users(&self, count: usize) -> Vec<String> {
        let registrations = (0..count).map(|n| {
            let http = Arc::clone(&self.http);
            tokio::spawn(async move {
                let email = format!("bench-{n}@example.com");
                let credentials = serde_json::json!({ "email": email, "password": PASSWORD });
                let body = credentials.to_string();
                http.post(&http.register, body.clone(), StatusCode::CREATED)
                    .await
                    .expect("register a bench user");
                body
            })
        });
        let mut bodies = Vec::with_capacity(count);
        for registration in registrations.collect::<Vec<_>>() {
            bodies.push(registration.await.expect("registration task"));
        }
        bodies
    }
}

/// The issuer's URLs and the one client every task shares (keep-alive, so a task reuses its
/// connection).
pub(crate) struct Http {
    client: reqwest::Client,
    register: Url,
    login: Url,
    refresh: Url,
    /// `GET /.well-known/jwks.json`.
    pub(crate) jwks: Url,
    /// `GET /healthz`: the cheapest route, the ceiling of the HTTP stack and the client.
    pub(crate) healthz: Url,
}

impl Http {
    fn new(base: &str) -> Self {
        let url = |path: &str| Url::parse(&format!("{base}{path}")).expect("url");
        Self {
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            register: url("/register"),
            login: url("/login"),
            refresh: url("/refresh"),
            jwks: url("/.well-known/jwks.json"),
            healthz: url("/healthz"),
        }
    }

    /// `POST url` with a JSON `body`; the response body when the status is `expected`.
    async fn post(
        &self,
        url: &Url,
        body: String,
        expected: StatusCode,
    ) -> Result<impl AsRef<[u8]> + use<>, String> {
        let request = self
            .client
            .post(url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        Self::send(request, expected).await
    }

    async fn send(
        request: reqwest::RequestBuilder,
        expected: StatusCode,
    ) -> Result<impl AsRef<[u8]> + use<>, String> {
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if status == expected {
            Ok(body)
        } else {
            Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
        }
    }

    /// Logs in with `credentials` (a `POST /login` body); the token response's refresh token.
    pub(crate) async fn login(&self, credentials: String) -> Result<String, String> {
        let body = self.post(&self.login, credentials, StatusCode::OK).await?;
        refresh_token_of(body.as_ref())
    }

    /// Refreshes with `token`; the successor.
    async fn refresh(&self, token: &str) -> Result<String, String> {
        let request = serde_json::json!({ "refresh_token": token });
        let body = request.to_string();
        let body = self.post(&self.refresh, body, StatusCode::OK).await?;
        refresh_token_of(body.as_ref())
    }
}

fn refresh_token_of(body: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Tokens {
        refresh_token: String,
    }
    serde_json::from_slice::<Tokens>(body)
        .map(|tokens| tokens.refresh_token)
        .map_err(|e| format!("not a token response: {e}"))
}

/// A task's `POST /login` (its own user's credentials).
pub(crate) struct Login {
    /// The issuer.
    pub(crate) http: Arc<Http>,
    /// The `POST /login` body.
    pub(crate) credentials: String,
}

/// One successful login.
pub(crate) async fn login(state: Login) -> (Login, Result<(), String>) {
    let outcome = state.http.login(state.credentials.clone()).await.map(drop);
    (state, outcome)
}

/// A task's session, refreshed again and again: each successor is used for the next call.
pub(crate) struct Chain {
    /// The issuer.
    pub(crate) http: Arc<Http>,
    /// The session's current refresh token.
    pub(crate) token: String,
}

/// One refresh of the chain.
pub(crate) async fn refresh(mut state: Chain) -> (Chain, Result<(), String>) {
    let outcome = match state.http.refresh(&state.token).await {
        Ok(successor) => {
            state.token = successor;
            Ok(())
        }
        Err(error) => Err(error),
    };
    (state, outcome)
}

/// A task's `GET` of one URL.
pub(crate) struct Get {
    /// The issuer.
    pub(crate) http: Arc<Http>,
    /// What to get.
    pub(crate) url: Url,
}

/// One `GET`, expecting 200.
pub(crate) async fn get(state: Get) -> (Get, Result<(), String>) {
    let request = state.http.client.get(state.url.clone());
    let outcome = Http::send(request, StatusCode::OK).await.map(drop);
    (state, outcome)
}
