//! The registered-claim checks and the verified claims handed to handlers.

pub(crate) mod rules;

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::json::{self, Field};

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
    /// The payload's JSON text, as signed.
    json: Box<str>,
    /// The payload as a JSON value: made on first use, most requests never need it.
    payload: OnceLock<Value>,
    subject: Option<Box<str>>,
    issuer: Option<Box<str>>,
    session_id: Option<Box<str>>,
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
        self.inner.subject.as_deref()
    }

    /// The `iss` claim, if it is a string.
    pub fn issuer(&self) -> Option<&str> {
        self.inner.issuer.as_deref()
    }

    /// The `sid` (session id) claim, if it is a string.
    pub fn session_id(&self) -> Option<&str> {
        self.inner.session_id.as_deref()
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
        self.payload().get(name)
    }

    /// The whole payload, a JSON object. Built from the payload's text on the first call
    /// for this token (and kept with it in the verified-token cache); the checks and the
    /// accessors above never need it.
    pub fn payload(&self) -> &Value {
        self.inner.payload.get_or_init(|| {
            // The text parsed as one object when the token was verified.
            serde_json::from_str(&self.inner.json).unwrap_or(Value::Null)
        })
    }

    /// The payload as your own claims type, read straight from the payload's text (so a
    /// nested object that names one of your fields twice is refused, where a map would have
    /// kept the last).
    ///
    /// # Errors
    /// When the payload does not fit `T` (a missing field, a wrong type).
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.inner.json)
    }

    /// Estimated bytes held by these claims beyond the token itself: the payload text, the
    /// strings kept from it, and bookkeeping (the map, when built, is not counted: see the
    /// token cache's sizing).
    pub(crate) fn estimated_bytes(&self) -> usize {
        let strings = |list: &[String]| list.iter().map(|s| s.len() + 24).sum::<usize>();
        let kept = [
            &self.inner.subject,
            &self.inner.issuer,
            &self.inner.session_id,
        ]
        .into_iter()
        .map(|text| text.as_ref().map_or(0, |text| text.len()))
        .sum::<usize>();
        std::mem::size_of::<ClaimsInner>()
            + self.inner.json.len()
            + kept
            + strings(&self.inner.roles)
            + strings(&self.inner.scopes)
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

/// Checks the registered claims of a signature-verified payload (its JSON text) at `now`
/// (Unix seconds).
///
/// The payload must be one JSON object without duplicate keys. Time claims must be JSON
/// numbers; `exp` is required. `iss` and `aud` must match when configured. A `type` claim of
/// `refresh` is refused. `role` must be a string and `roles` an array of strings when present,
/// so a role check never guesses.
pub(crate) fn validate(
    json: String,
    rules: &ClaimRules,
    now: i64,
) -> Result<VerifiedClaims, InvalidToken> {
    let [
        exp,
        nbf,
        iat,
        iss,
        sub,
        sid,
        aud,
        kind,
        role,
        roles_claim,
        scope,
        scp,
    ] = json::fields(
        &json,
        [
            "exp", "nbf", "iat", "iss", "sub", "sid", "aud", "type", "role", "roles", "scope",
            "scp",
        ],
    )
    .map_err(|_| InvalidToken::MalformedClaims)?;
    let times = Times {
        expires_at: numeric_date(exp.as_ref())?.ok_or(InvalidToken::MissingExpiry)?,
        not_before: numeric_date(nbf.as_ref())?,
        issued_at: numeric_date(iat.as_ref())?,
    };
    times.check(rules.leeway_seconds, now)?;
    if let Some(issuer) = &rules.issuer {
        match &iss {
            Some(Field::Str(iss)) if iss == issuer.as_ref() => {}
            Some(Field::Str(_)) | None => return Err(InvalidToken::WrongIssuer),
            Some(_) => return Err(InvalidToken::MalformedClaims),
        }
    }
    if let Some(audiences) = &rules.audiences {
        check_audience(aud.as_ref(), audiences)?;
    }
    match &kind {
        None => {}
        Some(Field::Str(kind)) if kind.eq_ignore_ascii_case("refresh") => {
            return Err(InvalidToken::RefreshToken);
        }
        Some(Field::Str(_)) => {}
        Some(_) => return Err(InvalidToken::MalformedClaims),
    }
    let roles = match &rules.role_claims {
        None => roles(role.as_ref(), roles_claim.as_ref())?,
        Some(pointers) => {
            // Paths into nested objects need the whole map; not kept, so that a cached entry
            // holds what the cache's estimate counts.
            let value: Value =
                serde_json::from_str(&json).map_err(|_| InvalidToken::MalformedClaims)?;
            strings_at(&value, pointers)?
        }
    };
    let scopes = scopes([scope.as_ref(), scp.as_ref()])?;
    let text = |field: Option<Field<'_>>| field.and_then(Field::into_str);
    let (subject, issuer, session_id) = (text(sub), text(iss), text(sid));
    Ok(VerifiedClaims {
        inner: Arc::new(ClaimsInner {
            json: json.into_boxed_str(),
            payload: OnceLock::new(),
            subject,
            issuer,
            session_id,
            roles,
            scopes,
            times,
        }),
    })
}

/// The `iss` of a payload (its JSON text) whose signature is not checked yet, only to choose
/// the keys that check it: `None` without one; malformed when it is not a string, or the
/// payload not one JSON object without duplicate keys.
pub(crate) fn unverified_issuer(json: &str) -> Result<Option<Cow<'_, str>>, InvalidToken> {
    let [iss] = json::fields(json, ["iss"]).map_err(|_| InvalidToken::MalformedClaims)?;
    match iss {
        None => Ok(None),
        Some(Field::Str(iss)) => Ok(Some(iss)),
        Some(_) => Err(InvalidToken::MalformedClaims),
    }
}

