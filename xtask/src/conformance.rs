//! `cargo xtask conformance`: `soup conformance --json` against every plugin we have (soup-server,
//! soup-go on stock go-plugin, the Python peer on pyvider, go-plugin's own KV example plugin,
//! and the terraform-plugin-framework provider), rendered into `docs/conformance.md`: one
//! row per check, one column per plugin, then every fail and warn with what was observed.
//! Fails when soup-server fails or warns on any check, or (with `--check`) when the page
//! verdict table differs from the committed one (the snapshot; observations name pids and times).

use std::fmt::Write as _;
use std::fs;

use anyhow::{Context, Result, bail};
use clap::Args;
use duct::cmd;
use serde_json::Value;

use crate::project_root;

/// Flags of `cargo xtask conformance`.
#[derive(Args, Debug, Default)]
pub struct ConformanceArgs {
    /// Compare with the committed docs/conformance.md instead of writing it.
    #[arg(long)]
    pub check: bool,
}

/// The plugins, as (column name, command relative to the root).
const PLUGINS: &[(&str, &[&str])] = &[
    (
        "soup-server (Rust)",
        &["target/release/soup-server", "server", "--store", "{store}"],
    ),
    (
        "soup-go (go-plugin v1.8.0)",
        &["target/peers/bin/soup-go", "server", "--store", "{store}"],
    ),
    (
        "Python peer (pyvider-rpcplugin 0.5.5)",
        &[
            "target/peers/venv/bin/python",
            "python/peer/soup_peer.py",
            "server",
            "--store",
            "{store}",
        ],
    ),
    (
        "go-plugin's grpc example plugin",
        &["target/go-examples/grpc-plugin-go-grpc"],
    ),
    (
        "terraform-plugin-framework provider",
        &["target/peers/bin/terraform-provider-soupkv"],
    ),
];

/// Runs `cargo xtask conformance`.
pub fn run(args: &ConformanceArgs) -> Result<()> {
    let root = project_root();
    let soup = root.join("target/release/soup");
    if !soup.exists() {
        bail!(
            "{} is missing: run `cargo xtask peers` first",
            soup.display()
        );
    }
    let store = tempfile::tempdir()?;
    let mut reports = Vec::new();
    for (name, argv) in PLUGINS {
        let argv: Vec<String> = argv
            .iter()
            .map(|a| a.replace("{store}", &store.path().display().to_string()))
            .collect();
        if !root.join(&argv[0]).exists() {
            bail!(
                "{} is missing: run `cargo xtask peers` and `cargo xtask examples`",
                argv[0]
            );
        }
        eprintln!(
            "conformance: {name}: soup conformance -- {}",
            argv.join(" ")
        );
        let out = cmd(
            &soup,
            ["conformance", "--json", "--"]
                .iter()
                .map(|s| s.to_string())
                .chain(argv),
        )
        .dir(&root)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()?;
        let report: Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "soup conformance on {name} printed no JSON report ({}); its stderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        eprintln!(
            "conformance: {name}: {} pass, {} fail, {} warn, {} skip",
            report["summary"]["pass"],
            report["summary"]["fail"],
            report["summary"]["warn"],
            report["summary"]["skip"]
        );
        reports.push((*name, report));
    }
    let page = render(&reports);
    let path = root.join("docs/conformance.md");
    if args.check {
        // The verdict table is the snapshot; the observations below it name pids and times.
        let table = |p: &str| {
            p.lines()
                .filter(|l| l.starts_with('|'))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let committed = fs::read_to_string(&path).unwrap_or_default();
        if table(&committed) != table(&page) {
            bail!(
                "docs/conformance.md differs from this run's verdicts: review the change and run `cargo xtask conformance` to rewrite it"
            );
        }
    } else {
        fs::write(&path, &page)?;
        eprintln!("conformance: wrote docs/conformance.md");
    }
    let ours = &reports[0].1;
    let bad: Vec<String> = ours["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] != "pass")
        .map(|c| {
            format!(
                "{}: {} ({})",
                c["id"].as_str().unwrap_or("?"),
                c["status"],
                c["observed"]
            )
        })
        .collect();
    if !bad.is_empty() {
        bail!(
            "soup-server does not pass every check:\n  {}",
            bad.join("\n  ")
        );
    }
    Ok(())
}

fn mark(status: &str) -> &'static str {
    match status {
        "pass" => "✓ pass",
        "fail" => "✗ **fail**",
        "warn" => "⚠ warn",
        "skip" => "– skip",
        _ => "?",
    }
}

fn render(reports: &[(&str, Value)]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# go-plugin conformance\n");
    let _ = writeln!(
        s,
        "Generated by `cargo xtask conformance` (`soup conformance --json` against each plugin) — do not edit by hand; \
         `cargo xtask test` runs it and fails unless soup-server passes every check. Verdicts are of one run on a \
         shared 2-core machine: `shutdown` is a 2 s deadline, which a slow plugin can miss under load. Each check compares what the plugin did with go-plugin's \
         reference behaviour (v1.8.0): **fail** breaks what go-plugin hosts rely on, **warn** works but differs from \
         go-plugin or shares a known go-plugin wart, **skip** does not apply. Run it on your own plugin with \
         `soup conformance -- ./your-plugin` (`--json`, `--junit FILE`).\n"
    );
    let _ = write!(s, "| check |");
    for (name, _) in reports {
        let _ = write!(s, " {name} |");
    }
    let _ = writeln!(s);
    let _ = write!(s, "| --- |");
    for _ in reports {
        let _ = write!(s, " --- |");
    }
    let _ = writeln!(s);
    let ids: Vec<String> = reports[0].1["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    for id in &ids {
        let _ = write!(s, "| `{id}` |");
        for (_, r) in reports {
            let st = r["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["id"] == id.as_str())
                .and_then(|c| c["status"].as_str())
                .unwrap_or("");
            let _ = write!(s, " {} |", mark(st));
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "\n## What was observed where a plugin differs from go-plugin\n"
    );
    for (name, r) in reports {
        let notes: Vec<&Value> = r["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["status"] == "fail" || c["status"] == "warn")
            .collect();
        if notes.is_empty() {
            continue;
        }
        let _ = writeln!(s, "**{name}**\n");
        for c in notes {
            let _ = writeln!(
                s,
                "- `{}` ({}): {}. Reference: {}.",
                c["id"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
                c["observed"].as_str().unwrap_or(""),
                c["reference"].as_str().unwrap_or("")
            );
        }
        let _ = writeln!(s);
    }
    s
}
