//! `Authorization` header values (one per line, so repeated headers too) -> bearer token.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| verifier_middleware::fuzzing::authorization_header(data));
