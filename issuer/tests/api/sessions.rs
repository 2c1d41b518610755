//! Sessions: refresh-token rotation, the grace window, reuse detection, logout, the revocation
//! list, expiry and pruning.

use std::collections::HashSet;
use std::time::Duration;

use issuer::clock::Clock;
use issuer::sessions;
use serde_json::{Value, json};
use sqlx::AnyConnection;

use crate::helpers::{
    Backend, TestApp, assert_error, backend_tests, claims_of, refresh_token, sid, spawn_app,
    spawn_app_with, tokens,
};

async fn assert_invalid_grant(response: reqwest::Response) {
    let description = assert_error(response, 401, "invalid_grant").await;
    assert_eq!(
        description,
        "the refresh token is invalid, expired or revoked; log in again"
    );
}

async fn a_refresh_rotates_the_token_and_keeps_the_session(backend: Backend) {
    let app = spawn_app(&backend).await;
    let first = app.signed_in("a@example.com").await;

    let second = tokens(app.refresh(refresh_token(&first)).await).await;
    assert_ne!(refresh_token(&second), refresh_token(&first));
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["expires_in"], 900);
    assert_eq!(sid(&second), sid(&first), "same session");
    let claims = claims_of(second["access_token"].as_str().unwrap());
    assert_eq!(claims["email"], "a@example.com");
    assert_eq!(claims["type"], "access");
    assert_ne!(
        claims["jti"],
        claims_of(first["access_token"].as_str().unwrap())["jti"]
    );

    let third = tokens(app.refresh(refresh_token(&second)).await).await;
    assert_eq!(sid(&third), sid(&first));
    assert_eq!(
        app.store.session_counts().await.unwrap(),
        (1, 3),
        "one session; used tokens are kept for reuse detection"
    );
}

async fn a_duplicate_within_the_grace_window_gets_the_same_successor(backend: Backend) {
    let app = spawn_app(&backend).await;
    let first = app.signed_in("a@example.com").await;
    let winner = tokens(app.refresh(refresh_token(&first)).await).await;

    app.clock.advance(Duration::from_secs(4));
    let duplicate = tokens(app.refresh(refresh_token(&first)).await).await;
    assert_eq!(refresh_token(&duplicate), refresh_token(&winner));
    assert_eq!(sid(&duplicate), sid(&first));
    assert!(app.revoked_sids().await.is_empty(), "nobody was signed out");

    let next = tokens(app.refresh(refresh_token(&duplicate)).await).await;
    assert_eq!(sid(&next), sid(&first), "the shared successor works");
}

async fn reuse_after_the_grace_window_ends_the_session_and_its_successors(backend: Backend) {
    let app = spawn_app(&backend).await;
    let stolen = app.signed_in("a@example.com").await;
    let successor = tokens(app.refresh(refresh_token(&stolen)).await).await;

    app.clock.advance(Duration::from_secs(6));
    assert_invalid_grant(app.refresh(refresh_token(&stolen)).await).await;
    assert_invalid_grant(app.refresh(refresh_token(&successor)).await).await;
    assert_eq!(
        app.revoked_sids().await,
        [sid(&stolen)],
        "access tokens of the session are revoked too"
    );
}

async fn a_grace_period_of_zero_treats_every_duplicate_as_reuse(backend: Backend) {
    let app = spawn_app_with(&backend, &["--refresh-grace-period", "0s"], |_| {}).await;
    let first = app.signed_in("a@example.com").await;
    let successor = tokens(app.refresh(refresh_token(&first)).await).await;
    assert_invalid_grant(app.refresh(refresh_token(&first)).await).await;
    assert_invalid_grant(app.refresh(refresh_token(&successor)).await).await;
}

