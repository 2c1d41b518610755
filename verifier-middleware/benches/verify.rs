//! What the layer costs next to the physical limit: the bare RSA-2048 (and HMAC, ES256,
//! EdDSA) verify of the same bytes through the same crypto backend (aws-lc), then
//! `Verifier::verify`, then the whole
//! tower layer around a service that does nothing, without and with the verified-token cache
//! (and with a Prometheus recorder taking the layer's metrics);
//! rejected tokens; and the JWKS key lookup and cache hits under contention from many tasks.
//!
//! `cargo bench -p verifier-middleware --bench verify`; figures and ratios in BENCHMARKS.md.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::{hmac, signature};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, EncodingKey};
use metrics_exporter_prometheus::PrometheusBuilder;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use tower::{Service, service_fn};
use verifier_middleware::fuzzing::find_jwks_key;
use verifier_middleware::{JwtAuthLayer, Verifier, VerifierBuilder};

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
    jwk: Value,
    /// Verifies every token in full.
    uncached: Verifier,
    /// The default configuration: with the verified-token cache.
    cached: Verifier,
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
    let builder = || {
        Verifier::builder()
            .public_jwk(jwk.to_string())
            .hs256_secret(SECRET)
            .issuer(ISSUER)
            .audience("api")
    };
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
        uncached: builder().disable_token_cache().build().expect("verifier"),
        cached: builder().build().expect("verifier"),
        jwk,
    }
}

/// A request through `JwtAuthLayer` (with `verifier`) around a service that does nothing.
fn layered(
    verifier: &Verifier,
) -> impl Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible> {
    tower::Layer::layer(&JwtAuthLayer::new(verifier.clone()), no_op())
}

fn no_op()
-> impl Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible> + Clone
{
    service_fn(|_request: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    })
}

/// Times `service` on a request carrying `token` (built outside the timing).
fn bench_request<S>(b: &mut criterion::Bencher<'_>, service: &mut S, token: &str)
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible>,
{
    b.iter_batched(
        || request(token),
        |request| ready(service.call(request)).expect("infallible").status(),
        BatchSize::SmallInput,
    );
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
    let mut uncached = layered(&fixture.uncached);
    let mut cached = layered(&fixture.cached);

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
    let parsed = public
        .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
        .expect("RSA key");
    rs256.bench_function("bare aws-lc RSA-2048 verify, key parsed once", |b| {
        b.iter(|| {
            parsed
                .verify_sig(black_box(signed.as_bytes()), black_box(&signature))
                .expect("valid")
        });
    });
    rs256.bench_function("Verifier::verify", |b| {
        b.iter(|| ready(fixture.uncached.verify(black_box(&fixture.rs256))).expect("valid"));
    });
    rs256.bench_function("JwtAuthLayer request", |b| {
        bench_request(b, &mut uncached, &fixture.rs256);
    });
    rs256.bench_function("JwtAuthLayer request, cache hit", |b| {
        bench_request(b, &mut cached, &fixture.rs256);
    });
    // What the metrics cost once an application exports them (above: no recorder, a no-op).
    let prometheus = PrometheusBuilder::new().build_recorder();
    {
        let _installed = metrics::set_default_local_recorder(&prometheus);
        rs256.bench_function(
            "JwtAuthLayer request, cache hit, Prometheus recorder",
            |b| {
                bench_request(b, &mut cached, &fixture.rs256);
            },
        );
        rs256.bench_function("JwtAuthLayer request, Prometheus recorder", |b| {
            bench_request(b, &mut uncached, &fixture.rs256);
        });
    }
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
        b.iter(|| ready(fixture.uncached.verify(black_box(&fixture.hs256))).expect("valid"));
    });
    hs256.bench_function("JwtAuthLayer request", |b| {
        bench_request(b, &mut uncached, &fixture.hs256);
    });
    hs256.bench_function("JwtAuthLayer request, cache hit", |b| {
        bench_request(b, &mut cached, &fixture.hs256);
    });
    hs256.finish();

    bench_curve(c, Algorithm::ES256);
    bench_curve(c, Algorithm::EdDSA);

    let mut baseline = c.benchmark_group("baseline");
    baseline.bench_function("request without the layer", |b| {
        bench_request(b, &mut no_op(), &fixture.rs256);
    });
    baseline.finish();

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
                    let status = ready(cached.call(request)).expect("infallible").status();
                    assert_eq!(status, 401);
                    status
                },
                BatchSize::SmallInput,
            );
        });
    }
    rejected.finish();

    contention(c, &fixture);
}

