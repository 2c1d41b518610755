//! The builder refuses unsafe or inconsistent configuration when built.

use std::time::Duration;

use verifier_middleware::{BuildError, Setting, SignatureAlgorithm, Verifier};

use crate::support::{AUDIENCE, ISSUER, SECRET, generate_key, key};

fn base() -> verifier_middleware::VerifierBuilder {
    Verifier::builder().issuer(ISSUER).audience(AUDIENCE)
}

fn refused(builder: verifier_middleware::VerifierBuilder) -> BuildError {
    builder.build().expect_err("the builder should refuse this")
}

#[test]
fn a_verifier_needs_a_key_source() {
    assert_eq!(refused(base()), BuildError::NoKeySource);
}

#[test]
fn a_jwks_url_and_a_static_key_conflict() {
    let builder = base()
        .jwks_url("http://localhost:3000/.well-known/jwks.json")
        .public_key_pem(&key(0).public_pem);

    assert_eq!(refused(builder), BuildError::ConflictingKeySources);
}

#[test]
fn the_jwks_url_must_be_absolute_http_or_https() {
    for url in [
        "ftp://issuer.test/jwks.json",
        "file:///etc/passwd",
        "not a url",
        "/jwks.json",
    ] {
        assert!(
            matches!(refused(base().jwks_url(url)), BuildError::InvalidJwksUrl(_)),
            "{url}"
        );
    }
    assert!(
        base()
            .jwks_url("https://issuer.test/jwks.json")
            .build()
            .is_ok()
    );
}

#[test]
fn an_hs256_secret_under_32_bytes_is_refused() {
    assert_eq!(
        refused(base().hs256_secret([7u8; 31])),
        BuildError::WeakSecret(31)
    );
    assert!(base().hs256_secret([7u8; 32]).build().is_ok());
}

#[test]
fn an_empty_algorithm_list_is_refused() {
    let builder = base().public_key_pem(&key(0).public_pem).algorithms([]);

    assert_eq!(refused(builder), BuildError::NoAlgorithms);
}

#[test]
fn issuer_and_audience_are_required_unless_skipped_by_name() {
    let secret = || Verifier::builder().hs256_secret(SECRET);

    assert_eq!(
        refused(secret().audience(AUDIENCE)),
        BuildError::MissingIssuer
    );
    assert_eq!(
        refused(secret().issuer(ISSUER)),
        BuildError::MissingAudience
    );
    assert!(
        secret()
            .insecure_skip_issuer_check()
            .insecure_skip_audience_check()
            .build()
            .is_ok()
    );
}

#[test]
fn a_bad_or_weak_rsa_key_is_refused() {
    let error = refused(base().public_key_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n"));
    assert!(matches!(error, BuildError::InvalidKey(_)), "{error}");

    let small = generate_key("small", 1024);
    let error = refused(base().public_key_pem(&small.public_pem));
    assert_eq!(
        error.to_string(),
        "invalid public key: a 1024-bit RSA key is too small; at least 2048 bits are required"
    );

    let mut jwk = key(0).jwk.clone();
    jwk["alg"] = "HS256".into();
    assert!(matches!(
        refused(base().public_jwk(jwk.to_string())),
        BuildError::InvalidKey(_)
    ));
}

#[test]
fn a_key_alg_outside_the_configured_list_is_refused() {
    let mut jwk = key(0).jwk.clone();
    jwk["alg"] = "PS256".into();

    assert!(matches!(
        refused(base().public_jwk(jwk.to_string())),
        BuildError::InvalidKey(_)
    ));
    assert!(
        base()
            .public_jwk(jwk.to_string())
            .algorithms([SignatureAlgorithm::Rs256, SignatureAlgorithm::Ps256])
            .build()
            .is_ok()
    );
}

#[test]
fn out_of_bounds_settings_are_refused() {
    let jwks = || base().jwks_url("https://issuer.test/jwks.json");
    let secret = || base().hs256_secret(SECRET);
    for (builder, expected) in [
        (secret().leeway(Duration::from_secs(301)), Setting::Leeway),
        (secret().max_token_bytes(10), Setting::MaxTokenBytes),
        (
            jwks().jwks_ttl_bounds(Duration::from_secs(600), Duration::from_secs(60)),
            Setting::JwksTtlBounds,
        ),
        (jwks().fetch_timeout(Duration::ZERO), Setting::FetchTimeout),
        (
            jwks().jwks_retry_backoff(Duration::ZERO, Duration::from_secs(1)),
            Setting::JwksRetryBackoff,
        ),
        (
            jwks().jwks_max_response_bytes(10),
            Setting::JwksMaxResponseBytes,
        ),
        (
            secret().token_cache_max_entries(0),
            Setting::TokenCacheMaxEntries,
        ),
        (
            secret().token_cache_max_bytes(1024),
            Setting::TokenCacheMaxBytes,
        ),
        (
            secret().token_cache_max_lifetime(Duration::from_millis(500)),
            Setting::TokenCacheMaxLifetime,
        ),
    ] {
        let error = refused(builder);
        assert!(
            matches!(error, BuildError::InvalidSetting { setting, .. } if setting == expected),
            "{error}"
        );
    }
}

#[test]
fn the_fetch_timeout_also_bounds_revocation_list_downloads() {
    let builder = base()
        .public_key_pem(&key(0).public_pem)
        .revocation_list_url("https://issuer.test/revoked-sessions")
        .fetch_timeout(Duration::ZERO);

    assert_eq!(
        refused(builder).to_string(),
        "invalid setting fetch_timeout: must be positive"
    );
}

#[test]
fn debug_output_never_shows_the_secret() {
    let builder = base().hs256_secret(SECRET);
    let text = format!("{builder:?}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(text.contains("REDACTED"));

    let verifier = builder.build().unwrap();
    assert!(!format!("{verifier:?}").contains(SECRET));
}
