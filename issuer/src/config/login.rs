//! Login and registration limits: the failed-login back-off (`LOGIN_*`), the registration cap,
//! the self-service roles, and where the client address comes from (`CLIENT_IP_SOURCE`).

use axum_client_ip::ClientIpSource;
use clap::Args;

use super::ConfigError;
use super::parse::{invalid, parse_bool, parse_count, parse_ttl};
use crate::accounts::AccountSettings;
use crate::domain::Role;
use crate::throttle::ThrottlePolicy;

/// Login and registration settings.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// Failed logins allowed per account before back-off starts.
    #[arg(long, env = "LOGIN_ACCOUNT_FREE_ATTEMPTS", default_value = "5", global = true)]
    pub login_account_free_attempts: String,
    /// Failed logins allowed per client address (IPv6: per /64) before back-off starts.
    #[arg(long, env = "LOGIN_CLIENT_FREE_ATTEMPTS", default_value = "20", global = true)]
    pub login_client_free_attempts: String,
    /// First back-off delay; it doubles with each further failure.
    #[arg(long, env = "LOGIN_BACKOFF_BASE", default_value = "1s", global = true)]
    pub login_backoff_base: String,
    /// Longest back-off delay (no lock-out lasts longer).
    #[arg(long, env = "LOGIN_BACKOFF_MAX", default_value = "15m", global = true)]
    pub login_backoff_max: String,
    /// `false` closes `POST /register` (403 `registration_closed`); accounts are then created
    /// with `issuer user add`.
    #[arg(long, env = "REGISTRATION_OPEN", default_value = "true", global = true)]
    pub registration_open: String,
    /// Registrations accepted from one client address (IPv6: per /64) per hour.
    #[arg(long, env = "REGISTRATIONS_PER_CLIENT", default_value = "20", global = true)]
    pub registrations_per_client: String,
    /// Comma-separated roles that `POST /register` may grant; the first is the default.
    #[arg(long, env = "SELF_SERVICE_ROLES", default_value = "user,raider", global = true)]
    pub self_service_roles: String,
    /// Where the client address comes from: `ConnectInfo` (the TCP peer, the default) or, only
    /// behind a proxy that sets it, `RightmostXForwardedFor`, `XRealIp`, `CfConnectingIp`,
    /// `TrueClientIp`, `FlyClientIp`, `CloudFrontViewerAddress`, `XEnvoyExternalAddress`.
    #[arg(long, env = "CLIENT_IP_SOURCE", default_value = "ConnectInfo", global = true)]
    pub client_ip_source: String,
}

impl LoginArgs {
    /// The failed-login back-off.
    pub(super) fn throttle(&self) -> Result<ThrottlePolicy, ConfigError> {
        let base_delay = parse_ttl("LOGIN_BACKOFF_BASE", &self.login_backoff_base)?;
        let max_delay = parse_ttl("LOGIN_BACKOFF_MAX", &self.login_backoff_max)?;
        if max_delay < base_delay {
            return Err(invalid(
                "LOGIN_BACKOFF_MAX",
                "must not be shorter than LOGIN_BACKOFF_BASE",
            ));
        }
        Ok(ThrottlePolicy {
            account_free_attempts: parse_count(
                "LOGIN_ACCOUNT_FREE_ATTEMPTS",
                &self.login_account_free_attempts,
                1,
            )?,
            client_free_attempts: parse_count(
                "LOGIN_CLIENT_FREE_ATTEMPTS",
                &self.login_client_free_attempts,
                1,
            )?,
            base_delay,
            max_delay,
            // Remember a count at least as long as its longest block, so the doubling continues.
            forget_after: ThrottlePolicy::default().forget_after.max(max_delay * 2),
        })
    }

    /// Who may register, and how often.
    pub(super) fn accounts(&self) -> Result<AccountSettings, ConfigError> {
        Ok(AccountSettings {
            registration_open: parse_bool("REGISTRATION_OPEN", &self.registration_open)?,
            self_service_roles: parse_roles(&self.self_service_roles)?,
            registrations_per_client: parse_count(
                "REGISTRATIONS_PER_CLIENT",
                &self.registrations_per_client,
                1,
            )?,
        })
    }

    /// Where the client address comes from.
    pub(super) fn client_ip_source(&self) -> Result<ClientIpSource, ConfigError> {
        self.client_ip_source.parse().map_err(|_| {
            invalid(
                "CLIENT_IP_SOURCE",
                format!(
                    "'{}' is not a source; use ConnectInfo (the TCP peer), or a header your proxy sets: RightmostXForwardedFor, XRealIp, CfConnectingIp, TrueClientIp, FlyClientIp, CloudFrontViewerAddress, XEnvoyExternalAddress",
                    self.client_ip_source
                ),
            )
        })
    }
}

fn parse_roles(raw: &str) -> Result<Vec<Role>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|role| !role.is_empty())
        .map(|role| Role::parse_self_service(role).map_err(|e| invalid("SELF_SERVICE_ROLES", e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use axum_client_ip::ClientIpSource;

    use crate::config::tests::{error_for, parse};
    use crate::throttle::ThrottlePolicy;

    #[test]
    fn registration_is_open_unless_closed_with_false() {
        assert!(parse(&[]).unwrap().accounts.registration_open);
        let closed = parse(&["--registration-open", "false"]).unwrap();
        assert!(!closed.accounts.registration_open);
        assert_eq!(
            error_for(&["--registration-open", "no"]),
            "invalid REGISTRATION_OPEN: 'no' is not true or false"
        );
    }

    #[test]
    fn login_settings_parse_and_refuse_nonsense() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.login_throttle, ThrottlePolicy::default());
        assert_eq!(config.accounts.registrations_per_client, 20);
        assert_eq!(config.client_ip_source, ClientIpSource::ConnectInfo);
        assert!(
            error_for(&["--registrations-per-client", "0"])
                .starts_with("invalid REGISTRATIONS_PER_CLIENT:")
        );
        let config = parse(&["--client-ip-source", "XRealIp"]).unwrap();
        assert_eq!(config.client_ip_source, ClientIpSource::XRealIp);
        assert!(
            error_for(&["--login-backoff-max", "100ms"]).starts_with("invalid LOGIN_BACKOFF_MAX:")
        );
        assert!(
            error_for(&["--client-ip-source", "X-Forwarded-For"])
                .starts_with("invalid CLIENT_IP_SOURCE:")
        );
    }

    #[test]
    fn a_malformed_self_service_role_is_refused() {
        assert!(
            error_for(&["--self-service-roles", "user,Admin"])
                .starts_with("invalid SELF_SERVICE_ROLES: 'Admin'")
        );
        assert_eq!(
            error_for(&["--self-service-roles", "user,admin"]),
            "invalid SELF_SERVICE_ROLES: 'admin' is granted only by an administrator (the admin API or `issuer user set-role`)"
        );
        assert!(
            error_for(&["--otp-provider", "local", "--otp-role", "admin"])
                .starts_with("invalid OTP_ROLE: 'admin' is granted only")
        );
    }
}
