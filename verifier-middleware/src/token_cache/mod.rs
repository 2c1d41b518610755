//! The verified-token cache. What it guarantees is written once, in the crate docs
//! ([the verified-token cache](crate#the-verified-token-cache)); this module is how it keeps
//! those guarantees:
//!
//! - an entry holds its whole token and a lookup compares it byte for byte, so a hit can only
//!   be the very token that was verified. The map is keyed by a 64-bit hash of the token under
//!   a per-process random seed: moka hashes (and, when it resizes, re-hashes) 8 bytes instead
//!   of an 800-byte token, and two tokens sharing a hash, which no client can aim for without
//!   the seed, only miss each other;
//! - an entry lives until the token's `exp` without the leeway (a token inside its leeway is
//!   verified in full again), and at most [`TokenCacheSettings::max_lifetime`];
//! - each entry remembers the generation (of the key set and of the revocation list) it was
//!   verified under; [`get`](TokenCache::get) flushes everything once the generation moves on
//!   and serves no entry of another generation, so one inserted by a verification that raced
//!   the change is never served either;
//! - one weighted capacity, in estimated bytes ([`entry_bytes`]), bounds the memory; when a
//!   count bound is configured too, every entry weighs at least `max_bytes / max_entries`, so
//!   neither bound can be passed;
//! - admission is moka's TinyLFU: a new token displaces a held one only if it has been seen
//!   more often, so a working set larger than the cache, cycling (every user active in turn),
//!   keeps a stable part cached instead of evicting each entry just before its next use as an
//!   LRU would (tested: `a_cyclic_working_set_twice_the_cache_still_hits`).

mod settings;

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

pub(crate) use self::settings::TokenCacheSettings;
use crate::claims::{ClaimRules, VerifiedClaims};
use crate::rejection::InvalidToken;

/// Estimated bytes of an entry beyond the token and its claims: moka's node, its place in the
/// access and expiry orders, the frequency sketch's share, the `Arc`s, the allocator's own
/// headers. Set so that the estimate of an issuer-shaped token matches what
/// `cargo bench -p verifier-middleware --bench token_cache_memory` measures (1,208 resident
/// bytes beyond the token; BENCHMARKS.md).
pub(crate) const ENTRY_OVERHEAD_BYTES: usize = 608;

/// An entry's estimated size: the token, its claims as held (the payload text and what was
/// read from it), and [`ENTRY_OVERHEAD_BYTES`].
pub(crate) fn entry_bytes(token: &str, claims: &VerifiedClaims) -> usize {
    token.len() + claims.estimated_bytes() + ENTRY_OVERHEAD_BYTES
}

/// Tokens verified recently, with their claims.
pub(crate) struct TokenCache {
    /// By [`TokenCache::key`] of the token.
    entries: Cache<u64, Entry, foldhash::fast::RandomState>,
    /// The seed of the tokens' hashes.
    keys: foldhash::quality::RandomState,
    max_lifetime: Duration,
    /// The key-set and revocation generation the entries were verified under.
    generation: AtomicU64,
}

#[derive(Clone)]
struct Entry {
    token: Arc<str>,
    claims: VerifiedClaims,
    generation: u64,
    lifetime: Duration,
}

/// Each entry expires after its own lifetime (its `exp`, capped).
struct UntilExpiry;

impl Expiry<u64, Entry> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &u64,
        entry: &Entry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.lifetime)
    }
}

impl TokenCache {
    /// A cache with these bounds; `None` when the settings turn it off.
    pub(crate) fn new(settings: &TokenCacheSettings) -> Option<Self> {
        if !settings.enabled {
            return None;
        }
        // Every entry weighs at least this, so `max_bytes` also caps the count at `max_entries`.
        let floor = settings
            .max_entries
            .map_or(0, |entries| settings.max_bytes / entries.max(1));
        let entries = Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(move |_: &u64, entry: &Entry| -> u32 {
                let bytes =
                    u64::try_from(entry_bytes(&entry.token, &entry.claims)).unwrap_or(u64::MAX);
                u32::try_from(bytes.max(floor)).unwrap_or(u32::MAX)
            })
            .expire_after(UntilExpiry)
            .build_with_hasher(foldhash::fast::RandomState::default());
        Some(Self {
            entries,
            keys: foldhash::quality::RandomState::default(),
            max_lifetime: settings.max_lifetime,
            generation: AtomicU64::new(0),
        })
    }

