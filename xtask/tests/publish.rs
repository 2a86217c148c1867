//! The four library crates package for crates.io: `cargo publish --dry-run` of kv-proto,
//! plugin-core, soup-client and soup-server (metadata, readme, license, every file their
//! builds read inside the package, no path-only dependency) succeeds.
//!
//! Here without the verification build (`--no-verify`: it compiles every dependency again,
//! minutes on this machine); the GitHub workflow's `publish` job runs the full dry run.
//! Needs the crates.io index: `cargo xtask test` runs it.

use std::path::Path;
use std::process::Command;

const CRATES: [&str; 4] = ["kv-proto", "plugin-core", "soup-client", "soup-server"];

#[test]
#[ignore = "reads the crates.io index: `cargo xtask test` runs it"]
fn the_library_crates_package_for_crates_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["publish", "--dry-run", "--allow-dirty", "--no-verify"]);
    for c in CRATES {
        cmd.args(["-p", c]);
    }
    let out = cmd.current_dir(root).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo publish --dry-run:\n{stderr}");
    for c in CRATES {
        assert!(stderr.contains(&format!("Packaging {c} v")), "{stderr}");
    }
    assert_eq!(
        stderr.matches("aborting upload due to dry run").count(),
        4,
        "{stderr}"
    );

    // The protos the build scripts compile are inside the packages.
    for (c, files) in [
        ("kv-proto", &["proto/kv.proto"][..]),
        (
            "plugin-core",
            &[
                "proto/grpc_broker.proto",
                "proto/grpc_controller.proto",
                "proto/grpc_stdio.proto",
            ][..],
        ),
    ] {
        let out = Command::new(env!("CARGO"))
            .args(["package", "--list", "--allow-dirty", "-p", c])
            .current_dir(root)
            .output()
            .unwrap();
        let list = String::from_utf8_lossy(&out.stdout);
        for f in files.iter().chain(&["README.md", "build.rs"]) {
            assert!(
                list.lines().any(|l| l == *f),
                "{c} packages no {f}:\n{list}"
            );
        }
    }
}
