//! Password reset and e-mail verification by mail, on both backends: no enumeration, tokens
//! single-use, hashed and short-lived, confirmations capped, every session ended by a reset,
//! `REQUIRE_EMAIL_VERIFICATION` and `REGISTRATION_ENUMERATION_SAFE`. The local sender's
//! outbox stands in for mailboxes, except in the SMTP test, where a receiver on a real socket
//! speaks the protocol to the issuer's SMTP sender.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use issuer::email::token_in;
use reqwest::Response;
use serde_json::{Value, json};
use test_support::wait::wait_until;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_error, backend_tests, spawn_app, spawn_app_with,
};

const RESET: &str = "Reset your password";
const VERIFY: &str = "Verify your e-mail address";

const LOCAL_MAIL: [&str; 4] = [
    "--email-provider",
    "local",
    "--email-from",
    "Issuer <no-reply@issuer.test>",
];

/// An issuer mailing through the local sender, with `flags`.
async fn mail_app(backend: &Backend, flags: &[&str]) -> TestApp {
    let mut all = LOCAL_MAIL.to_vec();
    all.extend_from_slice(flags);
    spawn_app_with(backend, &all, |_| {}).await
}

impl TestApp {
    /// The token of the newest mail to `email` about `subject` whose token is not
    /// `previous`, waiting for it.
    async fn mailed_token(&self, email: &str, subject: &str, previous: Option<&str>) -> String {
        let outbox = self.mail_outbox.as_ref().expect("the local sender");
        let mut token = None;
        wait_until("a mail with a new token", || {
            token = outbox
                .mails_to(email)
                .iter()
                .rev()
                .filter(|mail| mail.subject == subject)
                .find_map(|mail| token_in(&mail.body).map(str::to_owned))
                .filter(|found| Some(found.as_str()) != previous);
            std::future::ready(token.is_some())
        })
        .await;
        token.expect("a token")
    }

    /// The token of the newest password-reset mail to `email` that is not `previous`.
    async fn reset_token(&self, email: &str, previous: Option<&str>) -> String {
        self.mailed_token(email, RESET, previous).await
    }

    /// The token of the newest verification mail to `email` that is not `previous`.
    async fn verification_token(&self, email: &str, previous: Option<&str>) -> String {
        self.mailed_token(email, VERIFY, previous).await
    }

    async fn request_reset(&self, email: &str) -> Response {
        self.post_json("/password-reset", &json!({ "email": email }))
            .await
    }

    async fn confirm_reset(&self, token: &str, new_password: &str) -> Response {
        let body = json!({ "token": token, "new_password": new_password });
        self.post_json("/password-reset/confirm", &body).await
    }
}

/// Asserts the one answer to every mail request.
async fn assert_pending(response: Response) -> Value {
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "status": "pending" }));
    body
}

