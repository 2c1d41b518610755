//! Taking a compact JWS apart, strictly, before any key is touched.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;

use crate::build_error::{BuildError, Setting};
use crate::json::{self, Field};
use crate::rejection::InvalidToken;

/// The default cap on a token's length, checked before any parsing.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The smallest cap accepted: shorter than any signed token.
const MIN_MAX_TOKEN_BYTES: usize = 64;

/// The longest `kid` accepted; real ones are a few dozen characters.
const MAX_KID_BYTES: usize = 256;

/// The cap on a token's length: the one configured (at least 64 bytes) or the default.
pub(crate) fn max_token_bytes(configured: Option<usize>) -> Result<usize, BuildError> {
    let max_bytes = configured.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
    Setting::MaxTokenBytes.require(max_bytes >= MIN_MAX_TOKEN_BYTES, "at least 64 bytes")?;
    Ok(max_bytes)
}

/// A token split into its parts, with the header checked.
#[derive(Debug)]
pub(crate) struct ParsedToken<'a> {
    /// `BASE64URL(header) '.' BASE64URL(payload)`: the bytes the signature covers.
    pub(crate) signing_input: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) signature: &'a str,
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
}

/// Splits and checks a compact JWS: length cap first, exactly three non-empty segments,
/// canonical base64url, a header object without duplicate keys whose `alg` is a known signing
/// algorithm (never `none`), no `crit`, no refresh `typ`. `jku`, `x5u`, `jwk` and `x5c` are
/// ignored: keys only ever come from the configured source.
pub(crate) fn parse(token: &str, max_bytes: usize) -> Result<ParsedToken<'_>, InvalidToken> {
    if token.len() > max_bytes {
        return Err(InvalidToken::TooLong);
    }
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(InvalidToken::NotCompactJws);
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(InvalidToken::NotCompactJws);
    }
    let header = decode_text(header).ok_or(InvalidToken::MalformedHeader)?;
    let [alg, crit, typ, kid] = json::fields(&header, ["alg", "crit", "typ", "kid"])
        .map_err(|_| InvalidToken::MalformedHeader)?;
    let alg = match alg {
        Some(Field::Str(alg)) => parse_algorithm(&alg)?,
        _ => return Err(InvalidToken::MalformedHeader),
    };
    if crit.is_some() {
        return Err(InvalidToken::UnsupportedCritical);
    }
    match typ {
        None => {}
        Some(Field::Str(typ)) if is_refresh_type(&typ) => return Err(InvalidToken::RefreshToken),
        Some(Field::Str(_)) => {}
        Some(_) => return Err(InvalidToken::MalformedHeader),
    }
    let kid = match kid {
        None => None,
        Some(Field::Str(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_BYTES => {
            Some(kid.into_owned())
        }
        Some(_) => return Err(InvalidToken::MalformedHeader),
    };
    Ok(ParsedToken {
        signing_input: &token[..token.len() - signature.len() - 1],
        payload,
        signature,
        alg,
        kid,
    })
}

/// Decodes the payload segment into its JSON text; the claims' own parse checks that it is one
/// object without duplicate keys.
pub(crate) fn decode_payload(payload: &str) -> Result<String, InvalidToken> {
    decode_text(payload).ok_or(InvalidToken::MalformedClaims)
}

/// A segment's text: canonical base64url (no padding, no stray bits) of UTF-8.
fn decode_text(segment: &str) -> Option<String> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(segment).ok()?).ok()
}

/// Only the exact JOSE names of signing algorithms; `none` in any spelling is refused here, and
/// whether a known algorithm is accepted is decided by the key source.
fn parse_algorithm(alg: &str) -> Result<Algorithm, InvalidToken> {
    if alg.eq_ignore_ascii_case("none") {
        return Err(InvalidToken::AlgorithmNotAllowed);
    }
    Algorithm::from_str(alg).map_err(|_| InvalidToken::AlgorithmNotAllowed)
}

