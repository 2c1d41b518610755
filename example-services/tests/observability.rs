//! What an operator sees of the real binaries: `/metrics` counters that move as users log in,
//! refresh and call the services; one JSON log line per request; Sentry reports of a service's
//! 5xx, and none of its 401s. The binaries, the metrics reader and the Sentry receiver come from
//! the workspace's `test-support` crate.

use serde_json::{Value, json};
use test_support::prometheus::{sample, scrape};
use test_support::sentry::Envelopes;
use test_support::stack::{
    Issuer, PASSWORD, account, call, post, room_in_the_back_off, service, service_with,
};

async fn login(client: &reqwest::Client, issuer: &Issuer, email: &str, password: &str) -> Value {
    let response = post(
        client,
        format!("{}/login", issuer.url()),
        &json!({ "email": email, "password": password }),
    )
    .await;
    let status = response.status().as_u16();
    let mut body: Value = response.json().await.unwrap();
    body["status"] = json!(status);
    body
}

#[tokio::test]
async fn the_issuers_counters_move_as_users_register_log_in_and_refresh() {
    // No grace for duplicates, so presenting a used refresh token again is reuse at once; one
    // failure on an account starts a back-off far longer than the test.
    let issuer = Issuer::start_with(
        0,
        &[
            ("REFRESH_GRACE_PERIOD", "0s".to_owned()),
            ("LOGIN_ACCOUNT_FREE_ATTEMPTS", "1".to_owned()),
            ("LOGIN_BACKOFF_BASE", "1h".to_owned()),
            ("LOGIN_BACKOFF_MAX", "2h".to_owned()),
        ],
    );
    let client = reqwest::Client::new();
    let before = scrape(&client, issuer.url()).await;
    assert_eq!(
        sample(&before, "issuer_logins_total", &[("result", "success")]),
        0.0
    );

    account(&client, issuer.url(), "alice@example.com", "user").await;
    let taken = post(
        &client,
        format!("{}/register", issuer.url()),
        &json!({ "email": "alice@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(taken.status(), 409);
    let wrong = login(&client, &issuer, "mallory@example.com", "not the password").await;
    assert_eq!(wrong["status"], 401);
    let tokens = login(&client, &issuer, "alice@example.com", PASSWORD).await;
    assert_eq!(tokens["status"], 200);
    let used = json!({ "refresh_token": tokens["refresh_token"] });
    let refreshed = post(&client, format!("{}/refresh", issuer.url()), &used).await;
    assert_eq!(refreshed.status(), 200);
    let reused = post(&client, format!("{}/refresh", issuer.url()), &used).await;
    assert_eq!(reused.status(), 401);
    let blocked = login(&client, &issuer, "mallory@example.com", "still not it").await;
    assert_eq!(blocked["status"], 429);

    let page = scrape(&client, issuer.url()).await;
    let count = |name: &str, labels: &[(&str, &str)]| sample(&page, name, labels);
    assert_eq!(
        count("issuer_registrations_total", &[("result", "success")]),
        1.0
    );
    assert_eq!(
        count("issuer_registrations_total", &[("result", "conflict")]),
        1.0
    );
    // `account` logged alice in once; the second was the test's.
    assert_eq!(count("issuer_logins_total", &[("result", "success")]), 2.0);
    assert_eq!(
        count("issuer_logins_total", &[("result", "invalid_credentials")]),
        1.0
    );
    assert_eq!(
        count("issuer_logins_total", &[("result", "rate_limited")]),
        1.0
    );
    assert_eq!(
        count("issuer_rate_limited_total", &[("endpoint", "login")]),
        1.0
    );
    assert_eq!(
        count("issuer_refreshes_total", &[("result", "success")]),
        1.0
    );
    assert_eq!(
        count("issuer_refreshes_total", &[("result", "invalid_grant")]),
        1.0
    );
    assert_eq!(count("issuer_refresh_token_reuse_total", &[]), 1.0);
    assert_eq!(count("issuer_tokens_issued_total", &[]), 3.0);
    assert_eq!(
        count("issuer_database_errors_total", &[("kind", "internal")]),
        0.0
    );
    let login_ok = [("method", "POST"), ("route", "/login"), ("status", "200")];
    assert_eq!(count("http_request_duration_seconds_count", &login_ok), 2.0);
    assert!(page.contains("# HELP issuer_logins_total "), "{page}");
}

#[tokio::test]
async fn the_password_hash_queue_shows_logins_waiting_and_empties_after() {
    // Logins are shed beyond the queue's wait: room for all of them, as this test is about
    // the hash queue.
    let mut env = room_in_the_back_off();
    env.push(("PASSWORD_HASH_MAX_WAIT", "60s".to_owned()));
    let issuer = Issuer::start_with(0, &env);
    let client = reqwest::Client::new();
    account(&client, issuer.url(), "alice@example.com", "user").await;
    let queue = |page: &str| sample(page, "issuer_password_hash_queue_depth", &[]);

    // Far more logins at once than there are cores, hence hashing permits (one per core).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let logins: Vec<_> = (0..4 * cores + 4)
        .map(|_| {
            let client = client.clone();
            let url = format!("{}/login", issuer.url());
            tokio::spawn(async move {
                post(
                    &client,
                    url,
                    &json!({ "email": "alice@example.com", "password": PASSWORD }),
                )
                .await
                .status()
            })
        })
        .collect();
    let mut deepest = 0.0_f64;
    while logins.iter().any(|login| !login.is_finished()) && deepest < 1.0 {
        deepest = deepest.max(queue(&scrape(&client, issuer.url()).await));
    }
    for login in logins {
        assert_eq!(login.await.unwrap(), 200);
    }

    assert!(deepest >= 1.0, "no login was seen waiting for a permit");
    let after = scrape(&client, issuer.url()).await;
    assert_eq!(queue(&after), 0.0);
    assert_eq!(sample(&after, "issuer_password_hashes_running", &[]), 0.0);
}

#[tokio::test]
async fn logins_the_hash_queue_turns_away_are_503s_each_counted_as_shed() {
    // One hash at a time and nobody waiting: of logins sent together, all but the one
    // hashing are shed; rounds are sent until one is.
    let mut env = room_in_the_back_off();
    env.push(("PASSWORD_HASH_CONCURRENCY", "1".to_owned()));
    env.push(("PASSWORD_HASH_MAX_QUEUE", "0".to_owned()));
    let issuer = Issuer::start_with(0, &env);
    let client = reqwest::Client::new();
    account(&client, issuer.url(), "alice@example.com", "user").await;
    let (mut served, mut shed) = (0, 0);
    for _round in 0..20 {
        let logins: Vec<_> = (0..8)
            .map(|_| {
                let client = client.clone();
                let url = format!("{}/login", issuer.url());
                let body = json!({ "email": "alice@example.com", "password": PASSWORD });
                tokio::spawn(async move { post(&client, url, &body).await })
            })
            .collect();
        for login in logins {
            let response = login.await.unwrap();
            match response.status().as_u16() {
                200 => served += 1,
                503 => {
                    assert_eq!(response.headers()["retry-after"], "1");
                    shed += 1;
                }
                other => panic!("login answered {other}"),
            }
        }
        if shed > 0 {
            break;
        }
    }
    assert!(shed > 0 && served > 0, "served {served}, shed {shed}");

    let page = scrape(&client, issuer.url()).await;
    let by_endpoint = |endpoint| sample(&page, "issuer_shed_total", &[("endpoint", endpoint)]);
    assert_eq!(by_endpoint("login"), f64::from(shed));
    let result = |result| sample(&page, "issuer_logins_total", &[("result", result)]);
    assert_eq!(result("temporarily_unavailable"), f64::from(shed));
    let first = 1.0; // `account` logs in once to return a token
    assert_eq!(result("success"), f64::from(served) + first);
    assert!(page.contains("# HELP issuer_shed_total "), "{page}");
}

#[tokio::test]
async fn a_services_counters_show_verifications_key_fetches_and_the_token_cache() {
    let issuer = Issuer::start(0);
    let users = service("user-service", &issuer.jwks_url());
    let client = reqwest::Client::new();
    let alice = account(&client, issuer.url(), "alice@example.com", "user").await;
    let book = format!("{}/book", users.base_url);

    for _ in 0..2 {
        assert_eq!(
            call(&client, book.clone(), Some(&alice)).await.status(),
            200
        );
    }
    let (signed, signature) = alice.rsplit_once('.').unwrap();
    let other = if signature.starts_with('A') { "B" } else { "A" };
    let forged = format!("{signed}.{other}{}", &signature[1..]);
    assert_eq!(
        call(&client, book.clone(), Some(&forged)).await.status(),
        401
    );
    let brew = reqwest::Method::from_bytes(b"BREW").unwrap();
    let invented = client.request(brew, &book).send().await.unwrap();
    assert_eq!(invented.status(), 401);

    let page = scrape(&client, &users.base_url).await;
    let count = |name: &str, labels: &[(&str, &str)]| sample(&page, name, labels);
    let accepted = [("result", "accepted"), ("reason", "none")];
    assert_eq!(count("verifier_verifications_total", &accepted), 2.0);
    let bad_signature = [("result", "rejected"), ("reason", "bad_signature")];
    assert_eq!(count("verifier_verifications_total", &bad_signature), 1.0);
    assert_eq!(count("verifier_token_cache_hits_total", &[]), 1.0);
    assert_eq!(count("verifier_token_cache_misses_total", &[]), 2.0);
    let jwks_ok = [("source", "jwks"), ("result", "ok")];
    assert_eq!(count("verifier_fetches_total", &jwks_ok), 1.0);
    let fetched_at = count(
        "verifier_fetch_last_success_timestamp_seconds",
        &[("source", "jwks")],
    );
    assert!(fetched_at > 1.7e9, "{fetched_at}");
    let booked = [("method", "POST"), ("route", "/book"), ("status", "200")];
    assert_eq!(count("http_request_duration_seconds_count", &booked), 2.0);
    let invented = [("method", "OTHER"), ("route", "/book"), ("status", "401")];
    assert_eq!(count("http_request_duration_seconds_count", &invented), 1.0);
    assert!(
        !page.contains("BREW"),
        "an invented method became a label: {page}"
    );
    assert!(
        page.contains("# HELP verifier_verifications_total "),
        "{page}"
    );
}

#[tokio::test]
async fn json_logs_at_info_have_one_line_per_request_with_its_id_route_status_and_latency() {
    let issuer = Issuer::start(0);
    let users = service_with(
        "user-service",
        &issuer.jwks_url(),
        &[
            ("LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ],
    );
    let client = reqwest::Client::new();
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.bm90LWEtc2lnbmF0dXJl";

    let response = client
        .post(format!("{}/book", users.base_url))
        .header("x-request-id", "req-json-1")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-request-id"], "req-json-1");
    let replaced = client
        .post(format!("{}/book", users.base_url))
        .header("x-request-id", "bad id 1")
        .send()
        .await
        .unwrap();
    let replacement = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(replacement, "bad id 1");

    let (_, log) = users.terminate_with_output();
    let lines = json_lines(&log);
    let of_request = response_lines(&lines, "req-json-1");
    // A client's unacceptable id never reaches the log; the id that replaced it does.
    assert!(!log.contains("bad id 1"), "{log}");
    assert_eq!(response_lines(&lines, &replacement).len(), 1, "{log}");
    assert_eq!(of_request.len(), 1, "{log}");
    let line = of_request[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["span"]["method"], "POST");
    assert_eq!(line["span"]["route"], "/book");
    assert_eq!(line["fields"]["status"], 401);
    assert!(line["fields"]["latency_ms"].as_f64().is_some(), "{line}");
    assert!(!log.contains(token), "the token reached the log: {log}");
}

/// Every line of `log`, each a JSON object (`LOG_FORMAT=json`).
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect()
}

/// The `"response"` lines of `lines` whose span carries `request_id`.
fn response_lines<'a>(lines: &'a [Value], request_id: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|line| line["span"]["request_id"] == request_id)
        .filter(|line| line["fields"]["message"] == "response")
        .collect()
}

#[tokio::test]
async fn by_default_only_a_5xx_answer_writes_its_request_line_at_warn() {
    // Nothing listens there: a token waits for keys that never come, and gets 503.
    let unreachable = "http://127.0.0.1:9/.well-known/jwks.json";
    let users = service_with(
        "user-service",
        unreachable,
        &[("LOG_FORMAT", "json".to_owned())],
    );
    let client = reqwest::Client::new();
    let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
    let send = |path: &str, request_id: &str| {
        client
            .post(format!("{}{path}", users.base_url))
            .header("x-request-id", request_id)
    };

    let healthy = client
        .get(format!("{}/healthz", users.base_url))
        .header("x-request-id", "req-default-200")
        .send()
        .await
        .unwrap();
    let missing = send("/book", "req-default-401").send().await.unwrap();
    let unavailable = send("/book", "req-default-503")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();

    assert_eq!(healthy.status(), 200);
    assert_eq!(missing.status(), 401);
    assert_eq!(unavailable.status(), 503);
    let (_, log) = users.terminate_with_output();
    let lines = json_lines(&log);
    assert!(
        response_lines(&lines, "req-default-200").is_empty(),
        "{log}"
    );
    assert!(
        response_lines(&lines, "req-default-401").is_empty(),
        "{log}"
    );
    let failed = response_lines(&lines, "req-default-503");
    assert_eq!(failed.len(), 1, "{log}");
    assert_eq!(failed[0]["level"], "WARN");
    assert_eq!(failed[0]["target"], telemetry::ACCESS_LOG);
    assert_eq!(failed[0]["fields"]["status"], 503);
    // The service's own `info` events are still written.
    assert!(log.contains("user-service listening"), "{log}");
}

#[tokio::test]
async fn a_services_503_reaches_sentry_tagged_and_its_401_does_not() {
    let envelopes = Envelopes::start().await;
    // Nothing listens there: every token waits for keys that never come, and gets 503.
    let unreachable = "http://127.0.0.1:9/.well-known/jwks.json";
    let users = service_with(
        "user-service",
        unreachable,
        &[
            ("SENTRY_DSN", envelopes.dsn()),
            ("SENTRY_ENVIRONMENT", "e2e".to_owned()),
        ],
    );
    let client = reqwest::Client::new();
    let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
    let send = |request_id: &'static str, token: Option<&'static str>| {
        let mut request = client
            .post(format!("{}/book", users.base_url))
            .header("x-request-id", request_id);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let missing = send("req-e2e-401", None).await.unwrap();
    let unavailable = send("req-e2e-503", Some(token)).await.unwrap();

    assert_eq!(missing.status(), 401);
    assert_eq!(unavailable.status(), 503);
    // Reports leave in order: once the 503's is in, the 401's would be too.
    let event = envelopes.event_tagged("request_id", "req-e2e-503").await;
    assert_eq!(envelopes.count_tagged("request_id", "req-e2e-401"), 0);
    assert_eq!(event["tags"]["http.method"], "POST");
    assert_eq!(event["tags"]["http.route"], "/book");
    assert_eq!(event["tags"]["http.status_code"], "503");
    assert_eq!(event["environment"], "e2e");
    let release = event["release"].as_str().unwrap();
    assert!(release.starts_with("user-service@"), "{release}");
    assert!(
        !event.to_string().contains("eyJ"),
        "a token reached Sentry: {event}"
    );
    drop(users);
}
