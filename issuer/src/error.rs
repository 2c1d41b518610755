//! The one error type handlers return, and its JSON form.
//!
//! Every error answers `{"error": "<code>", "error_description": "<sentence>"}`. Descriptions
//! are fixed sentences written for clients; the internal cause of a 5xx travels in a response
//! extension ([`InternalCause`]) to the logging layer and never into the body.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::account_mail::MailError;
use crate::accounts::AccountError;
use crate::domain::ADMIN_ROLE;
use crate::login::LoginError;
use crate::metrics::ErrorCode;
use crate::otp::{PROVIDER_SEND_LIMIT_WAIT, ProviderError};
use crate::passwords::HashError;
use crate::sessions::SessionError;
use crate::storage::StoreError;
use crate::tokens::SignError;
use verifier_middleware::{InvalidToken, Rejection, RoleList};

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON, or has missing fields or wrong types.
    #[error("{0}")]
    BadRequest(String),
    /// 422: well-formed, but a value is not acceptable.
    #[error("{0}")]
    Unprocessable(String),
    /// 403: self-registration is closed (`REGISTRATION_OPEN=false`).
    #[error("registration is closed; an administrator creates accounts")]
    RegistrationClosed,
    /// 403 `insufficient_scope`: the caller's role (now, in the database) is not `admin`; the
    /// token may still say it was. Answered as the verifier's role guard answers.
    #[error("the token carries none of the roles this route needs (admin)")]
    NotAdmin,
    /// 403: an administrator disabled the account (said only after the password or the code
    /// checked out).
    #[error("this account is disabled; contact an administrator")]
    AccountDisabled,
    /// 409: the e-mail is already registered.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// 401: wrong e-mail or password (one answer for both).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// 401: the one-time code is wrong, expired or used up (one answer for all).
    #[error("the code is wrong, expired or used up; request a new one")]
    InvalidCode,
    /// 401: the current password given to change or confirm something is wrong.
    #[error("the password is wrong")]
    WrongPassword,
    /// 401 `invalid_token`: the access token's session has ended, or its account is gone
    /// (the verifier layer checked its signature and claims before). Answered exactly as the
    /// layer answers a token on the revocation list.
    #[error("the token's session has ended")]
    SessionEnded,
    /// 400: a mailed token is unknown, used, expired, or was sent to an address the account
    /// no longer has (one answer for all).
    #[error("the code is invalid, expired or used; ask for a new one")]
    InvalidMailToken,
    /// 403: the account's e-mail is not verified and `REQUIRE_EMAIL_VERIFICATION` is on (said
    /// only once the password checked out).
    #[error("verify your e-mail address first: POST /email/verify sends a new link")]
    EmailNotVerified,
    /// 401: the refresh token is unknown, expired, reused or revoked (one answer for all).
    #[error("the refresh token is invalid, expired or revoked; log in again")]
    InvalidGrant,
    /// 429: too many attempts (failed logins, registrations, OTP sends or checks).
    #[error("too many attempts; retry later")]
    RateLimited {
        /// How long until the next attempt is allowed.
        retry_after: Duration,
    },
    /// 413: body over the limit.
    #[error("request body is too large")]
    PayloadTooLarge,
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(&'static str),
    /// 405: the path exists, the method does not.
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// 503: the database is unreachable; the client may retry.
    #[error("the service is temporarily unavailable; retry shortly")]
    Unavailable(#[source] StoreError),
    /// 503: more password-hashing work or SMS-provider calls than the issuer admits (a
    /// storm); turned away before any work was done, with `Retry-After`.
    #[error("the service is busy; retry shortly")]
    Busy {
        /// About how long the admitted work takes.
        retry_after: Duration,
    },
    /// 503: the SMS provider failed or is unreachable; the client may retry. The cause is
    /// logged, never sent.
    #[error("the service is temporarily unavailable; retry shortly")]
    ProviderUnavailable(String),
    /// 500: a bug. The cause is logged, never sent.
    #[error("internal server error")]
    Internal(String),
}

/// The internal cause of a 5xx answer, left in the response extensions for the logging layer.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: String,
}

impl ApiError {
    /// 429 from our own limit on `endpoint`, counted in `issuer_rate_limited_total`.
    pub(crate) fn limited(endpoint: &'static str, retry_after: Duration) -> Self {
        crate::metrics::rate_limited(endpoint);
        Self::RateLimited { retry_after }
    }

