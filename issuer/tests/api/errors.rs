//! Malformed requests: every one gets the documented JSON error and the server keeps serving.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, backend_tests, spawn_app};

/// The exact body of a 413.
const TOO_LARGE: &str =
    r#"{"error":"invalid_request","error_description":"request body is too large"}"#;

async fn post_raw(
    app: &TestApp,
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

/// One response read off a raw connection.
struct RawResponse {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// Writes `request` (head and as much body as the test wants) on a new connection, leaves the
/// connection open, and reads one response. The timeout is a safety net for a server that waits
/// for the rest of the body: nothing here sleeps.
async fn exchange(app: &TestApp, request: &[u8]) -> RawResponse {
    let address = app.address.trim_start_matches("http://");
    let exchange = async {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream.write_all(request).await.expect("request written");
        read_response(&mut stream).await
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("answered without waiting for the rest of the body")
}

/// Reads a status line and headers, then `Content-Length` bytes of body.
async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut received = Vec::new();
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let read = stream.read_buf(&mut received).await.expect("read");
        assert_ne!(read, 0, "connection closed before a response head");
    };
    let head = String::from_utf8(received[..head_end].to_vec()).expect("ASCII head");
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok());
    let header = |name: &str| {
        head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let length: usize = header("content-length")
        .and_then(|length| length.parse().ok())
        .expect("content-length");
    while received.len() < head_end + length {
        let read = stream.read_buf(&mut received).await.expect("read");
        assert_ne!(read, 0, "connection closed inside the body");
    }
    RawResponse {
        status: status.expect("status"),
        content_type: header("content-type"),
        body: received[head_end..head_end + length].to_vec(),
    }
}

async fn a_declared_length_over_the_limit_is_413_before_the_body_arrives(backend: Backend) {
    let app = spawn_app(&backend).await;
    // Ten MiB announced, eight bytes sent, and the connection left open.
    let request = "POST /login HTTP/1.1\r\nHost: issuer.test\r\n\
                   Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n{\"email";

    let response = exchange(&app, request.as_bytes()).await;

    assert_eq!(response.status, 413);
    assert_eq!(response.content_type.as_deref(), Some("application/json"));
    assert_eq!(String::from_utf8_lossy(&response.body), TOO_LARGE);
    assert_eq!(app.get("/healthz").await.status(), 200);
}

async fn a_chunked_body_over_the_limit_is_413(backend: Backend) {
    let app = spawn_app(&backend).await;
    let mut request = b"POST /register HTTP/1.1\r\nHost: issuer.test\r\n\
                        Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    let chunk = [b' '; 8 * 1024];
    for _ in 0..9 {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(&chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");

    let response = exchange(&app, &request).await;

    assert_eq!(response.status, 413);
    assert_eq!(response.content_type.as_deref(), Some("application/json"));
    assert_eq!(String::from_utf8_lossy(&response.body), TOO_LARGE);
}

async fn an_array_body_is_400_and_never_read_as_the_fields_in_order(backend: Backend) {
    let app = spawn_app(&backend).await;
    app.register("alice@example.com", None).await;
    let cases = [
        ("/login", json!(["alice@example.com", PASSWORD])),
        ("/register", json!(["bob@example.com", PASSWORD])),
    ];

    for (path, body) in cases {
        let response = app.post_json(path, &body).await;

        let description = assert_error(response, 400, "invalid_request").await;
        assert_eq!(
            description, "invalid request body: invalid type: sequence, expected a JSON object",
            "{path}"
        );
    }
    assert_eq!(
        app.register("bob@example.com", None).await["email"],
        "bob@example.com",
        "the refused registration created nothing"
    );
}

async fn a_json_string_number_boolean_or_null_body_is_400_without_echoing_it(backend: Backend) {
    let app = spawn_app(&backend).await;
    let cases = [
        (json!(PASSWORD), "string"),
        (json!(12_345_678), "integer"),
        (json!(4.25), "floating point"),
        (json!(true), "boolean"),
        (json!(null), "null"),
    ];

    for path in ["/login", "/register"] {
        for (body, kind) in &cases {
            let response = app.post_json(path, body).await;

            let description = assert_error(response, 400, "invalid_request").await;
            assert_eq!(
                description,
                format!("invalid request body: invalid type: {kind}, expected a JSON object"),
                "{path} {body}"
            );
        }
    }
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
    a_declared_length_over_the_limit_is_413_before_the_body_arrives,
    a_chunked_body_over_the_limit_is_413,
    an_array_body_is_400_and_never_read_as_the_fields_in_order,
    a_json_string_number_boolean_or_null_body_is_400_without_echoing_it,
    an_unknown_path_is_a_json_404,
    a_wrong_method_is_a_json_405_with_allow,
    hostile_input_does_not_stop_the_server,
);
