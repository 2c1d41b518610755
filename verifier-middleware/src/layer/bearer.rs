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
    // Bytes, not `to_str`: every byte of a token is checked against the token68 table below
    // anyway, which admits ASCII only. This runs on every request, over the whole token.
    let value = value.as_bytes();
    let (scheme, token) = match value.iter().position(|&byte| byte == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let start = token.iter().take_while(|&&byte| byte == b' ').count();
    let token = &token[start..];
    if token.is_empty() || !all_token68(token) {
        return Err(InvalidToken::MalformedAuthorization);
    }
    std::str::from_utf8(token)
        .map(Some)
        .map_err(|_| InvalidToken::MalformedAuthorization)
}

/// Whether every byte is a `token68` character (RFC 7235 section 2.1). Written without an
/// early exit and without branches so the compiler vectorises it: it runs over the whole token
/// on every request, cache hit or not.
pub(super) fn all_token68(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |all, &byte| all & is_token68(byte))
}

fn is_token68(byte: u8) -> bool {
    let letter = (byte | 0x20).wrapping_sub(b'a') < 26;
    let digit = byte.wrapping_sub(b'0') < 10;
    letter
        | digit
        | (byte == b'-')
        | (byte == b'.')
        | (byte == b'_')
        | (byte == b'~')
        | (byte == b'+')
        | (byte == b'/')
        | (byte == b'=')
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
    fn exactly_the_token68_characters_are_allowed() {
        let allowed: Vec<u8> = (0..=255u8).filter(|&b| all_token68(&[b])).collect();

        let expected: Vec<u8> = (b'0'..=b'9')
            .chain(b'A'..=b'Z')
            .chain(b'a'..=b'z')
            .chain(*b"+-./=_~")
            .collect();
        let mut allowed = allowed;
        allowed.sort_unstable();
        let mut expected = expected;
        expected.sort_unstable();
        assert_eq!(allowed, expected);
    }

    #[test]
    fn non_ascii_bytes_in_a_token_are_malformed() {
        // Header values may carry bytes 0x80-0xFF (obs-text); controls never reach us.
        for value in [
            &b"Bearer a.b\xc3\xa9"[..],
            b"Bearer a.b\xff",
            b"Bearer \xe2\x80\xae.b.c",
        ] {
            let mut headers = HeaderMap::new();
            headers.append(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
            assert_eq!(
                bearer_token(&headers),
                Err(InvalidToken::MalformedAuthorization),
                "{value:?}"
            );
        }
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
