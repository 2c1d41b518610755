//! Twilio Verify (REST API v2): Twilio makes, texts and checks the codes.
//!
//! - Send: `POST {base}/v2/Services/{service}/Verifications` with form fields `To` (E.164) and
//!   `Channel=sms`; 201 on success.
//! - Check: `POST {base}/v2/Services/{service}/VerificationCheck` with `To` and `Code`; 200 with
//!   `"status": "approved"` when right (`"pending"` when wrong), 404 when the number has no
//!   pending verification (expired, approved already, or never started).
//!
//! Both authenticate with HTTP basic auth, account SID and auth token. Errors come as JSON
//! `{"code", "message", "status", "more_info"}`: an invalid or non-mobile number becomes
//! [`ProviderError::InvalidPhone`] (422), Twilio's own send limit (60203)
//! [`ProviderError::TooManySends`] (429), its per-verification check limit (60202) a rejected
//! code; anything else (bad credentials, Twilio down, a timeout) is
//! [`ProviderError::Unavailable`]: 503 to the client, Twilio's status, code and message to the
//! log only.

use std::time::Duration;

use serde::Deserialize;

use super::{Check, OtpProvider, ProviderError, ProviderFuture};
use crate::domain::{OtpCode, Phone};
use crate::secret::Secret;

/// How long one call to Twilio may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest answer read from Twilio; its answers are about 1 KiB.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Longest part of Twilio's error message that is logged.
const MAX_LOGGED_MESSAGE: usize = 200;

/// Where Twilio Verify is and how to authenticate.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// `https://verify.twilio.com` in production; a local server in tests.
    pub base_url: String,
    /// `AC...`: the basic-auth user.
    pub account_sid: String,
    /// The basic-auth password.
    pub auth_token: Secret,
    /// `VA...`: the Verify service whose settings (code length, lifetime, template) apply.
    pub service_sid: String,
}

/// See the [module docs](self).
pub struct TwilioVerify {
    client: reqwest::Client,
    verifications_url: String,
    checks_url: String,
    account_sid: String,
    auth_token: Secret,
}

/// The fields of Twilio's answers that matter here.
#[derive(Deserialize)]
struct VerificationAnswer {
    status: String,
}

/// Twilio's error body.
#[derive(Deserialize, Default)]
struct TwilioError {
    #[serde(default)]
    code: Option<u32>,
    #[serde(default)]
    message: Option<String>,
}

/// Error codes meaning that the number cannot get an SMS: invalid parameter (60200), landline
/// (60205), invalid `To` (21211), not a mobile number (21614).
const INVALID_PHONE_CODES: [u32; 4] = [60200, 60205, 21211, 21614];
/// Too many sends to this number.
const MAX_SENDS_CODE: u32 = 60203;
/// Too many checks of this verification.
const MAX_CHECKS_CODE: u32 = 60202;

impl TwilioVerify {
    /// One client, with timeouts and no redirects, for every call.
    pub fn new(config: &TwilioConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let service = format!(
            "{}/v2/Services/{}",
            config.base_url.trim_end_matches('/'),
            config.service_sid
        );
        Ok(Self {
            client,
            verifications_url: format!("{service}/Verifications"),
            checks_url: format!("{service}/VerificationCheck"),
            account_sid: config.account_sid.clone(),
            auth_token: config.auth_token.clone(),
        })
    }

    /// POSTs `form` to `url`; the status and the (capped) body.
    async fn post(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<(reqwest::StatusCode, Vec<u8>), ProviderError> {
        let unavailable = |e: reqwest::Error| {
            ProviderError::Unavailable(format!("Twilio Verify unreachable: {}", e.without_url()))
        };
        let mut response = self
            .client
            .post(url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(form)
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(ProviderError::Unavailable(format!(
                    "Twilio Verify answered {status} with more than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }
}

impl TwilioError {
    /// The error of an answer; empty when the body is not Twilio's error shape.
    fn parse(body: &[u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// What the error means for the caller.
    fn meaning(self, status: reqwest::StatusCode) -> ProviderError {
        match self.code {
            Some(code) if INVALID_PHONE_CODES.contains(&code) => ProviderError::InvalidPhone,
            Some(MAX_SENDS_CODE) => ProviderError::TooManySends,
            code => {
                let message: String = self
                    .message
                    .unwrap_or_default()
                    .chars()
                    .take(MAX_LOGGED_MESSAGE)
                    .collect();
                let code = code.map_or_else(|| "none".to_owned(), |c| c.to_string());
                ProviderError::Unavailable(format!(
                    "Twilio Verify answered {status} (code {code}): {message}"
                ))
            }
        }
    }
}

impl OtpProvider for TwilioVerify {
    fn send<'a>(&'a self, phone: &'a Phone) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let form = [("To", phone.as_str()), ("Channel", "sms")];
            let (status, body) = self.post(&self.verifications_url, &form).await?;
            if status.is_success() {
                Ok(())
            } else {
                Err(TwilioError::parse(&body).meaning(status))
            }
        })
    }

    fn check<'a>(&'a self, phone: &'a Phone, code: &'a OtpCode) -> ProviderFuture<'a, Check> {
        Box::pin(async move {
            let form = [("To", phone.as_str()), ("Code", code.as_str())];
            let (status, body) = self.post(&self.checks_url, &form).await?;
            if status == reqwest::StatusCode::NOT_FOUND {
                return Ok(Check::Rejected);
            }
            if !status.is_success() {
                let error = TwilioError::parse(&body);
                if error.code == Some(MAX_CHECKS_CODE) {
                    return Ok(Check::Rejected);
                }
                return Err(error.meaning(status));
            }
            let answer: VerificationAnswer = serde_json::from_slice(&body).map_err(|_| {
                ProviderError::Unavailable(format!(
                    "Twilio Verify answered {status} without a verification status"
                ))
            })?;
            Ok(if answer.status == "approved" {
                Check::Approved
            } else {
                Check::Rejected
            })
        })
    }
}
