//! Reading an OpenID discovery document: the issuer compared exactly, the jwks_uri parsed.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| verifier_middleware::fuzzing::discovery(data));
