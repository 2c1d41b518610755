//! Two real `issuer serve` processes sharing one database and one `KEYS_DIR` behave as one
//! issuer: tokens, keys, refresh rotation, logout, the login back-off and the registration cap
//! are consistent across them, as behind a load balancer.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Value, json};

use issuer::clock::SystemClock;

use test_support::process::Process;
use test_support::prometheus::sample;
use test_support::wait::wait_until;

use crate::helpers::{
    Backend, ISSUER, PASSWORD, TestDatabase, assert_error, backend_tests, kid_of, refresh_token,
    serve_command, shared_keys_dir, sid, tokens, verify_rs256,
};
use crate::keys::KeysDir;
use crate::throttle::{assert_one_checked, burst, burst_of};

/// Two replicas, `a` and `b`, on one fresh database.
struct Replicas {
    a: Process,
    b: Process,
    _database: TestDatabase,
}

/// Starts two replicas with the same settings (plus `env`).
async fn start_replicas(backend: &Backend, env: &[(&str, &str)]) -> Replicas {
    start_replicas_on(backend, shared_keys_dir(), env).await
}

/// Starts two replicas sharing `keys_dir`.
async fn start_replicas_on(
    backend: &Backend,
    keys_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Replicas {
    let database = TestDatabase::create(backend).await;
    let start = || {
        let mut command = serve_command(&database, keys_dir, "info");
        command.envs(env.iter().copied());
        Process::start(command)
    };
    // One after the other: the first applies the migrations. (Concurrent starts are safe too:
    // the migrator locks; this only keeps the test's log readable.)
    let a = start();
    let b = start();
    Replicas {
        a,
        b,
        _database: database,
    }
}

async fn register_and_log_in(on: &Process, email: &str) -> Value {
    let created = on.http().register(email, PASSWORD).await;
    assert_eq!(created.status(), 201);
    tokens(log_in(on, email, PASSWORD).await).await
}

async fn log_in(on: &Process, email: &str, password: &str) -> reqwest::Response {
    on.post("/login", &json!({ "email": email, "password": password }))
        .await
}

async fn refresh(on: &Process, token: &str) -> reqwest::Response {
    on.post("/refresh", &json!({ "refresh_token": token }))
        .await
}

async fn a_token_from_one_replica_verifies_with_the_other_replicas_keys(backend: Backend) {
    let replicas = start_replicas(&backend, &[]).await;
    let session = register_and_log_in(&replicas.a, "a@example.com").await;
    let token = session["access_token"].as_str().unwrap();

    let keys = replicas.b.jwks().await;
    assert_eq!(keys, replicas.a.jwks().await, "one key set");
    let kid = &header_of(token)["kid"];
    let key = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| &key["kid"] == kid)
        .expect("B publishes the key that signed A's token");
    let (_, claims) = verify_rs256(token, key).expect("A's token verifies with B's key");
    assert_eq!(claims["email"], "a@example.com");
    assert_eq!(claims["iss"], ISSUER);
}

async fn a_refresh_token_from_one_replica_rotates_on_the_other(backend: Backend) {
    let replicas = start_replicas(&backend, &[]).await;
    let first = register_and_log_in(&replicas.a, "a@example.com").await;

    let second = tokens(refresh(&replicas.b, refresh_token(&first)).await).await;
    let third = tokens(refresh(&replicas.a, refresh_token(&second)).await).await;

    assert_eq!(sid(&second), sid(&first));
    assert_eq!(sid(&third), sid(&first));
    assert_ne!(refresh_token(&third), refresh_token(&second));
}

