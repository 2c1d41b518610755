//! Every validation rule through a real app: a token that must fail, next to its control.

use std::time::SystemTime;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use verifier_middleware::clock::{Clock, ManualClock};
use verifier_middleware::{InvalidToken, Rejection, SignatureAlgorithm};

use crate::support::{
    TestApp, TestKey, assert_invalid_token, b64, builder, claims_at, clock, key, sign, token,
    token_with,
};

async fn app() -> (TestApp, ManualClock) {
    let clock = clock();
    let verifier = builder(&clock)
        .public_jwk(key(0).jwk.to_string())
        .build()
        .unwrap();
    (TestApp::start(&verifier).await, clock)
}

fn header() -> Value {
    json!({ "alg": "RS256", "typ": "at+jwt", "kid": key(0).kid })
}

/// The usual claims at `now` under any `header`, signed with `key` as `alg`.
fn signed_by(header: &Value, key: &TestKey, alg: Algorithm, now: SystemTime) -> String {
    sign(header, &claims_at(now), &key.encoding, alg)
}

/// A key-0 access token at `now` without the claim `name`.
fn token_without(name: &str, now: SystemTime) -> String {
    token_with(key(0), now, |c| {
        c.as_object_mut().unwrap().remove(name);
    })
}

/// Asserts that the app refuses `token` on `/any` as `invalid_token` with `description`.
async fn assert_refused(app: &TestApp, token: &str, description: &str) {
    assert_invalid_token(app.get("/any", Some(token)).await, description).await;
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_claims() {
    let (app, clock) = app().await;

    let response = app.get("/any", Some(&token(key(0), clock.now()))).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "user-1");
}

#[tokio::test]
async fn no_token_is_401_with_a_bare_bearer_challenge() {
    let (app, _) = app().await;

    for response in [
        app.get("/any", None).await,
        app.client
            .get(format!("{}/any", app.base))
            .header("authorization", "Basic dXNlcjpwYXNz")
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(body["error_description"], "the request has no bearer token");
    }
}

#[tokio::test]
async fn a_malformed_authorization_header_is_401() {
    let (app, _) = app().await;

    let response = app
        .client
        .get(format!("{}/any", app.base))
        .header("authorization", "Bearer a b")
        .send()
        .await
        .unwrap();

    assert_invalid_token(
        response,
        "the Authorization header is not a well-formed bearer token",
    )
    .await;
}

#[tokio::test]
async fn expiry_is_enforced_with_60_seconds_of_leeway() {
    let (app, clock) = app().await;
    let now = verifier_middleware::clock::unix_seconds(clock.now());

    let expired = token_with(key(0), clock.now(), |c| c["exp"] = json!(now - 60));
    assert_refused(&app, &expired, "the token has expired").await;
    let within_leeway = token_with(key(0), clock.now(), |c| c["exp"] = json!(now - 59));
    assert_eq!(app.get("/any", Some(&within_leeway)).await.status(), 200);
}

#[tokio::test]
async fn a_token_expires_when_the_clock_passes_exp() {
    let (app, clock) = app().await;
    let token = token(key(0), clock.now());
    assert_eq!(app.get("/any", Some(&token)).await.status(), 200);

    clock.advance(std::time::Duration::from_secs(900 + 60));

    assert_refused(&app, &token, "the token has expired").await;
}

#[tokio::test]
async fn a_token_without_exp_is_refused() {
    let (app, clock) = app().await;
    let token = token_without("exp", clock.now());

    assert_refused(&app, &token, "the token has no expiry").await;
}

#[tokio::test]
async fn nbf_and_iat_in_the_future_are_refused() {
    let (app, clock) = app().await;
    let now = verifier_middleware::clock::unix_seconds(clock.now());

    let early = token_with(key(0), clock.now(), |c| c["nbf"] = json!(now + 61));
    assert_refused(&app, &early, "the token is not valid yet").await;
    let future = token_with(key(0), clock.now(), |c| c["iat"] = json!(now + 61));
    assert_refused(&app, &future, "the token was issued in the future").await;
    let control = token_with(key(0), clock.now(), |c| {
        c["nbf"] = json!(now + 60);
        c["iat"] = json!(now + 60);
    });
    assert_eq!(app.get("/any", Some(&control)).await.status(), 200);
}

#[tokio::test]
async fn time_claims_of_the_wrong_json_type_are_refused() {
    let (app, clock) = app().await;
    let now = verifier_middleware::clock::unix_seconds(clock.now());

    for (name, value) in [
        ("exp", json!((now + 900).to_string())),
        ("nbf", json!(null)),
        ("iat", json!([now])),
    ] {
        let token = token_with(key(0), clock.now(), |c| c[name] = value);
        assert_refused(&app, &token, "the token claims are malformed").await;
    }
}

