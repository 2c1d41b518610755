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
    let url = format!("{}/any", app.base);

    for (name, value) in [
        ("x-access-token", token.clone()),
        ("x-access-token", format!("Bearer {token}")),
        ("cookie", format!("theme=dark; session={token}")),
    ] {
        let response = app
            .client
            .get(&url)
            .header(name, &value)
            .send()
            .await
            .unwrap();

        assert_eq!(response.status(), 200, "{name}");
        assert_eq!(response.text().await.unwrap(), "user-1");
    }
}

#[tokio::test]
async fn authorization_wins_and_a_malformed_first_source_is_refused_not_skipped() {
    let (app, token) = app().await;
    let url = format!("{}/any", app.base);

    // A bad bearer token is not rescued by a good cookie.
    let response = app
        .client
        .get(&url)
        .header("authorization", "Bearer x.y.z")
        .header("cookie", format!("session={token}"))
        .send()
        .await
        .unwrap();
    assert_invalid_token(response, "the token header is malformed").await;

    // A malformed header is not skipped for the cookie.
    let response = app
        .client
        .get(&url)
        .header("x-access-token", "not a token")
        .header("cookie", format!("session={token}"))
        .send()
        .await
        .unwrap();
    assert_invalid_token(
        response,
        "the header or cookie carrying the token is malformed",
    )
    .await;

    // The cookie twice.
    let response = app
        .client
        .get(&url)
        .header("cookie", format!("session={token}; session={token}"))
        .send()
        .await
        .unwrap();
    assert_invalid_token(
        response,
        "the header or cookie carrying the token is malformed",
    )
    .await;
}

#[tokio::test]
async fn with_no_source_present_the_answer_is_the_plain_rfc_6750_challenge() {
    let (app, _) = app().await;

    let response = app
        .client
        .get(format!("{}/any", app.base))
        .header("cookie", "theme=dark")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}
