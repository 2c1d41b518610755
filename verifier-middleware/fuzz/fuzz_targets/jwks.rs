//! Reading a downloaded JWKS document into RSA, EC (P-256, P-384) and Ed25519 verifying keys.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| verifier_middleware::fuzzing::jwks(data));