/// `typ` values that mark a refresh token: `refresh`, `rt+jwt`, `application/refresh+jwt`...
fn is_refresh_type(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    typ.starts_with("refresh") || typ.starts_with("rt+")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    fn parse_header(header: &str) -> Result<ParsedToken<'static>, InvalidToken> {
        let token = Box::leak(token(header, "{}").into_boxed_str());
        parse(token, DEFAULT_MAX_TOKEN_BYTES)
    }

    #[test]
    fn a_length_cap_under_64_bytes_is_refused() {
        assert_eq!(
            max_token_bytes(Some(63)),
            Err(BuildError::invalid(
                Setting::MaxTokenBytes,
                "at least 64 bytes"
            ))
        );
        assert_eq!(max_token_bytes(Some(64)), Ok(64));
        assert_eq!(max_token_bytes(None), Ok(DEFAULT_MAX_TOKEN_BYTES));
    }

    #[test]
    fn a_well_formed_token_is_split_at_the_last_dot() {
        let text = token(r#"{"alg":"RS256","kid":"k1"}"#, r#"{"sub":"a"}"#);

        let parsed = parse(&text, DEFAULT_MAX_TOKEN_BYTES).unwrap();

        assert_eq!(parsed.alg, Algorithm::RS256);
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
        assert_eq!(parsed.signature, "c2ln");
        assert_eq!(format!("{}.c2ln", parsed.signing_input), text);
    }

    #[test]
    fn a_token_over_the_cap_is_refused_before_parsing() {
        assert_eq!(
            parse(&"a".repeat(101), 100).unwrap_err(),
            InvalidToken::TooLong
        );
    }

    #[test]
    fn anything_but_three_non_empty_segments_is_not_a_compact_jws() {
        let header = b64(r#"{"alg":"RS256"}"#);
        for text in [
            format!("{header}.e30"),
            format!("{header}.e30.c2ln.c2ln"),
            format!("{header}.e30."),
            format!("{header}..c2ln"),
            ".e30.c2ln".to_owned(),
            String::new(),
        ] {
            assert_eq!(
                parse(&text, DEFAULT_MAX_TOKEN_BYTES).unwrap_err(),
                InvalidToken::NotCompactJws,
                "{text}"
            );
        }
    }

    #[test]
    fn none_is_refused_in_every_spelling() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            assert_eq!(
                parse_header(&format!(r#"{{"alg":"{alg}"}}"#)).unwrap_err(),
                InvalidToken::AlgorithmNotAllowed
            );
        }
    }

    #[test]
    fn an_unknown_or_misspelt_algorithm_is_refused() {
        for alg in ["rs256", "RS256 ", "XS256", ""] {
            assert_eq!(
                parse_header(&format!(r#"{{"alg":"{alg}"}}"#)).unwrap_err(),
                InvalidToken::AlgorithmNotAllowed,
                "{alg}"
            );
        }
    }

    #[test]
    fn a_header_without_a_string_alg_is_malformed() {
        for header in [
            r#"{}"#,
            r#"{"alg":256}"#,
            r#"{"alg":null}"#,
            r#"["RS256"]"#,
            "x",
        ] {
            assert_eq!(
                parse_header(header).unwrap_err(),
                InvalidToken::MalformedHeader,
                "{header}"
            );
        }
    }

    #[test]
    fn duplicate_header_keys_are_refused() {
        assert_eq!(
            parse_header(r#"{"alg":"RS256","alg":"HS256"}"#).unwrap_err(),
            InvalidToken::MalformedHeader
        );
    }

    #[test]
    fn any_crit_is_refused() {
        assert_eq!(
            parse_header(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#).unwrap_err(),
            InvalidToken::UnsupportedCritical
        );
    }

    #[test]
    fn a_refresh_typ_is_refused_and_access_types_pass() {
        for typ in ["refresh", "rt+jwt", "application/refresh+jwt", "Refresh"] {
            assert_eq!(
                parse_header(&format!(r#"{{"alg":"RS256","typ":"{typ}"}}"#)).unwrap_err(),
                InvalidToken::RefreshToken,
                "{typ}"
            );
        }
        for typ in ["JWT", "at+jwt", "application/at+jwt"] {
            assert!(parse_header(&format!(r#"{{"alg":"RS256","typ":"{typ}"}}"#)).is_ok());
        }
    }

    #[test]
    fn a_kid_must_be_a_short_non_empty_string() {
        for header in [
            r#"{"alg":"RS256","kid":""}"#.to_owned(),
            r#"{"alg":"RS256","kid":7}"#.to_owned(),
            format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(257)),
        ] {
            assert_eq!(
                parse_header(&header).unwrap_err(),
                InvalidToken::MalformedHeader
            );
        }
    }

    #[test]
    fn key_bearing_headers_are_ignored() {
        let parsed = parse_header(
            r#"{"alg":"RS256","jku":"http://evil","x5u":"http://evil","jwk":{"kty":"oct"},"x5c":["AA"]}"#,
        )
        .unwrap();

        assert_eq!(parsed.kid, None);
    }

    #[test]
    fn padded_or_non_canonical_base64_is_refused() {
        let header = b64(r#"{"alg":"RS256"}"#);
        // "e30" is "{}"; "e31" decodes to the same bytes with non-zero trailing bits.
        assert!(parse(&format!("{header}.e30.c2ln"), DEFAULT_MAX_TOKEN_BYTES).is_ok());
        assert_eq!(
            parse(&format!("{header}=.e30.c2ln"), DEFAULT_MAX_TOKEN_BYTES).unwrap_err(),
            InvalidToken::MalformedHeader
        );
        assert_eq!(
            decode_payload("e31").unwrap_err(),
            InvalidToken::MalformedClaims
        );
    }
}
