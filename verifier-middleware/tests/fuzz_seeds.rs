//! Replays the committed fuzz seeds (`fuzz/seeds/<target>/`) through the fuzz entry points on
//! stable, so every `cargo test` exercises them without nightly or cargo-fuzz. A seed that
//! panics fails here; a seed directory that moved or emptied fails too.

use std::fs;
use std::path::PathBuf;

use verifier_middleware::fuzzing;

/// Runs every seed of `target` through `entry_point`; panics if the directory is missing or empty.
fn replay_seeds(target: &str, entry_point: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("seed directory {} unreadable: {error}", dir.display()));
    let mut replayed = 0;
    for entry in entries {
        let path = entry.expect("seed directory entry").path();
        let data = fs::read(&path)
            .unwrap_or_else(|error| panic!("seed {} unreadable: {error}", path.display()));
        entry_point(&data);
        replayed += 1;
    }
    assert!(replayed > 0, "no seeds in {}", dir.display());
}

#[test]
fn every_authorization_header_seed_is_handled_without_panicking() {
    replay_seeds("authorization_header", fuzzing::authorization_header);
}

#[test]
fn every_token_seed_is_handled_without_panicking() {
    replay_seeds("token", fuzzing::token);
}

#[test]
fn every_claims_seed_is_handled_without_panicking() {
    replay_seeds("claims", fuzzing::claims);
}

#[test]
fn every_jwks_seed_is_handled_without_panicking() {
    replay_seeds("jwks", fuzzing::jwks);
}

#[test]
fn every_discovery_seed_is_handled_without_panicking() {
    replay_seeds("discovery", fuzzing::discovery);
}

#[test]
fn every_verify_seed_is_handled_and_the_genuine_seed_token_passes() {
    replay_seeds("verify", |data| {
        fuzzing::verify(data);
    });
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/verify");
    let genuine = fs::read(dir.join("rs256-at-jwt")).expect("the genuine seed");
    assert!(
        fuzzing::verify(&genuine),
        "the seed token reaches the end of the path"
    );
    let forged = fs::read(dir.join("alg-none")).expect("the alg none seed");
    assert!(!fuzzing::verify(&forged));
}
