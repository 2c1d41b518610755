//! Dependencies run one way (ARCHITECTURE.md): no file of the issuer, its telemetry crate, the
//! test support or the example services imports one that imports it back, directly or around a
//! loop. The layer's own check is in `verifier-middleware/tests/verifier/architecture.rs`.

use std::path::Path;

use test_support::architecture::import_loops;

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for src in [
        "src",
        "telemetry/src",
        "test-support/src",
        "../example-services/src",
    ] {
        let loops = import_loops(&root.join(src));
        assert!(loops.is_empty(), "import loops in issuer/{src}: {loops:?}");
    }
}
