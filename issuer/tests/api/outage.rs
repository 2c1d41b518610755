//! PostgreSQL going away and coming back, through a TCP relay the test cuts and restores (a
//! network partition or a database restart, as the issuer sees it): requests that need the
//! database answer 503 `temporarily_unavailable`, `/readyz` goes red, nothing is half-written,
//! and service comes back by itself.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{
    Backend, PASSWORD, TestDatabase, assert_error, assert_writes_unavailable, refresh_token, sid,
    spawn_app_on, tokens,
};

/// Forwards TCP connections to `upstream` while up; cutting it closes every open connection
/// and refuses new ones until it is restored.
struct Relay {
    port: u16,
    up: watch::Sender<bool>,
}

impl Relay {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let port = listener.local_addr().expect("relay address").port();
        let (up, _) = watch::channel(true);
        let state = up.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*state.borrow() {
                    continue; // dropped: the client sees its connection closed at once
                }
                let mut down = state.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { port, up }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }
}

#[tokio::test]
async fn a_postgres_outage_is_503_and_the_issuer_recovers_by_itself_with_nothing_half_written() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let mut database = TestDatabase::create(&backend).await;
    let mut url = reqwest::Url::parse(&database.url).expect("database URL");
    let upstream = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(5432)
    );
    let relay = Relay::start(upstream).await;
    url.set_host(Some("127.0.0.1")).expect("host");
    url.set_port(Some(relay.port)).expect("port");
    database.url = url.to_string();
    let app = spawn_app_on(database, &[], |config| {
        config.database.acquire_timeout = Duration::from_millis(500);
    })
    .await;
    let session = app.signed_in("a@example.com").await;

    relay.cut();

    assert_error(app.get("/readyz").await, 503, "temporarily_unavailable").await;
    let refused = app.refresh(refresh_token(&session)).await;
    assert_eq!(refused.headers()["retry-after"], "1");
    let description = assert_error(refused, 503, "temporarily_unavailable").await;
    assert!(
        !description.contains("connect"),
        "no driver text: {description}"
    );
    assert_writes_unavailable(&app).await;
    assert_eq!(app.get("/healthz").await.status(), 200, "still alive");
    assert_eq!(app.get("/.well-known/jwks.json").await.status(), 200);

    relay.restore();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.get("/readyz").await.status() != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never recovered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // polling a condition
    }
    let rotated = tokens(app.refresh(refresh_token(&session)).await).await;
    assert_eq!(
        sid(&rotated),
        sid(&session),
        "the token refused during the outage was not burnt"
    );
    app.register("b@example.com", None).await;
    assert_eq!(app.login("a@example.com", PASSWORD).await.status(), 200);
    assert_eq!(
        app.store.session_counts().await.unwrap(),
        (2, 3),
        "only the writes that succeeded left rows"
    );
}
