//! Scopes and issuer-specific role claims through a real app: `RequireScopeLayer` answering
//! 403 with the RFC 6750 `scope` attribute, and Keycloak's `realm_access.roles` as roles.

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use verifier_middleware::clock::Clock;
use verifier_middleware::{RequireRoleLayer, RequireScopeLayer, VerifiedClaims};

use crate::support::{builder, clock, key, token_with};

async fn whoami(claims: VerifiedClaims) -> String {
    claims.subject().unwrap_or("-").to_owned()
}

/// `/write` needs scopes `bookings:read` and `bookings:write`; `/raider` role `raider`, read
/// from Keycloak's claims.
async fn app() -> String {
    let verifier = builder(&clock())
        .public_jwk(key(0).jwk.to_string())
        .role_claims(["/realm_access/roles", "/resource_access/bookings/roles"])
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/write",
            get(whoami).layer(RequireScopeLayer::all_of([
                "bookings:read",
                "bookings:write",
            ])),
        )
        .route(
            "/raider",
            get(whoami).layer(RequireRoleLayer::any_of(["raider"])),
        )
        .layer(verifier.layer());
    test_support::serve(app).await
}

async fn get_with(base: &str, path: &str, claims: Value) -> reqwest::Response {
    let token = token_with(key(0), clock().now(), |c| {
        c.as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
    });
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_route_needing_scopes_admits_tokens_granting_all_of_them() {
    let base = app().await;

    for scopes in [
        json!({ "scope": "openid bookings:read bookings:write" }),
        json!({ "scp": ["bookings:write", "bookings:read"] }),
    ] {
        let response = get_with(&base, "/write", scopes.clone()).await;
        assert_eq!(response.status(), 200, "{scopes}");
    }
}

#[tokio::test]
async fn a_token_lacking_a_scope_is_403_naming_the_scopes_in_the_challenge() {
    let base = app().await;

    let response = get_with(&base, "/write", json!({ "scope": "bookings:read" })).await;

    assert_eq!(response.status(), 403);
    let description = "the token lacks scopes this route needs (bookings:read bookings:write)";
    assert_eq!(
        response.headers()["www-authenticate"],
        format!(
            "Bearer error=\"insufficient_scope\", error_description=\"{description}\", scope=\"bookings:read bookings:write\""
        )
        .as_str()
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "error": "insufficient_scope", "error_description": description })
    );
}

#[tokio::test]
async fn roles_are_read_from_the_configured_keycloak_claims_only() {
    let base = app().await;

    let realm = json!({ "realm_access": { "roles": ["raider", "offline_access"] } });
    assert_eq!(get_with(&base, "/raider", realm).await.status(), 200);
    let client = json!({ "resource_access": { "bookings": { "roles": ["raider"] } } });
    assert_eq!(get_with(&base, "/raider", client).await.status(), 200);
    // The issuer's own `role` claim is not read once other role claims are configured.
    let plain = json!({ "role": "raider" });
    assert_eq!(get_with(&base, "/raider", plain).await.status(), 403);
    // A string there is one role; any other type makes the token malformed, never guessed at.
    let one = json!({ "realm_access": { "roles": "raider" } });
    assert_eq!(get_with(&base, "/raider", one).await.status(), 200);
    let wrong = json!({ "realm_access": { "roles": { "raider": true } } });
    assert_eq!(get_with(&base, "/raider", wrong).await.status(), 401);
}
