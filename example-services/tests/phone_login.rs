//! A phone login end to end on the real binaries: the `issuer` with the local OTP provider
//! (which logs each code it sends, as `scripts/dev-up.sh` shows it), on a fresh SQLite file and
//! on a fresh PostgreSQL database, and the real `user-service` booking with the phone token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use test_support::backend_tests;
use test_support::database::{Backend, TestDatabase};
use test_support::stack::{Issuer, call, post, service};

backend_tests!(a_phone_logs_in_with_the_code_sent_to_it_and_its_token_books);

const PHONE: &str = "+447700900123";

/// The claims of a JWT, unverified.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("three segments");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

/// The code in the local provider's `code sent` log line for `phone`.
fn code_sent_to(issuer: &mut Issuer, phone: &str) -> String {
    let line = issuer.wait_for_log_line("the local provider's code", |line| {
        line.contains("code sent") && line.contains(&format!("phone={phone} "))
    });
    let (_, rest) = line.split_once(" code=").expect("the line names the code");
    rest.split_whitespace().next().expect("a code").to_owned()
}

async fn a_phone_logs_in_with_the_code_sent_to_it_and_its_token_books(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let mut issuer = Issuer::start_with(
        0,
        &[
            ("DATABASE_URL", database.url.clone()),
            ("OTP_PROVIDER", "local".to_owned()),
        ],
    );
    let users = service("user-service", &issuer.jwks_url());
    let client = reqwest::Client::new();

    let started = post(
        &client,
        format!("{}/otp/start", issuer.url()),
        &json!({ "phone": "+44 7700 900123" }),
    )
    .await;
    assert_eq!(started.status(), 202);
    assert_eq!(
        started.json::<Value>().await.unwrap(),
        json!({ "status": "pending" })
    );
    let code = code_sent_to(&mut issuer, PHONE);
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    let verified = post(
        &client,
        format!("{}/otp/verify", issuer.url()),
        &json!({ "phone": PHONE, "code": code }),
    )
    .await;
    assert_eq!(verified.status(), 200);
    assert_eq!(verified.headers()["cache-control"], "no-store");
    let body: Value = verified.json().await.unwrap();

    assert_eq!(body["token_type"], "Bearer");
    let access = body["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    assert_eq!(claims["phone_number"], PHONE);
    assert_eq!(claims["role"], "user");
    assert!(claims.get("email").is_none(), "{claims}");
    let booked = call(&client, format!("{}/book", users.base_url), Some(access)).await;
    assert_eq!(booked.status(), 200);
    assert_eq!(
        booked.json::<Value>().await.unwrap(),
        json!({ "success": true, "message": "Booking successful", "user": PHONE })
    );
}
