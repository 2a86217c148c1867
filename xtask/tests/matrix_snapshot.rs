//! The rendered tables, compatibility and fault matrix, are insta snapshots: any change in
//! any cell, for better or worse, fails here until the new snapshot is reviewed
//! (`cargo insta review`).
//!
//! Reads the tables the last `cargo xtask matrix` run wrote (`target/matrix/matrix.txt`,
//! `target/faults/faults.txt`), so a plain `cargo test` skips them as ignored; `cargo xtask
//! test` runs them right after the matrix.

use std::path::Path;

#[test]
#[ignore = "reads the table `cargo xtask matrix` writes: `cargo xtask test` runs it (or `cargo xtask matrix && cargo test -p xtask --test matrix_snapshot -- --ignored`)"]
fn matrix_table_matches_snapshot() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/matrix/matrix.txt");
    let table = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no matrix table at {} ({e}): run `cargo xtask matrix` first",
            path.display()
        )
    });
    insta::assert_snapshot!("compatibility_matrix", table);
}

#[test]
#[ignore = "reads the table `cargo xtask matrix` writes: `cargo xtask test` runs it (or `cargo xtask matrix --faults-only && cargo test -p xtask --test matrix_snapshot -- --ignored`)"]
fn fault_table_matches_snapshot() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/faults/faults.txt");
    let table = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no fault table at {} ({e}): run `cargo xtask matrix` first",
            path.display()
        )
    });
    insta::assert_snapshot!("fault_matrix", table);
}

#[test]
#[ignore = "reads the report `cargo xtask matrix` writes: `cargo xtask test` runs it"]
fn the_report_matches_its_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |p: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(root.join(p))
            .unwrap_or_else(|e| panic!("{p} ({e}): run `cargo xtask matrix` first"));
        serde_json::from_str(&text).unwrap()
    };
    let schema = read("docs/schema/matrix-report.schema.json");
    let report = read("target/matrix/report.json");
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .take(5)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report["schema"], "soup-rpc/matrix-report/v1");
    // Its readers (the bench) take it typed.
    let typed: soup_conformance::outputs::MatrixReport = serde_json::from_value(report).unwrap();
    assert_eq!(typed.cells.len(), typed.summary.total);
}
