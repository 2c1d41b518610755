//! The layer's dependencies run one way (ARCHITECTURE.md): no file of `verifier-middleware/src`
//! imports one that imports it back, directly or around a loop.

use std::path::Path;

use test_support::architecture::import_loops;

#[test]
fn no_module_of_the_layer_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let loops = import_loops(&src);
    assert!(
        loops.is_empty(),
        "import loops in verifier-middleware/src: {loops:?}"
    );
}
