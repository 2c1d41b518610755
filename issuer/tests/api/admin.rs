//! The admin API behind the issuer's own verifier layer and role guard, on both backends:
//! refusals, keyset pagination under concurrent sign-ups, role changes, disabling (login,
//! refresh, phone login and live tokens refused), deletion (rows gone, e-mail reusable), and an
//! exact audit trail.

use std::collections::HashSet;
use std::time::Duration;

use issuer::accounts::create_account;
use issuer::clock::Clock;
use issuer::domain::{Email, Password, Role};
use issuer::storage::{NewLogin, NewUser};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use uuid::Uuid;
use verifier_middleware::{Rejection, Verifier};

use crate::helpers::{
    Backend, ISSUER, PASSWORD, TestApp, assert_error, backend_tests, claims_of, refresh_token, sid,
    spawn_app,
};
use crate::me::{access, assert_session_ended};
use crate::otp::spawn_otp_app;

impl TestApp {
    /// Creates `email` with role `admin` (as `issuer user add` does) and logs it in.
    async fn admin(&self, email: &str) -> Value {
        let admission = self.passwords.admit().expect("admitted");
        create_account(
            &self.store,
            admission,
            Email::parse(email).unwrap(),
            Password::parse(PASSWORD.into()).unwrap(),
            Role::parse("admin").unwrap(),
            self.clock.now(),
            true,
        )
        .await
        .expect("admin created");
        self.logged_in(email).await
    }

    /// `method path` as `admin` (a token response), with an optional JSON body.
    async fn as_admin(
        &self,
        admin: &Value,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        self.with_token(method, path, access(admin), body).await
    }

    /// `GET path` as `admin`, asserting 200.
    async fn admin_get(&self, admin: &Value, path: &str) -> Value {
        let response = self.as_admin(admin, Method::GET, path, None).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json body")
    }

    /// `PATCH /admin/users/{id}` as `admin` with `body`.
    async fn patch_user(&self, admin: &Value, id: &str, body: &Value) -> Response {
        let path = format!("/admin/users/{id}");
        self.as_admin(admin, Method::PATCH, &path, Some(body)).await
    }
}

