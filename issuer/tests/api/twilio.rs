//! The Twilio Verify provider against a local HTTP server that speaks Twilio Verify's request
//! and response shapes and records what it receives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::helpers::{Backend, TestApp, assert_error, claims_of, spawn_app_with, tokens};
use crate::otp::PHONE;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const SERVICE: &str = "VA0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "twilio-auth-token-for-tests";

/// One request the fake received.
#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    authorization: Option<String>,
    form: HashMap<String, String>,
}

/// What the fake answers, per endpoint (`Verifications`, `VerificationCheck`).
#[derive(Default)]
struct Script {
    answers: HashMap<String, (StatusCode, Value)>,
    received: Vec<Recorded>,
}

#[derive(Clone, Default)]
struct FakeTwilio(Arc<Mutex<Script>>);

impl FakeTwilio {
    fn answer(&self, endpoint: &str, status: u16, body: Value) {
        self.lock().answers.insert(
            endpoint.to_owned(),
            (StatusCode::from_u16(status).unwrap(), body),
        );
    }

    fn received(&self) -> Vec<Recorded> {
        self.lock().received.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn endpoint(
    State(fake): State<FakeTwilio>,
    Path((service, endpoint)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let mut script = fake.lock();
    script.received.push(Recorded {
        path: format!("/v2/Services/{service}/{endpoint}"),
        authorization: headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
        form: serde_urlencoded::from_bytes(&body).expect("a form body"),
    });
    let (status, body) = script.answers.get(&endpoint).cloned().unwrap_or((
        StatusCode::NOT_FOUND,
        json!({ "code": 20404, "status": 404 }),
    ));
    (status, axum::Json(body))
}

/// The fake on a port of its own, and an issuer using it.
async fn issuer_with_fake_twilio() -> (TestApp, FakeTwilio) {
    let fake = FakeTwilio::default();
    let router = Router::new()
        .route("/v2/Services/{service}/{endpoint}", post(endpoint))
        .with_state(fake.clone());
    let base_url = test_support::serve(router).await;
    let app = issuer_with_twilio_at(&base_url, &[]).await;
    (app, fake)
}

async fn issuer_with_twilio_at(base_url: &str, extra: &[&str]) -> TestApp {
    let mut flags = vec![
        "--otp-provider",
        "twilio",
        "--twilio-account-sid",
        ACCOUNT,
        "--twilio-auth-token",
        AUTH_TOKEN,
        "--twilio-verify-service-sid",
        SERVICE,
        "--twilio-verify-base-url",
        base_url,
    ];
    flags.extend_from_slice(extra);
    spawn_app_with(&Backend::Sqlite, &flags, |_| {}).await
}

/// Twilio's answer to a started verification.
fn pending(to: &str) -> Value {
    json!({
        "sid": "VE0123456789abcdef0123456789abcdef",
        "service_sid": SERVICE,
        "account_sid": ACCOUNT,
        "to": to,
        "channel": "sms",
        "status": "pending",
        "valid": false,
    })
}

/// Twilio's answer to a check.
fn checked(status: &str) -> Value {
    json!({
        "sid": "VE0123456789abcdef0123456789abcdef",
        "to": PHONE,
        "channel": "sms",
        "status": status,
        "valid": status == "approved",
    })
}

/// The `Authorization` header Twilio expects: basic auth with the account SID and auth token.
fn basic_auth() -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{ACCOUNT}:{AUTH_TOKEN}"))
    )
}

fn twilio_error(code: u32, status: u16, message: &str) -> Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
}

#[tokio::test]
async fn start_posts_the_number_and_sms_channel_with_basic_auth() {
    let (app, fake) = issuer_with_fake_twilio().await;
    fake.answer("Verifications", 201, pending(PHONE));

    let response = app.otp_start("+44 7700 900123").await;

    assert_eq!(response.status(), 202);
    let received = fake.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(
        request.path,
        format!("/v2/Services/{SERVICE}/Verifications")
    );
    assert_eq!(request.authorization, Some(basic_auth()));
    let expected: HashMap<String, String> = [("To", PHONE), ("Channel", "sms")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(request.form, expected);
}

#[tokio::test]
async fn an_approved_check_logs_the_phone_in() {
    let (app, fake) = issuer_with_fake_twilio().await;
    fake.answer("VerificationCheck", 200, checked("approved"));

    let body = tokens(app.otp_verify(PHONE, "123456").await).await;

    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["phone_number"],
        PHONE
    );
    let received = fake.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].path,
        format!("/v2/Services/{SERVICE}/VerificationCheck")
    );
    assert_eq!(received[0].form["To"], PHONE);
    assert_eq!(received[0].form["Code"], "123456");
    assert_eq!(received[0].form.len(), 2);
    assert_eq!(received[0].authorization, Some(basic_auth()));
}

