//! The system under attack: a real issuer and a real `user-service` verifying with its JWKS.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use test_support::process::Process;
use test_support::stack::{Issuer, service_with};

use crate::forge;

/// The service's error description for a bad signature, the most common refusal.
pub const BAD_SIGNATURE: &str = "the token signature is invalid";
pub const ALG_REFUSED: &str = "the token's algorithm is not accepted";
pub const NOT_COMPACT: &str = "the token is not a compact JWS";
pub const MALFORMED_HEADER: &str = "the token header is malformed";
pub const MALFORMED_CLAIMS: &str = "the token claims are malformed";
pub const UNKNOWN_KEY: &str = "the token was signed by an unknown key";

pub struct Target {
    pub issuer: Issuer,
    pub service: Process,
    pub client: reqwest::Client,
    /// The issuer's signing key: what a genuine token is signed with.
    pub key: EncodingKey,
    pub kid: String,
    /// The issuer's JWKS document, as anyone can fetch it.
    pub jwks: Value,
}

impl Target {
    /// `user-service` verifying RS256 tokens with the issuer's JWKS.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// The same, with `extra` service settings (e.g. `JWT_SECRET` for the migration mode).
    pub async fn start_with(extra: &[(&'static str, String)]) -> Self {
        let issuer = Issuer::start(0);
        let mut env = vec![("RUST_LOG", "debug".to_owned())];
        env.extend_from_slice(extra);
        let service = service_with("user-service", &issuer.jwks_url(), &env);
        let client = reqwest::Client::new();
        let (key, jwks) = signing_key_and_jwks(&issuer, &client).await;
        let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
        Self {
            issuer,
            service,
            client,
            key,
            kid,
            jwks,
        }
    }

    /// The header of a genuine access token.
    pub fn header(&self) -> Value {
        json!({ "alg": "RS256", "typ": "at+jwt", "kid": self.kid })
    }

    /// A token signed with the issuer's key over `header` and `claims`.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        forge::sign(header, claims, &self.key, Algorithm::RS256)
    }

    /// A genuine token for `claims`.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }

    /// Signs header and payload texts as given, with the issuer's key.
    pub fn sign_texts(&self, header: &str, payload: &str) -> String {
        forge::sign_texts(header, payload, &self.key, Algorithm::RS256)
    }

    pub async fn book(&self, token: &str) -> reqwest::Response {
        book(&self.client, &self.service, token).await
    }

    /// The control: `token` books.
    pub async fn assert_accepted(&self, case: &str, token: &str) {
        let response = self.book(token).await;
        assert_eq!(response.status(), 200, "{case}");
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{case}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["success"], true, "{case}");
    }

    /// `token` is refused with 401 `invalid_token` and `description`.
    pub async fn assert_refused(&self, case: &str, token: &str, description: &str) {
        assert_invalid_token(case, self.book(token).await, description).await;
    }

    /// `token` is genuine but lacks the route's role: 403 `insufficient_scope`.
    pub async fn assert_forbidden(&self, case: &str, token: &str) {
        let response = self.book(token).await;
        assert_eq!(response.status(), 403, "{case}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{case}: {challenge}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "insufficient_scope", "{case}");
    }
}

/// `POST /book` on `service` with `token` as the bearer token.
pub async fn book(client: &reqwest::Client, service: &Process, token: &str) -> reqwest::Response {
    client
        .post(format!("{}/book", service.base_url))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
}

/// `issuer`'s private key and its published JWKS.
pub async fn signing_key_and_jwks(
    issuer: &Issuer,
    client: &reqwest::Client,
) -> (EncodingKey, Value) {
    let jwks = client
        .get(issuer.jwks_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = EncodingKey::from_rsa_pem(&issuer.private_key_pem()).unwrap();
    (key, jwks)
}

/// A 401 with the RFC 6750 challenge and the JSON body naming `description`.
pub async fn assert_invalid_token(case: &str, response: reqwest::Response, description: &str) {
    assert_eq!(response.status(), 401, "{case}");
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains(r#"error="invalid_token""#),
        "{case}: {challenge}"
    );
    assert_eq!(
        response.headers()["x-content-type-options"],
        "nosniff",
        "{case}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token", "{case}");
    assert_eq!(body["error_description"], description, "{case}");
}