/// Many tasks on a two-thread runtime (one per core here) looking keys up in one JWKS cache,
/// and verifying one token from the verified-token cache. Times are per operation: the elapsed
/// time for all tasks divided by the operations they made together.
fn contention(c: &mut Criterion, fixture: &Fixture) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let jwks_url = runtime.block_on(serve_jwks(json!({ "keys": [fixture.jwk] })));
    let from_jwks = |builder: VerifierBuilder| {
        let verifier = builder
            .jwks_url(&jwks_url)
            .issuer(ISSUER)
            .audience("api")
            .build()
            .expect("verifier");
        runtime
            .block_on(verifier.prefetch())
            .expect("the JWKS loads");
        verifier
    };
    let uncached = from_jwks(Verifier::builder().disable_token_cache());
    let cached = from_jwks(Verifier::builder());
    assert!(find_jwks_key(&uncached, "bench"));

    let mut group = c.benchmark_group("contention");
    for tasks in [1, 16, 256] {
        group.bench_function(format!("JWKS key lookup by kid, {tasks} tasks"), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(run_tasks(tasks, iterations, &uncached, |verifier| {
                    assert!(find_jwks_key(verifier, black_box("bench")));
                }))
            });
        });
        group.bench_function(format!("verify, cache hit, {tasks} tasks"), |b| {
            let token: std::sync::Arc<str> = fixture.rs256.as_str().into();
            b.iter_custom(|iterations| {
                let token = std::sync::Arc::clone(&token);
                runtime.block_on(run_tasks(tasks, iterations, &cached, move |verifier| {
                    ready(verifier.verify(black_box(&token))).expect("valid");
                }))
            });
        });
    }
    group.finish();
}

/// Splits `iterations` calls of `operation` over `tasks` spawned tasks; the time until all
/// finished.
async fn run_tasks<F>(tasks: u64, iterations: u64, verifier: &Verifier, operation: F) -> Duration
where
    F: Fn(&Verifier) + Clone + Send + 'static,
{
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let share = iterations / tasks + u64::from(task < iterations % tasks);
            let verifier = verifier.clone();
            let operation = operation.clone();
            tokio::spawn(async move {
                for i in 0..share {
                    operation(&verifier);
                    if i % 64 == 63 {
                        // Let the other tasks interleave, as requests would.
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("task");
    }
    started.elapsed()
}

/// Serves `document` as a JWKS on a port-0 listener; its URL.
/// ES256 or EdDSA: the bare aws-lc verify with the key parsed once, next to
/// `Verifier::verify` and a request through the layer (no token cache), with a JWK key.
fn bench_curve(c: &mut Criterion, alg: Algorithm) {
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey};
    // The signing key, the public key as aws-lc reads it, its JWK, its verification.
    let (encoding, public_key, jwk, verification): (
        EncodingKey,
        Vec<u8>,
        Value,
        &'static dyn signature::VerificationAlgorithm,
    ) = if alg == Algorithm::ES256 {
        let pair =
            EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": "bench", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        });
        let pkcs8 = pair.to_pkcs8v1().expect("PKCS#8");
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        (encoding, point, jwk, &signature::ECDSA_P256_SHA256_FIXED)
    } else {
        let pair = Ed25519KeyPair::generate().expect("Ed25519 key");
        let public_key = pair.public_key().as_ref().to_vec();
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "kid": "bench", "alg": "EdDSA",
            "x": URL_SAFE_NO_PAD.encode(&public_key),
        });
        let pkcs8 = pair.to_pkcs8().expect("PKCS#8");
        let encoding = EncodingKey::from_ed_der(pkcs8.as_ref());
        (encoding, public_key, jwk, &signature::ED25519)
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some("bench".into());
    let token = jsonwebtoken::encode(&header, &claims(now), &encoding).expect("sign");
    let verifier = Verifier::builder()
        .public_jwk(jwk.to_string())
        .issuer(ISSUER)
        .audience("api")
        .disable_token_cache()
        .build()
        .expect("verifier");
    let parsed = ParsedPublicKey::new(verification, &public_key).expect("public key");
    let (signed, signature) = signature_parts(&token);
    let name = if alg == Algorithm::ES256 {
        "es256"
    } else {
        "eddsa"
    };
    let mut group = c.benchmark_group(name);
    group.bench_function("bare aws-lc verify, key parsed once", |b| {
        b.iter(|| {
            parsed
                .verify_sig(black_box(signed.as_bytes()), black_box(&signature))
                .expect("valid")
        });
    });
    group.bench_function("Verifier::verify", |b| {
        b.iter(|| ready(verifier.verify(black_box(&token))).expect("valid"));
    });
    let mut service = layered(&verifier);
    group.bench_function("JwtAuthLayer request", |b| {
        bench_request(b, &mut service, &token);
    });
    group.finish();
}

async fn serve_jwks(document: Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || async move { axum::Json(document) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