async fn a_reset_request_answers_alike_for_known_and_unknown_addresses(backend: Backend) {
    let app = mail_app(&backend, &[]).await;
    app.register("alice@example.com", None).await;

    let unknown = app.request_reset("nobody@example.com").await;
    let known = app.request_reset("alice@example.com").await;

    let headers = |response: &Response| {
        let mut names: Vec<String> = response
            .headers()
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
            .map(|(name, value)| format!("{name}: {value:?}"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(headers(&unknown), headers(&known));
    assert_eq!(assert_pending(unknown).await, assert_pending(known).await);
    app.reset_token("alice@example.com", None).await;
    let outbox = app.mail_outbox.as_ref().unwrap();
    assert!(outbox.last_to("nobody@example.com").is_none());
}

async fn a_reset_token_sets_the_password_once_and_ends_every_session(backend: Backend) {
    let app = mail_app(&backend, &[]).await;
    let first = app.signed_in("alice@example.com").await;
    let second = app.logged_in("alice@example.com").await;
    assert_pending(app.request_reset("alice@example.com").await).await;
    let token = app.reset_token("alice@example.com", None).await;

    // Stored as a hash only.
    let mut db = app.second_connection().await;
    let stored: Vec<(String,)> =
        sqlx::query_as("SELECT token_hash FROM email_tokens WHERE purpose = 'password_reset'")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, token);
    assert_eq!(
        stored[0].0,
        issuer::tokens::opaque_token_hash(&token),
        "its SHA-256"
    );
    let weak = app.confirm_reset(&token, "short").await;
    assert_error(weak, 422, "invalid_request").await;

    let reset = app.confirm_reset(&token, "a brand new passphrase").await;

    assert_eq!(reset.status(), 204);
    app.assert_refresh_refused(&[&first, &second]).await;
    app.assert_revoked(&[&first, &second]).await;
    assert_error(
        app.login("alice@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    let again = app.confirm_reset(&token, "yet another passphrase").await;
    assert_eq!(
        assert_error(again, 400, "invalid_grant").await,
        "the code is invalid, expired or used; ask for a new one"
    );
    let login = app
        .login("alice@example.com", "a brand new passphrase")
        .await;
    assert_eq!(login.status(), 200);
    // The mail reached its owner: the address counts as verified.
    let tokens: Value = login.json().await.unwrap();
    let me = app
        .client
        .get(format!("{}/me", app.address))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.json::<Value>().await.unwrap()["email_verified"], true);
}

async fn a_reset_token_expires_and_a_newer_one_replaces_it(backend: Backend) {
    let app = mail_app(&backend, &[]).await;
    app.register("alice@example.com", None).await;
    app.request_reset("alice@example.com").await;
    let older = app.reset_token("alice@example.com", None).await;
    app.request_reset("alice@example.com").await;
    let newer = app.reset_token("alice@example.com", Some(&older)).await;

    let replaced = app.confirm_reset(&older, "a brand new passphrase").await;
    assert_error(replaced, 400, "invalid_grant").await;
    app.clock.advance(Duration::from_secs(15 * 60));
    let expired = app.confirm_reset(&newer, "a brand new passphrase").await;
    assert_error(expired, 400, "invalid_grant").await;

    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
}

async fn confirmations_are_capped_per_client_and_requests_per_address(backend: Backend) {
    let app = mail_app(&backend, &[]).await;
    let wrong = "A".repeat(43);
    for _ in 0..30 {
        let response = app.confirm_reset(&wrong, "a brand new passphrase").await;
        assert_error(response, 400, "invalid_grant").await;
    }
    let capped = app.confirm_reset(&wrong, "a brand new passphrase").await;
    assert!(capped.headers().contains_key("retry-after"));
    assert_error(capped, 429, "rate_limited").await;

    for _ in 0..5 {
        assert_pending(app.request_reset("victim@example.com").await).await;
    }
    let flooding = app.request_reset("victim@example.com").await;
    assert_error(flooding, 429, "rate_limited").await;
}

async fn a_new_account_verifies_its_address_by_the_mailed_link(backend: Backend) {
    let app = mail_app(&backend, &[]).await;
    let tokens = app.signed_in("alice@example.com").await;
    let token = app.verification_token("alice@example.com", None).await;
    let me = async || {
        let response = app
            .client
            .get(format!("{}/me", app.address))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        response.json::<Value>().await.unwrap()["email_verified"].clone()
    };
    assert_eq!(me().await, false);

    let confirmed = app
        .post_json("/email/verify/confirm", &json!({ "token": token }))
        .await;

    assert_eq!(confirmed.status(), 204);
    assert_eq!(me().await, true);
    let again = app
        .post_json("/email/verify/confirm", &json!({ "token": token }))
        .await;
    assert_error(again, 400, "invalid_grant").await;
}

async fn required_verification_holds_logins_until_the_address_is_verified(backend: Backend) {
    let app = mail_app(&backend, &["--require-email-verification", "true"]).await;
    app.register("alice@example.com", None).await;
    let welcome = app.verification_token("alice@example.com", None).await;

    let held = app.login("alice@example.com", PASSWORD).await;
    assert_eq!(
        assert_error(held, 403, "email_not_verified").await,
        "verify your e-mail address first: POST /email/verify sends a new link"
    );
    let wrong = app.login("alice@example.com", "not the password").await;
    assert_error(wrong, 401, "invalid_credentials").await;
    // A lost welcome mail: ask for another.
    let asked = app
        .post_json("/email/verify", &json!({ "email": "alice@example.com" }))
        .await;
    assert_pending(asked).await;
    let token = app
        .verification_token("alice@example.com", Some(&welcome))
        .await;
    let confirmed = app
        .post_json("/email/verify/confirm", &json!({ "token": token }))
        .await;
    assert_eq!(confirmed.status(), 204);

    assert_eq!(app.login("alice@example.com", PASSWORD).await.status(), 200);
}

async fn the_enumeration_safe_mode_answers_a_taken_address_like_a_free_one(backend: Backend) {
    let app = mail_app(&backend, &["--registration-enumeration-safe", "true"]).await;
    let body = |password: &str| json!({ "email": "alice@example.com", "password": password });

    let first = app.post_json("/register", &body(PASSWORD)).await;
    assert_pending(first).await;
    let token = app
        .mailed_token("alice@example.com", "Confirm your sign-up", None)
        .await;
    // No account until the address is confirmed: the sign-up cannot be tried at the login.
    let early = app.login("alice@example.com", PASSWORD).await;
    assert_error(early, 401, "invalid_credentials").await;
    let confirmed = app
        .post_json("/register/confirm", &json!({ "token": token }))
        .await;
    assert_eq!(confirmed.status(), 201);
    let account: Value = confirmed.json().await.unwrap();
    assert_eq!(account["email"], "alice@example.com");
    assert_eq!(account["role"], "user");
    let again = app
        .post_json("/register/confirm", &json!({ "token": token }))
        .await;
    assert_error(again, 400, "invalid_grant").await;

    // The address is taken now: the same answer, and a mail to its owner instead.
    let taken = app
        .post_json("/register", &body("another passphrase"))
        .await;
    assert_pending(taken).await;
    let outbox = app.mail_outbox.as_ref().unwrap();
    wait_until("the already-registered mail", || {
        std::future::ready(
            outbox
                .mails_to("alice@example.com")
                .iter()
                .any(|mail| mail.subject == "You already have an account"),
        )
    })
    .await;
    let tried = app.login("alice@example.com", "another passphrase").await;
    assert_error(tried, 401, "invalid_credentials").await;
    let login = app.login("alice@example.com", PASSWORD).await;
    assert_eq!(
        login.status(),
        200,
        "the account and its password are untouched"
    );
}

async fn a_disabling_or_a_password_change_voids_a_mailed_reset(backend: Backend) {
    let app = mail_app(&backend, &[]).await;
    let tokens = app.signed_in("alice@example.com").await;
    app.request_reset("alice@example.com").await;
    let before_change = app.reset_token("alice@example.com", None).await;

    let changed = app
        .client
        .post(format!("{}/me/password", app.address))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .json(&json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    let void = app
        .confirm_reset(&before_change, "an attacker's passphrase")
        .await;
    assert_error(void, 400, "invalid_grant").await;

    app.request_reset("alice@example.com").await;
    let before_disable = app
        .reset_token("alice@example.com", Some(&before_change))
        .await;
    let mut db = app.second_connection().await;
    sqlx::query("UPDATE users SET disabled_at = 1 WHERE email = 'alice@example.com'")
        .execute(&mut db)
        .await
        .unwrap();
    let refused = app
        .confirm_reset(&before_disable, "an attacker's passphrase")
        .await;
    assert_error(refused, 400, "invalid_grant").await;
}

async fn discovery_names_the_mail_endpoints_while_mail_is_on(backend: Backend) {
    let app = mail_app(&backend, &[]).await;

    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(
        discovery["password_reset_endpoint"],
        format!("{}/password-reset", crate::helpers::ISSUER)
    );
    assert_eq!(
        discovery["email_verification_endpoint"],
        format!("{}/email/verify", crate::helpers::ISSUER)
    );
}

async fn without_mail_the_mail_routes_do_not_exist(backend: Backend) {
    let app = spawn_app(&backend).await;
    for path in [
        "/password-reset",
        "/password-reset/confirm",
        "/email/verify",
    ] {
        let response = app
            .post_json(path, &json!({ "email": "a@example.com" }))
            .await;
        assert_error(response, 404, "not_found").await;
    }
}

backend_tests!(
    a_reset_request_answers_alike_for_known_and_unknown_addresses,
    a_reset_token_sets_the_password_once_and_ends_every_session,
    a_reset_token_expires_and_a_newer_one_replaces_it,
    confirmations_are_capped_per_client_and_requests_per_address,
    a_new_account_verifies_its_address_by_the_mailed_link,
    required_verification_holds_logins_until_the_address_is_verified,
    the_enumeration_safe_mode_answers_a_taken_address_like_a_free_one,
    a_disabling_or_a_password_change_voids_a_mailed_reset,
    discovery_names_the_mail_endpoints_while_mail_is_on,
    without_mail_the_mail_routes_do_not_exist,
    the_smtp_sender_delivers_a_working_reset_link_over_the_protocol,
);

/// What an SMTP receiver was given: the credentials, the envelope and the message.
#[derive(Debug, Default, Clone)]
struct Received {
    auth: String,
    mail_from: String,
    rcpt_to: String,
    data: String,
}

/// A minimal SMTP receiver on a real socket (RFC 5321: greeting, EHLO, MAIL, RCPT, DATA,
/// QUIT; RFC 4954 AUTH PLAIN), keeping what it receives; over TLS from the first byte when
/// given an acceptor (implicit TLS, as on port 465).
async fn smtp_receiver(tls: Option<TlsAcceptor>) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let inbox = Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let inbox = Arc::clone(&inbox);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => match acceptor.accept(socket).await {
                        Ok(stream) => converse(stream, inbox).await,
                        Err(error) => panic!("TLS handshake failed: {error}"),
                    },
                    None => converse(socket, inbox).await,
                }
            });
        }
    });
    (port, received)
}

