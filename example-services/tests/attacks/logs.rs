//! What the service writes about the tokens it sees: reasons, never token text.

use serde_json::json;

use crate::forge::{b64, claims, claims_with};
use crate::target::Target;

#[tokio::test]
async fn the_service_log_at_trace_level_never_contains_token_text_or_personal_claims() {
    let target = Target::start_with(&[("RUST_LOG", "trace".to_owned())]).await;
    let genuine = target.token(&claims());
    let forged_role = target.token(&claims_with("role", json!("raider")));
    let expired = target.token(&claims_with("exp", json!(1)));
    let (signed, _) = genuine.rsplit_once('.').unwrap();
    let bad_signature = format!("{signed}.{}", b64([0u8; 256]));
    for (token, status) in [
        (&genuine, 200),
        (&forged_role, 403),
        (&expired, 401),
        (&bad_signature, 401),
    ] {
        assert_eq!(target.book(token).await.status(), status);
    }

    let (_, log) = target.service.terminate_with_output();

    assert!(
        log.contains("the token has expired"),
        "reasons are logged: {log}"
    );
    for token in [&genuine, &forged_role, &expired, &bad_signature] {
        for segment in token.split('.') {
            assert!(!log.contains(segment), "a token segment was logged");
        }
    }
    assert!(
        !log.contains("mallory@example.com"),
        "the e-mail claim was logged"
    );
}
