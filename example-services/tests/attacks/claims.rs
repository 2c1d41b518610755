//! Claim attacks under a genuine signature: times, issuer, audience, token type, duplicate
//! claims, and role claims of the wrong type or value.

use serde_json::{Value, json};
use test_support::stack::ISSUER;

use crate::forge::{claims, claims_with, now};
use crate::target::{MALFORMED_CLAIMS, Target};

const EXPIRED: &str = "the token has expired";
const WRONG_ISSUER: &str = "the token was issued by another issuer";
const WRONG_AUDIENCE: &str = "the token is meant for another audience";

/// Each `(case, claim, value, description)`: a genuine token with `claim` set to `value` (null
/// removes it) is refused with `description`.
async fn refuse_each<const N: usize>(target: &Target, cases: [(&str, &str, Value, &str); N]) {
    for (case, name, value, description) in cases {
        target
            .assert_refused(case, &target.token(&claims_with(name, value)), description)
            .await;
    }
}

/// A genuine token with `claim` set to `value` is refused as malformed.
async fn refuse_as_malformed(target: &Target, claim: &str, value: Value) {
    let case = format!("{claim} = {value}");
    target
        .assert_refused(
            &case,
            &target.token(&claims_with(claim, value)),
            MALFORMED_CLAIMS,
        )
        .await;
}

#[tokio::test]
async fn expired_not_yet_valid_and_undated_tokens_are_refused() {
    let target = Target::start().await;
    let now = now();
    // The default leeway is 60 s: inside it passes, beyond it fails.
    target
        .assert_accepted(
            "expired 30 s ago",
            &target.token(&claims_with("exp", json!(now - 30))),
        )
        .await;

    let cases: [(&str, &str, Value, &str); 7] = [
        ("expired 2 min ago", "exp", json!(now - 120), EXPIRED),
        ("expired at the epoch", "exp", json!(0), EXPIRED),
        ("negative expiry", "exp", json!(-1), EXPIRED),
        ("no exp", "exp", Value::Null, "the token has no expiry"),
        (
            "nbf in an hour",
            "nbf",
            json!(now + 3600),
            "the token is not valid yet",
        ),
        (
            "iat in an hour",
            "iat",
            json!(now + 3600),
            "the token was issued in the future",
        ),
        (
            "nbf far away",
            "nbf",
            json!(i64::MAX),
            "the token is not valid yet",
        ),
    ];
    refuse_each(&target, cases).await;
}

#[tokio::test]
async fn time_claims_of_the_wrong_json_type_are_malformed() {
    let target = Target::start().await;
    let later = now() + 600;
    for name in ["exp", "nbf", "iat"] {
        for value in [
            json!(later.to_string()),
            json!(true),
            json!([later]),
            json!({ "seconds": later }),
            json!(""),
        ] {
            refuse_as_malformed(&target, name, value).await;
        }
    }
}

#[tokio::test]
async fn the_issuer_and_audience_must_be_exactly_ours() {
    let target = Target::start().await;
    target
        .assert_accepted(
            "control: an audience list naming ours",
            &target.token(&claims_with("aud", json!(["other", "api"]))),
        )
        .await;

    let cases: [(&str, &str, Value, &str); 14] = [
        (
            "another issuer",
            "iss",
            json!("https://evil.example"),
            WRONG_ISSUER,
        ),
        (
            "issuer with a trailing slash",
            "iss",
            json!(format!("{ISSUER}/")),
            WRONG_ISSUER,
        ),
        (
            "issuer in another case",
            "iss",
            json!(ISSUER.to_uppercase()),
            WRONG_ISSUER,
        ),
        ("empty issuer", "iss", json!(""), WRONG_ISSUER),
        ("no issuer", "iss", Value::Null, WRONG_ISSUER),
        (
            "issuer as an array",
            "iss",
            json!([ISSUER]),
            MALFORMED_CLAIMS,
        ),
        (
            "issuer as an object",
            "iss",
            json!({ "iss": ISSUER }),
            MALFORMED_CLAIMS,
        ),
        ("another audience", "aud", json!("other"), WRONG_AUDIENCE),
        (
            "audience in another case",
            "aud",
            json!("API"),
            WRONG_AUDIENCE,
        ),
        ("empty audience", "aud", json!(""), WRONG_AUDIENCE),
        ("empty audience list", "aud", json!([]), WRONG_AUDIENCE),
        ("no audience", "aud", Value::Null, WRONG_AUDIENCE),
        ("audience as a number", "aud", json!(1), MALFORMED_CLAIMS),
        (
            "audience list of non-strings",
            "aud",
            json!([["api"]]),
            MALFORMED_CLAIMS,
        ),
    ];
    refuse_each(&target, cases).await;
}

#[tokio::test]
async fn refresh_type_tokens_and_duplicate_claims_are_refused() {
    let target = Target::start().await;
    for kind in ["refresh", "Refresh", "REFRESH"] {
        target
            .assert_refused(
                kind,
                &target.token(&claims_with("type", json!(kind))),
                "a refresh token is not an access token",
            )
            .await;
    }
    target
        .assert_refused(
            "type as a number",
            &target.token(&claims_with("type", json!(1))),
            MALFORMED_CLAIMS,
        )
        .await;

    let header = target.header().to_string();
    let body = claims().to_string();
    let inner = body.trim_start_matches('{');
    for duplicate in [
        r#""exp":9999999999,"#,
        r#""role":"admin","#,
        r#""iss":"https://evil.example","#,
        r#""aud":"other","#,
    ] {
        let payload = format!("{{{duplicate}{inner}");
        target
            .assert_refused(
                duplicate,
                &target.sign_texts(&header, &payload),
                MALFORMED_CLAIMS,
            )
            .await;
    }
    for payload in ["[]", "null", "\"claims\"", "42", "{", ""] {
        let token = target.sign_texts(&header, payload);
        let expected = if payload.is_empty() {
            "the token is not a compact JWS"
        } else {
            MALFORMED_CLAIMS
        };
        target.assert_refused(payload, &token, expected).await;
    }
}

#[tokio::test]
async fn role_claims_of_the_wrong_type_are_refused_and_other_roles_are_forbidden() {
    let target = Target::start().await;
    target
        .assert_accepted(
            "control: roles list",
            &target.token(&claims_with("roles", json!(["admin", "user"]))),
        )
        .await;

    for (name, value) in [
        ("role", json!(["user"])),
        ("role", json!(1)),
        ("role", json!(true)),
        ("role", json!({ "name": "user" })),
        ("roles", json!("user")),
        ("roles", json!([1])),
        ("roles", json!([["user"]])),
        ("roles", json!({ "user": true })),
    ] {
        refuse_as_malformed(&target, name, value).await;
    }
    for role in [
        "raider",
        "User",
        "user ",
        " user",
        "admin",
        "",
        "user,raider",
        "*",
    ] {
        target
            .assert_forbidden(role, &target.token(&claims_with("role", json!(role))))
            .await;
    }
    target
        .assert_forbidden(
            "no role at all",
            &target.token(&claims_with("role", Value::Null)),
        )
        .await;
}
