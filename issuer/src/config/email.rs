//! Mail settings: the sender (`EMAIL_PROVIDER`, `SMTP_*`), the `From:` address, the links, and
//! the account rules that need mail (`REQUIRE_EMAIL_VERIFICATION`,
//! `REGISTRATION_ENUMERATION_SAFE`).

use clap::Args;

use super::ConfigError;
use super::parse::{invalid, is_public_https, parse_bool, parse_count, parse_ttl};
use crate::email::{EmailConfig, EmailProviderConfig, SmtpConfig, SmtpTls};
use crate::secret::Secret;

/// Mail settings; see [`EmailConfig`].
#[derive(Debug, Clone, Args)]
pub struct EmailArgs {
    /// Mail for password resets and e-mail verification: `off`, `smtp`, or `local`
    /// (development only: mails are written to the log).
    #[arg(long, env = "EMAIL_PROVIDER", default_value = "off", global = true)]
    pub email_provider: String,
    /// The `From:` of every mail, e.g. `Shop <no-reply@shop.example>`.
    #[arg(long, env = "EMAIL_FROM", global = true)]
    pub email_from: Option<String>,
    /// Base URL of the web app that mails link to (`{APP_URL}/reset-password?token=...`).
    #[arg(long, env = "APP_URL", global = true)]
    pub app_url: Option<String>,
    /// Mails being sent at once; beyond it the mail endpoints answer 503 at once.
    #[arg(long, env = "EMAIL_MAX_CONCURRENT", default_value = "32", global = true)]
    pub email_max_concurrent: String,
    /// The SMTP server's host name.
    #[arg(long, env = "SMTP_HOST", global = true)]
    pub smtp_host: Option<String>,
    /// Its port; default by `SMTP_TLS`: 587, 465, 25.
    #[arg(long, env = "SMTP_PORT", global = true)]
    pub smtp_port: Option<String>,
    /// `starttls`, `tls` (implicit) or `none` (only for a relay on this host).
    #[arg(long, env = "SMTP_TLS", default_value = "starttls", global = true)]
    pub smtp_tls: String,
    /// A PEM file of CA certificates trusted for the SMTP server besides the platform's roots.
    #[arg(long, env = "SMTP_CA_FILE", global = true)]
    pub smtp_ca_file: Option<std::path::PathBuf>,
    /// SMTP user name.
    #[arg(long, env = "SMTP_USERNAME", global = true)]
    pub smtp_username: Option<String>,
    /// SMTP password.
    #[arg(long, env = "SMTP_PASSWORD", hide_env_values = true, global = true)]
    pub smtp_password: Option<Secret>,
    /// Bound on connecting and on each SMTP command.
    #[arg(long, env = "SMTP_TIMEOUT", default_value = "10s", global = true)]
    pub smtp_timeout: String,
    /// Password logins wait until the account's e-mail is verified.
    #[arg(long, env = "REQUIRE_EMAIL_VERIFICATION", default_value = "false", global = true)]
    pub require_email_verification: String,
    /// `POST /register` answers 202 whether or not the e-mail has an account.
    #[arg(long, env = "REGISTRATION_ENUMERATION_SAFE", default_value = "false", global = true)]
    pub registration_enumeration_safe: String,
}