#[tokio::test]
async fn the_issuer_must_match() {
    let (app, clock) = app().await;

    for iss in [json!("https://evil.test"), json!("https://issuer.test/")] {
        let token = token_with(key(0), clock.now(), |c| c["iss"] = iss);
        assert_refused(&app, &token, "the token was issued by another issuer").await;
    }
    let missing = token_without("iss", clock.now());
    assert_refused(&app, &missing, "the token was issued by another issuer").await;
}

#[tokio::test]
async fn the_audience_may_be_a_string_or_an_array_but_must_name_ours() {
    let (app, clock) = app().await;

    let listed = token_with(key(0), clock.now(), |c| {
        c["aud"] = json!(["billing", "api"])
    });
    assert_eq!(app.get("/any", Some(&listed)).await.status(), 200);
    for aud in [json!("billing"), json!(["billing"]), json!([])] {
        let token = token_with(key(0), clock.now(), |c| c["aud"] = aud);
        assert_refused(&app, &token, "the token is meant for another audience").await;
    }
}

#[tokio::test]
async fn refresh_tokens_are_refused_by_claim_or_by_typ() {
    let (app, clock) = app().await;

    let by_claim = token_with(key(0), clock.now(), |c| c["type"] = json!("refresh"));
    assert_refused(&app, &by_claim, "a refresh token is not an access token").await;
    let mut header = header();
    header["typ"] = json!("rt+jwt");
    let by_typ = signed_by(&header, key(0), Algorithm::RS256, clock.now());
    assert_refused(&app, &by_typ, "a refresh token is not an access token").await;
}

#[tokio::test]
async fn an_unknown_crit_is_refused() {
    let (app, clock) = app().await;
    let mut header = header();
    header["crit"] = json!(["exp"]);
    header["exp"] = json!(1);

    let token = signed_by(&header, key(0), Algorithm::RS256, clock.now());

    assert_refused(
        &app,
        &token,
        "the token requires extensions this verifier does not support",
    )
    .await;
}

#[tokio::test]
async fn alg_none_is_refused_signed_or_not() {
    let (app, clock) = app().await;
    let payload = b64(claims_at(clock.now()).to_string());

    for alg in ["none", "None", "NONE"] {
        let header = b64(json!({ "alg": alg, "kid": key(0).kid }).to_string());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.AAAA"),
        ] {
            let response = app.get("/any", Some(&token)).await;
            assert_eq!(response.status(), 401, "{alg}: {token}");
        }
    }
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused() {
    let (app, clock) = app().await;
    let claims = claims_at(clock.now());
    let header = json!({ "alg": "HS256", "kid": key(0).kid });

    for secret in [key(0).public_pem.as_bytes(), &key(0).public_der] {
        let token = sign(
            &header,
            &claims,
            &EncodingKey::from_secret(secret),
            Algorithm::HS256,
        );
        assert_refused(&app, &token, "the token's algorithm is not accepted").await;
    }
}

#[tokio::test]
async fn an_rsa_algorithm_outside_the_pin_is_refused() {
    let (app, clock) = app().await;
    let header = json!({ "alg": "RS512", "kid": key(0).kid });

    let token = signed_by(&header, key(0), Algorithm::RS512, clock.now());

    assert_refused(&app, &token, "the token's algorithm is not accepted").await;
}

