//! `cargo xtask bench`: host ↔ plugin figures measured side by side in one run, reported
//! as ratios against go-plugin's Go host ↔ Go plugin measured in the same run (this
//! machine is shared and noisy: only ratios from one run mean anything).
//!
//! Each host peer has a `bench` subcommand that prints one JSON object (cold start
//! spawn → handshake → TLS → first Get, Get latency at 1 in flight, Gets/s at N in
//! flight); this module runs the pairings interleaved (A B A B …), repeats them, and
//! reports min/median/max of the repetitions. No timing is ever asserted.

use std::fmt::Write as _;
use std::fs;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::{peers, project_root};

/// Flags of `cargo xtask bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A short run (fewer launches and calls; figures are rougher).
    #[arg(long)]
    pub quick: bool,
    /// Only these pairings (comma list of names shown in the table, e.g. rust:rust/unix).
    #[arg(long, value_delimiter = ',')]
    pub pairing: Vec<String>,
    /// Repetitions of the whole interleaved set.
    #[arg(long)]
    pub reps: Option<usize>,
    /// Don't build the peers first.
    #[arg(long)]
    pub no_build: bool,
}

/// One measured pairing: a host's bench command and the plugin command it launches.
struct Pairing {
    name: &'static str,
    host: Vec<String>,
    plugin: Vec<String>,
}

fn pairings(store: &str) -> Vec<Pairing> {
    let soup = |args: &[&str]| -> Vec<String> {
        let mut v = vec!["target/release/soup".to_string(), "bench".into()];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };
    let server = |args: &[&str]| -> Vec<String> {
        let mut v = vec!["target/release/soup-server".to_string(), "server".into()];
        v.extend(args.iter().map(|s| s.to_string()));
        v.extend(["--store".to_string(), store.to_string()]);
        v
    };
    vec![
        Pairing {
            name: "go:go/unix p521",
            host: vec![
                "target/peers/bin/soup-go".into(),
                "bench".into(),
                "--tls".into(),
                "auto".into(),
                "--key".into(),
                "ec-p521".into(),
            ],
            plugin: vec![
                "target/peers/bin/soup-go".into(),
                "server".into(),
                "--store".into(),
                store.into(),
            ],
        },
        Pairing {
            name: "rust:rust/unix",
            host: soup(&["--transport", "unix"]),
            plugin: server(&["--transport", "unix"]),
        },
        Pairing {
            name: "rust:rust/tcp",
            host: soup(&["--transport", "tcp"]),
            plugin: server(&["--transport", "tcp"]),
        },
        Pairing {
            name: "rust:rust/unix p521",
            host: soup(&["--transport", "unix", "--key", "ec-p521"]),
            plugin: server(&["--transport", "unix", "--key", "ec-p521"]),
        },
        Pairing {
            name: "rust:rust/tcp p521",
            host: soup(&["--transport", "tcp", "--key", "ec-p521"]),
            plugin: server(&["--transport", "tcp", "--key", "ec-p521"]),
        },
    ]
}