/// Parses the mail settings; `None` when mail is off (and nothing needs it). `issuer` is the
/// parsed `JWT_ISSUER`, which tells a production deployment from a development one.
pub(super) fn parse_email(
    raw: &EmailArgs,
    issuer: &str,
) -> Result<Option<EmailConfig>, ConfigError> {
    let require_verification = parse_bool(
        "REQUIRE_EMAIL_VERIFICATION",
        &raw.require_email_verification,
    )?;
    let enumeration_safe = parse_bool(
        "REGISTRATION_ENUMERATION_SAFE",
        &raw.registration_enumeration_safe,
    )?;
    let provider = match raw.email_provider.as_str() {
        "off" | "" => {
            for (var, on) in [
                ("REQUIRE_EMAIL_VERIFICATION", require_verification),
                ("REGISTRATION_ENUMERATION_SAFE", enumeration_safe),
            ] {
                if on {
                    return Err(invalid(var, "needs mail: set EMAIL_PROVIDER (smtp)"));
                }
            }
            return Ok(None);
        }
        "smtp" => EmailProviderConfig::Smtp(parse_smtp(raw)?),
        "local" => {
            if is_public_https(issuer) {
                return Err(invalid(
                    "EMAIL_PROVIDER",
                    "local writes mails (and their tokens) to the log and is for development only, but JWT_ISSUER is a public https:// URL, which looks like production; use EMAIL_PROVIDER=smtp",
                ));
            }
            EmailProviderConfig::Local
        }
        other => {
            return Err(invalid(
                "EMAIL_PROVIDER",
                format!("'{other}' is not a provider; use off, smtp or local"),
            ));
        }
    };
    let from = raw
        .email_from
        .clone()
        .filter(|from| !from.trim().is_empty())
        .ok_or_else(|| invalid("EMAIL_FROM", "required with EMAIL_PROVIDER"))?;
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(invalid(
            "EMAIL_FROM",
            format!("'{from}' is not a mail address (e.g. Shop <no-reply@shop.example>)"),
        ));
    }
    let app_url = match &raw.app_url {
        Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            return Err(invalid("APP_URL", format!("'{url}' is not an http(s) URL")));
        }
        url => url.clone(),
    };
    let max_concurrent = parse_count("EMAIL_MAX_CONCURRENT", &raw.email_max_concurrent, 1)?;
    Ok(Some(EmailConfig {
        provider,
        from,
        app_url,
        max_concurrent: usize::try_from(max_concurrent).unwrap_or(usize::MAX),
        require_verification,
        enumeration_safe,
    }))
}

