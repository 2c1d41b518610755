//! The registered-claim checks and the verified claims handed to handlers.

pub(crate) mod rules;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

#[cfg(feature = "fuzzing")]
pub(crate) use self::rules::leeway_seconds;
pub(crate) use self::rules::{ClaimRules, ClaimSettings, Expectation};
pub use self::rules::{DEFAULT_LEEWAY, MAX_LEEWAY};
use crate::rejection::InvalidToken;

/// The claims of a token the layer verified. The layer inserts one into the request's
/// extensions; read it there, or with the `Claims<T>` extractor (feature `axum`).
///
/// Cloning is cheap (one reference count). `Debug` shows the subject, roles and expiry only:
/// claims such as `email` are personal data and stay out of logs.
#[derive(Clone)]
pub struct VerifiedClaims {
    inner: Arc<ClaimsInner>,
}

struct ClaimsInner {
    payload: Value,
    roles: Vec<String>,
    scopes: Vec<String>,
    times: Times,
}

/// The time claims, in Unix seconds, kept so a cached token can be checked again.
#[derive(Debug, Clone, Copy)]
struct Times {
    expires_at: i64,
    not_before: Option<i64>,
    issued_at: Option<i64>,
}

impl Times {
    /// `exp`, `nbf` and `iat` at `now`, each with the leeway.
    fn check(self, leeway: i64, now: i64) -> Result<(), InvalidToken> {
        if now >= self.expires_at.saturating_add(leeway) {
            return Err(InvalidToken::Expired);
        }
        if self
            .not_before
            .is_some_and(|not_before| now.saturating_add(leeway) < not_before)
        {
            return Err(InvalidToken::NotYetValid);
        }
        if self
            .issued_at
            .is_some_and(|issued_at| issued_at > now.saturating_add(leeway))
        {
            return Err(InvalidToken::IssuedInFuture);
        }
        Ok(())
    }
}

impl VerifiedClaims {
    /// The `sub` claim, if it is a string.
    pub fn subject(&self) -> Option<&str> {
        self.string("sub")
    }

    /// The `iss` claim, if it is a string.
    pub fn issuer(&self) -> Option<&str> {
        self.string("iss")
    }

    /// The `sid` (session id) claim, if it is a string.
    pub fn session_id(&self) -> Option<&str> {
        self.string("sid")
    }

    /// When the token expires (`exp`).
    pub fn expires_at(&self) -> SystemTime {
        let seconds = Duration::from_secs(u64::try_from(self.inner.times.expires_at).unwrap_or(0));
        SystemTime::UNIX_EPOCH + seconds
    }

    /// `exp` in Unix seconds.
    pub(crate) fn expires_at_seconds(&self) -> i64 {
        self.inner.times.expires_at
    }

    /// Checks the time claims again at `now` (Unix seconds): for a token taken from the cache.
    pub(crate) fn check_times(&self, leeway_seconds: i64, now: i64) -> Result<(), InvalidToken> {
        self.inner.times.check(leeway_seconds, now)
    }

    /// The roles the token carries: by default its `role` string and the entries of its
    /// `roles` array; the claims named by
    /// [`role_claims`](crate::VerifierBuilder::role_claims) instead when set.
    pub fn roles(&self) -> &[String] {
        &self.inner.roles
    }

    /// The scopes the token grants: the space-separated entries of its `scope` (or `scp`)
    /// string, or the entries of an `scp` array.
    pub fn scopes(&self) -> &[String] {
        &self.inner.scopes
    }

    /// Whether the token grants every one of `scopes`.
    pub fn has_all_scopes<R: AsRef<str>>(&self, scopes: &[R]) -> bool {
        scopes.iter().all(|wanted| {
            self.inner
                .scopes
                .iter()
                .any(|scope| scope == wanted.as_ref())
        })
    }

    /// Whether the token carries at least one of `roles`.
    pub fn has_any_role<R: AsRef<str>>(&self, roles: &[R]) -> bool {
        roles
            .iter()
            .any(|wanted| self.inner.roles.iter().any(|role| role == wanted.as_ref()))
    }

    /// One claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.inner.payload.get(name)
    }

    /// The whole payload, a JSON object.
    pub fn payload(&self) -> &Value {
        &self.inner.payload
    }

    /// The payload as your own claims type.
    ///
    /// # Errors
    /// When the payload does not fit `T` (a missing field, a wrong type).
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.inner.payload)
    }

    fn string(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }
}

impl fmt::Debug for VerifiedClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedClaims")
            .field("sub", &self.subject())
            .field("roles", &self.inner.roles)
            .field("exp", &self.inner.times.expires_at)
            .finish_non_exhaustive()
    }
}

