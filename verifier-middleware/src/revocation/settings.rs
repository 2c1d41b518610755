//! The revocation list's settings, checked when the verifier is built.

use std::time::Duration;

use reqwest::Url;

use crate::build_error::{BuildError, Setting};
use crate::remote::parse_http_url;

/// The shortest poll interval accepted.
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The smallest response cap accepted.
const MIN_RESPONSE_BYTES: usize = 1024;

/// The revocation list; set through the builder's `revocation_*` methods. Downloads use the
/// shared [`FetchSettings`](crate::remote::FetchSettings) and back off as the JWKS's do.
#[derive(Debug, Clone)]
pub(crate) struct RevocationSettings {
    /// Where the list is polled; `None`: no revocation list (the default).
    pub(crate) url: Option<String>,
    /// How old the list may be when a token is checked against it.
    pub(crate) poll_interval: Duration,
    /// Largest response read.
    pub(crate) max_response_bytes: usize,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        Self {
            url: None,
            poll_interval: Duration::from_secs(30),
            max_response_bytes: 4 * 1024 * 1024,
        }
    }
}

impl RevocationSettings {
    /// The list's URL when one is set, once it and the bounds are checked; `None` when no list
    /// is configured (then nothing else is checked).
    pub(crate) fn validate(&self) -> Result<Option<Url>, BuildError> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let url = parse_http_url(url).map_err(BuildError::InvalidRevocationUrl)?;
        Setting::RevocationPollInterval
            .require(self.poll_interval >= MIN_POLL_INTERVAL, "at least 1 s")?;
        Setting::RevocationMaxResponseBytes.require(
            self.max_response_bytes >= MIN_RESPONSE_BYTES,
            "at least 1 KiB",
        )?;
        Ok(Some(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url() -> RevocationSettings {
        RevocationSettings {
            url: Some("http://issuer.test/revoked-sessions".into()),
            ..RevocationSettings::default()
        }
    }

    #[test]
    fn without_a_url_nothing_is_checked() {
        let settings = RevocationSettings {
            poll_interval: Duration::ZERO,
            max_response_bytes: 0,
            ..RevocationSettings::default()
        };

        assert_eq!(settings.validate(), Ok(None));
    }

    #[test]
    fn a_url_that_is_not_http_is_refused() {
        let settings = RevocationSettings {
            url: Some("ftp://issuer.test/revoked".into()),
            ..RevocationSettings::default()
        };

        assert!(matches!(
            settings.validate(),
            Err(BuildError::InvalidRevocationUrl(_))
        ));
    }

    #[test]
    fn a_poll_interval_under_a_second_is_refused() {
        let settings = RevocationSettings {
            poll_interval: Duration::from_millis(999),
            ..with_url()
        };

        assert_eq!(
            settings.validate(),
            Err(BuildError::invalid(
                Setting::RevocationPollInterval,
                "at least 1 s"
            ))
        );
    }

    #[test]
    fn a_response_cap_under_1_kib_is_refused() {
        let settings = RevocationSettings {
            max_response_bytes: 1023,
            ..with_url()
        };

        assert_eq!(
            settings.validate(),
            Err(BuildError::invalid(
                Setting::RevocationMaxResponseBytes,
                "at least 1 KiB"
            ))
        );
    }

    #[test]
    fn the_defaults_with_an_http_url_are_valid() {
        let url = with_url().validate().unwrap().unwrap();

        assert_eq!(url.as_str(), "http://issuer.test/revoked-sessions");
    }
}
