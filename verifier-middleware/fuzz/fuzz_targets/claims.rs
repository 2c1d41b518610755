//! Registered-claim checks (exp, nbf, iat, iss, aud, roles) on a JSON payload.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| verifier_middleware::fuzzing::claims(data));
