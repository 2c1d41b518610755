//! What the layer costs next to the physical limit: the bare RSA-2048 (and HMAC) verify of the
//! same bytes through the same crypto backend (aws-lc), then `Verifier::verify`, then the whole
//! tower layer around a service that does nothing; rejected tokens too.
//!
//! `cargo bench -p verifier-middleware --bench verify`; figures and ratios in BENCHMARKS.md.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::{hmac, signature};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, EncodingKey};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use tower::{Service, service_fn};
use verifier_middleware::{JwtAuthLayer, Verifier};

const ISSUER: &str = "https://issuer.example";
const SECRET: &[u8] = b"a benchmark secret of at least 32 bytes!";

/// Runs a future that must finish without waiting (static keys never wait).
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a static-key verification waited"),
    }
}

struct Fixture {
    rs256: String,
    hs256: String,
    bad_signature: String,
    expired: String,
    alg_none: String,
    n: Vec<u8>,
    e: Vec<u8>,
    verifier: Verifier,
}

/// Access-token claims issued at `iat` (Unix seconds), valid for an hour.
fn claims(iat: u64) -> Value {
    json!({
        "iss": ISSUER, "aud": "api", "sub": "0190c0de-0000-7000-8000-000000000001",
        "exp": iat + 3600, "iat": iat, "nbf": iat,
        "jti": "0190c0de-0000-7000-8000-00000000000a", "sid": "0190c0de-0000-7000-8000-00000000000b",
        "email": "ada@example.com", "role": "user", "type": "access",
    })
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.typ = Some("at+jwt".into());
    if alg == Algorithm::RS256 {
        header.kid = Some("bench".into());
    }
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

fn fixture() -> Fixture {
    let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
    let public = RsaPublicKey::from(&private);
    let pem = private.to_pkcs8_pem(LineEnding::LF).expect("PEM");
    let rsa_key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("key");
    let (n, e) = (public.n().to_bytes_be(), public.e().to_bytes_be());
    let jwk = json!({
        "kty": "RSA", "kid": "bench", "use": "sig", "alg": "RS256",
        "n": URL_SAFE_NO_PAD.encode(&n), "e": URL_SAFE_NO_PAD.encode(&e),
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let rs256 = sign(Algorithm::RS256, &rsa_key, &claims(now));
    let (signed, _) = rs256.rsplit_once('.').expect("three segments");
    let bad_signature = format!("{signed}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]));
    let alg_none = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        signed.split('.').nth(1).expect("payload"),
        URL_SAFE_NO_PAD.encode("x")
    );
    let verifier = Verifier::builder()
        .rsa_public_jwk(jwk.to_string())
        .hs256_secret(SECRET)
        .issuer(ISSUER)
        .audience("api")
        .build()
        .expect("verifier");
    Fixture {
        hs256: sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(SECRET),
            &claims(now),
        ),
        expired: sign(Algorithm::RS256, &rsa_key, &claims(1_000_000)),
        rs256,
        bad_signature,
        alg_none,
        n,
        e,
        verifier,
    }
}

fn request(token: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::default())
        .expect("request")
}

fn signature_parts(token: &str) -> (&str, Vec<u8>) {
    let (signed, signature) = token.rsplit_once('.').expect("three segments");
    (
        signed,
        URL_SAFE_NO_PAD.decode(signature).expect("base64url"),
    )
}

fn bench(c: &mut Criterion) {
    let fixture = fixture();
    let mut layered = tower::Layer::layer(
        &JwtAuthLayer::new(fixture.verifier.clone()),
        service_fn(|_request: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
        }),
    );

    let mut rs256 = c.benchmark_group("rs256");
    let (signed, signature) = signature_parts(&fixture.rs256);
    let public = signature::RsaPublicKeyComponents {
        n: &fixture.n,
        e: &fixture.e,
    };
    rs256.bench_function("bare aws-lc RSA-2048 verify", |b| {
        b.iter(|| {
            public
                .verify(
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    black_box(signed.as_bytes()),
                    black_box(&signature),
                )
                .expect("valid")
        });
    });
    rs256.bench_function("Verifier::verify", |b| {
        b.iter(|| ready(fixture.verifier.verify(black_box(&fixture.rs256))).expect("valid"));
    });
    rs256.bench_function("JwtAuthLayer request", |b| {
        b.iter_batched(
            || request(&fixture.rs256),
            |request| ready(layered.call(request)).expect("infallible").status(),
            BatchSize::SmallInput,
        );
    });
    rs256.finish();

    let mut hs256 = c.benchmark_group("hs256");
    let (signed, tag) = signature_parts(&fixture.hs256);
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
    hs256.bench_function("bare aws-lc HMAC-SHA256 verify", |b| {
        b.iter(|| {
            hmac::verify(&key, black_box(signed.as_bytes()), black_box(&tag)).expect("valid")
        });
    });
    hs256.bench_function("Verifier::verify", |b| {
        b.iter(|| ready(fixture.verifier.verify(black_box(&fixture.hs256))).expect("valid"));
    });
    hs256.bench_function("JwtAuthLayer request", |b| {
        b.iter_batched(
            || request(&fixture.hs256),
            |request| ready(layered.call(request)).expect("infallible").status(),
            BatchSize::SmallInput,
        );
    });
    hs256.finish();

    let mut rejected = c.benchmark_group("rejected");
    for (name, token) in [
        ("alg none (refused before any crypto)", &fixture.alg_none),
        ("bad RS256 signature", &fixture.bad_signature),
        ("expired RS256 (signature checked first)", &fixture.expired),
    ] {
        rejected.bench_function(name, |b| {
            b.iter_batched(
                || request(token),
                |request| {
                    let status = ready(layered.call(request)).expect("infallible").status();
                    assert_eq!(status, 401);
                    status
                },
                BatchSize::SmallInput,
            );
        });
    }
    rejected.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
