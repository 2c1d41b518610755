//! A whole verification as the layer runs it: form, key lookup, signature and claims.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    verifier_middleware::fuzzing::verify(data);
});
