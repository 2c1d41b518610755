//! `POST /register`.

use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, assert_error, backend_tests, spawn_app, spawn_app_with};

async fn registering_returns_201_with_id_normalised_email_and_default_role(backend: Backend) {
    let app = spawn_app(&backend).await;

    let response = app.register_as(" Alice@Example.COM ", PASSWORD).await;

    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert_eq!(body["email"], "alice@example.com");
    assert_eq!(
        body["role"], "user",
        "the first self-service role is the default"
    );
    assert_eq!(
        body.as_object().unwrap().len(),
        3,
        "nothing else, no hash: {body}"
    );
}

async fn a_self_service_role_can_be_chosen(backend: Backend) {
    let app = spawn_app(&backend).await;

    let body = app.register("rider@example.com", Some("raider")).await;

    assert_eq!(body["role"], "raider");
}

async fn a_role_outside_self_service_roles_is_422_naming_the_allowed_roles(backend: Backend) {
    let app = spawn_app(&backend).await;
    let body = json!({ "email": "eve@example.com", "password": PASSWORD, "role": "admin" });

    let response = app.post_json("/register", &body).await;

    let description = assert_error(response, 422, "invalid_request").await;
    assert_eq!(
        description,
        "role is not allowed; choose one of: user, raider"
    );
}

async fn self_service_roles_come_from_configuration(backend: Backend) {
    let app =
        crate::helpers::spawn_app_with(&backend, &["--self-service-roles", "customer"], |_| {})
            .await;

    let default = app.register("a@example.com", None).await;
    let refused = app
        .post_json(
            "/register",
            &json!({ "email": "b@example.com", "password": PASSWORD, "role": "user" }),
        )
        .await;

    assert_eq!(default["role"], "customer");
    assert_error(refused, 422, "invalid_request").await;
}

async fn a_malformed_email_is_422_saying_so(backend: Backend) {
    let app = spawn_app(&backend).await;

    let response = app.register_as("alice.example.com", PASSWORD).await;

    let description = assert_error(response, 422, "invalid_request").await;
    assert!(description.contains("email"), "{description}");
}

async fn a_password_under_8_characters_is_422_saying_so(backend: Backend) {
    let app = spawn_app(&backend).await;

    let response = app.register_as("alice@example.com", "1234567").await;

    let description = assert_error(response, 422, "invalid_request").await;
    assert_eq!(description, "password must be at least 8 characters");
}

async fn an_email_registered_twice_is_409_even_in_another_case(backend: Backend) {
    let app = spawn_app(&backend).await;
    app.register("alice@example.com", None).await;

    let response = app.register_as("ALICE@example.com", PASSWORD).await;

    let description = assert_error(response, 409, "conflict").await;
    assert_eq!(description, "an account with this email already exists");
}

async fn the_password_is_stored_only_as_an_argon2id_hash(backend: Backend) {
    let app = spawn_app(&backend).await;
    app.register("alice@example.com", None).await;

    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&mut app.second_connection().await)
        .await
        .unwrap();

    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert!(!stored.contains(PASSWORD));
}

async fn a_closed_registration_is_403_whatever_the_body_and_creates_nothing(backend: Backend) {
    let app = spawn_app_with(&backend, &["--registration-open", "false"], |_| {}).await;

    let valid = app.register_as("alice@example.com", PASSWORD).await;
    let malformed = app.post_json("/register", &json!({ "email": 1 })).await;

    let description = assert_error(valid, 403, "registration_closed").await;
    assert_eq!(
        description,
        "registration is closed; an administrator creates accounts"
    );
    assert_error(malformed, 403, "registration_closed").await;
    let alice = issuer::domain::Email::parse("alice@example.com").unwrap();
    assert!(
        app.store
            .find_user_by_email(&alice)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(app.hashing().completed, 0, "no password was hashed");
    // Logging in is not registering: it answers as usual.
    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 401);
}

backend_tests!(
    a_closed_registration_is_403_whatever_the_body_and_creates_nothing,
    registering_returns_201_with_id_normalised_email_and_default_role,
    a_self_service_role_can_be_chosen,
    a_role_outside_self_service_roles_is_422_naming_the_allowed_roles,
    self_service_roles_come_from_configuration,
    a_malformed_email_is_422_saying_so,
    a_password_under_8_characters_is_422_saying_so,
    an_email_registered_twice_is_409_even_in_another_case,
    the_password_is_stored_only_as_an_argon2id_hash,
);