    /// 503 for work not admitted on `endpoint` (the hashing queue or the SMS provider's calls
    /// are full), counted in `issuer_shed_total`.
    pub(crate) fn shed(endpoint: &'static str, retry_after: Duration) -> Self {
        crate::metrics::shed(endpoint);
        Self::Busy { retry_after }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RegistrationClosed
            | Self::AccountDisabled
            | Self::NotAdmin
            | Self::EmailNotVerified => StatusCode::FORBIDDEN,
            Self::InvalidMailToken => StatusCode::BAD_REQUEST,
            Self::EmailTaken => StatusCode::CONFLICT,
            Self::InvalidCredentials
            | Self::InvalidCode
            | Self::InvalidGrant
            | Self::WrongPassword
            | Self::SessionEnded => StatusCode::UNAUTHORIZED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) | Self::Busy { .. } | Self::ProviderUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error` code of the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_)
            | Self::Unprocessable(_)
            | Self::PayloadTooLarge
            | Self::MethodNotAllowed => "invalid_request",
            Self::RegistrationClosed => "registration_closed",
            Self::AccountDisabled => "account_disabled",
            Self::NotAdmin => "insufficient_scope",
            Self::EmailNotVerified => "email_not_verified",
            Self::InvalidMailToken => "invalid_grant",
            Self::EmailTaken => "conflict",
            Self::InvalidCredentials | Self::InvalidCode | Self::WrongPassword => {
                "invalid_credentials"
            }
            Self::SessionEnded => "invalid_token",
            Self::InvalidGrant => "invalid_grant",
            Self::RateLimited { .. } => "rate_limited",
            Self::NotFound(_) => "not_found",
            Self::Unavailable(_) | Self::Busy { .. } | Self::ProviderUnavailable(_) => {
                "temporarily_unavailable"
            }
            Self::Internal(_) => "server_error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let rejection = match self {
            Self::SessionEnded => Some(Rejection::from(InvalidToken::Revoked)),
            Self::NotAdmin => Some(Rejection::InsufficientRole(RoleList::new([ADMIN_ROLE]))),
            _ => None,
        };
        if let Some(rejection) = rejection {
            let mut response = rejection.into_response::<Body>();
            response.extensions_mut().insert(ErrorCode(self.code()));
            return response;
        }
        let body = ErrorBody {
            error: self.code(),
            error_description: self.to_string(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(self.code()));
        let headers = response.headers_mut();
        match &self {
            Self::RateLimited { retry_after } | Self::Busy { retry_after } => {
                headers.insert(header::RETRY_AFTER, retry_after_seconds(*retry_after));
            }
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::ProviderUnavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        match self {
            Self::Unavailable(cause) => {
                response
                    .extensions_mut()
                    .insert(InternalCause(cause.to_string()));
            }
            Self::Internal(cause) | Self::ProviderUnavailable(cause) => {
                response.extensions_mut().insert(InternalCause(cause));
            }
            _ => {}
        }
        response
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
fn retry_after_seconds(wait: Duration) -> HeaderValue {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    HeaderValue::from(seconds.max(1))
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => Self::EmailTaken,
            StoreError::Unavailable(_) => Self::Unavailable(error),
            StoreError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        Self::Internal(error.to_string())
    }
}

impl From<SignError> for ApiError {
    fn from(error: SignError) -> Self {
        Self::Internal(error.to_string())
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::EmailTaken => Self::EmailTaken,
            AccountError::Hash(error) => error.into(),
            AccountError::Store(error) => error.into(),
            AccountError::Vanished => Self::Internal(error.to_string()),
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::InvalidPhone => {
                Self::Unprocessable("phone cannot receive codes by SMS".into())
            }
            ProviderError::TooManySends => Self::RateLimited {
                retry_after: PROVIDER_SEND_LIMIT_WAIT,
            },
            ProviderError::Unavailable(cause) => Self::ProviderUnavailable(cause),
            ProviderError::Store(error) => error.into(),
        }
    }
}

impl From<MailError> for ApiError {
    fn from(error: MailError) -> Self {
        match error {
            MailError::Limited {
                endpoint,
                retry_after,
            } => Self::limited(endpoint, retry_after),
            MailError::Busy { endpoint } => Self::shed(endpoint, Duration::from_secs(1)),
            MailError::Store(error) => error.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::Blocked(retry_after) => Self::limited("login", retry_after),
            LoginError::Busy(busy) => Self::shed("login", busy.retry_after),
            LoginError::InvalidCredentials => Self::InvalidCredentials,
            LoginError::Store(error) => error.into(),
            LoginError::Hash(error) => error.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::InvalidGrant => Self::InvalidGrant,
            SessionError::Disabled => Self::AccountDisabled,
            SessionError::Store(error) => error.into(),
            SessionError::Sign(error) => error.into(),
            SessionError::Seal(error) => Self::Internal(error.to_string()),
        }
    }
}

/// A JSON body extractor whose rejections use the error shape above (axum's own `Json`
/// answers in plain text, and 422 for missing fields where we promise 400). The body must be a
/// JSON object: any other JSON value (array, string, number, boolean, null) is 400
/// `invalid_request`, "invalid request body: invalid type: <kind>, expected a JSON object".
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<JsonObject<T>>::from_request(req, state).await {
            Ok(Json(JsonObject(value))) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

/// `T` read from a JSON object only. serde's derived `Deserialize` of a struct also accepts an
/// array of its fields in order, so `["a@b.co", "pw"]` would be read as a login. Asking for a
/// map refuses every other value with serde's own data error ("invalid type: sequence,
/// expected a JSON object"), before any of it is read; an object goes to `T` unchanged, with the
/// same field paths, errors and nesting limit as before.
struct JsonObject<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(JsonObjectVisitor(PhantomData))
    }
}

struct JsonObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for JsonObjectVisitor<T> {
    type Value = JsonObject<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(JsonObject)
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::BadRequest("expected a JSON body with Content-Type: application/json".into())
        }
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::BadRequest("request body is not valid JSON".into())
        }
        JsonRejection::JsonDataError(e) => {
            ApiError::BadRequest(data_error_description(&e.body_text()))
        }
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        _ => ApiError::BadRequest("request body could not be read".into()),
    }
}

/// serde's message names the field and the problem ("email: invalid type: sequence, expected a
/// string"), which is useful and reveals nothing internal; axum prefixes it with its own words and
/// serde appends a line/column, both of which we drop. serde also quotes the value it did not
/// expect ("password: invalid type: integer `12345678`"), and that value may be a password or a
/// token sent with the wrong type: it is dropped too, so an error never repeats what was sent.
fn data_error_description(body_text: &str) -> String {
    const AXUM_PREFIX: &str = "Failed to deserialize the JSON body into the target type: ";
    let detail = body_text.strip_prefix(AXUM_PREFIX).unwrap_or(body_text);
    // The position comes last; the value, which may itself hold " at line ", comes before it.
    let detail = detail
        .rsplit_once(" at line ")
        .map_or(detail, |(text, _)| text);
    format!("invalid request body: {}", without_values(detail))
}

/// `invalid type: <kind> <value>, expected <what>` (and `invalid value: ...`) without `<value>`,
/// which serde writes in backticks or double quotes after the kind. The expectation comes last
/// and from our types, so it is found from the end, whatever the value holds.
fn without_values(detail: &str) -> String {
    for marker in ["invalid type: ", "invalid value: "] {
        if let Some((field, rest)) = detail.split_once(marker) {
            let (unexpected, expected) = match rest.rsplit_once(", expected ") {
                Some((unexpected, expected)) => (unexpected, Some(expected)),
                None => (rest, None),
            };
            let kind = unexpected
                .split(['`', '"'])
                .next()
                .unwrap_or_default()
                .trim_end();
            return match expected {
                Some(expected) => format!("{field}{marker}{kind}, expected {expected}"),
                None => format!("{field}{marker}{kind}"),
            };
        }
    }
    detail.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Login {
        email: String,
        password: String,
    }

    #[test]
    fn a_struct_is_read_from_an_object_and_never_from_an_array_of_its_fields() {
        let object: JsonObject<Login> =
            serde_json::from_str(r#"{"email": "a@b.co", "password": "pw"}"#).unwrap();
        let array = serde_json::from_str::<JsonObject<Login>>(r#"["a@b.co", "pw"]"#);

        assert_eq!(
            object.0,
            Login {
                email: "a@b.co".into(),
                password: "pw".into()
            }
        );
        let error = array.err().expect("an array is refused");
        assert!(error.is_data(), "a data error, answered like a wrong type");
        assert_eq!(
            data_error_description(&error.to_string()),
            "invalid request body: invalid type: sequence, expected a JSON object"
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1500)), "2");
        assert_eq!(retry_after_seconds(Duration::from_secs(3)), "3");
        assert_eq!(retry_after_seconds(Duration::ZERO), "1");
    }

    #[test]
    fn a_data_error_keeps_serdes_detail_without_axums_prefix() {
        let text = "Failed to deserialize the JSON body into the target type: missing field `email` at line 1 column 2";
        assert_eq!(
            data_error_description(text),
            "invalid request body: missing field `email`"
        );
    }

    #[test]
    fn a_data_error_never_repeats_the_value_that_was_sent() {
        let cases = [
            (
                "password: invalid type: integer `12345678`, expected a string at line 1 column 9",
                "invalid request body: password: invalid type: integer, expected a string",
            ),
            (
                "invalid type: string \"hunter2, expected x\", expected struct LoginRequest",
                "invalid request body: invalid type: string, expected struct LoginRequest",
            ),
            (
                "refresh_token: invalid type: boolean `true`, expected a string",
                "invalid request body: refresh_token: invalid type: boolean, expected a string",
            ),
            (
                "email: invalid type: null, expected a string",
                "invalid request body: email: invalid type: null, expected a string",
            ),
            (
                "invalid type: string \"hunter2, expected x at line 1\", expected struct LoginRequest at line 1 column 30",
                "invalid request body: invalid type: string, expected struct LoginRequest",
            ),
            (
                "invalid value: string \"s3cret\"",
                "invalid request body: invalid value: string",
            ),
        ];
        for (body_text, expected) in cases {
            assert_eq!(data_error_description(body_text), expected);
        }
    }
}
