//! Signing: `JWT_ALGORITHM`, `JWT_SECRET`, the RSA key ring in `KEYS_DIR` (rotation, reload)
//! and how long verifiers may cache the JWKS.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::ConfigError;
use super::parse::{invalid, parse_optional_ttl, parse_ttl};
use crate::keys::live::RingSettings;
use crate::secret::Secret;
use crate::tokens::{MIN_SECRET_BYTES, SigningConfig};

/// Signing settings.
#[derive(Debug, Clone, Args)]
pub struct KeysArgs {
    /// Directory holding the RSA signing keys: a key ring (`keyring.json`, managed with
    /// `issuer keys`) or a single `private.pem` (PKCS#1 or PKCS#8).
    #[arg(long, env = "KEYS_DIR", default_value = "keys", global = true)]
    pub keys_dir: PathBuf,
    /// How long verifiers may cache the JWKS (its `Cache-Control: max-age`).
    #[arg(long, env = "JWKS_MAX_AGE", default_value = "5m", global = true)]
    pub jwks_max_age: String,
    /// How long `issuer keys rotate` publishes a new key before it signs; at least
    /// JWKS_MAX_AGE.
    #[arg(long, env = "KEY_PUBLISH_LEAD", default_value = "1h", global = true)]
    pub key_publish_lead: String,
    /// Rotate the signing key on this schedule, e.g. `30d` (`off`: only with
    /// `issuer keys rotate`). Needs a writable KEYS_DIR.
    #[arg(long, env = "KEY_ROTATION_INTERVAL", default_value = "off", global = true)]
    pub key_rotation_interval: String,
    /// How often a running issuer checks KEYS_DIR for changes.
    #[arg(long, env = "KEYS_RELOAD_INTERVAL", default_value = "10s", global = true)]
    pub keys_reload_interval: String,
    /// `RS256` or `HS256`.
    #[arg(long, env = "JWT_ALGORITHM", default_value = "RS256", global = true)]
    pub jwt_algorithm: String,
    /// HS256 shared secret, at least 32 bytes.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<Secret>,
}

/// What [`KeysArgs::parse`] gives.
pub(super) struct Keys {
    pub(super) signing: SigningConfig,
    pub(super) ring: RingSettings,
    pub(super) jwks_max_age: Duration,
}

/// The shortest time verifiers built with `verifier-middleware` cache a JWKS, whatever its
/// `max-age` (their default lower bound).
const MIN_VERIFIER_CACHE: Duration = verifier_middleware::DEFAULT_JWKS_MIN_TTL;

impl KeysArgs {
    /// The signing settings; retired keys stay published for `token_ttl` (the access-token
    /// lifetime).
    pub(super) fn parse(&self, token_ttl: Duration) -> Result<Keys, ConfigError> {
        let (ring, jwks_max_age) = self.parse_ring(token_ttl)?;
        Ok(Keys {
            signing: self.parse_signing()?,
            ring,
            jwks_max_age,
        })
    }

    fn parse_signing(&self) -> Result<SigningConfig, ConfigError> {
        match self.jwt_algorithm.as_str() {
            "RS256" => {
                if self.jwt_secret.is_some() {
                    return Err(invalid(
                        "JWT_SECRET",
                        "set, but JWT_ALGORITHM is RS256; unset JWT_SECRET or set JWT_ALGORITHM=HS256",
                    ));
                }
                Ok(SigningConfig::Rs256)
            }
            "HS256" => {
                let secret = self.jwt_secret.clone().ok_or(ConfigError::Missing {
                    var: "JWT_SECRET",
                    reason: "JWT_ALGORITHM=HS256 signs with a shared secret of at least 32 bytes",
                })?;
                let length = secret.expose().len();
                if length < MIN_SECRET_BYTES {
                    return Err(invalid(
                        "JWT_SECRET",
                        format!(
                            "{length} bytes is too short; use at least {MIN_SECRET_BYTES} random bytes (e.g. `openssl rand -base64 48`)"
                        ),
                    ));
                }
                Ok(SigningConfig::Hs256 { secret })
            }
            other => Err(invalid(
                "JWT_ALGORITHM",
                format!("'{other}' is not supported; use RS256 or HS256"),
            )),
        }
    }

