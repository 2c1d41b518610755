//! The lifecycle of a key in the ring, as pure functions of the [`Manifest`], the access-token
//! lifetime and the time:
//!
//! **next** (published in the JWKS, not signing yet) -> **current** (signing) -> **retired**
//! (no longer signing, still published until every token it signed has expired, plus
//! [`RETIRED_KEY_LEEWAY`]) -> **removed** (no longer published; its file is deleted at a later
//! rotation, see [`DELETE_AFTER`](super::rotation::DELETE_AFTER)).
//!
//! Nothing here reads a file or a clock, so every replica reading the same manifest signs with
//! the same key, whichever started first, and nothing has to be written for a key to move on:
//! a rotation only adds a key whose `signs_from` lies ahead, and the time does the rest.

use std::time::Duration;

use super::manifest::{KeyEntry, Manifest};
use crate::time::seconds;

/// How long a retired key stays published after the last token it signed expired: the largest
/// leeway a verifier built with `verifier-middleware` may apply to `exp`, which also absorbs
/// clock skew between issuer replicas.
pub const RETIRED_KEY_LEEWAY: Duration = verifier_middleware::MAX_LEEWAY;

/// Where a key stands in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Published, not signing yet.
    Next,
    /// Signing (and published).
    Current,
    /// No longer signing; published while tokens it signed may still be valid.
    Retired,
    /// Not published any more.
    Removed,
}

impl Phase {
    /// Whether verifiers may fetch the key.
    pub fn is_published(self) -> bool {
        !matches!(self, Self::Removed)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retired => "retired",
            Self::Removed => "removed",
        })
    }
}

/// What a key's lifecycle looks like at some moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// The key.
    pub entry: KeyEntry,
    /// Its phase.
    pub phase: Phase,
    /// When it stops (or stopped) signing, if that is known yet.
    pub signs_until: Option<i64>,
    /// When it leaves (or left) the JWKS, if that is known yet.
    pub published_until: Option<i64>,
}

impl KeyEntry {
    /// Retired before it could sign: it never signed anything. (Retired in the second it
    /// started signing, it may have signed, and is kept for its tokens.)
    fn cancelled(&self) -> bool {
        self.retired_at.is_some_and(|at| at < self.signs_from)
    }

    /// The order in which keys take over signing; ties are broken so that every replica agrees.
    fn rank(&self) -> (i64, i64, &str) {
        (self.signs_from, self.created_at, &self.kid)
    }
}

impl Manifest {
    /// When `key` stops (or stopped) signing: when it was retired, or when a key ranked after
    /// it starts signing, whichever comes first. `None` while neither is scheduled.
    pub fn signs_until(&self, key: &KeyEntry) -> Option<i64> {
        let superseded = self
            .keys
            .iter()
            .filter(|other| !other.cancelled() && other.rank() > key.rank())
            .map(|other| other.signs_from)
            .min();
        [key.retired_at, superseded].into_iter().flatten().min()
    }

    /// The phase of `key` at `now`, given that tokens live for `token_ttl` seconds.
    pub fn phase(&self, key: &KeyEntry, now: i64, token_ttl: i64) -> Phase {
        self.status(key, now, token_ttl).phase
    }

    /// The phase of `key` at `now` and the times that bound it.
    pub fn status(&self, key: &KeyEntry, now: i64, token_ttl: i64) -> KeyStatus {
        let signs_until = if key.cancelled() {
            key.retired_at
        } else {
            self.signs_until(key)
        };
        let retention = token_ttl.saturating_add(seconds(RETIRED_KEY_LEEWAY));
        let mut published_until = match (key.cancelled(), signs_until) {
            (true, until) => until,
            (false, until) => until.map(|until| until.saturating_add(retention)),
        };
        if let Some(unpublished) = key.unpublished_at {
            published_until = Some(published_until.map_or(unpublished, |p| p.min(unpublished)));
        }
        let phase = if published_until.is_some_and(|until| now >= until) {
            Phase::Removed
        } else if now < key.signs_from {
            Phase::Next
        } else if signs_until.is_some_and(|until| now >= until) {
            Phase::Retired
        } else {
            Phase::Current
        };
        KeyStatus {
            entry: key.clone(),
            phase,
            signs_until,
            published_until,
        }
    }