async fn concurrent_refreshes_of_one_token_yield_one_successor_that_works(backend: Backend) {
    let app = spawn_app(&backend).await;
    let first = app.signed_in("a@example.com").await;
    let token = refresh_token(&first).to_owned();

    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let request = app
            .client
            .post(format!("{}/refresh", app.address))
            .json(&json!({ "refresh_token": token }));
        requests.spawn(request.send());
    }
    let mut successors = HashSet::new();
    for response in requests.join_all().await {
        let body = tokens(response.expect("request sent")).await;
        assert_eq!(sid(&body), sid(&first));
        successors.insert(refresh_token(&body).to_owned());
    }
    assert_eq!(
        successors.len(),
        1,
        "one distinct successor: {successors:?}"
    );
    assert_eq!(app.store.session_counts().await.unwrap(), (1, 2));

    let successor = successors.into_iter().next().unwrap();
    tokens(app.refresh(&successor).await).await;
}

async fn logout_ends_the_session_and_is_idempotent(backend: Backend) {
    let app = spawn_app(&backend).await;
    let session = app.signed_in("a@example.com").await;

    let response = app.logout(refresh_token(&session)).await;
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());
    assert_invalid_grant(app.refresh(refresh_token(&session)).await).await;
    assert_eq!(app.logout(refresh_token(&session)).await.status(), 204);
    assert_eq!(app.revoked_sids().await, [sid(&session)]);

    let other = app.signed_in("b@example.com").await;
    tokens(app.refresh(refresh_token(&other)).await).await;
}

async fn logout_with_an_unknown_token_is_204_and_a_bad_body_is_400(backend: Backend) {
    let app = spawn_app(&backend).await;
    assert_eq!(app.logout("not-a-token").await.status(), 204);
    assert_eq!(app.logout(&"A".repeat(43)).await.status(), 204);
    assert_error(
        app.post_json("/logout", &json!({})).await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        app.post_json("/refresh", &json!({ "refresh_token": 7 }))
            .await,
        400,
        "invalid_request",
    )
    .await;
}

async fn unknown_and_malformed_refresh_tokens_are_invalid_grants(backend: Backend) {
    let app = spawn_app(&backend).await;
    assert_invalid_grant(app.refresh("").await).await;
    assert_invalid_grant(app.refresh(&"A".repeat(43)).await).await;
    assert_invalid_grant(app.refresh(&"x".repeat(10_000)).await).await;
    let session = app.signed_in("a@example.com").await;
    let access = session["access_token"].as_str().unwrap();
    assert_invalid_grant(app.refresh(access).await).await;
}

async fn a_session_ends_at_its_absolute_expiry_and_access_tokens_never_outlive_it(
    backend: Backend,
) {
    let app = spawn_app_with(&backend, &["--refresh-token-ttl", "20m"], |_| {}).await;
    let first = app.signed_in("a@example.com").await;

    app.clock.advance(Duration::from_secs(10 * 60));
    let second = tokens(app.refresh(refresh_token(&first)).await).await;
    assert_eq!(second["expires_in"], 600, "capped at the session's end");
    let claims = claims_of(second["access_token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );

    app.clock.advance(Duration::from_secs(10 * 60));
    assert_invalid_grant(app.refresh(refresh_token(&second)).await).await;
}

async fn an_idle_session_cannot_refresh(backend: Backend) {
    let app = spawn_app_with(&backend, &["--session-idle-ttl", "1h"], |_| {}).await;
    let first = app.signed_in("a@example.com").await;
    app.clock.advance(Duration::from_secs(59 * 60));
    let second = tokens(app.refresh(refresh_token(&first)).await).await;
    app.clock.advance(Duration::from_secs(60 * 60));
    assert_invalid_grant(app.refresh(refresh_token(&second)).await).await;
}

async fn the_revocation_list_is_small_cacheable_and_forgets_expired_access_tokens(
    backend: Backend,
) {
    let app = spawn_app(&backend).await;
    let ended = app.signed_in("a@example.com").await;
    app.signed_in("b@example.com").await;
    app.logout(refresh_token(&ended)).await;

    let response = app.get("/revoked-sessions").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "sids": [sid(&ended)] }));

    let revalidated = app
        .client
        .get(format!("{}/revoked-sessions", app.address))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    assert_eq!(revalidated.headers()["etag"], etag.as_str());
    assert!(revalidated.bytes().await.unwrap().is_empty());

    // Listed until the session's last access token expired, plus the verifiers' largest leeway.
    app.clock
        .advance(Duration::from_secs(900) + sessions::REVOCATION_MARGIN);
    assert_eq!(app.revoked_sids().await, [sid(&ended)]);
    app.clock.advance(Duration::from_secs(1));
    assert!(app.revoked_sids().await.is_empty());
}