fn user_id(tokens: &Value) -> String {
    claims_of(access(tokens))["sub"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn admin_routes_refuse_anyone_but_an_administrator(backend: Backend) {
    let app = spawn_app(&backend).await;
    let admin = app.admin("root@example.com").await;
    let user = app.signed_in("alice@example.com").await;
    let paths = [
        (Method::GET, "/admin/users".to_owned()),
        (Method::GET, format!("/admin/users/{}", user_id(&user))),
        (Method::PATCH, format!("/admin/users/{}", user_id(&user))),
        (Method::DELETE, format!("/admin/users/{}", user_id(&user))),
        (
            Method::DELETE,
            format!("/admin/users/{}/sessions", user_id(&admin)),
        ),
        (Method::GET, "/admin/audit".to_owned()),
    ];

    for (method, path) in &paths {
        let anonymous = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401, "{method} {path}");
        let body = json!({ "disabled": true });
        let as_user = app
            .with_token(method.clone(), path, access(&user), Some(&body))
            .await;
        let description = assert_error(as_user, 403, "insufficient_scope").await;
        assert!(description.contains("admin"), "{description}");
    }
    // A demoted administrator's token still says `admin`: refused all the same, at once.
    let other = app.admin("second@example.com").await;
    let demoted = app
        .patch_user(&admin, &user_id(&other), &json!({ "role": "user" }))
        .await;
    assert_eq!(demoted.status(), 200);
    assert_eq!(claims_of(access(&other))["role"], "admin");
    let refused = app
        .as_admin(&other, Method::GET, "/admin/users", None)
        .await;
    assert_error(refused, 403, "insufficient_scope").await;
    // Nothing changed by any of the refused requests.
    assert_eq!(app.me(access(&user)).await["role"], "user");
}

async fn paging_through_250_users_sees_each_once_while_others_sign_up(backend: Backend) {
    let app = spawn_app(&backend).await;
    let admin = app.admin("root@example.com").await;
    let insert = |n: usize| {
        let store = app.store.clone();
        let role = Role::parse("user").unwrap();
        async move {
            let email = Email::parse(&format!("user{n:03}@example.com")).unwrap();
            store
                .insert_user(&NewUser {
                    id: Uuid::now_v7(),
                    login: NewLogin::Password {
                        email: &email,
                        password_hash: "not a hash: never logs in",
                    },
                    role: &role,
                    created_at: 0,
                    email_verified_at: None,
                })
                .await
                .unwrap();
        }
    };
    for n in 0..249 {
        insert(n).await;
    }
    let before: HashSet<String> = (0..249)
        .map(|n| format!("user{n:03}@example.com"))
        .chain(["root@example.com".to_owned()])
        .collect();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    let mut late = 249;
    loop {
        // Sign-ups between (and during) the page requests.
        let signing_up = tokio::spawn(insert(late));
        late += 1;
        let path = match &cursor {
            Some(cursor) => format!("/admin/users?limit=100&cursor={cursor}"),
            None => "/admin/users?limit=100".to_owned(),
        };
        let page = app.admin_get(&admin, &path).await;
        signing_up.await.unwrap();
        pages += 1;
        let users = page["users"].as_array().unwrap();
        assert!(users.len() <= 100);
        seen.extend(
            users
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "paging never ends");
    }

    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a user was listed twice");
    let first: HashSet<String> = seen[..250].iter().cloned().collect();
    assert_eq!(first, before, "every earlier account, before any late one");
    // The late sign-ups follow in creation order: every one but the one racing the last page.
    let late_seen = &seen[250..];
    let expected: Vec<String> = (249..late)
        .map(|n| format!("user{n:03}@example.com"))
        .collect();
    assert!(
        late_seen == expected || late_seen == &expected[..expected.len() - 1],
        "late sign-ups: {late_seen:?}"
    );
}

async fn the_user_list_filters_and_refuses_bad_cursors_and_limits(backend: Backend) {
    let app = spawn_app(&backend).await;
    let admin = app.admin("root@example.com").await;
    app.register("alice@example.com", None).await;
    app.register("bob_the_builder@example.com", Some("raider"))
        .await;

    let found = app.admin_get(&admin, "/admin/users?query=ALICE").await;
    assert_eq!(found["users"].as_array().unwrap().len(), 1);
    let alice = &found["users"][0];
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(alice["role"], "user");
    assert_eq!(alice["disabled"], false);
    assert_eq!(alice["phone"], Value::Null);
    assert_eq!(found["next_cursor"], Value::Null);
    // `_` is a character here, not a wildcard (which would match "ali").
    let wildcard = app.admin_get(&admin, "/admin/users?query=a_i").await;
    assert_eq!(wildcard["users"].as_array().unwrap().len(), 0);
    let underscore = app.admin_get(&admin, "/admin/users?query=b_t").await;
    assert_eq!(
        underscore["users"][0]["email"],
        "bob_the_builder@example.com"
    );
    let page = app.admin_get(&admin, "/admin/users?limit=2").await;
    assert_eq!(page["users"].as_array().unwrap().len(), 2);
    assert!(page["next_cursor"].is_string());

    for query in [
        "cursor=not-a-cursor",
        "cursor=AAAA",
        "limit=0",
        "limit=201",
        "limit=x",
    ] {
        let path = format!("/admin/users?{query}");
        let response = app.as_admin(&admin, Method::GET, &path, None).await;
        assert_error(response, 400, "invalid_request").await;
    }
    for id in [Uuid::now_v7().to_string(), "42".to_owned()] {
        let path = format!("/admin/users/{id}");
        let response = app.as_admin(&admin, Method::GET, &path, None).await;
        assert_error(response, 404, "not_found").await;
    }
}

async fn a_role_change_reaches_the_users_next_refresh(backend: Backend) {
    let app = spawn_app(&backend).await;
    let admin = app.admin("root@example.com").await;
    let user = app.signed_in("alice@example.com").await;

    let response = app
        .patch_user(&admin, &user_id(&user), &json!({ "role": "raider" }))
        .await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["role"], "raider");
    let refreshed: Value = app
        .refresh(refresh_token(&user))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims_of(access(&refreshed))["role"], "raider");
    for (body, status) in [
        (json!({}), 422),
        (json!({ "role": "Not A Role" }), 422),
        (json!({ "disabled": "yes" }), 400),
    ] {
        let response = app.patch_user(&admin, &user_id(&user), &body).await;
        assert_error(response, status, "invalid_request").await;
    }
    let missing = app
        .patch_user(
            &admin,
            &Uuid::now_v7().to_string(),
            &json!({ "role": "user" }),
        )
        .await;
    assert_error(missing, 404, "not_found").await;
    // No administrator locks themselves out here.
    for body in [json!({ "disabled": true }), json!({ "role": "user" })] {
        let own = app.patch_user(&admin, &user_id(&admin), &body).await;
        assert_error(own, 422, "invalid_request").await;
    }
    let own = app
        .as_admin(
            &admin,
            Method::DELETE,
            &format!("/admin/users/{}", user_id(&admin)),
            None,
        )
        .await;
    assert_error(own, 422, "invalid_request").await;
    let own = app
        .as_admin(
            &admin,
            Method::DELETE,
            "/me",
            Some(&json!({ "password": PASSWORD })),
        )
        .await;
    assert_error(own, 422, "invalid_request").await;
    // An operator may vouch for an address (accounts older than REQUIRE_EMAIL_VERIFICATION).
    let verified = app
        .patch_user(&admin, &user_id(&user), &json!({ "email_verified": true }))
        .await;
    assert_eq!(verified.status(), 200);
    assert_eq!(
        verified.json::<Value>().await.unwrap()["email_verified"],
        true
    );
}

