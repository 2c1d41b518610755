//! Unix time as the issuer stores and prints it: whole seconds since 1970, shown as RFC 3339 in
//! UTC. A leaf module: it knows nothing of the issuer's features.
//!
//! ```
//! use std::time::Duration;
//! use issuer::time::{format_time, seconds};
//!
//! assert_eq!(seconds(Duration::from_millis(1500)), 1);
//! assert_eq!(format_time(1_763_903_600), "2025-11-23T13:13:20Z");
//! ```

use std::time::{Duration, UNIX_EPOCH};

/// Whole seconds of `duration`, saturating at `i64::MAX`.
pub fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// RFC 3339 (UTC, whole seconds) of a Unix time; a time before 1970 is shown as 1970.
pub fn format_time(unix: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}