#[tokio::test]
async fn a_pending_check_or_no_verification_is_a_wrong_code() {
    let (app, fake) = issuer_with_fake_twilio().await;
    for (status, body) in [
        (200, checked("pending")),
        (
            404,
            twilio_error(20404, 404, "The requested resource was not found"),
        ),
        (429, twilio_error(60202, 429, "Max check attempts reached")),
    ] {
        fake.answer("VerificationCheck", status, body);

        let response = app.otp_verify(PHONE, "123456").await;

        assert_error(response, 401, "invalid_credentials").await;
    }
}

#[tokio::test]
async fn a_number_twilio_refuses_is_422() {
    let (app, fake) = issuer_with_fake_twilio().await;
    fake.answer(
        "Verifications",
        400,
        twilio_error(60200, 400, "Invalid parameter `To`: +447700900123"),
    );

    let description = assert_error(app.otp_start(PHONE).await, 422, "invalid_request").await;

    assert_eq!(description, "phone cannot receive codes by SMS");
}

#[tokio::test]
async fn twilios_own_send_limit_is_429_with_retry_after() {
    let (app, fake) = issuer_with_fake_twilio().await;
    fake.answer(
        "Verifications",
        429,
        twilio_error(60203, 429, "Max send attempts reached"),
    );

    let response = app.otp_start(PHONE).await;

    assert_eq!(response.headers()["retry-after"], "600");
    assert_error(response, 429, "rate_limited").await;
}

#[tokio::test]
async fn twilio_failures_are_503_without_twilios_text() {
    let (app, fake) = issuer_with_fake_twilio().await;
    for (status, body) in [
        (
            401,
            twilio_error(20003, 401, "Authenticate: credentials for ACxyz"),
        ),
        (
            500,
            twilio_error(20500, 500, "Internal Server Error at Twilio"),
        ),
        (503, json!("Twilio maintenance page")),
    ] {
        fake.answer("Verifications", status, body.clone());
        fake.answer("VerificationCheck", status, body);

        for response in [
            app.otp_start(PHONE).await,
            app.otp_verify(PHONE, "123456").await,
        ] {
            assert_eq!(response.headers()["retry-after"], "5");
            let text = response.text().await.unwrap();
            assert!(!text.contains("Twilio"), "{text}");
            assert!(!text.contains("ACxyz"), "{text}");
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body["error"], "temporarily_unavailable", "{status}");
        }
    }
}

#[tokio::test]
async fn an_unreachable_twilio_is_503() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = issuer_with_twilio_at(&base_url, &[]).await;

    assert_error(app.otp_start(PHONE).await, 503, "temporarily_unavailable").await;
    assert_error(
        app.otp_verify(PHONE, "123456").await,
        503,
        "temporarily_unavailable",
    )
    .await;
}

#[tokio::test]
async fn our_limits_hold_before_twilio_is_asked() {
    let (app, fake) = issuer_with_fake_twilio().await;
    fake.answer("Verifications", 201, pending(PHONE));
    for _ in 0..5 {
        assert_eq!(app.otp_start(PHONE).await.status(), 202);
    }

    assert_error(app.otp_start(PHONE).await, 429, "rate_limited").await;

    assert_eq!(fake.received().len(), 5, "the sixth never reached Twilio");
}

#[tokio::test]
async fn provider_calls_beyond_the_cap_are_503_at_once_and_spend_no_allowance() {
    // A Twilio that holds every send until the test lets it answer.
    let (answer, answering) = watch::channel(false);
    let (arrive, arrived) = watch::channel(0_usize);
    let router = Router::new().route(
        "/v2/Services/{service}/{endpoint}",
        post(move || {
            let mut answering = answering.clone();
            arrive.send_modify(|sends| *sends += 1);
            async move {
                let _ = answering.wait_for(|answer| *answer).await;
                (StatusCode::CREATED, axum::Json(pending(PHONE)))
            }
        }),
    );
    let base_url = test_support::serve(router).await;
    let one_call = ["--otp-max-concurrent", "1", "--otp-sends-per-client", "2"];
    let app = issuer_with_twilio_at(&base_url, &one_call).await;
    let body = json!({ "phone": PHONE });
    let start = || app.post_json("/otp/start", &body);

    let (first, ()) = tokio::join!(start(), async {
        let mut arrived = arrived.clone();
        arrived.wait_for(|sends| *sends == 1).await.unwrap();
        let refused = start().await;
        assert_eq!(refused.headers()["retry-after"], "1");
        let description = assert_error(refused, 503, "temporarily_unavailable").await;
        assert_eq!(description, "the service is busy; retry shortly");
        answer.send_replace(true);
    });
    assert_eq!(first.status(), 202);
    assert_eq!(
        start().await.status(),
        202,
        "the refused start spent none of the address's two sends"
    );
    assert_eq!(
        *arrived.borrow(),
        2,
        "the refused start never reached the provider"
    );
}