#[tokio::test]
async fn each_rsa_algorithm_verifies_when_pinned_and_not_under_another_name() {
    let clock = clock();
    let all = [
        (SignatureAlgorithm::Rs256, Algorithm::RS256),
        (SignatureAlgorithm::Rs384, Algorithm::RS384),
        (SignatureAlgorithm::Rs512, Algorithm::RS512),
        (SignatureAlgorithm::Ps256, Algorithm::PS256),
        (SignatureAlgorithm::Ps384, Algorithm::PS384),
        (SignatureAlgorithm::Ps512, Algorithm::PS512),
    ];
    let mut jwk = key(0).jwk.clone();
    jwk.as_object_mut().unwrap().remove("alg");
    let verifier = builder(&clock)
        .public_jwk(jwk.to_string())
        .algorithms(all.map(|(pinned, _)| pinned))
        .build()
        .unwrap();

    for (_, alg) in all {
        let claims = claims_at(clock.now());
        let header = json!({ "alg": alg, "kid": key(0).kid });
        let token = sign(&header, &claims, &key(0).encoding, alg);
        assert!(verifier.verify(&token).await.is_ok(), "{alg:?}");

        // The same signature presented as another algorithm of the family never verifies.
        let signature = token.rsplit_once('.').unwrap().1;
        for (_, other) in all.into_iter().filter(|(_, other)| *other != alg) {
            let header = json!({ "alg": other, "kid": key(0).kid });
            let relabelled = format!(
                "{}.{}.{signature}",
                b64(header.to_string()),
                b64(claims.to_string())
            );
            assert_eq!(
                verifier.verify(&relabelled).await.unwrap_err(),
                Rejection::InvalidToken(InvalidToken::BadSignature),
                "{alg:?} signature labelled {other:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_tampered_payload_fails_the_signature() {
    let (app, clock) = app().await;
    let token = token(key(0), clock.now());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims = claims_at(clock.now());
    claims["role"] = json!("admin");
    parts[1] = b64(claims.to_string());

    let response = app.get("/any", Some(&parts.join("."))).await;

    assert_invalid_token(response, "the token signature is invalid").await;
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_our_kid_fails() {
    let (app, clock) = app().await;

    let token = signed_by(&header(), key(1), Algorithm::RS256, clock.now());

    assert_refused(&app, &token, "the token signature is invalid").await;
}

#[tokio::test]
async fn an_embedded_jwk_or_jku_is_ignored() {
    let (app, clock) = app().await;
    // The attacker signs with key 1 and offers its public key in the header.
    let header = json!({
        "alg": "RS256", "kid": key(0).kid, "jwk": key(1).jwk,
        "jku": "http://127.0.0.1:9/jwks.json", "x5u": "http://127.0.0.1:9/cert.pem",
    });

    let token = signed_by(&header, key(1), Algorithm::RS256, clock.now());

    assert_refused(&app, &token, "the token signature is invalid").await;
}

#[tokio::test]
async fn an_unknown_kid_is_refused() {
    let (app, clock) = app().await;

    let token = token(key(1), clock.now());

    assert_refused(&app, &token, "the token was signed by an unknown key").await;
}

#[tokio::test]
async fn a_token_over_8_kib_is_refused_before_parsing() {
    let (app, clock) = app().await;
    let big = token_with(key(0), clock.now(), |c| {
        c["pad"] = json!("x".repeat(8 * 1024))
    });

    assert_refused(&app, &big, "the token is too long").await;
}

#[tokio::test]
async fn only_compact_jws_with_three_segments_is_accepted() {
    let (app, clock) = app().await;
    let token = token(key(0), clock.now());
    let (two_segments, _) = token.rsplit_once('.').unwrap();
    let jwe_shaped = format!("{token}.AAAA.BBBB");

    for token in [two_segments.to_owned(), jwe_shaped] {
        assert_refused(&app, &token, "the token is not a compact JWS").await;
    }
}

#[tokio::test]
async fn duplicate_claims_are_refused() {
    let (app, clock) = app().await;
    let header = b64(header().to_string());
    let now = verifier_middleware::clock::unix_seconds(clock.now());
    let payload = format!(
        r#"{{"iss":"https://issuer.test","aud":"api","exp":{},"exp":{},"role":"user"}}"#,
        now - 3600,
        now + 900
    );
    let signing_input = format!("{header}.{}", b64(payload));
    let signature =
        jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key(0).encoding, Algorithm::RS256)
            .unwrap();

    let response = app
        .get("/any", Some(&format!("{signing_input}.{signature}")))
        .await;

    assert_invalid_token(response, "the token claims are malformed").await;
}

#[tokio::test]
async fn a_route_role_is_403_insufficient_scope_when_missing() {
    let (app, clock) = app().await;

    let raider = token_with(key(0), clock.now(), |c| c["role"] = json!("raider"));
    let response = app.get("/user", Some(&raider)).await;
    assert_eq!(response.status(), 403);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer error=\"insufficient_scope\"")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");

    let user = token(key(0), clock.now());
    assert_eq!(app.get("/user", Some(&user)).await.status(), 200);
    let in_roles = token_with(key(0), clock.now(), |c| {
        c["role"] = json!("raider");
        c["roles"] = json!(["admin", "user"]);
    });
    assert_eq!(app.get("/user", Some(&in_roles)).await.status(), 200);
}

#[tokio::test]
async fn role_claims_of_the_wrong_type_are_refused() {
    let (app, clock) = app().await;

    for (name, value) in [("role", json!(["user"])), ("roles", json!("user"))] {
        let token = token_with(key(0), clock.now(), |c| c[name] = value);
        assert_invalid_token(
            app.get("/user", Some(&token)).await,
            "the token claims are malformed",
        )
        .await;
    }
}
