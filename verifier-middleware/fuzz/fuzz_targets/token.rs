//! Compact JWS splitting, base64url and header checks, then payload decoding (no key needed).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| verifier_middleware::fuzzing::token(data));
