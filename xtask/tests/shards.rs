//! `cargo xtask matrix --shard I/N` and `cargo xtask matrix merge`: the real cells of one
//! pairing run whole and in three shards; the merged table and report equal the whole run's.
//!
//! Needs the peers built: `cargo xtask test` runs it.

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
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("running xtask");
    assert!(
        out.status.success(),
        "xtask {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The filtered run's table and its report's cells (id, verdict, cause) in order.
fn partial() -> (String, Vec<(Value, Value, Value)>) {
    let dir = root().join("target/matrix/partial");
    let table = std::fs::read_to_string(dir.join("matrix.txt")).unwrap();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let cells = report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].clone(), c["verdict"].clone(), c["cause"].clone()))
        .collect();
    (table, cells)
}

const PAIRING: [&str; 6] = ["matrix", "--no-build", "--client", "rust", "--server", "go"];

#[test]
#[ignore = "needs the peers: `cargo xtask test` runs it"]
fn three_shards_merged_equal_the_whole_run() {
    xtask(&PAIRING);
    let (whole_table, whole_cells) = partial();
    assert!(whole_cells.len() > 3, "{whole_cells:?}");

    let mut dirs = Vec::new();
    for i in 1..=3 {
        let shard = format!("{i}/3");
        let mut args = PAIRING.to_vec();
        args.extend(["--shard", &shard]);
        xtask(&args);
        dirs.push(format!("target/matrix/shards/{i}-of-3"));
    }
    // In another order than run: the merge orders cells as the definition does.
    let mut merge = vec!["matrix", "merge"];
    merge.extend(dirs.iter().rev().map(String::as_str));
    let out = xtask(&merge);
    let (merged_table, merged_cells) = partial();
    assert_eq!(merged_cells, whole_cells);
    assert_eq!(merged_table, whole_table);
    assert_eq!(String::from_utf8_lossy(&out.stdout), merged_table);

    // Two of three shards: refused, naming the one missing.
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["matrix", "merge", &dirs[0], &dirs[2]])
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("shards 2/3 of 3 are missing"), "{stderr}");
}
