//! Unix time as the issuer stores and prints it: whole seconds since 1970 ([`UnixTime`]), shown
//! and written to files as RFC 3339 in UTC ([`format_time`], [`parse_time`], and the serde
//! adapters [`rfc3339`] and [`rfc3339_option`]). A leaf module: it knows nothing of the issuer's
//! features.
//!
//! [`UnixTime`] names the `i64` rather than wrapping it: the database columns, the JWT claims
//! and the verifier's clock ([`unix_seconds`](crate::clock::unix_seconds)) all speak `i64`, and
//! a wrapper would need a conversion at each of them.
//!
//! ```
//! use std::time::Duration;
//! use issuer::time::{format_time, seconds};
//!
//! assert_eq!(seconds(Duration::from_millis(1500)), 1);
//! assert_eq!(format_time(1_763_903_600), "2025-11-23T13:13:20Z");
//! ```

use std::time::{Duration, UNIX_EPOCH};

/// A point in time: whole seconds since 1970-01-01T00:00:00Z.
pub type UnixTime = i64;

/// Whole seconds of `duration`, saturating at `i64::MAX`.
pub fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// RFC 3339 (UTC, whole seconds) of a Unix time; a time before 1970 is shown as 1970.
pub fn format_time(unix: UnixTime) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The Unix time of an RFC 3339 timestamp; the error names the value and what is wrong.
pub fn parse_time(raw: &str) -> Result<UnixTime, String> {
    let at = humantime::parse_rfc3339(raw).map_err(|e| format!("'{raw}': {e}"))?;
    let since = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("'{raw}' is before 1970"))?;
    Ok(seconds(since))
}

/// `#[serde(with = "crate::time::rfc3339")]`: a [`UnixTime`] written as an RFC 3339 string.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{UnixTime, format_time, parse_time};

    /// Writes the time as RFC 3339.
    pub fn serialize<S: Serializer>(unix: &UnixTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_time(*unix))
    }

    /// Reads an RFC 3339 string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<UnixTime, D::Error> {
        let raw = String::deserialize(deserializer)?;
        parse_time(&raw).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(with = "crate::time::rfc3339_option")]`: an optional [`UnixTime`] as RFC 3339.
pub mod rfc3339_option {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{UnixTime, parse_time};

    /// Writes the time as RFC 3339, or nothing.
    // serde's `with` hands `&Option<T>` to serialize.
    #[allow(clippy::ref_option)]
    pub fn serialize<S: Serializer>(
        unix: &Option<UnixTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match unix {
            Some(unix) => super::rfc3339::serialize(unix, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Reads an RFC 3339 string or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<UnixTime>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|raw| parse_time(&raw).map_err(serde::de::Error::custom))
            .transpose()
    }
}
