//! Reading the bearer token from the `Authorization` header (RFC 6750 section 2.1).

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::rejection::InvalidToken;

/// The token of an `Authorization: Bearer <token>` header: `Ok(None)` when there is no such
/// header or it uses another scheme; an error when it is repeated or malformed. The scheme is
/// case-insensitive; the token must be non-empty `token68` characters.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, InvalidToken> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return if headers.contains_key(AUTHORIZATION) {
            Err(InvalidToken::MalformedAuthorization)
        } else {
            Ok(None)
        };
    };
    let value = value
        .to_str()
        .map_err(|_| InvalidToken::MalformedAuthorization)?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim_start_matches(' ');
    if token.is_empty() || !token.bytes().all(is_token68) {
        return Err(InvalidToken::MalformedAuthorization);
    }
    Ok(Some(token))
}

fn is_token68(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(AUTHORIZATION, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn a_bearer_token_is_read_with_any_scheme_case() {
        for value in ["Bearer a.b.c", "bearer a.b.c", "BEARER  a.b.c"] {
            assert_eq!(bearer_token(&headers(&[value])), Ok(Some("a.b.c")));
        }
    }

    #[test]
    fn no_header_or_another_scheme_is_no_token() {
        assert_eq!(bearer_token(&headers(&[])), Ok(None));
        assert_eq!(bearer_token(&headers(&["Basic dXNlcjpwYXNz"])), Ok(None));
        assert_eq!(bearer_token(&headers(&["Bearerish a.b.c"])), Ok(None));
    }

    #[test]
    fn an_empty_spaced_or_repeated_bearer_is_malformed() {
        for value in [
            &["Bearer"][..],
            &["Bearer "],
            &["Bearer a.b.c d"],
            &["Bearer a\tb"],
            &["Bearer a.b.c", "Bearer a.b.c"],
        ] {
            assert_eq!(
                bearer_token(&headers(value)),
                Err(InvalidToken::MalformedAuthorization),
                "{value:?}"
            );
        }
    }
}
