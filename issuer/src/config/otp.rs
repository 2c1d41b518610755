//! Phone login settings: which provider, its credentials, and the limits.

use clap::Args;

use super::ConfigError;
use super::parse::{invalid, is_public_https, parse_count, parse_ttl};
use crate::domain::Role;
use crate::otp::{LocalCodePolicy, OtpConfig, OtpLimitPolicy, OtpProviderConfig, TwilioConfig};
use crate::secret::Secret;

/// Phone login settings; see [`OtpConfig`].
#[derive(Debug, Clone, Args)]
pub struct OtpArgs {
    /// Phone login by SMS code: `off`, `twilio` (Twilio Verify) or `local` (development only:
    /// codes are written to the log).
    #[arg(long, env = "OTP_PROVIDER", default_value = "off", global = true)]
    pub otp_provider: String,
    /// Twilio account SID (`AC...`), the basic-auth user.
    #[arg(long, env = "TWILIO_ACCOUNT_SID", global = true)]
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token, the basic-auth password.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true, global = true)]
    pub twilio_auth_token: Option<Secret>,
    /// Twilio Verify service SID (`VA...`).
    #[arg(long, env = "TWILIO_VERIFY_SERVICE_SID", global = true)]
    pub twilio_verify_service_sid: Option<String>,
    /// Base URL of the Twilio Verify API.
    #[arg(
        long,
        env = "TWILIO_VERIFY_BASE_URL",
        default_value = "https://verify.twilio.com",
        global = true
    )]
    pub twilio_verify_base_url: String,
    /// Role of the accounts that phone login creates.
    #[arg(long, env = "OTP_ROLE", default_value = "user", global = true)]
    pub otp_role: String,
    /// Local provider: how long a code may be used.
    #[arg(long, env = "OTP_CODE_TTL", default_value = "5m", global = true)]
    pub otp_code_ttl: String,
    /// Local provider: checks allowed per code.
    #[arg(long, env = "OTP_MAX_ATTEMPTS", default_value = "5", global = true)]
    pub otp_max_attempts: String,
    /// Codes sent to one phone per hour.
    #[arg(long, env = "OTP_SENDS_PER_PHONE", default_value = "5", global = true)]
    pub otp_sends_per_phone: String,
    /// Codes requested by one client address (IPv6: per /64) per hour.
    #[arg(long, env = "OTP_SENDS_PER_CLIENT", default_value = "20", global = true)]
    pub otp_sends_per_client: String,
    /// Codes checked for one phone per hour.
    #[arg(long, env = "OTP_CHECKS_PER_PHONE", default_value = "10", global = true)]
    pub otp_checks_per_phone: String,
    /// Codes checked by one client address (IPv6: per /64) per hour, whatever the numbers.
    #[arg(long, env = "OTP_CHECKS_PER_CLIENT", default_value = "30", global = true)]
    pub otp_checks_per_client: String,
    /// Provider calls (code sends and checks) in flight at once; beyond it `/otp/start` and
    /// `/otp/verify` answer 503 + `Retry-After` at once.
    #[arg(long, env = "OTP_MAX_CONCURRENT", default_value = "64", global = true)]
    pub otp_max_concurrent: String,
}

/// Parses `OTP_*` and `TWILIO_*`; `None` when phone login is off. `issuer` is the parsed
/// `JWT_ISSUER`, which tells a production deployment from a development one.
pub(super) fn parse_otp(raw: &OtpArgs, issuer: &str) -> Result<Option<OtpConfig>, ConfigError> {
    let provider = match raw.otp_provider.as_str() {
        "off" | "" => return Ok(None),
        "twilio" => OtpProviderConfig::Twilio(parse_twilio(raw)?),
        "local" => {
            refuse_local_in_production(raw, issuer)?;
            OtpProviderConfig::Local(LocalCodePolicy {
                ttl: parse_ttl("OTP_CODE_TTL", &raw.otp_code_ttl)?,
                max_attempts: parse_count("OTP_MAX_ATTEMPTS", &raw.otp_max_attempts, 1)?,
            })
        }
        other => {
            return Err(invalid(
                "OTP_PROVIDER",
                format!("'{other}' is not a provider; use off, twilio or local"),
            ));
        }
    };
    let limits = OtpLimitPolicy {
        sends_per_phone: parse_count("OTP_SENDS_PER_PHONE", &raw.otp_sends_per_phone, 1)?,
        sends_per_client: parse_count("OTP_SENDS_PER_CLIENT", &raw.otp_sends_per_client, 1)?,
        checks_per_phone: parse_count("OTP_CHECKS_PER_PHONE", &raw.otp_checks_per_phone, 1)?,
        checks_per_client: parse_count("OTP_CHECKS_PER_CLIENT", &raw.otp_checks_per_client, 1)?,
    };
    let role = Role::parse_self_service(&raw.otp_role).map_err(|e| invalid("OTP_ROLE", e))?;
    Ok(Some(OtpConfig {
        provider,
        limits,
        role,
        max_concurrent: parse_count("OTP_MAX_CONCURRENT", &raw.otp_max_concurrent, 1)?,
    }))
}

