//! The README's command-line examples, run as they stand (trycmd reads the `console`
//! blocks: each `$` line is run from the workspace root, its output compared with the
//! lines below it). A README that lies fails here.
//!
//! They run the release binaries `cargo xtask peers` builds, so a plain `cargo test` skips
//! this as ignored and `cargo xtask test` runs it once the peers are built.

use std::path::Path;

#[test]
#[ignore = "needs the release peers: `cargo xtask test` runs it (or `cargo xtask peers && cargo test -p xtask --test readme -- --ignored`)"]
fn readme_cli_examples_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for bin in ["target/release/soup", "target/release/soup-server"] {
        assert!(
            root.join(bin).exists(),
            "{bin} is missing: build it with `cargo xtask peers` before this test"
        );
    }
    // The README's paths are relative to the workspace root (this is the binary's only test).
    std::env::set_current_dir(root).unwrap();
    // The examples' plugin keeps its data here, not in the user's data directory.
    let store = tempfile::tempdir().unwrap();
    trycmd::TestCases::new()
        .env("SOUP_KV_STORE", store.path().display().to_string())
        .register_bin("target/release/soup", root.join("target/release/soup"))
        .register_bin(
            "target/release/soup-server",
            root.join("target/release/soup-server"),
        )
        .case(root.join("README.md"));
}