/// One SMTP conversation on `stream`.
async fn converse<S>(stream: S, inbox: Arc<Mutex<Vec<Received>>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    write
        .write_all(b"220 receiver.test ESMTP\r\n")
        .await
        .unwrap();
    let mut mail = Received::default();
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250-receiver.test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("AUTH PLAIN ") {
            mail.auth = line[11..].trim().to_owned();
            b"235 2.7.0 accepted\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail.mail_from = line[10..].trim().to_owned();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            mail.rcpt_to = line[8..].trim().to_owned();
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 go ahead\r\n").await.unwrap();
            while let Ok(Some(data)) = lines.next_line().await {
                if data == "." {
                    break;
                }
                mail.data.push_str(&data);
                mail.data.push('\n');
            }
            let auth = mail.auth.clone();
            inbox.lock().unwrap().push(std::mem::take(&mut mail));
            mail.auth = auth;
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await.unwrap();
            break;
        } else {
            b"250 OK\r\n"
        };
        write.write_all(reply).await.unwrap();
    }
}

/// A private CA (its certificate in PEM) and a TLS acceptor presenting a certificate it issued
/// for 127.0.0.1.
fn private_ca_and_acceptor() -> (String, TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::crypto::aws_lc_rs::default_provider;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
    let ca = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![server.der().clone()], key)
        .unwrap();
    (ca_pem, TlsAcceptor::from(Arc::new(config)))
}

