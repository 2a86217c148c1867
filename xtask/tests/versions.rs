//! The version axis on real releases: soup-go built on go-plugin v1.4.8 (its own go.mod,
//! the build-tagged shim for its older API) runs in the matrix under the newest hosts and
//! reports the libraries it was really built with; releases a registry does not serve are
//! refused before anything is built, naming the module or pin.
//!
//! Needs the newest peers built and the registries reachable: `cargo xtask test` runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn xtask(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("running xtask")
}

/// The README's command (section "Across releases").
const RUN: [&str; 13] = [
    "matrix",
    "--versions",
    "go@v1.4.8",
    "--server",
    "go@v1.4.8",
    "--client",
    "rust,go",
    "--tls",
    "off,auto",
    "--key",
    "none,ec-p521",
    "--transport",
    "unix",
];

/// Both matrix tests write target/matrix/partial: one at a time.
static MATRIX: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn partial_cells() -> Vec<(String, String)> {
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("target/matrix/partial/report.json")).unwrap(),
    )
    .unwrap();
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].to_string(), c["verdict"].to_string()))
        .collect()
}

#[test]
#[ignore = "needs the peers and the Go module proxy: `cargo xtask test` runs it"]
fn go_plugin_v1_4_8_is_built_from_its_own_go_mod_and_runs_under_the_newest_hosts() {
    let _one = MATRIX.lock().unwrap_or_else(|e| e.into_inner());
    let out = xtask(&RUN);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        Path::new(&root().join("target/peers/go@v1.4.8/bin/soup-go")).is_file(),
        "built in its own directory: {stderr}"
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("target/matrix/partial/report.json")).unwrap(),
    )
    .unwrap();
    // What the binary says it was built with (its module build information), not the file.
    assert_eq!(
        report["peers"]["go@v1.4.8"]["implementation"],
        "hashicorp/go-plugin v1.4.8, grpc-go v1.27.1",
        "{:#}",
        report["peers"]
    );
    let cells: Vec<(&str, &str)> = report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        cells,
        [
            ("rust-go@v1.4.8-off-unix", "pass"),
            ("rust-go@v1.4.8-auto-ec-p521-unix", "pass"),
            ("go-go@v1.4.8-off-unix", "pass"),
            ("go-go@v1.4.8-auto-ec-p521-unix", "pass"),
        ],
        "{report:#}"
    );
}

#[test]
#[ignore = "needs the peers and the Go module proxy: `cargo xtask test` runs it"]
fn shards_of_a_versions_run_merge_into_it_and_another_definition_is_refused() {
    let _one = MATRIX.lock().unwrap_or_else(|e| e.into_inner());
    let whole = xtask(&RUN);
    assert!(
        whole.status.success(),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    let whole = partial_cells();
    let mut dirs = Vec::new();
    for i in 1..=2 {
        let shard = format!("{i}/2");
        let mut args = RUN.to_vec();
        args.extend(["--no-build", "--shard", &shard]);
        let out = xtask(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dirs.push(format!("target/matrix/shards/{i}-of-2"));
    }
    let mut merge = vec!["matrix", "merge"];
    merge.extend(dirs.iter().map(String::as_str));
    let out = xtask(&merge);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        partial_cells(),
        whole,
        "two shards merged equal the whole run"
    );

    // A shard of the newest-only definition does not merge with a versions shard.
    let out = xtask(&[
        "matrix",
        "--no-build",
        "--client",
        "rust,go",
        "--server",
        "go",
        "--tls",
        "off",
        "--transport",
        "unix",
        "--shard",
        "2/2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = xtask(&["matrix", "merge", &dirs[0], "target/matrix/shards/2-of-2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("definition") || stderr.contains("filters"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs the Go module proxy and PyPI: `cargo xtask test` runs it"]
fn releases_the_registries_do_not_serve_are_named() {
    let dir = root().join("target/versions-test");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let modfile = dir.join("go-plugin@v1.4.99.mod");
    let real = std::fs::read_to_string(root().join("go/versions/go-plugin@v1.4.8.mod")).unwrap();
    std::fs::write(
        &modfile,
        real.replace("go-plugin v1.4.8", "go-plugin v1.4.99"),
    )
    .unwrap();
    std::fs::copy(
        root().join("go/versions/go-plugin@v1.4.8.sum"),
        dir.join("go-plugin@v1.4.99.sum"),
    )
    .unwrap();
    let pins = dir.join("grpcio-1.99.txt");
    std::fs::write(&pins, "pyvider-rpcplugin==0.5.5\ngrpcio==1.99.0\n").unwrap();
    let versions = dir.join("versions.toml");
    std::fs::write(
        &versions,
        format!(
            "[newest]\ngo = 'v1.8.0'\npython = 'pyvider-0.5.5'\n\
             [[release]]\npeer = 'go'\nversion = 'v1.4.99'\nmodfile = '{}'\n\
             [[release]]\npeer = 'python'\nversion = 'grpcio-1.99'\nrequirements = '{}'\n",
            modfile.display(),
            pins.display()
        ),
    )
    .unwrap();
    let file = versions.display().to_string();
    for (release, wanted) in [
        (
            "go@v1.4.99",
            "the Go module proxy does not serve github.com/hashicorp/go-plugin@v1.4.99",
        ),
        (
            "python@grpcio-1.99",
            "PyPI serves no wheel for grpcio==1.99.0",
        ),
    ] {
        let out = xtask(&[
            "peers",
            "--versions-file",
            &file,
            "--versions",
            release,
            "--only",
            "go",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{release}: {stderr}");
        assert!(stderr.contains(wanted), "{release}: {stderr}");
        assert!(
            !stderr.contains("peers: go: go build"),
            "refused before building anything: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
