//! `GET /.well-known/jwks.json`, `GET /public-key`, `GET /.well-known/openid-configuration`.

use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::Value;

use crate::helpers::{Backend, ISSUER, TestApp, b64, backend_tests, spawn_app, spawn_app_with};
use crate::otp::spawn_otp_app;

async fn the_jwks_publishes_one_rs256_signing_key_and_nothing_private(backend: Backend) {
    let app = spawn_app(&backend).await;

    let response = app.get("/.well-known/jwks.json").await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = keys[0].as_object().unwrap();
    let mut fields: Vec<&str> = key.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert_eq!(
        b64(key["n"].as_str().unwrap()).len(),
        256,
        "2048-bit modulus"
    );
}

async fn the_kid_is_the_rfc7638_thumbprint_of_the_key(backend: Backend) {
    let app = spawn_app(&backend).await;
    let jwks = app.jwks().await;
    let key = &jwks["keys"][0];

    // RFC 7638 3.2: the required members in lexicographic order, no white space.
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        key["e"].as_str().unwrap(),
        key["n"].as_str().unwrap()
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    let expected =
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, digest);

    assert_eq!(key["kid"], expected.as_str());
}

async fn the_public_key_pem_is_the_jwks_key(backend: Backend) {
    let app = spawn_app(&backend).await;
    let jwks = app.jwks().await;

    let response = app.get("/public-key").await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let pem = response.text().await.unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    let key = RsaPublicKey::from_public_key_pem(&pem).unwrap();
    assert_eq!(
        key.n().to_bytes_be(),
        b64(jwks["keys"][0]["n"].as_str().unwrap())
    );
    assert_eq!(
        key.e().to_bytes_be(),
        b64(jwks["keys"][0]["e"].as_str().unwrap())
    );
}

async fn discovery_points_at_the_jwks_and_the_endpoints(backend: Backend) {
    let app = spawn_app(&backend).await;

    let response = app.get("/.well-known/openid-configuration").await;

    assert_eq!(response.status(), 200);
    let discovery: Value = response.json().await.unwrap();
    assert_eq!(discovery["issuer"], ISSUER);
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap();
    assert_eq!(jwks_uri, format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(discovery["login_endpoint"], format!("{ISSUER}/login"));
    assert_eq!(discovery["refresh_endpoint"], format!("{ISSUER}/refresh"));
    assert_eq!(discovery["logout_endpoint"], format!("{ISSUER}/logout"));
    assert_eq!(discovery["userinfo_endpoint"], format!("{ISSUER}/me"));
    assert_eq!(
        discovery["sessions_endpoint"],
        format!("{ISSUER}/me/sessions")
    );
    assert_eq!(
        discovery["password_change_endpoint"],
        format!("{ISSUER}/me/password")
    );
    assert_eq!(
        discovery["logout_all_endpoint"],
        format!("{ISSUER}/logout-all")
    );
    assert_eq!(
        discovery["revoked_sessions_endpoint"],
        format!("{ISSUER}/revoked-sessions")
    );
    assert_eq!(
        discovery["registration_endpoint"],
        format!("{ISSUER}/register")
    );
    assert_eq!(
        discovery["token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    // Phone login and mail are off by default: their endpoints are not named.
    assert!(
        discovery.get("password_reset_endpoint").is_none(),
        "{discovery}"
    );
    assert!(discovery.get("otp_start_endpoint").is_none(), "{discovery}");
    assert!(
        discovery.get("otp_verify_endpoint").is_none(),
        "{discovery}"
    );
    // The path the document names is the one this server answers with the keys.
    let path = jwks_uri.strip_prefix(ISSUER).unwrap();
    assert_eq!(
        app.get(path).await.json::<Value>().await.unwrap(),
        app.jwks().await
    );
}

impl TestApp {
    /// The served discovery document, asserting 200.
    async fn discovery(&self) -> Value {
        let response = self.get("/.well-known/openid-configuration").await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

async fn discovery_leaves_out_registration_while_it_is_closed(backend: Backend) {
    let app = spawn_app_with(&backend, &["--registration-open", "false"], |_| {}).await;

    let discovery = app.discovery().await;

    assert!(
        discovery.get("registration_endpoint").is_none(),
        "{discovery}"
    );
    assert_eq!(discovery["login_endpoint"], format!("{ISSUER}/login"));
}

async fn discovery_names_the_phone_login_endpoints_when_it_is_on(backend: Backend) {
    let app = spawn_otp_app(&backend, &[]).await;

    let discovery = app.discovery().await;

    assert_eq!(
        discovery["otp_start_endpoint"],
        format!("{ISSUER}/otp/start")
    );
    assert_eq!(
        discovery["otp_verify_endpoint"],
        format!("{ISSUER}/otp/verify")
    );
}

async fn health_is_200_ok(backend: Backend) {
    let app = spawn_app(&backend).await;

    let response = app.get("/healthz").await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({ "status": "ok" })
    );
}

backend_tests!(
    the_jwks_publishes_one_rs256_signing_key_and_nothing_private,
    the_kid_is_the_rfc7638_thumbprint_of_the_key,
    the_public_key_pem_is_the_jwks_key,
    discovery_points_at_the_jwks_and_the_endpoints,
    discovery_names_the_phone_login_endpoints_when_it_is_on,
    discovery_leaves_out_registration_while_it_is_closed,
    health_is_200_ok,
);
