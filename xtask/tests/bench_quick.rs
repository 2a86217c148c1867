//! `cargo xtask bench --quick` on one pairing (Rust host ↔ Rust plugin, both TLS configs,
//! in the grid and in the brokered round trip section) emits a report that matches
//! `xtask/bench-report.schema.json`. No timing is asserted.
//!
//! Uses the release binaries `cargo xtask peers` builds (a nested `cargo build` would wait
//! forever on the lock this `cargo test` holds), so a plain `cargo test` skips it as ignored;
//! `cargo xtask test` runs it once the peers are built. When they are missing it fails saying so.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
#[ignore = "needs the release peers: `cargo xtask test` runs it (or `cargo xtask peers && cargo test -p xtask --test bench_quick -- --ignored`)"]
fn quick_bench_report_matches_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    for bin in [
        "target/release/soup",
        "target/release/soup-server",
        "target/release/soup-bench-broker",
    ] {
        assert!(
            root.join(bin).exists(),
            "{bin} is missing: build it with `cargo xtask peers` (or `cargo build --release -p soup-cli -p soup-server -p soup-bench-broker`) before `cargo test`"
        );
    }
    let out = root.join(format!("target/bench/test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "bench",
            "--quick",
            "--pairing",
            "rust:rust",
            "--no-build",
            "--out",
        ])
        .arg(&out)
        .current_dir(&root)
        .output()
        .expect("running xtask bench");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "xtask bench failed:\n{stderr}");

    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("bench.json")).unwrap()).unwrap();
    let schema: Value = serde_json::from_slice(
        &std::fs::read(root.join("xtask/bench-report.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match the schema:\n{}",
        errors.join("\n")
    );

    // The one pairing ran in both configurations plus its declared variants (tcp, P-521;
    // nothing silently skipped), and the table and docs page were written beside the JSON.
    let pairings = report["pairings"].as_array().unwrap();
    let names: Vec<&str> = pairings
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "rust:rust/auto",
            "rust:rust/auto-tcp",
            "rust:rust/auto-p521",
            "rust:rust/auto-p521-tcp",
            "rust:rust/off"
        ]
    );
    for p in pairings {
        assert_eq!(p["status"], "ok", "{}: {}", p["name"], p["why"]);
        assert_eq!(p["runs"].as_array().unwrap().len(), 1);
    }
    // The broker section: Rust ↔ Rust in each of its configurations, both patterns.
    let brokered = report["broker"]["pairings"]
        .as_array()
        .expect("a broker section");
    let names: Vec<&str> = brokered
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "rust:rust/auto",
            "rust:rust/off",
            "rust:rust/auto-mux",
            "rust:rust/off-mux",
            "rust:rust/auto-p521"
        ]
    );
    for p in brokered {
        assert_eq!(p["status"], "ok", "{}: {}", p["name"], p["why"]);
        assert_eq!(p["runs"].as_array().unwrap().len(), 1);
        for f in ["steady_p50_us", "per_call_p50_us", "get_p50_us"] {
            assert!(p["figures"][f]["median"].as_f64().unwrap() > 0.0, "{f}");
        }
    }
    let table = String::from_utf8_lossy(&run.stdout);
    assert!(
        table.contains("rust:rust/auto") && table.contains("rust:rust/off"),
        "{table}"
    );
    assert!(table.contains("brokered round trip"), "{table}");
    for f in [
        "bench.txt",
        "benchmarks.md",
        "cold-start.svg",
        "get-latency.svg",
        "broker-steady.svg",
        "broker-per-call.svg",
    ] {
        assert!(out.join(f).exists(), "{f} not written");
    }
    let _ = std::fs::remove_dir_all(&out);
}