async fn a_disabled_account_is_locked_out_everywhere_until_enabled(backend: Backend) {
    let app = spawn_app(&backend).await;
    let poll = Duration::from_secs(30);
    let service = Verifier::builder()
        .jwks_url(format!("{}/.well-known/jwks.json", app.address))
        .revocation_list_url(format!("{}/revoked-sessions", app.address))
        .revocation_poll_interval(poll)
        .issuer(ISSUER)
        .audience("api")
        .clock(app.clock.clone())
        .build()
        .unwrap();
    let admin = app.admin("root@example.com").await;
    let user = app.signed_in("alice@example.com").await;
    service.verify(access(&user)).await.expect("valid before");

    let response = app
        .patch_user(&admin, &user_id(&user), &json!({ "disabled": true }))
        .await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["disabled"], true);
    assert!(body["disabled_at"].is_i64());
    app.assert_refresh_refused(&[&user]).await;
    assert_session_ended(
        app.with_token(Method::GET, "/me", access(&user), None)
            .await,
    )
    .await;
    let login = app.login("alice@example.com", PASSWORD).await;
    assert_eq!(
        assert_error(login, 403, "account_disabled").await,
        "this account is disabled; contact an administrator"
    );
    // A wrong password learns nothing about the account being disabled.
    let wrong = app.login("alice@example.com", "not the password").await;
    assert_error(wrong, 401, "invalid_credentials").await;
    assert_eq!(app.revoked_sids().await, [sid(&user)]);
    app.clock.advance(poll);
    let refused = service.verify(access(&user)).await.unwrap_err();
    assert!(matches!(refused, Rejection::InvalidToken(_)), "{refused:?}");

    let enabled = app
        .patch_user(&admin, &user_id(&user), &json!({ "disabled": false }))
        .await;
    assert_eq!(enabled.status(), 200);
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
}

async fn a_disabled_phone_account_cannot_log_in_by_code(backend: Backend) {
    let app = spawn_otp_app(&backend, &[]).await;
    let admin = app.admin("root@example.com").await;
    let phone_user = app.phone_signed_in(crate::otp::PHONE).await;

    let response = app
        .patch_user(&admin, &user_id(&phone_user), &json!({ "disabled": true }))
        .await;
    assert_eq!(response.status(), 200);

    let code = app.code_for(crate::otp::PHONE).await;
    let refused = app.otp_verify(crate::otp::PHONE, &code).await;
    assert_error(refused, 403, "account_disabled").await;
    app.assert_refresh_refused(&[&phone_user]).await;
}