async fn a_logout_on_one_replica_ends_the_session_on_the_other(backend: Backend) {
    let replicas = start_replicas(&backend, &[]).await;
    let session = register_and_log_in(&replicas.a, "a@example.com").await;

    let logout = replicas
        .b
        .post(
            "/logout",
            &json!({ "refresh_token": refresh_token(&session) }),
        )
        .await;
    assert_eq!(logout.status(), 204);

    assert_error(
        refresh(&replicas.a, refresh_token(&session)).await,
        401,
        "invalid_grant",
    )
    .await;
    let revoked: Value = replicas
        .a
        .get("/revoked-sessions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["sids"], json!([sid(&session)]));
}

async fn concurrent_refreshes_of_one_token_split_across_replicas_get_one_successor(
    backend: Backend,
) {
    // A grace window wide enough that a slow machine cannot push a duplicate past it.
    let replicas = start_replicas(&backend, &[("REFRESH_GRACE_PERIOD", "60s")]).await;
    let session = register_and_log_in(&replicas.a, "a@example.com").await;
    let token = refresh_token(&session).to_owned();

    let client = reqwest::Client::new();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..16 {
        let on = if i % 2 == 0 { &replicas.a } else { &replicas.b };
        let request = client
            .post(format!("{}/refresh", on.base_url))
            .json(&json!({ "refresh_token": token }));
        requests.spawn(request.send());
    }

    let mut successors = HashSet::new();
    for response in requests.join_all().await {
        let body = tokens(response.expect("request sent")).await;
        assert_eq!(sid(&body), sid(&session));
        successors.insert(refresh_token(&body).to_owned());
    }
    assert_eq!(
        successors.len(),
        1,
        "one distinct successor: {successors:?}"
    );
    let successor = successors.into_iter().next().unwrap();
    tokens(refresh(&replicas.b, &successor).await).await;
}

async fn failed_logins_on_both_replicas_count_towards_one_back_off(backend: Backend) {
    // A long first delay, so the block outlasts any slowness of the test itself.
    let replicas = start_replicas(&backend, &[("LOGIN_BACKOFF_BASE", "60s")]).await;
    register_and_log_in(&replicas.a, "a@example.com").await;

    for i in 0..5 {
        let on = if i % 2 == 0 { &replicas.a } else { &replicas.b };
        assert_error(
            log_in(on, "a@example.com", "not the password").await,
            401,
            "invalid_credentials",
        )
        .await;
    }

    for on in [&replicas.a, &replicas.b] {
        let refused = log_in(on, "a@example.com", PASSWORD).await;
        let retry_after: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_error(refused, 429, "rate_limited").await;
    }
}

/// The burst of the security report split across two processes: the first counted attempt
/// blocks the account (one free attempt, a minute's block), so the bound is the one a key in
/// back-off has, without waiting on the real clock for a block to end.
async fn a_parallel_burst_split_across_replicas_checks_one_password(backend: Backend) {
    let replicas = start_replicas(
        &backend,
        &[
            ("LOGIN_ACCOUNT_FREE_ATTEMPTS", "1"),
            ("LOGIN_CLIENT_FREE_ATTEMPTS", "1000"),
            ("LOGIN_BACKOFF_BASE", "60s"),
        ],
    )
    .await;
    let created = replicas.a.http().register("a@example.com", PASSWORD).await;
    assert_eq!(created.status(), 201);
    let urls = [&replicas.a, &replicas.b].map(|on| format!("{}/login", on.base_url));
    let client = reqwest::Client::new();
    let sent = AtomicUsize::new(0);

    let outcome = burst(
        burst_of(&["a@example.com".to_owned()]),
        PASSWORD,
        |email, password| {
            let url = &urls[sent.fetch_add(1, Ordering::Relaxed) % 2];
            let request = client
                .post(url)
                .json(&json!({ "email": email, "password": password }));
            async move { request.send().await.expect("request sent") }
        },
    )
    .await;

    assert_one_checked(&outcome);
    let hashed = hashes_done(&replicas.a).await + hashes_done(&replicas.b).await;
    assert_eq!(
        hashed, 2.0,
        "the registration's hash and one login's: {outcome:?}"
    );
}

/// `issuer_password_hashes_total` of a replica's `/metrics`.
async fn hashes_done(on: &Process) -> f64 {
    let page = on.get("/metrics").await.text().await.expect("metrics page");
    sample(&page, "issuer_password_hashes_total", &[])
}

/// The decoded JOSE header of a compact JWS.
#[tokio::test]
async fn replicas_sharing_a_key_ring_sign_with_the_key_its_files_name_and_follow_changes() {
    let keys = KeysDir::new();
    let a = keys.first.clone();
    let b = keys.rotate(&SystemClock).kid;
    let replicas = start_replicas_on(
        &Backend::Sqlite,
        keys.dir(),
        &[("KEYS_RELOAD_INTERVAL", "100ms")],
    )
    .await;
    let signed_by = |session: Value| kid_of(session["access_token"].as_str().unwrap());

    // Both publish the waiting key and sign with the current one, not the newest file.
    for (replica, email) in [
        (&replicas.a, "a@example.com"),
        (&replicas.b, "b@example.com"),
    ] {
        assert_eq!(signed_by(register_and_log_in(replica, email).await), a);
        assert_eq!(replica.jwks_kids().await, [a.as_str(), b.as_str()]);
    }

    // A change to the files reaches both without a restart.
    keys.retire(&SystemClock, &a, false);
    for (replica, email) in [
        (&replicas.a, "a@example.com"),
        (&replicas.b, "b@example.com"),
    ] {
        wait_until("the replica signs with the promoted key", || async {
            signed_by(tokens(log_in(replica, email, PASSWORD).await).await) == b
        })
        .await;
    }
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().expect("a header segment");
    serde_json::from_slice(&crate::helpers::b64(header)).expect("JSON header")
}

async fn registrations_on_both_replicas_count_towards_one_cap(backend: Backend) {
    let replicas = start_replicas(&backend, &[("REGISTRATIONS_PER_CLIENT", "2")]).await;

    let first = replicas.a.http().register("r1@example.com", PASSWORD).await;
    let second = replicas.b.http().register("r2@example.com", PASSWORD).await;
    let third_on_a = replicas.a.http().register("r3@example.com", PASSWORD).await;
    let third_on_b = replicas.b.http().register("r3@example.com", PASSWORD).await;

    assert_eq!(first.status(), 201);
    assert_eq!(second.status(), 201);
    for refused in [third_on_a, third_on_b] {
        let retry_after: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&retry_after), "{retry_after}");
        assert_error(refused, 429, "rate_limited").await;
    }
}