/// Checks the registered claims of a signature-verified payload at `now` (Unix seconds).
///
/// Time claims must be JSON numbers; `exp` is required. `iss` and `aud` must match when
/// configured. A `type` claim of `refresh` is refused. `role` must be a string and `roles` an
/// array of strings when present, so a role check never guesses.
pub(crate) fn validate(
    payload: Map<String, Value>,
    rules: &ClaimRules,
    now: i64,
) -> Result<VerifiedClaims, InvalidToken> {
    let times = Times {
        expires_at: numeric_date(&payload, "exp")?.ok_or(InvalidToken::MissingExpiry)?,
        not_before: numeric_date(&payload, "nbf")?,
        issued_at: numeric_date(&payload, "iat")?,
    };
    times.check(rules.leeway_seconds, now)?;
    if let Some(issuer) = &rules.issuer {
        match payload.get("iss") {
            Some(Value::String(iss)) if iss == issuer.as_ref() => {}
            Some(Value::String(_)) | None => return Err(InvalidToken::WrongIssuer),
            Some(_) => return Err(InvalidToken::MalformedClaims),
        }
    }
    if let Some(audiences) = &rules.audiences {
        check_audience(payload.get("aud"), audiences)?;
    }
    match payload.get("type") {
        None => {}
        Some(Value::String(kind)) if kind.eq_ignore_ascii_case("refresh") => {
            return Err(InvalidToken::RefreshToken);
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err(InvalidToken::MalformedClaims),
    }
    let payload = Value::Object(payload);
    let roles = match &rules.role_claims {
        None => roles(&payload)?,
        Some(pointers) => strings_at(&payload, pointers)?,
    };
    let scopes = scopes(&payload)?;
    Ok(VerifiedClaims {
        inner: Arc::new(ClaimsInner {
            payload,
            roles,
            scopes,
            times,
        }),
    })
}

/// A NumericDate (RFC 7519 section 2): a JSON number of seconds, possibly fractional, read
/// down to whole seconds. Anything else (a string, `null`, a boolean) is malformed.
fn numeric_date(payload: &Map<String, Value>, name: &str) -> Result<Option<i64>, InvalidToken> {
    let Some(value) = payload.get(name) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(InvalidToken::MalformedClaims);
    };
    if let Some(seconds) = number.as_i64() {
        return Ok(Some(seconds));
    }
    match number.as_f64() {
        // `as` saturates, so 1e300 becomes i64::MAX: far future, which is what it means.
        #[allow(clippy::cast_possible_truncation)]
        Some(seconds) if seconds.is_finite() => Ok(Some(seconds.floor() as i64)),
        _ => Err(InvalidToken::MalformedClaims),
    }
}

fn check_audience(aud: Option<&Value>, accepted: &[String]) -> Result<(), InvalidToken> {
    let accepts = |candidate: &str| accepted.iter().any(|a| a == candidate);
    match aud {
        Some(Value::String(aud)) if accepts(aud) => Ok(()),
        Some(Value::String(_)) | None => Err(InvalidToken::WrongAudience),
        Some(Value::Array(entries)) => {
            let mut found = false;
            for entry in entries {
                let Value::String(aud) = entry else {
                    return Err(InvalidToken::MalformedClaims);
                };
                found |= accepts(aud);
            }
            if found {
                Ok(())
            } else {
                Err(InvalidToken::WrongAudience)
            }
        }
        Some(_) => Err(InvalidToken::MalformedClaims),
    }
}

/// The issuer's roles: its `role` string and the entries of its `roles` array; other types are
/// malformed, so a role check never guesses.
fn roles(payload: &Value) -> Result<Vec<String>, InvalidToken> {
    let mut roles = Vec::new();
    match payload.get("role") {
        None => {}
        Some(Value::String(role)) => roles.push(role.clone()),
        Some(_) => return Err(InvalidToken::MalformedClaims),
    }
    match payload.get("roles") {
        None => {}
        Some(Value::Array(entries)) => push_strings(&mut roles, entries)?,
        Some(_) => return Err(InvalidToken::MalformedClaims),
    }
    Ok(roles)
}

/// The roles at each of `pointers` (JSON pointers): a string is one role, an array of strings
/// several; a missing claim none. Any other type is malformed, so a role check never guesses.
fn strings_at(payload: &Value, pointers: &[String]) -> Result<Vec<String>, InvalidToken> {
    let mut found = Vec::new();
    for pointer in pointers {
        match payload.pointer(pointer) {
            None => {}
            Some(Value::String(one)) => found.push(one.clone()),
            Some(Value::Array(entries)) => push_strings(&mut found, entries)?,
            Some(_) => return Err(InvalidToken::MalformedClaims),
        }
    }
    Ok(found)
}

