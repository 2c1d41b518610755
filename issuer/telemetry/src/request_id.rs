//! Which request ids a client may choose. The id is repeated in the request's log line, span and
//! Sentry tag and in the response, so an unchecked one would let any client write 8 KiB values,
//! control characters or bytes that are not UTF-8 into every log and report. A client's
//! `x-request-id` is kept only when it is a single value of 1 to [`MAX_REQUEST_ID_BYTES`] bytes
//! of visible ASCII (`0x21..=0x7E`: no space, no control, no obs-text); any other is replaced by
//! a fresh UUID, as for a request without one.

use axum::http::{HeaderMap, HeaderValue};

/// The header that carries the request id, in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest request id kept from a client, in bytes: room for any tracing id format (a UUID
/// is 36, a W3C `traceparent` 55), far below what would bloat a log line.
pub(crate) const MAX_REQUEST_ID_BYTES: usize = 128;

/// The request's id: the client's `x-request-id` when [`keeps_request_id`] accepts it,
/// otherwise a fresh UUID, which then replaces whatever the request carried (handlers read the
/// id the logs show).
pub(crate) fn assign_request_id(headers: &mut HeaderMap) -> HeaderValue {
    if keeps_request_id(headers)
        && let Some(id) = headers.get(REQUEST_ID_HEADER)
    {
        return id.clone();
    }
    let id = fresh_request_id();
    headers.insert(REQUEST_ID_HEADER, id.clone());
    id
}

/// A random (version 4) UUID drawn from the thread's CSPRNG, where tower-http's
/// `MakeRequestUuid` makes one `getrandom` system call per request.
fn fresh_request_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut text = uuid::Uuid::encode_buffer();
    let text = id.hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).expect("a UUID is visible ASCII")
}

/// No `x-request-id` at all (nothing to drop), or exactly one acceptable value. Several values
/// are refused: which one the logs would show and which one the client gets back could differ.
fn keeps_request_id(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(REQUEST_ID_HEADER).iter();
    match (values.next(), values.next()) {
        (None, _) => true,
        (Some(value), None) => is_acceptable(value),
        (Some(_), Some(_)) => false,
    }
}

/// 1 to [`MAX_REQUEST_ID_BYTES`] bytes, each visible ASCII.
fn is_acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=MAX_REQUEST_ID_BYTES).contains(&bytes.len())
        && bytes.iter().all(|byte| (0x21..=0x7E).contains(byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(REQUEST_ID_HEADER, HeaderValue::from_bytes(value).unwrap());
        }
        headers
    }

    #[test]
    fn an_id_of_visible_ascii_up_to_128_bytes_is_kept() {
        let longest = [b'a'; MAX_REQUEST_ID_BYTES];

        assert!(keeps_request_id(&headers(&[b"req-42"])));
        assert!(keeps_request_id(&headers(&[b"!~"])));
        assert!(keeps_request_id(&headers(&[&longest])));
    }

    #[test]
    fn an_id_over_128_bytes_is_dropped() {
        let too_long = [b'a'; MAX_REQUEST_ID_BYTES + 1];

        assert!(!keeps_request_id(&headers(&[&too_long])));
    }

    #[test]
    fn an_id_with_a_space_a_tab_or_a_byte_over_0x7e_is_dropped() {
        // `http` itself refuses the other controls (DEL included) in a header value.
        for value in [&b"req 42"[..], b"req\t42", b"req\x80", b"caf\xc3\xa9"] {
            assert!(!keeps_request_id(&headers(&[value])), "{value:?}");
        }
    }

    #[test]
    fn an_empty_id_is_dropped() {
        assert!(!keeps_request_id(&headers(&[b""])));
    }

    #[test]
    fn two_ids_are_dropped_even_when_each_is_acceptable() {
        assert!(!keeps_request_id(&headers(&[b"req-1", b"req-2"])));
    }

    #[test]
    fn a_made_id_is_a_fresh_version_4_uuid_that_is_kept() {
        let (first, second) = (fresh_request_id(), fresh_request_id());

        let parsed = uuid::Uuid::parse_str(first.to_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(first.len(), 36);
        assert_ne!(first, second);
        assert!(is_acceptable(&first));
    }

    #[test]
    fn an_acceptable_id_is_kept_and_any_other_replaced_by_a_uuid() {
        let mut kept = headers(&[b"req-42"]);
        let mut absent = HeaderMap::new();
        let mut two = headers(&[b"req-1", b"req-2"]);

        assert_eq!(assign_request_id(&mut kept), "req-42");
        for replaced in [&mut absent, &mut two] {
            let id = assign_request_id(replaced);
            assert_eq!(id.len(), 36);
            let values: Vec<_> = replaced.get_all(REQUEST_ID_HEADER).iter().collect();
            assert_eq!(values, [&id]);
        }
    }

    #[test]
    fn a_request_without_an_id_has_nothing_to_drop() {
        assert!(keeps_request_id(&HeaderMap::new()));
    }
}