    /// The claims of `token` if it was verified under `generation`, with its time claims
    /// checked again at `now` (Unix seconds). `None`: verify it in full.
    pub(crate) fn get(
        &self,
        token: &str,
        generation: u64,
        rules: &ClaimRules,
        now: i64,
    ) -> Option<Result<VerifiedClaims, InvalidToken>> {
        if self.generation.load(Ordering::Acquire) < generation {
            self.flush(generation);
            return None;
        }
        let entry = self.entries.get(&self.key(token))?;
        if entry.generation != generation || *entry.token != *token {
            return None;
        }
        Some(
            entry
                .claims
                .check_times(rules.leeway_seconds, now)
                .map(|()| entry.claims),
        )
    }

    /// Remembers a token verified under `generation` at `now` (Unix seconds), until its `exp`
    /// and at most the configured lifetime.
    pub(crate) fn insert(&self, token: &str, claims: &VerifiedClaims, generation: u64, now: i64) {
        if self.generation.load(Ordering::Acquire) != generation {
            // The keys or the list changed while this token was being verified.
            return;
        }
        let remaining = claims.expires_at_seconds().saturating_sub(now);
        let Ok(remaining @ 1..) = u64::try_from(remaining) else {
            return;
        };
        let lifetime = Duration::from_secs(remaining).min(self.max_lifetime);
        self.entries.insert(
            self.key(token),
            Entry {
                token: Arc::from(token),
                claims: claims.clone(),
                generation,
                lifetime,
            },
        );
    }

    /// The map's key for `token`.
    fn key(&self, token: &str) -> u64 {
        self.keys.hash_one(token)
    }

    /// Drops every entry once the generation moves on. Generations only grow; a request that
    /// read an older one late does not move it back.
    fn flush(&self, generation: u64) {
        if self.generation.fetch_max(generation, Ordering::AcqRel) < generation {
            self.entries.invalidate_all();
        }
    }

    /// How many tokens are held (approximate until pending maintenance runs).
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::claims;