backend_tests!(
    a_token_from_one_replica_verifies_with_the_other_replicas_keys,
    a_refresh_token_from_one_replica_rotates_on_the_other,
    a_logout_on_one_replica_ends_the_session_on_the_other,
    concurrent_refreshes_of_one_token_split_across_replicas_get_one_successor,
    failed_logins_on_both_replicas_count_towards_one_back_off,
    registrations_on_both_replicas_count_towards_one_cap,
    a_parallel_burst_split_across_replicas_checks_one_password,
);

/// Refreshes a session over and over, alternating replicas, each time with the token the last
/// refresh returned, until `enough` refreshes after replica `a` died. A request `a` cannot
/// answer (it was killed) is sent again, with the same token, to `b`, for good. Returns the
/// refreshes answered before and after the kill.
async fn refresh_across_replicas(
    client: reqwest::Client,
    [a, b]: [String; 2],
    mut token: String,
    killed: Arc<AtomicBool>,
    before: Arc<AtomicUsize>,
) -> usize {
    const ENOUGH: usize = 3;
    let mut a_is_dead = false;
    let mut after = 0;
    for turn in 0.. {
        if after >= ENOUGH {
            break;
        }
        let on = if a_is_dead || turn % 2 == 1 { &b } else { &a };
        let sent = client
            .post(format!("{on}/refresh"))
            .json(&json!({ "refresh_token": token }))
            .send()
            .await;
        let Ok(response) = sent else {
            assert_eq!(on, &a, "only the killed replica stops answering");
            a_is_dead = true;
            continue;
        };
        assert_eq!(response.status(), 200, "refresh on {on}");
        token = refresh_token(&tokens(response).await).to_owned();
        if killed.load(Ordering::SeqCst) {
            after += 1;
        } else {
            before.fetch_add(1, Ordering::SeqCst);
        }
    }
    after
}

#[tokio::test]
async fn a_replica_killed_during_refresh_traffic_leaves_the_other_serving_and_no_token_doubled() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let Replicas { a, b, _database } = start_replicas(&backend, &[]).await;
    assert_eq!(
        b.http().register("a@example.com", PASSWORD).await.status(),
        201
    );
    let mut sessions = Vec::new();
    for _ in 0..8 {
        sessions.push(tokens(log_in(&b, "a@example.com", PASSWORD).await).await);
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let urls = [a.base_url.clone(), b.base_url.clone()];
    let (killed, before) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );

    let mut chains = tokio::task::JoinSet::new();
    for session in &sessions {
        let token = refresh_token(session).to_owned();
        let (killed, before) = (Arc::clone(&killed), Arc::clone(&before));
        chains.spawn(refresh_across_replicas(
            client.clone(),
            urls.clone(),
            token,
            killed,
            before,
        ));
    }
    let kill = async {
        wait_until("refreshes on both replicas", || async {
            before.load(Ordering::SeqCst) >= 16
        })
        .await;
        a.kill();
        killed.store(true, Ordering::SeqCst);
    };
    let (after, ()) = tokio::join!(chains.join_all(), kill);
    assert!(
        after.iter().all(|&n| n == 3),
        "every chain went on on b: {after:?}"
    );

    let database_url = _database.url.clone();
    let mut connection = {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&database_url).await.unwrap()
    };
    for session in &sessions {
        let sid = sid(session);
        let (ended, live): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM sessions WHERE id = $1::uuid AND ended_at IS NOT NULL), \
                    (SELECT COUNT(*) FROM refresh_tokens WHERE session_id = $1::uuid AND used_at IS NULL)",
        )
        .bind(&sid)
        .fetch_one(&mut connection)
        .await
        .unwrap();
        assert_eq!(
            (ended, live),
            (0, 1),
            "session {sid}: not ended, one live refresh token"
        );
    }
}