fn parse_twilio(raw: &OtpArgs) -> Result<TwilioConfig, ConfigError> {
    const NEEDED: &str = "OTP_PROVIDER=twilio needs the account SID, auth token and Verify service SID from the Twilio console";
    let missing = |var| ConfigError::Missing {
        var,
        reason: NEEDED,
    };
    let account_sid = raw
        .twilio_account_sid
        .clone()
        .ok_or_else(|| missing("TWILIO_ACCOUNT_SID"))?;
    let auth_token = raw
        .twilio_auth_token
        .clone()
        .ok_or_else(|| missing("TWILIO_AUTH_TOKEN"))?;
    let service_sid = raw
        .twilio_verify_service_sid
        .clone()
        .ok_or_else(|| missing("TWILIO_VERIFY_SERVICE_SID"))?;
    check_sid("TWILIO_ACCOUNT_SID", &account_sid, "AC")?;
    check_sid("TWILIO_VERIFY_SERVICE_SID", &service_sid, "VA")?;
    if auth_token.expose().trim().is_empty() {
        return Err(invalid("TWILIO_AUTH_TOKEN", "must not be empty"));
    }
    let base_url = raw.twilio_verify_base_url.trim_end_matches('/');
    let is_url = base_url.starts_with("https://") || base_url.starts_with("http://");
    if !is_url || base_url.contains(char::is_whitespace) {
        return Err(invalid(
            "TWILIO_VERIFY_BASE_URL",
            format!("'{base_url}' is not an http(s) URL (e.g. https://verify.twilio.com)"),
        ));
    }
    Ok(TwilioConfig {
        base_url: base_url.to_owned(),
        account_sid,
        auth_token,
        service_sid,
    })
}

/// A Twilio SID: two letters and 32 hexadecimal digits. It goes into URLs, so nothing else
/// may pass.
fn check_sid(var: &'static str, sid: &str, prefix: &str) -> Result<(), ConfigError> {
    let hex = sid.strip_prefix(prefix).unwrap_or_default();
    if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(invalid(
            var,
            format!("expected {prefix} followed by 32 hexadecimal digits"),
        ))
    }
}