    const NOW: i64 = 1_800_000_000;
    const CURRENT: u64 = 7;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: None,
            audiences: None,
            leeway_seconds: 60,
            role_claims: None,
        }
    }

    fn claims_expiring_at(exp: i64) -> VerifiedClaims {
        let payload = json!({"sub": "u1", "exp": exp, "iat": NOW, "nbf": NOW});
        claims::validate(payload.to_string(), &rules(), NOW).unwrap()
    }

    fn cache(settings: TokenCacheSettings) -> TokenCache {
        let cache = TokenCache::new(&settings).unwrap();
        // As if the verifier had seen the current generation already.
        cache.flush(CURRENT);
        cache
    }

    fn default_cache() -> TokenCache {
        cache(TokenCacheSettings::default())
    }

    fn hit(cache: &TokenCache, token: &str, now: i64) -> Option<Result<String, InvalidToken>> {
        cache
            .get(token, CURRENT, &rules(), now)
            .map(|found| found.map(|claims| claims.subject().unwrap_or_default().to_owned()))
    }

    #[test]
    fn a_verified_token_is_served_from_the_cache() {
        let cache = default_cache();

        cache.insert("a.b.c", &claims_expiring_at(NOW + 900), CURRENT, NOW);

        assert_eq!(hit(&cache, "a.b.c", NOW + 10), Some(Ok("u1".to_owned())));
    }

    #[test]
    fn only_the_very_same_token_hits() {
        let cache = default_cache();
        cache.insert("a.b.c", &claims_expiring_at(NOW + 900), CURRENT, NOW);

        for other in ["a.b.d", "a.b.c ", "a.b.", "A.b.c", "a.b.cc"] {
            assert_eq!(hit(&cache, other, NOW), None, "{other}");
        }
    }

    #[test]
    fn a_token_sharing_the_hash_of_a_cached_one_misses() {
        let cache = default_cache();
        // As if "x.y.z" had the hash of "a.b.c": the entry found under it is not its own.
        cache.entries.insert(
            cache.key("a.b.c"),
            Entry {
                token: Arc::from("x.y.z"),
                claims: claims_expiring_at(NOW + 900),
                generation: CURRENT,
                lifetime: Duration::from_secs(60),
            },
        );

        assert_eq!(hit(&cache, "a.b.c", NOW), None);
    }

    #[test]
    fn time_claims_are_checked_again_on_every_hit() {
        let cache = default_cache();
        cache.insert("a.b.c", &claims_expiring_at(NOW + 100), CURRENT, NOW);

        assert_eq!(hit(&cache, "a.b.c", NOW + 159), Some(Ok("u1".to_owned())));
        assert_eq!(
            hit(&cache, "a.b.c", NOW + 160),
            Some(Err(InvalidToken::Expired))
        );
        // A clock that steps back before nbf/iat (beyond the leeway) refuses it too.
        assert_eq!(
            hit(&cache, "a.b.c", NOW - 61),
            Some(Err(InvalidToken::NotYetValid))
        );
    }

    #[test]
    fn a_token_already_past_its_exp_is_not_cached() {
        let cache = default_cache();

        cache.insert("a.b.c", &claims_expiring_at(NOW - 10), CURRENT, NOW);
        cache.insert("d.e.f", &claims_expiring_at(NOW), CURRENT, NOW);

        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_new_generation_flushes_the_whole_cache() {
        let cache = default_cache();
        cache.insert("a.b.c", &claims_expiring_at(NOW + 900), CURRENT, NOW);
        cache.insert("d.e.f", &claims_expiring_at(NOW + 900), CURRENT, NOW);

        assert!(cache.get("a.b.c", CURRENT + 1, &rules(), NOW).is_none());

        assert_eq!(cache.len(), 0);
        assert_eq!(hit(&cache, "d.e.f", NOW), None);
    }

    #[test]
    fn an_entry_verified_under_an_older_generation_is_never_served() {
        let cache = default_cache();
        // A verification that started before the keys changed finishes after the flush.
        cache.flush(CURRENT + 1);
        cache.insert("a.b.c", &claims_expiring_at(NOW + 900), CURRENT, NOW);

        assert_eq!(cache.len(), 0);
        assert!(cache.get("a.b.c", CURRENT + 1, &rules(), NOW).is_none());
        // A request that read the old generation late neither hits nor moves it back.
        assert!(cache.get("a.b.c", CURRENT, &rules(), NOW).is_none());
        assert_eq!(cache.generation.load(Ordering::Acquire), CURRENT + 1);
    }

    #[test]
    fn the_number_of_entries_is_bounded() {
        let cache = cache(TokenCacheSettings {
            max_entries: Some(100),
            ..TokenCacheSettings::default()
        });
        let claims = claims_expiring_at(NOW + 900);

        for i in 0..1_000 {
            cache.insert(&format!("token-{i}"), &claims, CURRENT, NOW);
        }

        let held = cache.len();
        assert!((1..=100).contains(&held), "{held} entries");
    }

    #[test]
    fn the_estimated_bytes_are_bounded() {
        let max_bytes = 256 * 1024;
        let cache = cache(TokenCacheSettings {
            max_bytes,
            ..TokenCacheSettings::default()
        });
        let claims = claims_expiring_at(NOW + 900);
        let padding = "x".repeat(8_000);

        for i in 0..200 {
            cache.insert(&format!("{i}.{padding}"), &claims, CURRENT, NOW);
        }

        // Each entry is estimated at over 8 KB: at most 32 fit.
        let held = cache.len();
        assert!((1..=32).contains(&held), "{held} entries");
        assert!(cache.entries.weighted_size() <= max_bytes);
    }

    #[test]
    fn an_entry_is_estimated_at_its_token_its_payload_and_the_overhead() {
        let claims = claims_expiring_at(NOW + 900);
        let payload = json!({"sub": "u1", "exp": NOW + 900, "iat": NOW, "nbf": NOW}).to_string();

        let bytes = entry_bytes(&"t".repeat(700), &claims);

        assert!(
            bytes >= 700 + payload.len() + ENTRY_OVERHEAD_BYTES,
            "{bytes}"
        );
        assert!(
            bytes < 700 + payload.len() + ENTRY_OVERHEAD_BYTES + 512,
            "{bytes}"
        );
    }

    #[test]
    fn a_cyclic_working_set_twice_the_cache_still_hits() {
        // Room for about 100 entries; 200 tokens used in turn, round after round.
        let claims = claims_expiring_at(NOW + 900);
        let token = |i: usize| format!("{i:04}.{}", "x".repeat(600));
        let per_entry = u64::try_from(entry_bytes(&token(0), &claims)).unwrap();
        let cache = cache(TokenCacheSettings {
            max_bytes: 100 * per_entry,
            ..TokenCacheSettings::default()
        });
        let (mut hits, mut lookups) = (0, 0);

        for round in 0..6 {
            for i in 0..200 {
                let token = token(i);
                let found = hit(&cache, &token, NOW);
                if round > 0 {
                    lookups += 1;
                    hits += usize::from(found.is_some());
                }
                if found.is_none() {
                    cache.insert(&token, &claims, CURRENT, NOW);
                }
                cache.entries.run_pending_tasks();
            }
        }

        // An LRU would hit nothing: each token is evicted just before its turn comes again.
        // Holding a stable half, the best possible is 50 %.
        let rate = hits * 100 / lookups;
        assert!(rate >= 30, "{hits} hits of {lookups} lookups");
    }

    #[test]
    fn a_disabled_cache_is_not_built() {
        let settings = TokenCacheSettings {
            enabled: false,
            ..TokenCacheSettings::default()
        };

        assert!(TokenCache::new(&settings).is_none());
    }
}
