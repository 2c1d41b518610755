//! Reading a downloaded JWKS document into RS256/PS256 verifying keys.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| verifier_middleware::fuzzing::jwks(data));
