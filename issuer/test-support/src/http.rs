//! Requests to a server under test by path: [`Http`] joins each path to the server's base URL
//! and sends it with the test's client. [`Process`](crate::process::Process) and the issuer's
//! in-process test app both speak to their server through it, so each request is built once.
//!
//! ```no_run
//! use test_support::http::Http;
//!
//! # async fn demo() {
//! let client = reqwest::Client::new();
//! let issuer = Http::new(&client, "http://127.0.0.1:4000");
//! assert_eq!(issuer.get("/healthz").await.status(), 200);
//! assert_eq!(issuer.jwks_kids().await.len(), 1);
//! # }
//! ```

use serde_json::Value;

/// One server's base URL (`http://HOST:PORT`, no trailing slash) and the client that calls it.
#[derive(Clone, Copy)]
pub struct Http<'a> {
    client: &'a reqwest::Client,
    base_url: &'a str,
}

impl<'a> Http<'a> {
    /// Requests to `base_url` sent with `client`.
    pub fn new(client: &'a reqwest::Client, base_url: &'a str) -> Self {
        Self { client, base_url }
    }

    /// `GET {path}`.
    ///
    /// # Panics
    /// When the request cannot be sent.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .expect("GET sent")
    }

    /// `POST {path}` with a JSON body.
    ///
    /// # Panics
    /// When the request cannot be sent.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base_url))
            .json(body)
            .send()
            .await
            .expect("POST sent")
    }

    /// `POST /register` of `email` with `password` (an issuer's), whatever it answers.
    ///
    /// # Panics
    /// When the request cannot be sent.
    pub async fn register(&self, email: &str, password: &str) -> reqwest::Response {
        let body = serde_json::json!({ "email": email, "password": password });
        self.post_json("/register", &body).await
    }

    /// The JWKS served at `/.well-known/jwks.json` (an issuer's), asserting 200.
    ///
    /// # Panics
    /// When the answer is not 200 with a JSON body.
    pub async fn jwks(&self) -> Value {
        let response = self.get("/.well-known/jwks.json").await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON JWKS")
    }

    /// The kids of the served JWKS, in order.
    ///
    /// # Panics
    /// As [`Http::jwks`] does, and when a key has no string `kid`.
    pub async fn jwks_kids(&self) -> Vec<String> {
        self.jwks().await["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|key| key["kid"].as_str().expect("kid").to_owned())
            .collect()
    }
}
