//! Tokens from a cookie or a custom header next to `Authorization: Bearer`, through a real app.

use verifier_middleware::clock::Clock;

use crate::support::{TestApp, assert_invalid_token, builder, clock, key, token};

async fn app() -> (TestApp, String) {
    let clock = clock();
    let verifier = builder(&clock)
        .public_jwk(key(0).jwk.to_string())
        .build()
        .unwrap();
    let layer = verifier
        .layer()
        .token_from_header("x-access-token")
        .token_from_cookie("session");
    (TestApp::start_with(layer).await, token(key(0), clock.now()))
}

#[tokio::test]
async fn a_token_in_the_configured_header_or_cookie_is_verified() {
    let (app, token) = app().await;

    for (name, value) in [
        ("x-access-token", token.clone()),
        ("x-access-token", format!("Bearer {token}")),
        ("cookie", format!("theme=dark; session={token}")),
    ] {
        let response = get(&app, &[(name, value)]).await;

        assert_eq!(response.status(), 200, "{name}");
        assert_eq!(response.text().await.unwrap(), "user-1");
    }
}

/// `GET /any` with these headers.
async fn get(app: &TestApp, headers: &[(&str, String)]) -> reqwest::Response {
    let mut request = app.client.get(format!("{}/any", app.base));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn authorization_wins_and_a_malformed_first_source_is_refused_not_skipped() {
    let (app, token) = app().await;
    let cookie = ("cookie", format!("session={token}"));
    let malformed = "the header or cookie carrying the token is malformed";

    // A bad bearer token is not rescued by a good cookie.
    let bad_bearer = ("authorization", "Bearer x.y.z".to_owned());
    let response = get(&app, &[bad_bearer, cookie.clone()]).await;
    assert_invalid_token(response, "the token header is malformed").await;

    // A malformed header is not skipped for the cookie.
    let bad_header = ("x-access-token", "not a token".to_owned());
    assert_invalid_token(get(&app, &[bad_header, cookie]).await, malformed).await;

    // The cookie twice.
    let twice = ("cookie", format!("session={token}; session={token}"));
    assert_invalid_token(get(&app, &[twice]).await, malformed).await;
}

#[tokio::test]
async fn with_no_source_present_the_answer_is_the_plain_rfc_6750_challenge() {
    let (app, _) = app().await;

    let response = get(&app, &[("cookie", "theme=dark".to_owned())]).await;

    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}
