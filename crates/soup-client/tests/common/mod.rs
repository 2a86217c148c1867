//! What the integration tests share.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The real `soup-server` of this workspace: the one built next to this test
/// (`target/<profile>/soup-server`), else `target/release/soup-server`; when neither exists
/// it is built with the cargo running the tests.
pub fn soup_server() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/deadline-HASH
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps");
    let target = profile_dir.parent().expect("target/");
    let candidates = [
        profile_dir.join("soup-server"),
        target.join("release").join("soup-server"),
    ];
    if let Some(found) = candidates.iter().find(|p| p.exists()) {
        return found.clone();
    }
    let mut build = Command::new(env!("CARGO"));
    build.args([
        "build",
        "--quiet",
        "-p",
        "soup-server",
        "--bin",
        "soup-server",
    ]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("running cargo build -p soup-server");
    assert!(status.success(), "cargo build -p soup-server failed");
    assert!(
        candidates[0].exists(),
        "{} was not built",
        candidates[0].display()
    );
    candidates[0].clone()
}