fn parse_smtp(raw: &EmailArgs) -> Result<SmtpConfig, ConfigError> {
    let host = raw
        .smtp_host
        .clone()
        .filter(|host| !host.trim().is_empty())
        .ok_or_else(|| invalid("SMTP_HOST", "required with EMAIL_PROVIDER=smtp"))?;
    let (tls, default_port) = match raw.smtp_tls.as_str() {
        "starttls" => (SmtpTls::StartTls, 587),
        "tls" => (SmtpTls::Implicit, 465),
        "none" => (SmtpTls::None, 25),
        other => {
            return Err(invalid(
                "SMTP_TLS",
                format!("'{other}' is not a mode; use starttls, tls or none"),
            ));
        }
    };
    if tls == SmtpTls::None && !matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1") {
        return Err(invalid(
            "SMTP_TLS",
            format!(
                "none sends mail (and any password) in clear text, allowed only to a relay on this host, not to {host}"
            ),
        ));
    }
    let port = match &raw.smtp_port {
        None => default_port,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| invalid("SMTP_PORT", format!("'{port}' is not a port")))?,
    };
    let credentials = match (&raw.smtp_username, &raw.smtp_password) {
        (Some(user), Some(password)) => Some((user.clone(), password.clone())),
        (None, None) => None,
        (Some(_), None) => return Err(invalid("SMTP_PASSWORD", "required with SMTP_USERNAME")),
        (None, Some(_)) => return Err(invalid("SMTP_USERNAME", "required with SMTP_PASSWORD")),
    };
    let extra_roots = match &raw.smtp_ca_file {
        None => None,
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                invalid(
                    "SMTP_CA_FILE",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(invalid(
                    "SMTP_CA_FILE",
                    format!("{} holds no PEM certificate", path.display()),
                ));
            }
            Some(pem)
        }
    };
    Ok(SmtpConfig {
        host,
        port,
        tls,
        credentials,
        timeout: parse_ttl("SMTP_TIMEOUT", &raw.smtp_timeout)?,
        extra_roots,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{error_for, parse};
    use crate::email::{EmailProviderConfig, SmtpTls};

    const FROM: [&str; 2] = ["--email-from", "Shop <no-reply@shop.example>"];

    #[test]
    fn mail_is_off_by_default_and_what_needs_it_says_so() {
        assert!(parse(&[]).unwrap().email.is_none());
        assert_eq!(
            error_for(&["--require-email-verification", "true"]),
            "invalid REQUIRE_EMAIL_VERIFICATION: needs mail: set EMAIL_PROVIDER (smtp)"
        );
        assert!(
            error_for(&["--registration-enumeration-safe", "true"])
                .starts_with("invalid REGISTRATION_ENUMERATION_SAFE: needs mail")
        );
    }

    #[test]
    fn smtp_settings_parse_with_ports_by_tls_mode() {
        let args = |tls: &str| {
            let mut args = vec![
                "--email-provider",
                "smtp",
                "--smtp-host",
                "smtp.example.com",
            ];
            args.extend(FROM);
            args.extend(["--smtp-tls", tls]);
            args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()
        };
        for (tls, mode, port) in [
            ("starttls", SmtpTls::StartTls, 587),
            ("tls", SmtpTls::Implicit, 465),
        ] {
            let args = args(tls);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let email = parse(&refs).unwrap().email.unwrap();
            let EmailProviderConfig::Smtp(smtp) = email.provider else {
                panic!("smtp expected");
            };
            assert_eq!((smtp.tls, smtp.port), (mode, port));
        }
    }

    #[test]
    fn unsafe_or_incomplete_mail_settings_stop_start_up_in_one_line() {
        let smtp = ["--email-provider", "smtp"];
        let cases: [(&[&str], &str); 8] = [
            (
                &smtp,
                "invalid SMTP_HOST: required with EMAIL_PROVIDER=smtp",
            ),
            (
                &[
                    "--email-provider",
                    "smtp",
                    "--smtp-host",
                    "mail.example.com",
                ],
                "invalid EMAIL_FROM: required with EMAIL_PROVIDER",
            ),
            (
                &[
                    "--email-provider",
                    "smtp",
                    "--smtp-host",
                    "mail.example.com",
                    "--email-from",
                    "nobody",
                ],
                "invalid EMAIL_FROM: 'nobody' is not a mail address (e.g. Shop <no-reply@shop.example>)",
            ),
            (
                &[
                    "--email-provider",
                    "smtp",
                    "--smtp-host",
                    "mail.example.com",
                    "--smtp-tls",
                    "none",
                ],
                "invalid SMTP_TLS: none sends mail (and any password) in clear text, allowed only to a relay on this host, not to mail.example.com",
            ),
            (
                &[
                    "--email-provider",
                    "smtp",
                    "--smtp-host",
                    "localhost",
                    "--smtp-username",
                    "u",
                ],
                "invalid SMTP_PASSWORD: required with SMTP_USERNAME",
            ),
            (
                &[
                    "--email-provider",
                    "smtp",
                    "--smtp-host",
                    "mail.example.com",
                    "--email-from",
                    "a@b.co",
                    "--smtp-ca-file",
                    "/nonexistent/ca.pem",
                ],
                "invalid SMTP_CA_FILE: cannot read /nonexistent/ca.pem: No such file or directory (os error 2)",
            ),
            (
                &["--email-provider", "pigeon"],
                "invalid EMAIL_PROVIDER: 'pigeon' is not a provider; use off, smtp or local",
            ),
            (
                &[
                    "--email-provider",
                    "local",
                    "--jwt-issuer",
                    "https://auth.shop.example",
                ],
                "invalid EMAIL_PROVIDER: local writes mails (and their tokens) to the log and is for development only, but JWT_ISSUER is a public https:// URL, which looks like production; use EMAIL_PROVIDER=smtp",
            ),
        ];
        for (args, expected) in cases {
            assert_eq!(error_for(args), expected, "{args:?}");
        }
    }
}
