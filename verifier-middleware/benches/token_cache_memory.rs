//! What one verified-token cache entry costs in memory, measured rather than estimated: the
//! process's resident memory before and after `COUNT` distinct tokens (shaped like the
//! issuer's access tokens) are verified once each into a cache large enough to keep them all.
//!
//!     cargo bench -p verifier-middleware --bench token_cache_memory
//!
//! Prints the resident bytes per entry, and the same less the token's own length (what an
//! entry costs beyond its key). The tokens are HS256 so that signing 100,000 of them is quick;
//! an RS256 token is longer by its signature (342 characters instead of 43), which its entry
//! holds too. Environment: `COUNT` [100000].

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use verifier_middleware::Verifier;

const SECRET: &[u8] = b"a-benchmark-secret-of-at-least-32-bytes!";

/// The process's resident memory, from `/proc/self/statm` (Linux).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux)");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// An access token of user `n`, with the issuer's claims.
fn token(key: &EncodingKey, n: usize, now: u64) -> String {
    let claims = json!({
        "iss": "http://localhost:3000", "sub": format!("0193a5c2-0000-7000-8000-{n:012}"),
        "aud": "api", "exp": now + 900, "iat": now, "nbf": now,
        "jti": format!("0193a5c2-0001-7000-8000-{n:012}"),
        "sid": format!("0193a5c2-0002-7000-8000-{n:012}"),
        "email": format!("user{n}@example.com"), "role": "user", "type": "access",
    });
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key).expect("sign")
}

fn main() {
    let count: usize = std::env::var("COUNT")
        .ok()
        .and_then(|raw| raw.parse().ok())
        .unwrap_or(100_000);
    let verifier = Verifier::builder()
        .hs256_secret(SECRET)
        .issuer("http://localhost:3000")
        .audience("api")
        .token_cache_max_bytes(4 << 30)
        .build()
        .expect("verifier");
    let key = EncodingKey::from_secret(SECRET);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let token_bytes = token(&key, 0, now).len();

    let before = resident_bytes();
    runtime.block_on(async {
        for n in 0..count {
            // Each token is dropped after its check: only the cache's copy stays.
            let token = token(&key, n, now);
            black_box(verifier.verify(&token).await.expect("valid"));
        }
    });
    let after = resident_bytes();

    #[allow(clippy::cast_precision_loss)]
    let per_entry = after.saturating_sub(before) as f64 / count as f64;
    println!(
        "{count} entries, HS256 tokens of {token_bytes} bytes: {per_entry:.0} resident bytes per \
         entry, {:.0} beyond the token itself",
        per_entry - token_bytes as f64
    );
}