/// The figures compared, as (label, JSON pointer, lower is better).
const FIGURES: [(&str, &str, bool); 4] = [
    ("cold start p50 ms", "/cold_start_ms/p50", true),
    ("Get p50 µs", "/get_latency_us/p50", true),
    ("Get p99 µs", "/get_latency_us/p99", true),
    ("Gets/s @64", "/ops_per_sec", false),
];

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `cargo xtask bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let root = project_root();
    if !args.no_build {
        peers::build(&["rust", "go"])?;
    }
    let dir = root.join("target/bench");
    fs::create_dir_all(&dir)?;
    let store = dir.join("store");
    let store = store.display().to_string();
    let mut chosen = pairings(&store);
    if !args.pairing.is_empty() {
        chosen.retain(|p| args.pairing.iter().any(|f| f == p.name));
        if chosen.is_empty() {
            bail!("no pairing matches {:?}", args.pairing);
        }
    }
    let (launches, gets, duration, reps) = if args.quick {
        ("5", "500", "0.5", args.reps.unwrap_or(1))
    } else {
        ("20", "5000", "3", args.reps.unwrap_or(3))
    };
    let load = [
        "--launches",
        launches,
        "--gets",
        gets,
        "--concurrency",
        "64",
        "--duration",
        duration,
    ];

    let mut runs: Vec<Vec<Value>> = chosen.iter().map(|_| Vec::new()).collect();
    for rep in 0..reps {
        for (i, p) in chosen.iter().enumerate() {
            eprintln!("bench: rep {}/{reps}: {}", rep + 1, p.name);
            let mut argv: Vec<String> = p.host.clone();
            argv.extend(load.iter().map(|s| s.to_string()));
            argv.push("--".into());
            argv.extend(p.plugin.iter().cloned());
            let argv: Vec<String> = argv
                .into_iter()
                .map(|a| {
                    if a.starts_with("target/") {
                        root.join(a).display().to_string()
                    } else {
                        a
                    }
                })
                .collect();
            let out = duct::cmd(&argv[0], &argv[1..])
                .dir(&root)
                .stdout_capture()
                .stderr_capture()
                .unchecked()
                .run()
                .with_context(|| format!("running {}", argv[0]))?;
            if !out.status.success() {
                bail!(
                    "{} failed ({}): {}",
                    p.name,
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let v: Value = serde_json::from_slice(&out.stdout)
                .with_context(|| format!("{}: bench output is not JSON", p.name))?;
            runs[i].push(v);
        }
    }

    let mut summary = Vec::new();
    for (p, rs) in chosen.iter().zip(&runs) {
        let mut figs = serde_json::Map::new();
        for (label, ptr, _) in FIGURES {
            let mut vals: Vec<f64> = rs.iter().filter_map(|r| r.pointer(ptr)?.as_f64()).collect();
            if vals.is_empty() {
                continue;
            }
            let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
            let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            figs.insert(
                label.into(),
                json!({"min": min, "median": median(&mut vals), "max": max}),
            );
        }
        summary.push(json!({"pairing": p.name, "figures": figs, "runs": rs}));
    }

    let baseline = summary
        .iter()
        .find(|s| s["pairing"] == "go:go/unix p521")
        .cloned();
    let mut table = String::new();
    let _ = write!(table, "{:<22}", "pairing");
    for (label, _, _) in FIGURES {
        let _ = write!(table, "{label:>26}");
    }
    table.push('\n');
    for s in &summary {
        let _ = write!(table, "{:<22}", s["pairing"].as_str().unwrap_or(""));
        for (label, _, lower_is_better) in FIGURES {
            let m = s["figures"][label]["median"].as_f64();
            let b = baseline
                .as_ref()
                .and_then(|b| b["figures"][label]["median"].as_f64());
            let cell = match (m, b) {
                (Some(m), Some(b)) if m > 0.0 && b > 0.0 => {
                    let ratio = if lower_is_better { b / m } else { m / b };
                    format!("{m:.1} ({ratio:.2}× go)")
                }
                (Some(m), _) => format!("{m:.1}"),
                _ => "-".into(),
            };
            let _ = write!(table, "{cell:>26}");
        }
        table.push('\n');
    }
    table.push_str(
        "\nmedians of the repetitions; (N× go) = how many times better than go-plugin's Go host ↔ Go plugin in this run\n",
    );
    print!("{table}");
    let report = json!({
        "schema": "soup-rpc/bench-report/v1",
        "generated_at": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        "quick": args.quick,
        "reps": reps,
        "pairings": summary,
    });
    fs::write(
        dir.join("bench.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    fs::write(dir.join("bench.txt"), &table)?;
    eprintln!("bench: wrote target/bench/bench.json and bench.txt");
    Ok(())
}
