//! Scrubbing what is sent to Sentry: no token, password, secret, cookie or `Authorization`
//! header leaves the process, whatever field of the event it ended up in.
//!
//! The event is walked as JSON, so every field is covered (message, exception values, tags,
//! extra data, breadcrumbs, the request) without naming each one:
//! - values under a key that names a secret (`authorization`, `cookie`, `password`, `secret`,
//!   `token`, `dsn`, `api_key`, case-insensitive) are replaced;
//! - in every string, a JWT (a run starting `eyJ`) and any run of 40 or more base64url
//!   characters mixing upper case, lower case and digits (refresh tokens, secrets, keys) are
//!   replaced; identifiers, UUIDs and hex ids are left alone;
//! - request bodies and cookies are dropped outright.

use sentry::protocol::{Breadcrumb, Event};
use serde_json::Value;

/// What replaces a scrubbed value.
pub const FILTERED: &str = "[Filtered]";

/// Key fragments whose values are always replaced.
const SECRET_KEYS: &[&str] = &[
    "authorization",
    "cookie",
    "password",
    "secret",
    "token",
    "dsn",
    "api_key",
    "apikey",
];

/// A run this long of base64url characters is treated as a secret when it mixes cases and
/// digits: 256-bit refresh tokens are 43 characters.
const MIN_SECRET_RUN: usize = 40;

/// The event without secrets. `None` (drop it) only if it cannot be rebuilt after scrubbing,
/// which would mean it held something we cannot vouch for.
pub fn scrub_event(event: Event<'static>) -> Option<Event<'static>> {
    let mut event = scrub(event)?;
    if let Some(request) = event.request.as_mut() {
        request.data = None;
        request.cookies = None;
    }
    Some(event)
}

/// The breadcrumb without secrets (`None` drops it, as for events).
pub fn scrub_breadcrumb(breadcrumb: Breadcrumb) -> Option<Breadcrumb> {
    scrub(breadcrumb)
}

fn scrub<T: serde::Serialize + serde::de::DeserializeOwned>(item: T) -> Option<T> {
    let mut value = serde_json::to_value(item).ok()?;
    scrub_value(&mut value);
    serde_json::from_value(value).ok()
}

/// Scrubs `value` in place (see the module docs).
pub fn scrub_value(value: &mut Value) {
    match value {
        Value::String(text) => {
            if let Some(scrubbed) = scrub_text(text) {
                *text = scrubbed;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if names_a_secret(key) && !item.is_null() {
                    *item = Value::String(FILTERED.to_owned());
                } else {
                    scrub_value(item);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn names_a_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('-', "_");
    SECRET_KEYS.iter().any(|secret| key.contains(secret))
}

/// `text` with tokens and secret-looking runs replaced; `None` when nothing was.
fn scrub_text(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut copied = 0;
    let mut runs = token_runs(text).peekable();
    runs.peek()?;
    for (start, end) in runs {
        out.push_str(&text[copied..start]);
        out.push_str(FILTERED);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// Byte ranges of the secret-looking runs in `text`.
fn token_runs(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = text.as_bytes();
    let mut position = 0;
    std::iter::from_fn(move || {
        while position < bytes.len() {
            let start = position;
            // A run of token characters (base64url plus the JWS separator).
            while position < bytes.len() && is_token_byte(bytes[position]) {
                position += 1;
            }
            if position == start {
                position += 1;
                continue;
            }
            let run = &text[start..position];
            if run.contains("eyJ") || is_secret_run(run) {
                return Some((start, position));
            }
        }
        None
    })
}

fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.')
}

/// A long run mixing upper case, lower case and digits in one of its dot-separated parts.
fn is_secret_run(run: &str) -> bool {
    run.split('.').any(|part| {
        part.len() >= MIN_SECRET_RUN
            && part.bytes().any(|b| b.is_ascii_uppercase())
            && part.bytes().any(|b| b.is_ascii_lowercase())
            && part.bytes().any(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlX2J5dGVz";
    const REFRESH: &str = "q3Zt9Kx0bW1mYq7Pn2LrT5vXc8HdJf4Gs6Ae0Uy1Io9";

    #[test]
    fn a_jwt_inside_a_message_is_replaced() {
        assert_eq!(
            scrub_text(&format!("bad token Bearer {JWT} here")).unwrap(),
            format!("bad token Bearer {FILTERED} here")
        );
    }

    #[test]
    fn a_refresh_token_inside_a_message_is_replaced() {
        assert_eq!(
            scrub_text(&format!("refresh {REFRESH}")).unwrap(),
            format!("refresh {FILTERED}")
        );
    }

    #[test]
    fn identifiers_uuids_and_paths_are_left_alone() {
        for text in [
            "0193a5e2-7c1f-7d3a-9a8b-1c2d3e4f5a6b",
            "a_compromised_key_unpublished_by_hand_stops_verifying",
            "issuer::routes::login::login",
            "POST /book",
            "0123456789abcdef0123456789abcdef01234567",
        ] {
            assert_eq!(scrub_text(text), None, "{text}");
        }
    }

    #[test]
    fn values_under_secret_names_are_replaced_at_any_depth() {
        let mut value = json!({
            "extra": { "password": "hunter2hunter2", "nested": [{ "Refresh-Token": "x" }] },
            "request": { "headers": { "Authorization": "Basic abc", "Cookie": "sid=1" } },
            "tags": { "route": "/login" }
        });

        scrub_value(&mut value);

        assert_eq!(
            value,
            json!({
                "extra": { "password": FILTERED, "nested": [{ "Refresh-Token": FILTERED }] },
                "request": { "headers": { "Authorization": FILTERED, "Cookie": FILTERED } },
                "tags": { "route": "/login" }
            })
        );
    }

    #[test]
    fn an_event_keeps_its_shape_and_loses_its_secrets() {
        let mut event = Event {
            message: Some(format!("login failed for token {JWT}")),
            ..Event::default()
        };
        event.tags.insert("route".into(), "/login".into());
        event
            .extra
            .insert("password".into(), "hunter2hunter2".into());
        event.request = Some(sentry::protocol::Request {
            data: Some("{\"password\":\"hunter2\"}".into()),
            cookies: Some("sid=abc".into()),
            query_string: Some(format!("access_token={JWT}")),
            ..Default::default()
        });

        let event = scrub_event(event).unwrap();

        let text = serde_json::to_string(&event).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("eyJ"), "{text}");
        assert!(!text.contains("sid=abc"), "{text}");
        assert_eq!(event.tags["route"], "/login");
        assert_eq!(
            event.message.as_deref(),
            Some("login failed for token [Filtered]")
        );
    }
}
