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
    a_body_without_json_content_type_is_400,
    a_body_over_64_kib_is_413_and_nothing_is_stored,
    a_body_just_under_the_limit_is_read,
    an_unknown_path_is_a_json_404,
    a_wrong_method_is_a_json_405_with_allow,
    hostile_input_does_not_stop_the_server,
);