/// A NumericDate (RFC 7519 section 2): a JSON number of seconds, possibly fractional, read
/// down to whole seconds. Anything else (a string, `null`, a boolean) is malformed.
fn numeric_date(claim: Option<&Field<'_>>) -> Result<Option<i64>, InvalidToken> {
    match claim {
        None => Ok(None),
        Some(Field::Number(seconds)) => Ok(Some(*seconds)),
        Some(_) => Err(InvalidToken::MalformedClaims),
    }
}

fn check_audience(aud: Option<&Field<'_>>, accepted: &[String]) -> Result<(), InvalidToken> {
    let accepts = |candidate: &str| accepted.iter().any(|a| a == candidate);
    match aud {
        Some(Field::Str(aud)) if accepts(aud) => Ok(()),
        Some(Field::Str(_)) | None => Err(InvalidToken::WrongAudience),
        Some(Field::Strs(entries)) if entries.iter().any(|aud| accepts(aud)) => Ok(()),
        Some(Field::Strs(_)) => Err(InvalidToken::WrongAudience),
        Some(_) => Err(InvalidToken::MalformedClaims),
    }
}

/// The issuer's roles: its `role` string and the entries of its `roles` array; other types are
/// malformed, so a role check never guesses.
fn roles(role: Option<&Field<'_>>, list: Option<&Field<'_>>) -> Result<Vec<String>, InvalidToken> {
    let mut roles = Vec::new();
    match role {
        None => {}
        Some(Field::Str(role)) => roles.push(role.clone().into_owned()),
        Some(_) => return Err(InvalidToken::MalformedClaims),
    }
    match list {
        None => {}
        Some(Field::Strs(entries)) => roles.extend(entries.iter().map(|r| r.clone().into_owned())),
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
fn scopes(claims: [Option<&Field<'_>>; 2]) -> Result<Vec<String>, InvalidToken> {
    let mut scopes = Vec::new();
    for claim in claims {
        match claim {
            None => {}
            Some(Field::Str(list)) => {
                scopes.extend(list.split(' ').filter(|s| !s.is_empty()).map(str::to_owned))
            }
            Some(Field::Strs(entries)) => {
                scopes.extend(entries.iter().map(|s| Cow::clone(s).into_owned()));
            }
            Some(_) => return Err(InvalidToken::MalformedClaims),
        }
    }
    Ok(scopes)
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
    use serde_json::{Map, json};

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
        validate(Value::Object(payload).to_string(), &rules(), NOW)
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

        assert!(validate(Value::Object(payload).to_string(), &rules, NOW).is_ok());
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
            validate(Value::Object(payload).to_string(), &keycloak, NOW)
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
