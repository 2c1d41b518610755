//! Where [`JwtAuthLayer`](super::JwtAuthLayer) finds the token: the `Authorization: Bearer`
//! header (RFC 6750 section 2.1), then the headers and cookies the application names.

use http::HeaderMap;
use http::header::{COOKIE, HeaderName};

use super::bearer::{all_token68, bearer_token};
use crate::rejection::InvalidToken;

/// The token sources beyond `Authorization: Bearer`, in the order they are tried.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenSources {
    headers: Vec<HeaderName>,
    cookies: Vec<String>,
}

impl TokenSources {
    pub(crate) fn add_header(&mut self, name: HeaderName) {
        self.headers.push(name);
    }

    pub(crate) fn add_cookie(&mut self, name: String) {
        self.cookies.push(name);
    }

    /// The request's token. `Authorization: Bearer` comes first; without it, each configured
    /// header, then each configured cookie, in the order they were added. The first source
    /// present decides: a malformed value there is refused, never skipped for the next one.
    /// `Ok(None)`: no source carries a token.
    pub(crate) fn token<'a>(
        &self,
        headers: &'a HeaderMap,
    ) -> Result<Option<&'a str>, InvalidToken> {
        if let Some(token) = bearer_token(headers)? {
            return Ok(Some(token));
        }
        for name in &self.headers {
            if let Some(token) = header_token(headers, name)? {
                return Ok(Some(token));
            }
        }
        for name in &self.cookies {
            if let Some(token) = cookie_token(headers, name)? {
                return Ok(Some(token));
            }
        }
        Ok(None)
    }
}

/// The token in header `name`: its whole value, or `Bearer <token>`. Once, or refused.
fn header_token<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a str>, InvalidToken> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(InvalidToken::MalformedTokenSource);
    }
    let value = value.as_bytes();
    let token = match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => value[7..].trim_ascii_start(),
        _ => value,
    };
    checked(token).map(Some)
}

/// The value of cookie `name` in the request's `Cookie` headers (HTTP/2 may send several),
/// unquoted. Named twice (a second cookie set for another path or a parent domain): refused,
/// since which one the browser meant cannot be told.
fn cookie_token<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, InvalidToken> {
    let mut found = None;
    for header in headers.get_all(COOKIE) {
        for pair in header.as_bytes().split(|&byte| byte == b';') {
            let pair = pair.trim_ascii();
            let Some(equals) = pair.iter().position(|&byte| byte == b'=') else {
                continue;
            };
            if &pair[..equals] != name.as_bytes() {
                continue;
            }
            if found.is_some() {
                return Err(InvalidToken::MalformedTokenSource);
            }
            let value = &pair[equals + 1..];
            let value = value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(value);
            found = Some(value);
        }
    }
    found.map(checked).transpose()
}

/// A non-empty run of `token68` characters, as text.
fn checked(token: &[u8]) -> Result<&str, InvalidToken> {
    if token.is_empty() || !all_token68(token) {
        return Err(InvalidToken::MalformedTokenSource);
    }
    std::str::from_utf8(token).map_err(|_| InvalidToken::MalformedTokenSource)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use http::header::AUTHORIZATION;

    use super::*;

    fn sources() -> TokenSources {
        let mut sources = TokenSources::default();
        sources.add_header(HeaderName::from_static("x-access-token"));
        sources.add_cookie("session".into());
        sources
    }

    fn request(headers: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn authorization_comes_first_then_the_header_then_the_cookie() {
        let all = [
            (AUTHORIZATION.as_str(), "Bearer a.a.a"),
            ("x-access-token", "b.b.b"),
            ("cookie", "theme=dark; session=c.c.c"),
        ];
        assert_eq!(sources().token(&request(&all)), Ok(Some("a.a.a")));
        assert_eq!(sources().token(&request(&all[1..])), Ok(Some("b.b.b")));
        assert_eq!(sources().token(&request(&all[2..])), Ok(Some("c.c.c")));
        assert_eq!(sources().token(&request(&[])), Ok(None));
        // Another scheme in Authorization is no token: the next sources are tried.
        let basic = [("authorization", "Basic dXNlcjpwYXNz"), all[2]];
        assert_eq!(sources().token(&request(&basic)), Ok(Some("c.c.c")));
    }

    #[test]
    fn without_configured_sources_only_authorization_counts() {
        let others = [("x-access-token", "b.b.b"), ("cookie", "session=c.c.c")];
        assert_eq!(TokenSources::default().token(&request(&others)), Ok(None));
    }

    #[test]
    fn the_header_may_carry_the_bare_token_or_bearer_and_the_token() {
        for value in ["b.b.b", "Bearer b.b.b", "bearer   b.b.b"] {
            let headers = request(&[("x-access-token", value)]);
            assert_eq!(sources().token(&headers), Ok(Some("b.b.b")), "{value}");
        }
    }

    #[test]
    fn cookies_are_found_among_others_in_any_cookie_header_and_unquoted() {
        let cases: [&[(&'static str, &'static str)]; 4] = [
            &[("cookie", "session=c.c.c")],
            &[("cookie", "a=1;session=c.c.c;b=2")],
            &[("cookie", "a=1"), ("cookie", "session=c.c.c")],
            &[("cookie", "session=\"c.c.c\"")],
        ];
        for headers in cases {
            assert_eq!(
                sources().token(&request(headers)),
                Ok(Some("c.c.c")),
                "{headers:?}"
            );
        }
        // A cookie whose name only starts or ends like it is another cookie.
        let lookalikes = [("cookie", "session_id=x.x.x; my_session=y.y.y")];
        assert_eq!(sources().token(&request(&lookalikes)), Ok(None));
    }

    #[test]
    fn a_malformed_repeated_or_empty_source_is_refused_not_skipped() {
        let cases: [&[(&'static str, &'static str)]; 6] = [
            &[("x-access-token", "b.b.b"), ("x-access-token", "d.d.d")],
            &[("x-access-token", "b b")],
            &[("x-access-token", ""), ("cookie", "session=c.c.c")],
            &[("cookie", "session=c.c.c; session=d.d.d")],
            &[("cookie", "session=c.c.c"), ("cookie", "session=d.d.d")],
            &[("cookie", "session=")],
        ];
        for headers in cases {
            assert_eq!(
                sources().token(&request(headers)),
                Err(InvalidToken::MalformedTokenSource),
                "{headers:?}"
            );
        }
    }
}