    /// Every key with its status at `now`.
    pub fn statuses(&self, now: i64, token_ttl: i64) -> Vec<KeyStatus> {
        self.keys
            .iter()
            .map(|key| self.status(key, now, token_ttl))
            .collect()
    }

    /// The key that signs at `now`, if any.
    pub fn current(&self, now: i64, token_ttl: i64) -> Option<&KeyEntry> {
        self.keys
            .iter()
            .find(|key| self.phase(key, now, token_ttl) == Phase::Current)
    }

    /// The key waiting to sign next at `now`, if any.
    pub fn next(&self, now: i64, token_ttl: i64) -> Option<&KeyEntry> {
        self.keys
            .iter()
            .filter(|key| self.phase(key, now, token_ttl) == Phase::Next)
            .min_by(|a, b| a.rank().cmp(&b.rank()))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::keys::manifest::tests::entry;

    /// The access-token lifetime of these tests, in seconds.
    pub(crate) const TTL: i64 = 900;
    /// How long a key stays published after it stopped signing: the tokens' lifetime and 5 min.
    pub(crate) const RETENTION: i64 = TTL + 300;

    fn phases(manifest: &Manifest, now: i64) -> Vec<Phase> {
        manifest
            .keys
            .iter()
            .map(|key| manifest.phase(key, now, TTL))
            .collect()
    }

    use Phase::{Current, Next, Removed, Retired};

    #[test]
    fn a_rotation_moves_next_to_current_to_retired_to_removed_by_time_alone() {
        let manifest = Manifest {
            keys: vec![entry("a", 0, 0), entry("b", 1000, 4600)],
        };

        assert_eq!(phases(&manifest, 1000), [Current, Next]);
        assert_eq!(phases(&manifest, 4599), [Current, Next]);
        assert_eq!(phases(&manifest, 4600), [Retired, Current]);
        assert_eq!(phases(&manifest, 4600 + RETENTION - 1), [Retired, Current]);
        assert_eq!(phases(&manifest, 4600 + RETENTION), [Removed, Current]);
        assert_eq!(manifest.current(4600, TTL).unwrap().kid, "b");
    }

    #[test]
    fn exactly_one_key_signs_whatever_the_order_of_the_entries() {
        let mut manifest = Manifest {
            keys: vec![entry("b", 10, 10), entry("a", 10, 10), entry("c", 5, 20)],
        };
        for now in [10, 19, 20, 5000] {
            let current: Vec<_> = manifest
                .keys
                .iter()
                .filter(|key| manifest.phase(key, now, TTL) == Current)
                .map(|key| key.kid.clone())
                .collect();
            manifest.keys.reverse();
            let again = manifest.current(now, TTL).map(|key| key.kid.clone());
            assert_eq!(current.len(), 1, "at {now}");
            assert_eq!(Some(current[0].clone()), again, "at {now}");
        }
        assert_eq!(manifest.current(15, TTL).unwrap().kid, "b");
        assert_eq!(manifest.current(20, TTL).unwrap().kid, "c");
    }

    #[test]
    fn a_next_key_retired_before_it_signed_is_removed_at_once_and_supersedes_nothing() {
        let mut manifest = Manifest {
            keys: vec![entry("a", 0, 0), entry("b", 100, 3700)],
        };
        manifest.keys[1].retired_at = Some(200);

        assert_eq!(phases(&manifest, 199), [Current, Next]);
        assert_eq!(phases(&manifest, 200), [Current, Removed]);
        assert_eq!(phases(&manifest, 10_000), [Current, Removed]);
    }

    #[test]
    fn a_key_retired_in_the_second_it_started_signing_is_kept_for_its_tokens() {
        let mut manifest = Manifest {
            keys: vec![entry("a", 0, 100), entry("b", 50, 100)],
        };
        manifest.keys[0].retired_at = Some(100);

        assert_eq!(phases(&manifest, 100), [Retired, Current]);
        assert_eq!(phases(&manifest, 100 + RETENTION), [Removed, Current]);
    }

    #[test]
    fn an_unpublished_key_leaves_the_jwks_at_once() {
        let mut manifest = Manifest {
            keys: vec![entry("a", 0, 0), entry("b", 100, 200)],
        };
        manifest.keys[0].retired_at = Some(200);
        manifest.keys[0].unpublished_at = Some(250);

        assert_eq!(phases(&manifest, 249), [Retired, Current]);
        assert_eq!(phases(&manifest, 250), [Removed, Current]);
    }
}
