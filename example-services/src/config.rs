//! Service configuration from environment variables.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use verifier_middleware::{BuildError, Setting, Verifier};

/// Where verification keys come from by default: the issuer of `scripts/dev-up.sh`.
pub const DEFAULT_JWKS_URL: &str = "http://localhost:3000/.well-known/jwks.json";
/// The issuer's default `JWT_ISSUER`.
pub const DEFAULT_ISSUER: &str = "http://localhost:3000";
/// The issuer's default `JWT_AUDIENCE`.
pub const DEFAULT_AUDIENCE: &str = "api";

/// A setting that stops start-up. `Display` is the one line printed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable has a bad value.
    #[error("invalid {var}: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong and what to do.
        reason: String,
    },
    /// Two variables that exclude each other are both set.
    #[error("set only one of JWT_JWKS_URL and JWT_PUBLIC_KEY_FILE")]
    ConflictingKeySources,
}

/// How tokens are verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// RSA keys from the issuer's JWKS.
    Jwks(String),
    /// One RSA public key from a PEM file.
    PublicKeyFile(PathBuf),
}

/// Everything a service reads from its environment.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The RSA key source, if any.
    pub rsa: Option<KeySource>,
    /// The HS256 secret, if any (`JWT_SECRET`).
    pub secret: Option<String>,
    /// The expected `iss`.
    pub issuer: String,
    /// The expected `aud`.
    pub audience: String,
    /// The issuer's revocation list and how old it may be (`JWT_REVOCATION_URL`,
    /// `JWT_REVOCATION_POLL_INTERVAL`); `None`: revocation is not checked.
    pub revocation: Option<(String, Duration)>,
}

/// How old the revocation list may get by default (`JWT_REVOCATION_POLL_INTERVAL`).
pub const DEFAULT_REVOCATION_POLL_INTERVAL: Duration = Duration::from_secs(30);

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("listen", &self.listen)
            .field("rsa", &self.rsa)
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("revocation", &self.revocation)
            .finish()
    }
}

impl ServiceConfig {
    /// Reads the process environment.
    ///
    /// # Errors
    /// The first bad or conflicting setting.
    pub fn from_env(default_port: u16) -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok(), default_port)
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    ///
    /// `JWT_SECRET` alone selects HS256. `JWT_JWKS_URL` or `JWT_PUBLIC_KEY_FILE` (not both)
    /// selects RS256; with neither and no secret, the default JWKS URL is used. A secret
    /// together with an RSA source accepts both, each for its own algorithm (the HS256 to
    /// RS256 migration).
    ///
    /// # Errors
    /// The first bad or conflicting setting.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        default_port: u16,
    ) -> Result<Self, ConfigError> {
        let host: IpAddr = match lookup("HOST") {
            None => IpAddr::from([127, 0, 0, 1]),
            Some(host) => host.parse().map_err(|_| ConfigError::Invalid {
                var: "HOST",
                reason: format!("'{host}' is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)"),
            })?,
        };
        let port = match lookup("PORT") {
            None => default_port,
            Some(port) => port.parse().map_err(|_| ConfigError::Invalid {
                var: "PORT",
                reason: format!("'{port}' is not a port number (0-65535)"),
            })?,
        };
        let secret = lookup("JWT_SECRET");
        let rsa = match (lookup("JWT_JWKS_URL"), lookup("JWT_PUBLIC_KEY_FILE")) {
            (Some(_), Some(_)) => return Err(ConfigError::ConflictingKeySources),
            (Some(url), None) => Some(KeySource::Jwks(url)),
            (None, Some(path)) => Some(KeySource::PublicKeyFile(path.into())),
            (None, None) if secret.is_some() => None,
            (None, None) => Some(KeySource::Jwks(DEFAULT_JWKS_URL.to_owned())),
        };
        let revocation = match lookup("JWT_REVOCATION_URL") {
            None => None,
            Some(url) => {
                let interval = match lookup("JWT_REVOCATION_POLL_INTERVAL") {
                    None => DEFAULT_REVOCATION_POLL_INTERVAL,
                    Some(raw) => {
                        humantime::parse_duration(&raw).map_err(|_| ConfigError::Invalid {
                            var: "JWT_REVOCATION_POLL_INTERVAL",
                            reason: format!("'{raw}' is not a duration (e.g. 30s)"),
                        })?
                    }
                };
                Some((url, interval))
            }
        };
        Ok(Self {
            listen: SocketAddr::new(host, port),
            rsa,
            secret,
            issuer: lookup("JWT_ISSUER").unwrap_or_else(|| DEFAULT_ISSUER.to_owned()),
            audience: lookup("JWT_AUDIENCE").unwrap_or_else(|| DEFAULT_AUDIENCE.to_owned()),
            revocation,
        })
    }

    /// Builds the verifier these settings describe.
    ///
    /// # Errors
    /// An unreadable key file, or a setting the verifier refuses, named by its variable.
    pub fn verifier(&self) -> Result<Verifier, ConfigError> {
        let mut builder = Verifier::builder()
            .issuer(&self.issuer)
            .audience(&self.audience);
        match &self.rsa {
            Some(KeySource::Jwks(url)) => builder = builder.jwks_url(url),
            Some(KeySource::PublicKeyFile(path)) => {
                let pem = std::fs::read(path).map_err(|e| ConfigError::Invalid {
                    var: "JWT_PUBLIC_KEY_FILE",
                    reason: format!("cannot read {}: {e}", path.display()),
                })?;
                builder = builder.public_key_pem(pem);
            }
            None => {}
        }
        if let Some(secret) = &self.secret {
            builder = builder.hs256_secret(secret);
        }
        if let Some((url, interval)) = &self.revocation {
            builder = builder
                .revocation_list_url(url)
                .revocation_poll_interval(*interval);
        }
        builder.build().map_err(|error| ConfigError::Invalid {
            var: variable_for(&error),
            reason: error.to_string(),
        })
    }
}

