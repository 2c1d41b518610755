//! Header attacks: keys offered by the token itself (`jwk`, `jku`, `x5u`, `x5c`), hostile
//! `kid`s, `crit`, duplicate header keys and refresh `typ`s.

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use test_support::stack::Issuer;

use crate::forge::{claims, sign};
use crate::target::{MALFORMED_HEADER, Target, UNKNOWN_KEY, signing_key_and_jwks};

/// An HTTP server the attacker controls, serving the attacker's JWKS and counting every
/// connection it receives.
struct Trap {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl Trap {
    fn start(jwks: &Value) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        let body = jwks.to_string();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().map_while(Result::ok) {
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { url, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// The attacker: a key pair of their own, with its public JWK.
struct Attacker {
    _issuer: Issuer,
    key: EncodingKey,
    jwk: Value,
}

impl Attacker {
    async fn new(client: &reqwest::Client) -> Self {
        let issuer = Issuer::start(0);
        let (key, jwks) = signing_key_and_jwks(&issuer, client).await;
        Self {
            jwk: jwks["keys"][0].clone(),
            key,
            _issuer: issuer,
        }
    }

    fn sign(&self, header: &Value) -> String {
        sign(header, &claims(), &self.key, Algorithm::RS256)
    }
}

#[tokio::test]
async fn keys_offered_by_the_token_are_never_used_nor_fetched() {
    let target = Target::start().await;
    let attacker = Attacker::new(&target.client).await;
    let trap = Trap::start(&json!({ "keys": [attacker.jwk] }));
    let attacker_kid = attacker.jwk["kid"].as_str().unwrap().to_owned();
    target
        .assert_accepted("control", &target.token(&claims()))
        .await;

    // CVE-2018-0114: the header carries the attacker's public key; under our kid, and under
    // the attacker's own.
    for kid in [&target.kid, &attacker_kid] {
        let embedded = json!({ "alg": "RS256", "kid": kid, "jwk": attacker.jwk });
        let expected = if kid == &target.kid {
            "the token signature is invalid"
        } else {
            UNKNOWN_KEY
        };
        target
            .assert_refused("embedded jwk", &attacker.sign(&embedded), expected)
            .await;
    }
    for field in ["jku", "x5u"] {
        let header = json!({ "alg": "RS256", "kid": attacker_kid, field: trap.url });
        target
            .assert_refused(field, &attacker.sign(&header), UNKNOWN_KEY)
            .await;
    }
    // The verifier fetches keys before it answers, so a fetch would have happened by now;
    // stopping the service also ends anything it might have started in the background.
    let _ = target.service.terminate_with_output();
    assert_eq!(
        trap.connections(),
        0,
        "the service fetched a key from the token"
    );
}

#[tokio::test]
async fn hostile_kids_are_unknown_keys_and_touch_nothing() {
    let target = Target::start().await;
    let marker = tempfile::TempDir::new().unwrap();
    let marker_file = marker.path().join("pwned");
    let touch = marker_file.display();
    let hostile = [
        "../../../../../../etc/passwd".to_owned(),
        "/dev/zero".to_owned(),
        "..%2f..%2fkeys%2fprivate.pem".to_owned(),
        "private.pem".to_owned(),
        "' OR '1'='1".to_owned(),
        "1; DROP TABLE users; --".to_owned(),
        format!("$(touch {touch})"),
        format!("`touch {touch}`"),
        format!("x; touch {touch}"),
        format!("x | touch {touch}"),
        "kid\u{0}with-nul".to_owned(),
        "\u{202e}dik".to_owned(),
        format!("{}{}", target.kid, "\n"),
        format!(" {}", target.kid),
        target.kid.to_uppercase(),
        "k".repeat(256),
    ];
    for kid in &hostile {
        let header = json!({ "alg": "RS256", "typ": "at+jwt", "kid": kid });
        target
            .assert_refused(kid, &target.sign(&header, &claims()), UNKNOWN_KEY)
            .await;
    }
    let malformed = [
        json!(""),
        json!("k".repeat(257)),
        json!("k".repeat(4000)),
        json!(7),
        json!(null),
        json!([target.kid]),
        json!({ "kid": target.kid }),
    ];
    for kid in malformed {
        let header = json!({ "alg": "RS256", "typ": "at+jwt", "kid": kid });
        target
            .assert_refused(
                &kid.to_string(),
                &target.sign(&header, &claims()),
                MALFORMED_HEADER,
            )
            .await;
    }
    assert!(!marker_file.exists(), "a kid reached a shell");
    target
        .assert_accepted("the service still works", &target.token(&claims()))
        .await;
}

#[tokio::test]
async fn crit_duplicate_header_keys_and_refresh_types_are_refused() {
    let target = Target::start().await;
    let payload = claims().to_string();
    let kid = &target.kid;

    for crit in [json!(["exp"]), json!(["b64"]), json!([]), json!("exp")] {
        let header = json!({ "alg": "RS256", "kid": kid, "crit": crit, "exp": 1, "b64": true });
        target
            .assert_refused(
                &format!("crit {crit}"),
                &target.sign(&header, &claims()),
                "the token requires extensions this verifier does not support",
            )
            .await;
    }
    for header in [
        format!(r#"{{"alg":"none","alg":"RS256","kid":"{kid}"}}"#),
        format!(r#"{{"alg":"RS256","alg":"RS256","kid":"{kid}"}}"#),
        format!(r#"{{"alg":"RS256","kid":"other","kid":"{kid}"}}"#),
        format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"refresh+jwt","typ":"at+jwt"}}"#),
    ] {
        target
            .assert_refused(
                &header,
                &target.sign_texts(&header, &payload),
                MALFORMED_HEADER,
            )
            .await;
    }
    for typ in [
        "refresh",
        "rt+jwt",
        "application/refresh+jwt",
        "REFRESH+JWT",
    ] {
        let header = json!({ "alg": "RS256", "kid": kid, "typ": typ });
        target
            .assert_refused(
                typ,
                &target.sign(&header, &claims()),
                "a refresh token is not an access token",
            )
            .await;
    }
}
