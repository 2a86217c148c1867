//! `cargo xtask test`: the project's one test command. Stages, in order: build the peers,
//! `cargo test --workspace` (as a contributor runs it), the README's CLI examples and the quick
//! bench report (ignored by a plain `cargo test`: they need the peers), `go test ./...` of the
//! Go peer and of the Terraform provider (`go/terraform-provider-soupkv`), the Python peer's
//! pytest, the full matrix, go-plugin's examples Go ↔ Rust (`cargo xtask
//! examples`), `soup probe`/`soup call` against every real peer and a Terraform provider and the
//! key log decrypting a tshark capture, `soup conformance` on every plugin (soup-server must pass
//! every check), the matrix snapshot test, and a check that no peer
//! process is left running. Every stage runs even when an earlier one failed (except those
//! that need the peers); the last line is `N passed, N failed`.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Result, bail};
use clap::Args;
use duct::cmd;

use crate::project_root;

/// Flags of `cargo xtask test`.
#[derive(Args, Debug)]
pub struct TestArgs {
    /// Cells run at once by the matrix stage.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
}

/// Runs `cargo xtask test`.
pub fn run(args: &TestArgs) -> Result<()> {
    let root = project_root();
    let before = peer_processes(&root);
    let mut results: Vec<(&str, Result<()>)> = Vec::new();
    let mut stage = |name: &'static str, f: &dyn Fn() -> Result<()>| {
        eprintln!("\n==> {name}");
        let r = f();
        match &r {
            Ok(()) => eprintln!("==> {name}: passed"),
            Err(e) => eprintln!("==> {name}: FAILED: {e:#}"),
        }
        results.push((name, r));
    };

    stage("peers", &|| crate::peers::build(&crate::peers::BUILDABLE));
    stage("cargo test --workspace", &|| {
        status(cmd!("cargo", "test", "--workspace").dir(&root))
    });
    // `#[ignore]`d in a plain `cargo test`: they need the release peers built above.
    stage("README examples, quick bench report", &|| {
        ignored_xtask_tests(&root, &["readme", "bench_quick"])
    });
    // The Terraform provider is a module of its own, which `./...` in `go/` does not reach.
    stage("go test ./...", &|| {
        // Both run, like the stages, so one module's failure does not hide the other's.
        let failed: Vec<String> = ["go", "go/terraform-provider-soupkv"]
            .into_iter()
            .filter_map(|dir| {
                let r = status(cmd!("go", "test", "./...").dir(root.join(dir)));
                r.err().map(|e| format!("in {dir}: {e:#}"))
            })
            .collect();
        if !failed.is_empty() {
            bail!("{}", failed.join("; "));
        }
        Ok(())
    });
    for (name, dir) in [
        ("pytest (python peer)", "python/peer"),
        ("pytest (python binding)", "python/tests"),
    ] {
        stage(name, &|| {
            let python = root.join("target/peers/venv/bin/python");
            let out = cmd!(python, "-m", "pytest", "-q", dir)
                .dir(&root)
                .unchecked()
                .run()?;
            match out.status.code() {
                Some(0) => Ok(()),
                Some(5) => bail!("pytest collected no test under {dir}"),
                code => bail!("pytest exited {code:?}"),
            }
        });
    }
    // In-process: `cargo test --workspace` above may have replaced this very binary.
    stage("cargo xtask matrix", &|| {
        crate::matrix::run(&crate::matrix::MatrixArgs {
            jobs: args.jobs,
            no_build: true,
            ..crate::matrix::MatrixArgs::default()
        })
    });
    stage("cargo xtask examples", &|| {
        crate::examples::run(&crate::examples::ExamplesArgs::default())
    });
    // After the examples stage: the probe test also probes go-plugin's own example plugin.
    stage(
        "soup probe / call / --keylog, matrix --server-cmd on the real peers",
        &|| ignored_xtask_tests(&root, &["probe", "keylog", "server_cmd"]),
    );
    stage(
        "soup conformance on every plugin (cargo xtask conformance)",
        &|| crate::conformance::run(&crate::conformance::ConformanceArgs::default()),
    );
    stage("matrix snapshot", &|| {
        ignored_xtask_tests(&root, &["matrix_snapshot"])
    });
    stage("fuzz (bounded)", &|| fuzz_bounded(&root));
    stage("no peer process left", &|| {
        let left: Vec<String> = peer_processes(&root).difference(&before).cloned().collect();
        if left.is_empty() {
            Ok(())
        } else {
            bail!("still running:\n  {}", left.join("\n  "))
        }
    });

    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    for (name, r) in &results {
        eprintln!("{} {name}", if r.is_ok() { "ok    " } else { "FAILED" });
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    if failed > 0 {
        bail!("{failed} stage(s) failed");
    }
    Ok(())
}