async fn pruning_deletes_dead_sessions_and_keeps_live_ones(backend: Backend) {
    let app = spawn_app_with(&backend, &["--refresh-token-ttl", "1h"], |_| {}).await;
    let logged_out = app.signed_in("a@example.com").await;
    let live = app.signed_in("b@example.com").await;
    app.logout(refresh_token(&logged_out)).await;
    let policy = issuer::tokens::SessionPolicy {
        reuse_grace: Duration::from_secs(5),
        idle_ttl: None,
        prune_interval: Duration::from_secs(600),
    };

    assert_eq!(
        sessions::prune(&app.store, app.clock.now(), &policy)
            .await
            .unwrap(),
        0,
        "an ended session stays while its access token may be live"
    );
    app.clock
        .advance(Duration::from_secs(900) + sessions::REVOCATION_MARGIN + Duration::from_secs(1));
    assert_eq!(
        sessions::prune(&app.store, app.clock.now(), &policy)
            .await
            .unwrap(),
        1
    );
    let live = tokens(app.refresh(refresh_token(&live)).await).await;
    assert_eq!(app.store.session_counts().await.unwrap(), (1, 2));

    app.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        sessions::prune(&app.store, app.clock.now(), &policy)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.store.session_counts().await.unwrap(),
        (0, 0),
        "tokens go with their session"
    );
    assert_invalid_grant(app.refresh(refresh_token(&live)).await).await;
}

async fn the_running_issuer_prunes_on_its_schedule(backend: Backend) {
    let app = spawn_app_with(&backend, &["--refresh-token-ttl", "1h"], |config| {
        config.tokens.sessions.prune_interval = Duration::from_millis(50);
    })
    .await;
    app.signed_in("a@example.com").await;
    app.clock.advance(Duration::from_secs(3600));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.store.session_counts().await.unwrap() != (0, 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pruner never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Makes every insert into `refresh_tokens` fail, as a full disk or a crash mid-write would.
async fn break_token_inserts(app: &TestApp) -> AnyConnection {
    let mut connection = app.second_connection().await;
    let statements: &[&str] = if app.on_postgres() {
        &[
            "CREATE FUNCTION fail_token_insert() RETURNS trigger LANGUAGE plpgsql
             AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
            "CREATE TRIGGER fail_token_insert BEFORE INSERT ON refresh_tokens
             FOR EACH ROW EXECUTE FUNCTION fail_token_insert()",
        ]
    } else {
        &[
            "CREATE TRIGGER fail_token_insert BEFORE INSERT ON refresh_tokens
           BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ]
    };
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(*statement))
            .execute(&mut connection)
            .await
            .unwrap();
    }
    connection
}

async fn a_failed_write_during_refresh_leaves_the_old_token_usable(backend: Backend) {
    let app = spawn_app(&backend).await;
    let session = app.signed_in("a@example.com").await;
    let mut connection = break_token_inserts(&app).await;

    let failed = app.refresh(refresh_token(&session)).await;
    let description = assert_error(failed, 500, "server_error").await;
    assert!(!description.contains("injected"), "no database text leaks");
    assert_eq!(app.store.session_counts().await.unwrap(), (1, 1));

    let drop_trigger = if app.on_postgres() {
        "DROP TRIGGER fail_token_insert ON refresh_tokens"
    } else {
        "DROP TRIGGER fail_token_insert"
    };
    sqlx::query(drop_trigger)
        .execute(&mut connection)
        .await
        .unwrap();
    app.clock.advance(Duration::from_secs(60));
    let retried = tokens(app.refresh(refresh_token(&session)).await).await;
    assert_eq!(
        sid(&retried),
        sid(&session),
        "the retry rotates, not a reuse"
    );
}