    /// The key ring settings and the JWKS cache lifetime, which must fit together: a new key is
    /// published for `KEY_PUBLISH_LEAD` before it signs, so verifiers caching the JWKS for up to
    /// `JWKS_MAX_AGE` see it in time.
    fn parse_ring(&self, token_ttl: Duration) -> Result<(RingSettings, Duration), ConfigError> {
        let jwks_max_age = parse_ttl("JWKS_MAX_AGE", &self.jwks_max_age)?;
        if jwks_max_age > Duration::from_secs(86_400) {
            return Err(invalid("JWKS_MAX_AGE", "must be at most 1d"));
        }
        let publish_lead = parse_ttl("KEY_PUBLISH_LEAD", &self.key_publish_lead)?;
        let rotation_interval =
            parse_optional_ttl("KEY_ROTATION_INTERVAL", &self.key_rotation_interval)?;
        if rotation_interval.is_some_and(|interval| interval <= publish_lead) {
            return Err(invalid(
                "KEY_ROTATION_INTERVAL",
                "must be longer than KEY_PUBLISH_LEAD",
            ));
        }
        let reload_interval = humantime::parse_duration(&self.keys_reload_interval)
            .ok()
            .filter(|interval| *interval >= Duration::from_millis(100))
            .ok_or_else(|| {
                invalid(
                    "KEYS_RELOAD_INTERVAL",
                    format!(
                        "'{}' is not a duration of at least 100ms (e.g. 10s)",
                        self.keys_reload_interval
                    ),
                )
            })?;
        // Replicas see a new key up to one reload interval late, and verifiers cache the JWKS
        // for its max-age, but no less than a minute (verifier-middleware's floor).
        let needed = jwks_max_age.max(MIN_VERIFIER_CACHE) + reload_interval;
        if publish_lead < needed {
            return Err(invalid(
                "KEY_PUBLISH_LEAD",
                format!(
                    "must be at least {} (JWKS_MAX_AGE, at least 1m, plus KEYS_RELOAD_INTERVAL): a verifier could still hold the old JWKS when the new key signs",
                    humantime::format_duration(needed)
                ),
            ));
        }
        let settings = RingSettings {
            dir: self.keys_dir.clone(),
            token_ttl,
            publish_lead,
            rotation_interval,
            reload_interval,
        };
        Ok((settings, jwks_max_age))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::tests::{error_for, parse};
    use crate::tokens::SigningConfig;

    #[test]
    fn hs256_without_a_secret_is_refused() {
        assert!(error_for(&["--jwt-algorithm", "HS256"]).starts_with("JWT_SECRET is required"));
    }

    #[test]
    fn a_short_secret_is_refused_without_echoing_it() {
        let message = error_for(&[
            "--jwt-algorithm",
            "HS256",
            "--jwt-secret",
            "tooshort-secret",
        ]);
        assert!(
            message.starts_with("invalid JWT_SECRET: 15 bytes is too short"),
            "{message}"
        );
        assert!(!message.contains("tooshort-secret"));
    }

    #[test]
    fn a_32_byte_secret_is_accepted() {
        let config = parse(&["--jwt-algorithm", "HS256", "--jwt-secret", &"s".repeat(32)]).unwrap();
        assert!(matches!(config.signing, SigningConfig::Hs256 { .. }));
        assert!(!format!("{config:?}").contains(&"s".repeat(32)));
    }

    #[test]
    fn a_secret_in_rs256_mode_is_refused() {
        assert!(error_for(&["--jwt-secret", &"s".repeat(32)]).starts_with("invalid JWT_SECRET:"));
    }

    #[test]
    fn key_ring_settings_parse_and_must_fit_together() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.jwks_max_age, Duration::from_secs(300));
        assert_eq!(config.keys.publish_lead, Duration::from_secs(3600));
        assert_eq!(config.keys.rotation_interval, None);
        assert_eq!(config.keys.reload_interval, Duration::from_secs(10));
        assert_eq!(config.keys.token_ttl, config.tokens.access_token_ttl);
        let config = parse(&["--key-rotation-interval", "30d"]).unwrap();
        assert_eq!(
            config.keys.rotation_interval,
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(
            error_for(&["--jwks-max-age", "2h"]),
            "invalid KEY_PUBLISH_LEAD: must be at least 2h 10s (JWKS_MAX_AGE, at least 1m, plus KEYS_RELOAD_INTERVAL): a verifier could still hold the old JWKS when the new key signs"
        );
        assert!(
            error_for(&["--jwks-max-age", "1s", "--key-publish-lead", "30s"])
                .starts_with("invalid KEY_PUBLISH_LEAD: must be at least 1m 10s")
        );
        assert!(
            error_for(&["--key-rotation-interval", "30m"])
                .starts_with("invalid KEY_ROTATION_INTERVAL:")
        );
        assert!(
            error_for(&["--keys-reload-interval", "1ms"])
                .starts_with("invalid KEYS_RELOAD_INTERVAL:")
        );
    }

    #[test]
    fn an_unknown_algorithm_is_refused() {
        assert_eq!(
            error_for(&["--jwt-algorithm", "none"]),
            "invalid JWT_ALGORITHM: 'none' is not supported; use RS256 or HS256"
        );
    }
}
