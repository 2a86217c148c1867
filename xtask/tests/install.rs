//! The README's install line for the `soup` command, `cargo install --locked --path
//! crates/soup-cli`, gives a working `soup` that answers from the matrix recorded into it.
//!
//! Installs into a temporary root, building in the workspace's `target/` (the release
//! build `cargo xtask peers` made), so it takes seconds: `cargo xtask test` runs it.

use std::path::Path;
use std::process::Command;

#[test]
#[ignore = "reuses the release build of `cargo xtask peers`: `cargo xtask test` runs it"]
fn cargo_install_gives_a_soup_that_answers_from_its_recorded_matrix() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["install", "--locked", "--path", "crates/soup-cli", "--root"])
        .arg(dest.path())
        .arg("--target-dir")
        .arg(root.join("target"))
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let soup = dest.path().join("bin/soup");
    // Away from the checkout: the answers are inside the binary.
    let out = Command::new(&soup)
        .args([
            "validate", "--client", "rust", "--server", "go", "--tls", "auto", "--key", "P-521",
        ])
        .current_dir(dest.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("rust → go  tls=auto key=ec-p521 transport=unix: PASS")
            && stdout.contains("built into soup"),
        "{stdout}"
    );
}