/// The scopes of `scope` and `scp`: each a space-separated string (RFC 8693, RFC 9068; Entra
/// ID's `scp`) or an array of strings (Okta's `scp`).
fn scopes(payload: &Value) -> Result<Vec<String>, InvalidToken> {
    let mut found = Vec::new();
    for name in ["scope", "scp"] {
        match payload.get(name) {
            None => {}
            Some(Value::String(list)) => {
                found.extend(list.split(' ').filter(|s| !s.is_empty()).map(str::to_owned))
            }
            Some(Value::Array(entries)) => push_strings(&mut found, entries)?,
            Some(_) => return Err(InvalidToken::MalformedClaims),
        }
    }
    Ok(found)
}

fn push_strings(found: &mut Vec<String>, entries: &[Value]) -> Result<(), InvalidToken> {
    for entry in entries {
        let Value::String(value) = entry else {
            return Err(InvalidToken::MalformedClaims);
        };
        found.push(value.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: Some(Arc::from("https://issuer.test")),
            audiences: Some(Arc::from(vec!["api".to_owned()])),
            leeway_seconds: 60,
            role_claims: None,
        }
    }

    fn valid() -> Value {
        json!({
            "iss": "https://issuer.test", "aud": "api", "sub": "u1",
            "exp": NOW + 900, "iat": NOW, "nbf": NOW, "role": "user", "type": "access"
        })
    }

    fn check(edit: impl FnOnce(&mut Map<String, Value>)) -> Result<VerifiedClaims, InvalidToken> {
        let Value::Object(mut payload) = valid() else {
            unreachable!()
        };
        edit(&mut payload);
        validate(payload, &rules(), NOW)
    }

    fn with(name: &str, value: Value) -> Result<VerifiedClaims, InvalidToken> {
        check(|p| {
            p.insert(name.to_owned(), value);
        })
    }

    #[test]
    fn valid_claims_pass_and_expose_subject_and_roles() {
        let claims = check(|_| {}).unwrap();

        assert_eq!(claims.subject(), Some("u1"));
        assert_eq!(claims.roles(), ["user"]);
        assert!(claims.has_any_role(&["raider", "user"]));
        assert!(!claims.has_any_role(&["admin"]));
    }

    #[test]
    fn a_missing_exp_is_refused() {
        assert_eq!(
            check(|p| {
                p.remove("exp");
            })
            .unwrap_err(),
            InvalidToken::MissingExpiry
        );
    }

    #[test]
    fn exp_is_enforced_with_the_leeway() {
        assert!(with("exp", json!(NOW - 59)).is_ok());
        assert_eq!(
            with("exp", json!(NOW - 60)).unwrap_err(),
            InvalidToken::Expired
        );
    }

    #[test]
    fn nbf_and_iat_in_the_future_are_refused_beyond_the_leeway() {
        assert!(with("nbf", json!(NOW + 60)).is_ok());
        assert_eq!(
            with("nbf", json!(NOW + 61)).unwrap_err(),
            InvalidToken::NotYetValid
        );
        assert!(with("iat", json!(NOW + 60)).is_ok());
        assert_eq!(
            with("iat", json!(NOW + 61)).unwrap_err(),
            InvalidToken::IssuedInFuture
        );
    }

    #[test]
    fn time_claims_of_the_wrong_type_are_malformed() {
        for name in ["exp", "nbf", "iat"] {
            for value in [json!("1900000000"), json!(null), json!(true), json!([1])] {
                assert_eq!(
                    with(name, value.clone()).unwrap_err(),
                    InvalidToken::MalformedClaims,
                    "{name}: {value}"
                );
            }
        }
    }

    #[test]
    fn fractional_and_huge_times_are_read_as_numbers() {
        assert!(with("exp", json!((NOW + 10) as f64 + 0.5)).is_ok());
        assert!(with("exp", json!(1e300)).is_ok());
        assert!(with("exp", json!(u64::MAX)).is_ok());
        assert_eq!(
            with("exp", json!(-1e300)).unwrap_err(),
            InvalidToken::Expired
        );
    }

    #[test]
    fn the_issuer_must_match_exactly() {
        for iss in [json!("https://issuer.test/"), json!("https://ISSUER.test")] {
            assert_eq!(with("iss", iss).unwrap_err(), InvalidToken::WrongIssuer);
        }
        assert_eq!(
            with("iss", json!(["https://issuer.test"])).unwrap_err(),
            InvalidToken::MalformedClaims
        );
        assert_eq!(
            check(|p| {
                p.remove("iss");
            })
            .unwrap_err(),
            InvalidToken::WrongIssuer
        );
    }

    #[test]
    fn the_audience_may_be_a_string_or_an_array_containing_it() {
        assert!(with("aud", json!(["other", "api"])).is_ok());
        for aud in [json!("other"), json!([]), json!(["other"])] {
            assert_eq!(with("aud", aud).unwrap_err(), InvalidToken::WrongAudience);
        }
        for aud in [json!(["api", 1]), json!(7), json!({"aud": "api"})] {
            assert_eq!(with("aud", aud).unwrap_err(), InvalidToken::MalformedClaims);
        }
    }

    #[test]
    fn skipped_checks_accept_any_issuer_and_audience() {
        let Value::Object(mut payload) = valid() else {
            unreachable!()
        };
        payload.insert("iss".into(), json!("elsewhere"));
        payload.remove("aud");
        let rules = ClaimRules {
            issuer: None,
            audiences: None,
            leeway_seconds: 0,
            role_claims: None,
        };

        assert!(validate(payload, &rules, NOW).is_ok());
    }

    #[test]
    fn a_refresh_type_claim_is_refused() {
        assert_eq!(
            with("type", json!("refresh")).unwrap_err(),
            InvalidToken::RefreshToken
        );
        assert_eq!(
            with("type", json!(1)).unwrap_err(),
            InvalidToken::MalformedClaims
        );
    }

    #[test]
    fn configured_role_claims_replace_the_default_and_read_strings_or_arrays() {
        let keycloak = ClaimRules {
            role_claims: Some(Arc::from(vec![
                "/realm_access/roles".to_owned(),
                "/resource_access/bookings/roles".to_owned(),
                "/https:~1~1example.com~1role".to_owned(),
            ])),
            ..rules()
        };
        let validate_with = |extra: Value| {
            let Value::Object(mut payload) = valid() else {
                unreachable!()
            };
            let Value::Object(extra) = extra else {
                unreachable!()
            };
            payload.extend(extra);
            validate(payload, &keycloak, NOW)
        };

        let claims = validate_with(json!({
            "realm_access": { "roles": ["user", "offline_access"] },
            "resource_access": { "bookings": { "roles": ["raider"] } },
            "https://example.com/role": "admin",
        }))
        .unwrap();
        assert_eq!(
            claims.roles(),
            ["user", "offline_access", "raider", "admin"]
        );
        // The default `role` claim ("user" in `valid()`) is not read any more.
        assert!(validate_with(json!({})).unwrap().roles().is_empty());

        for wrong in [
            json!({ "realm_access": { "roles": [1] } }),
            json!({ "realm_access": { "roles": { "admin": true } } }),
            json!({ "https://example.com/role": 7 }),
        ] {
            assert_eq!(
                validate_with(wrong.clone()).unwrap_err(),
                InvalidToken::MalformedClaims,
                "{wrong}"
            );
        }
    }

    #[test]
    fn scopes_come_from_a_space_separated_scope_or_scp_string_or_an_scp_array() {
        assert_eq!(
            with("scope", json!("read:bookings  write:bookings"))
                .unwrap()
                .scopes(),
            ["read:bookings", "write:bookings"]
        );
        assert_eq!(with("scp", json!(["a", "b"])).unwrap().scopes(), ["a", "b"]);
        assert_eq!(with("scp", json!("a b")).unwrap().scopes(), ["a", "b"]);
        let claims = with("scope", json!("a b c")).unwrap();
        assert!(claims.has_all_scopes(&["c", "a"]));
        assert!(!claims.has_all_scopes(&["a", "d"]));
        assert!(with("sub", json!("x")).unwrap().scopes().is_empty());

        for (name, value) in [
            ("scope", json!(1)),
            ("scope", json!({ "a": true })),
            ("scp", json!(["a", 2])),
        ] {
            assert_eq!(
                with(name, value).unwrap_err(),
                InvalidToken::MalformedClaims
            );
        }
    }

    #[test]
    fn roles_come_from_role_and_roles_and_must_be_strings() {
        let claims = with("roles", json!(["raider", "admin"])).unwrap();
        assert_eq!(claims.roles(), ["user", "raider", "admin"]);

        for (name, value) in [
            ("role", json!(["user"])),
            ("role", json!(1)),
            ("roles", json!("user")),
            ("roles", json!(["user", 1])),
        ] {
            assert_eq!(
                with(name, value).unwrap_err(),
                InvalidToken::MalformedClaims
            );
        }
    }

    #[test]
    fn debug_leaves_personal_claims_out() {
        let claims = with("email", json!("alice@example.com")).unwrap();

        let text = format!("{claims:?}");

        assert!(text.contains("u1"));
        assert!(!text.contains("alice"));
    }
}