async fn a_database_outage_during_refresh_is_503_and_burns_nothing(backend: Backend) {
    let app = spawn_app_with(&backend, &[], |config| {
        config.database.statement_timeout = Duration::from_millis(100);
    })
    .await;
    let session = app.signed_in("a@example.com").await;
    let mut lock = app.lock_writes().await;

    let refused = app.refresh(refresh_token(&session)).await;
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_error(refused, 503, "temporarily_unavailable").await;
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();

    app.clock.advance(Duration::from_secs(60));
    tokens(app.refresh(refresh_token(&session)).await).await;
}

async fn two_rotations_that_both_read_the_token_unused_cannot_both_win(backend: Backend) {
    // The interleaving a race produces (both requests read the token before either writes),
    // made deterministic by calling the store directly.
    use issuer::storage::{Rotation, RotationOutcome};
    use issuer::tokens::{new_opaque_token, opaque_token_hash};

    let app = spawn_app(&backend).await;
    let session = app.signed_in("a@example.com").await;
    let old_hash = opaque_token_hash(refresh_token(&session));
    let record = app
        .store
        .find_refresh_token(&old_hash)
        .await
        .unwrap()
        .unwrap();
    let now = issuer::clock::unix_seconds(app.clock.now());
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let new_hash = opaque_token_hash(&new_opaque_token());
        let rotation = Rotation {
            session_id: record.session_id,
            old_hash: &old_hash,
            new_hash: &new_hash,
            successor_sealed: "sealed",
            now,
            access_expires_at: now + 900,
        };
        outcomes.push(app.store.rotate_refresh_token(&rotation).await.unwrap());
    }
    assert_eq!(
        outcomes,
        [RotationOutcome::Rotated, RotationOutcome::AlreadyUsed]
    );
    assert_eq!(app.store.session_counts().await.unwrap(), (1, 2));
}

async fn pruning_at_the_edge_of_the_grace_window_never_signs_a_duplicate_out(backend: Backend) {
    let app = spawn_app(&backend).await;
    let first = app.signed_in("a@example.com").await;
    let winner = tokens(app.refresh(refresh_token(&first)).await).await;
    app.clock.advance(Duration::from_secs(5));
    let policy = issuer::tokens::SessionPolicy {
        reuse_grace: Duration::from_secs(5),
        idle_ttl: None,
        prune_interval: Duration::from_secs(600),
    };
    sessions::prune(&app.store, app.clock.now(), &policy)
        .await
        .unwrap();

    let duplicate = tokens(app.refresh(refresh_token(&first)).await).await;
    assert_eq!(refresh_token(&duplicate), refresh_token(&winner));
    assert!(app.revoked_sids().await.is_empty());
}

backend_tests!(
    a_refresh_rotates_the_token_and_keeps_the_session,
    a_duplicate_within_the_grace_window_gets_the_same_successor,
    reuse_after_the_grace_window_ends_the_session_and_its_successors,
    a_grace_period_of_zero_treats_every_duplicate_as_reuse,
    concurrent_refreshes_of_one_token_yield_one_successor_that_works,
    logout_ends_the_session_and_is_idempotent,
    logout_with_an_unknown_token_is_204_and_a_bad_body_is_400,
    unknown_and_malformed_refresh_tokens_are_invalid_grants,
    a_session_ends_at_its_absolute_expiry_and_access_tokens_never_outlive_it,
    an_idle_session_cannot_refresh,
    the_revocation_list_is_small_cacheable_and_forgets_expired_access_tokens,
    pruning_deletes_dead_sessions_and_keeps_live_ones,
    the_running_issuer_prunes_on_its_schedule,
    a_failed_write_during_refresh_leaves_the_old_token_usable,
    a_database_outage_during_refresh_is_503_and_burns_nothing,
    two_rotations_that_both_read_the_token_unused_cannot_both_win,
    pruning_at_the_edge_of_the_grace_window_never_signs_a_duplicate_out,
);