/// The local provider writes codes to the log: refused next to Twilio credentials (a
/// deployment meant to use Twilio) or an `https://` issuer on a host other than localhost.
/// PostgreSQL is allowed: a developer may well run one issuer on it.
fn refuse_local_in_production(raw: &OtpArgs, issuer: &str) -> Result<(), ConfigError> {
    let twilio_configured = raw.twilio_account_sid.is_some()
        || raw.twilio_auth_token.is_some()
        || raw.twilio_verify_service_sid.is_some();
    let public_issuer = is_public_https(issuer);
    let why = if twilio_configured {
        "TWILIO_* credentials are set"
    } else if public_issuer {
        "JWT_ISSUER is a public https:// URL"
    } else {
        return Ok(());
    };
    Err(invalid(
        "OTP_PROVIDER",
        format!(
            "local writes codes to the log and is for development only, but {why}, which looks like production; use OTP_PROVIDER=twilio"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;
    use crate::config::Config;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const SERVICE: &str = "VA0123456789abcdef0123456789abcdef";

    fn parse(args: &[&str]) -> Result<Option<OtpConfig>, String> {
        let cli = Cli::try_parse_from(std::iter::once("issuer").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        Config::from_raw(&cli.settings)
            .map(|config| config.otp)
            .map_err(|e| e.to_string())
    }

    fn twilio(extra: &[&str]) -> Result<Option<OtpConfig>, String> {
        let mut args = vec![
            "--otp-provider",
            "twilio",
            "--twilio-account-sid",
            ACCOUNT,
            "--twilio-auth-token",
            "s3cr3t-auth",
            "--twilio-verify-service-sid",
            SERVICE,
        ];
        args.extend_from_slice(extra);
        parse(&args)
    }

    #[test]
    fn phone_login_is_off_by_default() {
        assert!(parse(&[]).unwrap().is_none());
    }

    #[test]
    fn the_local_provider_is_allowed_with_a_development_issuer() {
        for issuer in [
            "http://localhost:3000",
            "https://localhost:3000",
            "https://[::1]:3000",
            "http://10.0.0.5",
        ] {
            let config = parse(&["--otp-provider", "local", "--jwt-issuer", issuer])
                .unwrap()
                .unwrap();
            assert!(
                matches!(config.provider, OtpProviderConfig::Local(policy) if policy == LocalCodePolicy::default()),
                "{issuer}"
            );
            assert_eq!(config.limits, OtpLimitPolicy::default());
            assert_eq!(config.max_concurrent, 64);
        }
    }

    #[test]
    fn the_local_provider_is_refused_with_a_production_issuer() {
        let error = parse(&[
            "--otp-provider",
            "local",
            "--jwt-issuer",
            "https://auth.example.com",
        ])
        .unwrap_err();
        assert!(
            error.starts_with("invalid OTP_PROVIDER: local writes codes to the log"),
            "{error}"
        );
        assert!(error.contains("JWT_ISSUER"), "{error}");
    }

    #[test]
    fn the_local_provider_is_refused_next_to_twilio_credentials() {
        let error =
            parse(&["--otp-provider", "local", "--twilio-account-sid", ACCOUNT]).unwrap_err();
        assert!(error.contains("TWILIO_* credentials are set"), "{error}");
    }

    #[test]
    fn new_phone_accounts_are_users_unless_configured() {
        assert_eq!(twilio(&[]).unwrap().unwrap().role.as_str(), "user");
        let config = twilio(&["--otp-role", "raider"]).unwrap().unwrap();
        assert_eq!(config.role.as_str(), "raider");
        assert!(
            twilio(&["--otp-role", "Bad Role"])
                .unwrap_err()
                .starts_with("invalid OTP_ROLE: 'Bad Role'")
        );
    }

    #[test]
    fn twilio_needs_each_credential() {
        let error = parse(&["--otp-provider", "twilio"]).unwrap_err();
        assert!(
            error.starts_with("TWILIO_ACCOUNT_SID is required"),
            "{error}"
        );
        let error = parse(&[
            "--otp-provider",
            "twilio",
            "--twilio-account-sid",
            ACCOUNT,
            "--twilio-auth-token",
            "t",
        ])
        .unwrap_err();
        assert!(
            error.starts_with("TWILIO_VERIFY_SERVICE_SID is required"),
            "{error}"
        );
    }

    #[test]
    fn twilio_sids_must_have_their_shape() {
        let error = parse(&[
            "--otp-provider",
            "twilio",
            "--twilio-account-sid",
            "AC../../evil",
            "--twilio-auth-token",
            "t",
            "--twilio-verify-service-sid",
            SERVICE,
        ])
        .unwrap_err();
        assert_eq!(
            error,
            "invalid TWILIO_ACCOUNT_SID: expected AC followed by 32 hexadecimal digits"
        );
    }

    #[test]
    fn twilio_settings_are_taken_as_given() {
        let config = twilio(&["--twilio-verify-base-url", "http://127.0.0.1:9/"])
            .unwrap()
            .unwrap();
        let OtpProviderConfig::Twilio(twilio) = config.provider else {
            panic!("not twilio")
        };
        assert_eq!(twilio.base_url, "http://127.0.0.1:9");
        assert_eq!(twilio.account_sid, ACCOUNT);
        assert_eq!(twilio.service_sid, SERVICE);
        assert!(!format!("{twilio:?}").contains("s3cr3t"), "{twilio:?}");
    }

    #[test]
    fn an_unknown_provider_and_bad_limits_are_refused() {
        assert!(
            parse(&["--otp-provider", "sms"])
                .unwrap_err()
                .starts_with("invalid OTP_PROVIDER: 'sms'")
        );
        for (flag, value, var) in [
            ("--otp-sends-per-phone", "0", "OTP_SENDS_PER_PHONE"),
            ("--otp-checks-per-client", "none", "OTP_CHECKS_PER_CLIENT"),
            ("--otp-max-concurrent", "0", "OTP_MAX_CONCURRENT"),
        ] {
            let error = twilio(&[flag, value]).unwrap_err();
            assert!(error.starts_with(&format!("invalid {var}")), "{error}");
        }
    }
}