/// The variable a verifier refusal is about.
fn variable_for(error: &BuildError) -> &'static str {
    match error {
        BuildError::InvalidJwksUrl(_) => "JWT_JWKS_URL",
        BuildError::InvalidRevocationUrl(_) => "JWT_REVOCATION_URL",
        BuildError::InvalidSetting {
            setting: Setting::RevocationPollInterval,
            ..
        } => "JWT_REVOCATION_POLL_INTERVAL",
        BuildError::InvalidKey(_) => "JWT_PUBLIC_KEY_FILE",
        BuildError::WeakSecret(_) => "JWT_SECRET",
        BuildError::InvalidSetting {
            setting: Setting::Issuer,
            ..
        } => "JWT_ISSUER",
        BuildError::InvalidSetting {
            setting: Setting::Audience,
            ..
        } => "JWT_AUDIENCE",
        _ => "configuration",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<ServiceConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ServiceConfig::from_lookup(|var| vars.get(var).cloned(), 3001)
    }

    #[test]
    fn nothing_set_means_the_local_issuers_jwks_on_the_default_port() {
        let config = parse(&[]).unwrap();

        assert_eq!(config.listen, "127.0.0.1:3001".parse().unwrap());
        assert_eq!(config.rsa, Some(KeySource::Jwks(DEFAULT_JWKS_URL.into())));
        assert_eq!(config.secret, None);
        assert!(config.verifier().is_ok());
    }

    #[test]
    fn revocation_is_off_unless_a_list_url_is_set() {
        assert_eq!(parse(&[]).unwrap().revocation, None);
        let config = parse(&[
            (
                "JWT_REVOCATION_URL",
                "http://localhost:3000/revoked-sessions",
            ),
            ("JWT_REVOCATION_POLL_INTERVAL", "10s"),
        ])
        .unwrap();
        assert_eq!(
            config.revocation,
            Some((
                "http://localhost:3000/revoked-sessions".to_owned(),
                Duration::from_secs(10)
            ))
        );
        assert!(config.verifier().is_ok());
    }

    #[test]
    fn a_bad_revocation_setting_names_its_variable() {
        let error = parse(&[
            (
                "JWT_REVOCATION_URL",
                "http://localhost:3000/revoked-sessions",
            ),
            ("JWT_REVOCATION_POLL_INTERVAL", "often"),
        ])
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid JWT_REVOCATION_POLL_INTERVAL:")
        );
        let config = parse(&[("JWT_REVOCATION_URL", "file:///etc/passwd")]).unwrap();
        let error = config.verifier().unwrap_err();
        assert!(
            error.to_string().starts_with("invalid JWT_REVOCATION_URL:"),
            "{error}"
        );
        let config = parse(&[
            (
                "JWT_REVOCATION_URL",
                "http://localhost:3000/revoked-sessions",
            ),
            ("JWT_REVOCATION_POLL_INTERVAL", "0s"),
        ])
        .unwrap();
        let error = config.verifier().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid JWT_REVOCATION_POLL_INTERVAL:"),
            "{error}"
        );
    }

    #[test]
    fn a_secret_alone_selects_hs256_only() {
        let config = parse(&[("JWT_SECRET", "s".repeat(32).as_str())]).unwrap();

        assert_eq!(config.rsa, None);
        assert!(config.verifier().is_ok());
    }

    #[test]
    fn a_jwks_url_and_a_key_file_conflict() {
        let error = parse(&[
            (
                "JWT_JWKS_URL",
                "http://localhost:3000/.well-known/jwks.json",
            ),
            ("JWT_PUBLIC_KEY_FILE", "keys/public.pem"),
        ])
        .unwrap_err();

        assert_eq!(
            error.to_string(),
            "set only one of JWT_JWKS_URL and JWT_PUBLIC_KEY_FILE"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("PORT", "http")], "invalid PORT:"),
            (&[("HOST", "localhost")], "invalid HOST:"),
            (&[("JWT_SECRET", "short")], "invalid JWT_SECRET:"),
            (&[("JWT_JWKS_URL", "ftp://x/jwks")], "invalid JWT_JWKS_URL:"),
            (
                &[("JWT_PUBLIC_KEY_FILE", "/nonexistent/public.pem")],
                "invalid JWT_PUBLIC_KEY_FILE: cannot read /nonexistent/public.pem",
            ),
            (&[("JWT_ISSUER", "")], "invalid JWT_ISSUER:"),
        ];
        for (vars, expected) in cases {
            let error = parse(vars).and_then(|config| config.verifier().map(|_| ()));
            let message = error.unwrap_err().to_string();
            assert!(message.starts_with(expected), "{vars:?}: {message}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let config = parse(&[("JWT_SECRET", "s".repeat(40).as_str())]).unwrap();

        assert!(!format!("{config:?}").contains("ssss"));
    }
}
