//! Logout reaching a verifier: the `verifier-middleware` layer polling this issuer's
//! `/revoked-sessions` refuses a logged-out session's access token, still unexpired, once its
//! list is older than the poll interval. Time is the issuer's manual clock, shared with the
//! verifier: nothing sleeps.

use std::time::Duration;

use verifier_middleware::{Rejection, Verifier};

use crate::helpers::{Backend, ISSUER, backend_tests, spawn_app};

const POLL: Duration = Duration::from_secs(30);

async fn a_logout_reaches_a_polling_verifier_within_the_interval(backend: Backend) {
    let app = spawn_app(&backend).await;
    let verifier = Verifier::builder()
        .jwks_url(format!("{}/.well-known/jwks.json", app.address))
        .revocation_list_url(format!("{}/revoked-sessions", app.address))
        .revocation_poll_interval(POLL)
        .issuer(ISSUER)
        .audience("api")
        .clock(app.clock.clone())
        .build()
        .unwrap();
    let leaving = app.signed_in("leaving@example.com").await;
    let staying = app.signed_in("staying@example.com").await;
    let leaving_access = leaving["access_token"].as_str().unwrap();
    let staying_access = staying["access_token"].as_str().unwrap();
    verifier
        .verify(leaving_access)
        .await
        .expect("valid before logout");

    let logout = app.logout(leaving["refresh_token"].as_str().unwrap()).await;
    assert_eq!(logout.status(), 204);
    app.clock.advance(POLL - Duration::from_secs(1));
    verifier
        .verify(leaving_access)
        .await
        .expect("within the interval the verifier may still accept it");

    app.clock.advance(Duration::from_secs(1));
    let refused = verifier.verify(leaving_access).await.unwrap_err();
    assert!(matches!(refused, Rejection::InvalidToken(_)), "{refused:?}");
    assert_eq!(refused.to_string(), "the token's session has ended");
    verifier
        .verify(staying_access)
        .await
        .expect("other sessions are unaffected");
}

backend_tests!(a_logout_reaches_a_polling_verifier_within_the_interval,);
