//! Mail over SMTP with `lettre`: STARTTLS (the default) or implicit TLS, certificates checked
//! against the platform's roots (and `SMTP_CA_FILE`'s), optional credentials, and a timeout on
//! every step.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{EmailSender, OutgoingMail, SendError, SendFuture};
use crate::secret::Secret;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which the server must offer (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS: only for a relay on this host (the configuration refuses it elsewhere).
    None,
}

/// `SMTP_*`.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// The server's host name (checked against its certificate).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is protected.
    pub tls: SmtpTls,
    /// User name and password, if the server wants them.
    pub credentials: Option<(String, Secret)>,
    /// Bound on each step of the conversation (connecting, each command).
    pub timeout: Duration,
    /// Certificates (PEM) trusted besides the platform's roots (`SMTP_CA_FILE`), for a relay
    /// whose certificate a private CA issued.
    pub extra_roots: Option<Vec<u8>>,
}

/// See the [module docs](self).
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpSender {
    /// A sender to the server in `config`, with `from` as the `From:` of every mail.
    ///
    /// # Errors
    /// A `from` that is not an address, or TLS that cannot be set up; one sentence.
    pub fn new(config: &SmtpConfig, from: &str) -> Result<Self, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("EMAIL_FROM '{from}' is not a mail address: {e}"))?;
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(tls_parameters(config)?),
            SmtpTls::Implicit => Tls::Wrapper(tls_parameters(config)?),
        };
        let builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host).tls(tls);
        let builder = builder.port(config.port).timeout(Some(config.timeout));
        let builder = match &config.credentials {
            Some((user, password)) => {
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()))
            }
            None => builder,
        };
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }
}

/// TLS to `config.host`, its certificate checked against the platform's roots and
/// `config.extra_roots`.
fn tls_parameters(config: &SmtpConfig) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(config.host.clone());
    if let Some(pem) = &config.extra_roots {
        let roots = Certificate::from_pem(pem).map_err(|e| format!("SMTP_CA_FILE: {e}"))?;
        builder = builder.add_root_certificate(roots);
    }
    builder
        .build_rustls()
        .map_err(|e| format!("SMTP TLS for {}: {e}", config.host))
}

impl EmailSender for SmtpSender {
    fn send<'a>(&'a self, mail: &'a OutgoingMail) -> SendFuture<'a> {
        Box::pin(async move {
            let to: Mailbox = mail
                .to
                .parse()
                .map_err(|e| SendError(format!("recipient: {e}")))?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject.clone())
                .header(ContentType::TEXT_PLAIN)
                .body(mail.body.clone())
                .map_err(|e| SendError(e.to_string()))?;
            self.transport
                .send(message)
                .await
                .map(drop)
                .map_err(|e| SendError(e.to_string()))
        })
    }
}
