//! `cargo xtask matrix`'s second table, the fault matrix: reads `xtask/faults.toml`, runs it
//! with soup-conformance's fault engine on the peers of `xtask/matrix.toml`, and writes the
//! table (stdout and `target/faults/faults.txt`, the insta snapshot), `docs/fault-matrix.md`,
//! `target/faults/report.json` and `target/faults/junit.xml`. A run of some faults only
//! (`--fault ID,...`) writes `target/faults/partial/` and leaves the docs alone.

use std::fs;

use anyhow::{Result, bail};
use soup_conformance::faults::{self, FaultOptions, FaultSpec};

/// Runs the fault matrix; `jobs` cells at once; `only`: fault ids (empty: all).
pub fn run(jobs: usize, only: &[String]) -> Result<()> {
    let root = crate::project_root();
    let spec = FaultSpec::parse(&fs::read_to_string(root.join("xtask/faults.toml"))?)?;
    let peers = crate::matrix::peer_argvs(&root)?;
    let shim = root.join("target/release/fault-shim");
    if !shim.exists() {
        bail!(
            "{} does not exist: run `cargo xtask peers` (it builds soup-tests' fault-shim)",
            shim.display()
        );
    }
    let dir = root.join("target/faults");
    let run = faults::run(&FaultOptions {
        root: &root,
        spec: &spec,
        peers: &peers,
        shim: &shim,
        cells_dir: dir.join("cells"),
        jobs,
        only,
    })?;
    let full = only.is_empty();
    let out = if full {
        dir.clone()
    } else {
        dir.join("partial")
    };
    fs::create_dir_all(&out)?;
    let table = faults::render_text(&spec, &run.results);
    fs::write(out.join("faults.txt"), &table)?;
    fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&faults::report_json(&run, jobs)?)?,
    )?;
    fs::write(
        out.join("junit.xml"),
        faults::junit(&spec, &run.results, run.wall)?,
    )?;
    if full {
        fs::write(
            root.join("docs/fault-matrix.md"),
            faults::render_markdown(&spec, &run.results, run.wall, jobs),
        )?;
    }
    print!("{table}");
    eprintln!(
        "\nfaults: {} cells in {:.1} s wall, {jobs} jobs; slowest:",
        run.results.len(),
        run.wall.as_secs_f64()
    );
    for (ms, id) in faults::slowest(&run.results, 5) {
        eprintln!("  {ms:>8.0} ms  {id}");
    }
    eprintln!(
        "faults: wrote {}/{{faults.txt,report.json,junit.xml}}{}",
        out.strip_prefix(&root).unwrap_or(&out).display(),
        if full { ", docs/fault-matrix.md" } else { "" }
    );
    Ok(())
}