async fn a_deleted_account_leaves_no_rows_and_its_email_can_register_again(backend: Backend) {
    let app = spawn_app(&backend).await;
    let admin = app.admin("root@example.com").await;
    let user = app.signed_in("alice@example.com").await;
    let second = app.logged_in("alice@example.com").await;
    assert_eq!(app.refresh(refresh_token(&second)).await.status(), 200);
    let id = user_id(&user);

    let response = app
        .as_admin(&admin, Method::DELETE, &format!("/admin/users/{id}"), None)
        .await;

    assert_eq!(response.status(), 204);
    let mut db = app.second_connection().await;
    for table in ["users WHERE id", "sessions WHERE user_id"] {
        let sql = format!("SELECT COUNT(*) FROM {table} = '{id}'");
        let (count,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut db)
            .await
            .unwrap();
        assert_eq!(count, 0, "{table}");
    }
    let (tokens,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM refresh_tokens")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(tokens, 1, "only the administrator's refresh token is left");
    app.assert_revoked(&[&user, &second]).await;
    assert_session_ended(
        app.with_token(Method::GET, "/me", access(&user), None)
            .await,
    )
    .await;
    app.assert_refresh_refused(&[&user]).await;
    app.register("alice@example.com", None).await;
    let again = app
        .as_admin(&admin, Method::DELETE, &format!("/admin/users/{id}"), None)
        .await;
    assert_error(again, 404, "not_found").await;
}

async fn ending_a_users_sessions_refuses_their_tokens(backend: Backend) {
    let app = spawn_app(&backend).await;
    let admin = app.admin("root@example.com").await;
    let user = app.signed_in("alice@example.com").await;

    let path = format!("/admin/users/{}/sessions", user_id(&user));
    let response = app.as_admin(&admin, Method::DELETE, &path, None).await;

    assert_eq!(response.status(), 204);
    app.assert_refresh_refused(&[&user]).await;
    assert_eq!(app.revoked_sids().await, [sid(&user)]);
    let detail = app
        .admin_get(&admin, &format!("/admin/users/{}", user_id(&user)))
        .await;
    assert_eq!(detail["email"], "alice@example.com");
    assert_eq!(detail["sessions"][0]["sid"], sid(&user));
    assert_eq!(detail["sessions"][0]["end_reason"], "admin");
    // The user can still log in: only the sessions ended.
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
}

async fn every_admin_action_writes_an_exact_audit_row(backend: Backend) {
    let app = spawn_app(&backend).await;
    let admin = app.admin("root@example.com").await;
    let user = app.signed_in("alice@example.com").await;
    let (admin_id, id) = (user_id(&admin), user_id(&user));
    app.patch_user(&admin, &id, &json!({ "role": "raider", "disabled": true }))
        .await;
    app.patch_user(&admin, &id, &json!({ "disabled": false }))
        .await;
    let sessions = format!("/admin/users/{id}/sessions");
    app.as_admin(&admin, Method::DELETE, &sessions, None).await;
    app.as_admin(&admin, Method::DELETE, &format!("/admin/users/{id}"), None)
        .await;

    let audit = app.admin_get(&admin, "/admin/audit").await;

    let now = claims_of(access(&admin))["iat"].clone();
    let row = |action: &str, details: Value| {
        json!({
            "actor": admin_id, "action": action, "target": id,
            "client_ip": "127.0.0.1", "details": details, "at": now,
        })
    };
    let entries: Vec<Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let mut entry = entry.clone();
            let id = entry.as_object_mut().unwrap().remove("id").unwrap();
            Uuid::parse_str(id.as_str().unwrap()).expect("an id");
            entry
        })
        .collect();
    assert_eq!(
        entries,
        [
            row("user.delete", Value::Null),
            row("user.end_sessions", json!({ "sessions_ended": 0 })),
            row("user.enable", Value::Null),
            row("user.disable", json!({ "sessions_ended": 1 })),
            row("user.set_role", json!({ "role": "raider" })),
        ]
    );
    assert_eq!(audit["next_cursor"], Value::Null);
    // Paged two at a time, newest first, the same rows.
    let first = app.admin_get(&admin, "/admin/audit?limit=2").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .admin_get(&admin, &format!("/admin/audit?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(second["entries"][0]["action"], "user.enable");
}

backend_tests!(
    admin_routes_refuse_anyone_but_an_administrator,
    paging_through_250_users_sees_each_once_while_others_sign_up,
    the_user_list_filters_and_refuses_bad_cursors_and_limits,
    a_role_change_reaches_the_users_next_refresh,
    a_disabled_account_is_locked_out_everywhere_until_enabled,
    a_disabled_phone_account_cannot_log_in_by_code,
    a_deleted_account_leaves_no_rows_and_its_email_can_register_again,
    ending_a_users_sessions_refuses_their_tokens,
    every_admin_action_writes_an_exact_audit_row,
);