/// Runs xtask's integration tests `tests`, which a plain `cargo test` skips as ignored
/// (they need the peers or the matrix output).
fn ignored_xtask_tests(root: &Path, tests: &[&str]) -> Result<()> {
    let mut argv = vec!["test", "-p", "xtask"];
    for test in tests {
        argv.extend(["--test", test]);
    }
    argv.extend(["--", "--ignored"]);
    status(duct::cmd("cargo", argv).dir(root))
}

/// The cargo-fuzz targets in `fuzz/` (fuzz/README.md).
const FUZZ_TARGETS: [&str; 4] = ["handshake_line", "env_contract", "hclog", "reattach"];

/// Runs each fuzz target for 20 s, installing cargo-fuzz first on a clean machine. An
/// unoptimised build without sanitizer, which compiles in half the time of cargo-fuzz's
/// default; RUSTC_BOOTSTRAP lets stable rustc take its `-Z` flags.
fn fuzz_bounded(root: &Path) -> Result<()> {
    let installed = cmd!("cargo", "fuzz", "--version")
        .stdout_null()
        .stderr_null()
        .unchecked()
        .run()?
        .status
        .success();
    if !installed {
        status(cmd!("cargo", "install", "cargo-fuzz", "--locked"))?;
    }
    let dir = root.join("fuzz");
    // Every target in one cargo build; each run then finds it built.
    status(
        cmd!("cargo", "fuzz", "build", "--dev", "--sanitizer", "none")
            .dir(&dir)
            .env("RUSTC_BOOTSTRAP", "1"),
    )?;
    let failed: Vec<&str> = FUZZ_TARGETS
        .into_iter()
        .filter(|&target| {
            let run = cmd!(
                "cargo",
                "fuzz",
                "run",
                "--dev",
                "--sanitizer",
                "none",
                target,
                "--",
                "-max_total_time=20",
                "-timeout=10"
            );
            status(run.dir(&dir).env("RUSTC_BOOTSTRAP", "1")).is_err()
        })
        .collect();
    if !failed.is_empty() {
        bail!("fuzz target(s) failed: {}", failed.join(", "));
    }
    Ok(())
}

fn status(expr: duct::Expression) -> Result<()> {
    let out = expr.unchecked().run()?;
    if !out.status.success() {
        bail!("exited with {}", out.status);
    }
    Ok(())
}

/// `pid command` of running peer processes started from this tree.
fn peer_processes(root: &Path) -> BTreeSet<String> {
    // Every program a test or the matrix starts: Rust host and plugin (release and the
    // test crate's debug builds), the Go peer, and the Python peers and benches.
    let patterns = [
        root.join("target/release/soup"),
        root.join("target/debug/kv-plugin"),
        root.join("target/debug/misbehaving-plugin"),
        root.join("target/peers/bin/soup-go"),
        root.join("target/release/fault-shim"),
        root.join("python/peer/soup_"),
    ]
    .into_iter()
    .chain(crate::examples::process_patterns(root));
    let mut found = BTreeSet::new();
    for pattern in patterns {
        let out = cmd!("pgrep", "-a", "-f", pattern.display().to_string())
            .unchecked()
            .stderr_null()
            .read()
            .unwrap_or_default();
        found.extend(out.lines().map(str::to_owned));
    }
    found
}
