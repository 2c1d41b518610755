//! Malformed requests: every one gets the documented JSON error and the server keeps serving.

use serde_json::json;

use crate::helpers::{Backend, PASSWORD, assert_error, backend_tests, spawn_app};

async fn post_raw(
    app: &crate::helpers::TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn a_body_that_is_not_json_is_400_on_every_json_endpoint(backend: Backend) {
    let app = spawn_app(&backend).await;
    for path in ["/register", "/login"] {
        let response = post_raw(&app, path, "application/json", b"{\"email\": ".to_vec()).await;

        let description = assert_error(response, 400, "invalid_request").await;
        assert_eq!(description, "request body is not valid JSON", "{path}");
    }
}

async fn a_missing_field_is_400_naming_the_field(backend: Backend) {
    let app = spawn_app(&backend).await;

    let response = app
        .post_json("/register", &json!({ "email": "alice@example.com" }))
        .await;

    let description = assert_error(response, 400, "invalid_request").await;
    assert_eq!(
        description,
        "invalid request body: missing field `password`"
    );
}

async fn a_field_of_the_wrong_type_is_400(backend: Backend) {
    let app = spawn_app(&backend).await;

    let response = app
        .post_json("/login", &json!({ "email": ["a"], "password": 12345678 }))
        .await;

    let description = assert_error(response, 400, "invalid_request").await;
    assert_eq!(
        description,
        "invalid request body: email: invalid type: sequence, expected a string"
    );
}

async fn values_of_the_wrong_type_are_400_and_never_coerced(backend: Backend) {
    let app = spawn_app(&backend).await;
    let cases = [
        (
            "/login",
            json!({ "email": ["a@b.c"], "password": PASSWORD }),
            "email",
        ),
        (
            "/login",
            json!({ "email": "a@b.c", "password": 12_345_678 }),
            "password",
        ),
        (
            "/register",
            json!({ "email": null, "password": PASSWORD }),
            "email",
        ),
        (
            "/register",
            json!({ "email": "alice@example.com", "password": PASSWORD, "role": 1 }),
            "role",
        ),
        (
            "/refresh",
            json!({ "refresh_token": true }),
            "refresh_token",
        ),
        ("/logout", json!({ "refresh_token": true }), "refresh_token"),
    ];

    for (path, body, field) in cases {
        let response = app.post_json(path, &body).await;

        let description = assert_error(response, 400, "invalid_request").await;
        assert!(
            description.starts_with(&format!("invalid request body: {field}: invalid type: ")),
            "{path} {body}: {description}"
        );
    }
    assert_eq!(
        app.register("alice@example.com", None).await["role"],
        "user",
        "the refused registration created nothing"
    );
}

async fn an_error_never_repeats_a_password_or_token_sent_in_the_wrong_place(backend: Backend) {
    let app = spawn_app(&backend).await;
    let cases = [
        (
            "/login",
            json!({ "email": "a@b.c", "password": 12_345_678 }),
            "12345678",
        ),
        ("/login", json!("correct horse battery"), "correct horse"),
        (
            "/refresh",
            json!("sent-as-a-bare-string-token"),
            "bare-string",
        ),
        ("/logout", json!({ "refresh_token": 4.25e9 }), "425"),
    ];

    for (path, body, secret) in cases {
        let response = app.post_json(path, &body).await;

        let description = assert_error(response, 400, "invalid_request").await;
        assert!(!description.contains(secret), "{path}: {description}");
    }
}

async fn deeply_nested_json_is_400_and_the_server_answers_the_next_request(backend: Backend) {
    let app = spawn_app(&backend).await;
    let depth = 20_000;
    let balanced = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let unclosed = "[".repeat(depth);
    let nested_objects = format!(
        r#"{{"email": {}1{}, "password": "{PASSWORD}"}}"#,
        r#"{"a":"#.repeat(depth / 2),
        "}".repeat(depth / 2)
    );
    for body in [balanced, unclosed, nested_objects] {
        assert!(body.len() < 64 * 1024, "under the body limit");
        for path in ["/login", "/register"] {
            let response =
                post_raw(&app, path, "application/json", body.clone().into_bytes()).await;

            assert_error(response, 400, "invalid_request").await;
        }
    }

    app.register("alice@example.com", None).await;
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
}

async fn deep_nesting_in_an_unknown_field_is_skipped_like_any_unknown_field(backend: Backend) {
    let app = spawn_app(&backend).await;
    let depth = 8_000;
    let with_extra = |extra: String| {
        format!(r#"{{"email": "alice@example.com", "password": "{PASSWORD}", "extra": {extra}}}"#)
            .into_bytes()
    };
    let nested = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    let unclosed = r#"{"a":"#.repeat(depth);

    let registered = post_raw(
        &app,
        "/register",
        "application/json",
        with_extra(nested.clone()),
    )
    .await;
    let logged_in = post_raw(&app, "/login", "application/json", with_extra(nested)).await;
    let broken = post_raw(&app, "/login", "application/json", with_extra(unclosed)).await;

    assert_eq!(registered.status(), 201);
    assert_eq!(logged_in.status(), 200);
    let description = assert_error(broken, 400, "invalid_request").await;
    assert_eq!(description, "request body is not valid JSON");
}

async fn a_body_without_json_content_type_is_400(backend: Backend) {
    let app = spawn_app(&backend).await;
    let body = json!({ "email": "alice@example.com", "password": PASSWORD }).to_string();

    let response = post_raw(&app, "/register", "text/plain", body.into_bytes()).await;

    assert_error(response, 400, "invalid_request").await;
}

async fn a_body_over_64_kib_is_413_and_nothing_is_stored(backend: Backend) {
    let app = spawn_app(&backend).await;
    let padding = "x".repeat(64 * 1024);
    let body = json!({ "email": "alice@example.com", "password": PASSWORD, "pad": padding });

    let response = app.post_json("/register", &body).await;

    assert_error(response, 413, "invalid_request").await;
    assert_eq!(
        app.register("alice@example.com", None).await["email"],
        "alice@example.com"
    );
}

async fn a_body_just_under_the_limit_is_read(backend: Backend) {
    let app = spawn_app(&backend).await;
    let padding = "x".repeat(60 * 1024);
    let body = json!({ "email": "alice@example.com", "password": PASSWORD, "pad": padding });

    let response = app.post_json("/register", &body).await;

    assert_eq!(response.status(), 201);
}

async fn an_unknown_path_is_a_json_404(backend: Backend) {
    let app = spawn_app(&backend).await;

    assert_error(app.get("/admin").await, 404, "not_found").await;
}

async fn a_wrong_method_is_a_json_405_with_allow(backend: Backend) {
    let app = spawn_app(&backend).await;

    let response = app.get("/login").await;

    assert_eq!(response.headers()["allow"], "POST");
    assert_error(response, 405, "invalid_request").await;
}

async fn hostile_input_does_not_stop_the_server(backend: Backend) {
    let app = spawn_app(&backend).await;
    let bodies: [&[u8]; 5] = [
        b"\xff\xfe\x00",
        b"[]",
        b"null",
        b"{\"email\":\"\\ud800\"}",
        &[b'['; 10_000],
    ];
    for body in bodies {
        let response = post_raw(&app, "/login", "application/json", body.to_vec()).await;
        assert_eq!(
            response.status(),
            400,
            "{:?}",
            String::from_utf8_lossy(&body[..body.len().min(20)])
        );
    }

    assert_eq!(app.get("/healthz").await.status(), 200);
}

backend_tests!(
    a_body_that_is_not_json_is_400_on_every_json_endpoint,
    a_missing_field_is_400_naming_the_field,
    a_field_of_the_wrong_type_is_400,
    values_of_the_wrong_type_are_400_and_never_coerced,
    an_error_never_repeats_a_password_or_token_sent_in_the_wrong_place,
    deeply_nested_json_is_400_and_the_server_answers_the_next_request,
    deep_nesting_in_an_unknown_field_is_skipped_like_any_unknown_field,
    a_body_without_json_content_type_is_400,
    a_body_over_64_kib_is_413_and_nothing_is_stored,
    a_body_just_under_the_limit_is_read,
    an_unknown_path_is_a_json_404,
    a_wrong_method_is_a_json_405_with_allow,
    hostile_input_does_not_stop_the_server,
);
