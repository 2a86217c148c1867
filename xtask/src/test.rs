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

use anyhow::{Context, Result, bail};
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
    // A build that runs out of disk fails in whichever stage compiles last, with nothing
    // but cargo's exit status at the end of the log: say the room there was first.
    let free_at_start = free_disk_gib(&root);
    if let Some(gib) = free_at_start {
        eprintln!(
            "cargo xtask test: {gib:.1} GiB free on the disk of {}",
            root.display()
        );
        if gib < MIN_FREE_GIB {
            eprintln!(
                "cargo xtask test: warning: a cold run builds about {MIN_FREE_GIB} GiB under target/ \
                 and fuzz/target/; with {gib:.1} GiB free a late stage may fail for want of disk"
            );
        }
    }
    let before = peer_processes(&root);
    let mut results: Vec<(&str, Result<()>, std::time::Duration)> = Vec::new();
    let mut stage = |name: &'static str, f: &dyn Fn() -> Result<()>| {
        eprintln!("\n==> {name}");
        let started = std::time::Instant::now();
        let r = f();
        match &r {
            Ok(()) => eprintln!("==> {name}: passed"),
            Err(e) => eprintln!("==> {name}: FAILED: {e:#}"),
        }
        results.push((name, r, started.elapsed()));
    };

    stage("peers", &|| crate::peers::build(&crate::peers::BUILDABLE));
    stage("cargo test --workspace", &|| {
        status(cmd!("cargo", "test", "--workspace").dir(&root))
    });
    // `#[ignore]`d in a plain `cargo test`: they need the release peers built above.
    stage("README examples, quick bench report", &|| {
        ignored_xtask_tests(&root, &["readme", "bench_quick"])
    });
    // The Terraform provider and the peer contract's data are modules of their own, which
    // `./...` in `go/` does not reach.
    stage("go test ./...", &|| {
        // All run, like the stages, so one module's failure does not hide another's.
        let failed: Vec<String> = ["go", "go/terraform-provider-soupkv", "peer-contract"]
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
        (
            "pytest (python binding, its wheel in a fresh venv)",
            "python/tests",
        ),
    ] {
        stage(name, &|| {
            let python = if dir == "python/tests" {
                wheel_venv(&root)?
            } else {
                root.join("target/peers/venv/bin/python")
            };
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
        "soup probe / call / --keylog, matrix --server-cmd, --shard and --versions on the real peers, actionlint",
        &|| {
            ignored_xtask_tests(
                &root,
                &[
                    "probe",
                    "keylog",
                    "server_cmd",
                    "shards",
                    "versions",
                    "workflows",
                    "install",
                    "publish",
                ],
            )
        },
    );
    stage(
        "soup conformance on every plugin (cargo xtask conformance)",
        &|| crate::conformance::run(&crate::conformance::ConformanceArgs::default()),
    );
    stage("matrix snapshot", &|| {
        ignored_xtask_tests(&root, &["matrix_snapshot"]).map_err(|e| {
            // insta's diff is far above in the log; name the cells that changed here.
            let changed = [
                (
                    "target/matrix/matrix.txt",
                    "matrix_snapshot__compatibility_matrix.snap",
                ),
                (
                    "target/faults/faults.txt",
                    "matrix_snapshot__fault_matrix.snap",
                ),
            ]
            .into_iter()
            .filter_map(|(table, snap)| {
                snapshot_changes(
                    &root.join(table),
                    &root.join("xtask/tests/snapshots").join(snap),
                )
            })
            .collect::<Vec<_>>();
            if changed.is_empty() {
                e
            } else {
                anyhow::anyhow!("{e}\n{}", changed.join("\n"))
            }
        })
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

    let failed = results.iter().filter(|(_, r, _)| r.is_err()).count();
    // The summary is what a truncated CI log still shows: each stage's time, each
    // failure with its reason.
    for (name, r, took) in &results {
        let took = format!("{:>4}s", took.as_secs());
        match r {
            Ok(()) => eprintln!("ok     {took}  {name}"),
            Err(e) => eprintln!(
                "FAILED {took}  {name}: {}",
                indent_after_first(&format!("{e:#}"))
            ),
        }
    }
    if failed > 0
        && let Some(gib) = free_disk_gib(&root)
    {
        eprintln!(
            "disk: {gib:.1} GiB free now ({} at the start)",
            free_at_start.map_or("unknown".into(), |g| format!("{g:.1} GiB"))
        );
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

/// Runs each fuzz target for 12 s, installing cargo-fuzz first on a clean machine. An
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
    status_with_tail(
        cmd!("cargo", "fuzz", "build", "--dev", "--sanitizer", "none")
            .dir(&dir)
            .env("RUSTC_BOOTSTRAP", "1"),
    )
    .context("cargo fuzz build")?;
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
                "-max_total_time=12",
                "-timeout=10"
            );
            match status_with_tail(run.dir(&dir).env("RUSTC_BOOTSTRAP", "1")) {
                Ok(()) => false,
                Err(e) => {
                    eprintln!("fuzz target {target}: {e:#}");
                    true
                }
            }
        })
        .collect();
    if !failed.is_empty() {
        bail!("fuzz target(s) failed: {}", failed.join(", "));
    }
    Ok(())
}

/// A new venv, `target/wheel-venv`, with the binding's built wheel (not the source tree)
/// and the pinned peer requirements the binding's tests use; returns its python.
fn wheel_venv(root: &Path) -> Result<std::path::PathBuf> {
    let wheel = crate::peers::built_wheel(root)?;
    let venv = root.join("target/wheel-venv");
    if venv.exists() {
        std::fs::remove_dir_all(&venv)?;
    }
    status(cmd!("python3", "-m", "venv", &venv)).context("python3 -m venv target/wheel-venv")?;
    let python = venv.join("bin/python");
    status(
        cmd!(
            &python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "-r",
            root.join("python/peer/requirements.txt"),
            &wheel
        )
        .dir(root),
    )
    .with_context(|| format!("installing {} into target/wheel-venv", wheel.display()))?;
    // The tests must import the installed wheel, never python/soup_rpc.
    let imported = cmd!(
        &python,
        "-c",
        "import soup_rpc._native as n; print(n.__file__)"
    )
    .dir(root)
    .read()?;
    if !imported.starts_with(&venv.display().to_string()) {
        bail!("target/wheel-venv imports soup_rpc from {imported}, not from the installed wheel");
    }
    Ok(python)
}

/// Free space below which `cargo xtask test` warns: about what a cold run writes.
const MIN_FREE_GIB: f64 = 20.0;

/// GiB free on the filesystem holding `path`.
fn free_disk_gib(path: &Path) -> Option<f64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `st` is written by statvfs before it is read.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    Some(st.f_bavail as f64 * st.f_frsize as f64 / (1u64 << 30) as f64)
}

/// Lines after the first indented, so a multi-line reason reads as one summary entry.
fn indent_after_first(text: &str) -> String {
    text.lines().collect::<Vec<_>>().join("\n       ")
}

/// The rows of `table` that differ from the snapshot `snap` (insta's header stripped), or
/// None when they agree or either is missing.
fn snapshot_changes(table_path: &Path, snap_path: &Path) -> Option<String> {
    let table = std::fs::read_to_string(table_path).ok()?;
    let snap = std::fs::read_to_string(snap_path).ok()?;
    // An insta snapshot: a `---` front-matter block, then the text.
    let body = snap.splitn(3, "---\n").nth(2)?;
    let (new, old): (Vec<&str>, Vec<&str>) = (table.lines().collect(), body.lines().collect());
    let removed: Vec<&str> = old.iter().filter(|l| !new.contains(l)).copied().collect();
    let added: Vec<&str> = new.iter().filter(|l| !old.contains(l)).copied().collect();
    if removed.is_empty() && added.is_empty() {
        return None;
    }
    let mut out = format!(
        "{} differs from {} (- snapshot, + this run):",
        table_path.display(),
        snap_path.file_name()?.to_string_lossy()
    );
    for l in removed.iter().take(15) {
        out.push_str(&format!("\n  - {l}"));
    }
    for l in added.iter().take(15) {
        out.push_str(&format!("\n  + {l}"));
    }
    Some(out)
}

/// Like [`status`], but stderr is captured and, on failure, its last lines are the
/// error (the command's own reason, which a bare exit status does not give).
fn status_with_tail(expr: duct::Expression) -> Result<()> {
    let out = expr.stderr_capture().unchecked().run()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    if !out.status.success() {
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(12)..].join("\n");
        bail!("exited with {}; its stderr ended:\n{tail}", out.status);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_changes_names_the_rows_that_moved() {
        let dir = tempfile::tempdir().unwrap();
        let (table, snap) = (dir.path().join("faults.txt"), dir.path().join("x.snap"));
        std::fs::write(
            &snap,
            "---\nsource: xtask/tests/matrix_snapshot.rs\nexpression: table\n---\nhead\na ok\nb ok\n",
        )
        .unwrap();
        std::fs::write(&table, "head\na ok\nb timeout\n").unwrap();
        let got = snapshot_changes(&table, &snap).unwrap();
        assert!(got.contains("\n  - b ok"), "{got}");
        assert!(got.contains("\n  + b timeout"), "{got}");
        assert!(!got.contains("a ok"), "{got}");

        std::fs::write(&table, "head\na ok\nb ok\n").unwrap();
        assert_eq!(snapshot_changes(&table, &snap), None);
    }

    #[test]
    fn a_failed_command_reports_the_end_of_its_stderr() {
        let e = status_with_tail(duct::cmd!(
            "sh",
            "-c",
            "echo first >&2; echo why >&2; exit 3"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("exit status: 3"), "{e}");
        assert!(e.ends_with("first\nwhy"), "{e}");
    }
}