/// An issuer mailing through the SMTP receiver on 127.0.0.1:`port`, with `flags`.
async fn smtp_app(backend: &Backend, port: u16, flags: &[&str]) -> TestApp {
    let port = port.to_string();
    let mut all = vec![
        "--email-provider",
        "smtp",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &port,
        "--email-from",
        "Issuer <no-reply@issuer.test>",
    ];
    all.extend_from_slice(flags);
    spawn_app_with(backend, &all, |_| {}).await
}

#[tokio::test]
async fn the_smtp_sender_speaks_tls_to_a_relay_whose_certificate_a_private_ca_issued() {
    let (ca_pem, acceptor) = private_ca_and_acceptor();
    let dir = tempfile::TempDir::new().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let (port, received) = smtp_receiver(Some(acceptor)).await;
    let ca_file = ca_file.display().to_string();
    let flags = ["--smtp-tls", "tls", "--smtp-ca-file", &ca_file];
    let app = smtp_app(&Backend::Sqlite, port, &flags).await;

    app.register("alice@example.com", None).await;

    wait_until("the verification mail, over TLS", || {
        std::future::ready(received.lock().unwrap().len() == 1)
    })
    .await;
    let mail = received.lock().unwrap()[0].clone();
    assert_eq!(mail.rcpt_to, "<alice@example.com>");
    assert!(
        mail.data.contains("Subject: Verify your e-mail address"),
        "{}",
        mail.data
    );
    assert!(token_in(&mail.data).is_some(), "{}", mail.data);
}

async fn the_smtp_sender_delivers_a_working_reset_link_over_the_protocol(backend: Backend) {
    let (port, received) = smtp_receiver(None).await;
    let flags = [
        "--smtp-tls",
        "none",
        "--smtp-username",
        "issuer",
        "--smtp-password",
        "smtp-secret",
        "--app-url",
        "https://app.example.com",
    ];
    let app = smtp_app(&backend, port, &flags).await;
    app.register("alice@example.com", None).await;
    // The welcome (verification) mail first, then the reset.
    wait_until("the welcome mail", || {
        std::future::ready(received.lock().unwrap().len() == 1)
    })
    .await;

    assert_pending(app.request_reset("alice@example.com").await).await;
    wait_until("the reset mail", || {
        std::future::ready(received.lock().unwrap().len() == 2)
    })
    .await;

    let mail = received
        .lock()
        .unwrap()
        .iter()
        .find(|mail| mail.data.contains("Subject: Reset your password"))
        .expect("the reset mail")
        .clone();
    let auth = base64::engine::general_purpose::STANDARD
        .decode(&mail.auth)
        .expect("AUTH PLAIN is base64");
    assert_eq!(auth, b"\0issuer\0smtp-secret", "the configured credentials");
    assert_eq!(mail.mail_from, "<no-reply@issuer.test>");
    assert_eq!(mail.rcpt_to, "<alice@example.com>");
    assert!(
        mail.data.contains("Subject: Reset your password"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("To: alice@example.com"), "{}", mail.data);
    let token = token_in(&mail.data).expect("a code line").to_owned();
    let reset = app.confirm_reset(&token, "a brand new passphrase").await;
    assert_eq!(reset.status(), 204);
    let login = app
        .login("alice@example.com", "a brand new passphrase")
        .await;
    assert_eq!(login.status(), 200);
}
