//! `cargo xtask bench`: every host against every plugin (`xtask/bench.toml`), measured side
//! by side in one run and reported as ratios to go-plugin's Go host ↔ Go plugin measured in
//! the same run (this machine is shared and noisy: only ratios from one run mean anything).
//!
//! Each host peer has a `bench` subcommand printing one JSON object (cold start, Get latency
//! at 1 in flight, Gets/s at N in flight, Put of 1 MiB, the plugin's peak RSS, CPU per
//! 10,000 Gets); this module runs the pairings interleaved (A B A B …), repeats them,
//! reports min/median/max of the repetitions, validates its report against
//! `xtask/bench-report.schema.json`, and writes the docs page. No timing is ever asserted.
//!
//! A second section (`broker`, `src/bench/broker.rs`) times go-plugin's brokered round
//! trip (examples/bidirectional: a host call that makes a plugin → host callback through
//! the GRPCBroker) with Rust and Go host+plugin pairs in the same run.

mod broker;
mod config;
mod docs;
mod exec;
mod figures;
mod matrixref;
mod svg;
mod tools;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::{peers, project_root};
use broker::BrokerPairing;
use config::{BenchToml, Pairing};
use exec::Outcome;

/// Flags of `cargo xtask bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A short run (`[load.quick]` and `[broker.load.quick]` of xtask/bench.toml; figures
    /// are rougher).
    #[arg(long)]
    pub quick: bool,
    /// Only these pairings: comma list of HOST:PLUGIN or HOST:PLUGIN/CONFIG (in both
    /// sections).
    #[arg(long, value_delimiter = ',')]
    pub pairing: Vec<String>,
    /// Only these sections: comma list of `grid` (every host × plugin: cold start, Get,
    /// throughput, Put), `broker` (the brokered round trip) and `tools` (`soup probe` vs a
    /// bare launch; Python `.channel` vs `KvClient` vs grpcio); default all.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub section: Vec<Section>,
    /// Repetitions of the whole interleaved set (default from bench.toml).
    #[arg(long)]
    pub reps: Option<usize>,
    /// Don't build the peers first (missing binaries are an error).
    #[arg(long)]
    pub no_build: bool,
    /// Where the outputs go (default target/bench).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Where the plugins keep their stores during the run (default: a fresh directory on
    /// tmpfs, `/dev/shm`, when the machine has one, else OUT/store). Every peer's store
    /// fsyncs each Put twice; on a disk those flushes are most of a 1 MiB Put and vary
    /// run to run, so the default measures the RPC. Give a directory on a disk to measure
    /// what a Put to disk costs.
    #[arg(long, value_name = "DIR")]
    pub store: Option<std::path::PathBuf>,
}

/// Where the plugins' stores live for a run, and the filesystem under it.
struct StoreDir {
    path: PathBuf,
    fs: Option<String>,
    /// Removes the directory at the end when we made it.
    _made: Option<tempfile::TempDir>,
}

impl StoreDir {
    fn choose(given: Option<&Path>, out_dir: &Path) -> Result<StoreDir> {
        let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let (path, made) = match given {
            Some(dir) => (dir.to_path_buf(), None),
            None if fs_of(&mounts, Path::new(SHM)).as_deref() == Some("tmpfs") => {
                let made = tempfile::Builder::new()
                    .prefix("soup-bench-")
                    .tempdir_in(SHM)
                    .with_context(|| format!("creating a store directory in {SHM}"))?;
                (made.path().to_path_buf(), Some(made))
            }
            None => (out_dir.join("store"), None),
        };
        // Made now, so the path canonicalizes (a relative --out included) and its mount is
        // found.
        fs::create_dir_all(&path)
            .with_context(|| format!("creating the store directory {}", path.display()))?;
        let path = path.canonicalize().unwrap_or(path);
        Ok(StoreDir {
            fs: fs_of(&mounts, &path),
            path,
            _made: made,
        })
    }

    fn describe(&self) -> Value {
        json!({"path": self.path.display().to_string(), "fs": self.fs})
    }
}

const SHM: &str = "/dev/shm";

/// The filesystem type `path` is on, from `/proc/self/mounts` text: the entry with the
/// longest mount point that contains `path` (the last one mounted wins a tie).
fn fs_of(mounts: &str, path: &Path) -> Option<String> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (_dev, point, fs) = (f.next()?, f.next()?, f.next()?);
            // /proc/self/mounts escapes spaces and tabs in mount points as octal.
            let point = point.replace("\\040", " ").replace("\\011", "\t");
            path.starts_with(&point)
                .then(|| (Path::new(&point).components().count(), fs.to_string()))
        })
        .fold(
            None,
            |best: Option<(usize, String)>, (depth, fs)| match best {
                Some((d, _)) if d > depth => best,
                _ => Some((depth, fs)),
            },
        )
        .map(|(_, fs)| fs)
}

/// A section of the benchmark.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Every host against every plugin (`xtask/bench.toml` grid and variants).
    Grid,
    /// The brokered round trip (`[broker]`).
    Broker,
    /// soup's generic tools against the plain paths (`src/bench/tools.rs`).
    Tools,
}

/// Runs `cargo xtask bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let root = project_root();
    let conf = BenchToml::load(&root.join("xtask/bench.toml"))?;
    let kind = if args.quick { "quick" } else { "full" };
    let mut load = conf.load[kind].clone();
    let mut broker_load = conf.broker.load[kind].clone();
    if let Some(r) = args.reps {
        load.reps = r.max(1);
        broker_load.reps = r.max(1);
    }
    let wants = |s: Section| args.section.is_empty() || args.section.contains(&s);
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("target/bench"));
    fs::create_dir_all(&out_dir)?;
    let store_dir = StoreDir::choose(args.store.as_deref(), &out_dir)?;
    let store = store_dir.path.clone();
    let mut chosen = if wants(Section::Grid) {
        conf.pairings(&store.display().to_string())
    } else {
        Vec::new()
    };
    let mut brokered = if wants(Section::Broker) {
        conf.broker.expand()
    } else {
        Vec::new()
    };
    if !args.pairing.is_empty() {
        chosen.retain(|p| args.pairing.iter().any(|f| p.matches(f)));
        brokered.retain(|p| args.pairing.iter().any(|f| p.matches(f)));
        if chosen.is_empty() && brokered.is_empty() {
            bail!(
                "no pairing matches {:?} (names are HOST:PLUGIN or HOST:PLUGIN/CONFIG)",
                args.pairing
            );
        }
    }
    let tools = wants(Section::Tools) && args.pairing.is_empty();
    if !args.no_build {
        let mut sides: Vec<&str> = if tools {
            vec!["rust", "python"]
        } else {
            Vec::new()
        };
        let names = chosen
            .iter()
            .flat_map(|p| [&p.host[..], &p.plugin[..]])
            .chain(brokered.iter().flat_map(|p| [&p.host[..], &p.plugin[..]]));
        for s in names {
            let peer = if s == "python-rs" { "python" } else { s };
            if !sides.contains(&peer) {
                sides.push(peer);
            }
        }
        peers::build(&sides)?;
    }
    check_binaries(&root, &chosen, &brokered)?;
    for p in &conf.plugin_order {
        fs::create_dir_all(store.join(p))?;
    }

    let matrix = matrixref::Matrix::read(&root.join("target/matrix/report.json"));
    let started = Instant::now();
    let mut runs: Vec<Vec<Value>> = vec![Vec::new(); chosen.len()];
    let mut failed: Vec<Option<(String, String)>> = vec![None; chosen.len()];
    let total = load.reps * chosen.len();
    let mut done = 0;
    for rep in 0..load.reps {
        for (i, p) in chosen.iter().enumerate() {
            done += 1;
            if failed[i].is_some() {
                continue; // it cannot run: no point repeating the failure
            }
            let argv = host_argv(&root, p, &load);
            let limit =
                Duration::from_secs_f64(120.0 + load.duration_secs + 10.0 * load.launches as f64);
            let t = Instant::now();
            eprint!(
                "bench [{done}/{total}] rep {}/{}: {:<22} … ",
                rep + 1,
                load.reps,
                p.name()
            );
            match exec::run(&root, &argv, limit) {
                Outcome::Ok(v) => {
                    eprintln!(
                        "{:.1} s: cold p50 {} ms, Get p50 {} µs, {} Gets/s",
                        t.elapsed().as_secs_f64(),
                        fmt(v.pointer("/cold_start_ms/p50")),
                        fmt(v.pointer("/get_latency_us/p50")),
                        fmt(v.pointer("/ops_per_sec"))
                    );
                    runs[i].push(v);
                }
                Outcome::NotBuilt(why) => {
                    eprintln!("not built: {why}");
                    failed[i] = Some(("not built".into(), why));
                }
                Outcome::Failed(why) => {
                    eprintln!("failed: {why}");
                    failed[i] = Some(("fail".into(), why));
                }
            }
        }
    }
    let broker_section = (!brokered.is_empty()).then(|| {
        let (b_runs, b_failed) = broker::run(&root, &brokered, &broker_load);
        broker::assemble(&conf.broker, &broker_load, &brokered, &b_runs, &b_failed)
    });
    let tools_section = tools.then(|| {
        eprintln!("bench: tools: soup probe vs soup kv get; python .channel vs KvClient vs grpcio");
        tools::run(&root, &store, args.quick)
    });

    let report = assemble(
        args,
        &conf,
        &load,
        &chosen,
        &runs,
        &failed,
        &matrix,
        broker_section,
        started.elapsed(),
        &root,
        store_dir.describe(),
    );
    let mut report = report;
    report["tools"] = tools_section.unwrap_or(Value::Null);
    validate(&root, &report)?;
    let mut table = String::new();
    if !chosen.is_empty() {
        table.push_str(&figures::table(
            report["pairings"].as_array().expect("array"),
            report["baseline"].as_str().unwrap_or(""),
        ));
    }
    if !report["broker"].is_null() {
        table.push_str(&broker::table(&report["broker"]));
    }
    if !report["tools"].is_null() {
        table.push_str(&tools::table(&report["tools"]));
    }
    print!("{table}");
    fs::write(
        out_dir.join("bench.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    fs::write(out_dir.join("bench.txt"), &table)?;
    // The docs page only from a full, unfiltered run of every section; other runs write
    // theirs beside the JSON.
    let full =
        !args.quick && args.pairing.is_empty() && args.section.is_empty() && args.out.is_none();
    if full {
        docs::write(
            &report,
            &root.join("docs/benchmarks.md"),
            &root.join("docs/benchmarks"),
            "benchmarks",
        )?;
        eprintln!("bench: wrote docs/benchmarks.md and docs/benchmarks/*.svg");
    } else {
        docs::write(&report, &out_dir.join("benchmarks.md"), &out_dir, ".")?;
    }
    eprintln!(
        "bench: wrote {}/bench.json, bench.txt, benchmarks.md, *.svg",
        out_dir.display()
    );
    Ok(())
}

fn fmt(v: Option<&Value>) -> String {
    v.and_then(Value::as_f64)
        .map(figures::num)
        .unwrap_or_else(|| "-".into())
}

/// The full host argv: host command, config flags, load flags, `--`, plugin command; paths
/// under `target/` made absolute.
fn host_argv(root: &Path, p: &Pairing, load: &config::Load) -> Vec<String> {
    let mut argv = p.host_argv.clone();
    for (flag, v) in [
        ("--launches", load.launches.to_string()),
        ("--gets", load.gets.to_string()),
        ("--concurrency", load.concurrency.to_string()),
        ("--duration", load.duration_secs.to_string()),
        ("--puts", load.puts.to_string()),
    ] {
        argv.push(flag.into());
        argv.push(v);
    }
    argv.push("--".into());
    argv.extend(p.plugin_argv.iter().cloned());
    argv.into_iter()
        .map(|a| {
            if a.starts_with("target/") {
                root.join(a).display().to_string()
            } else {
                a
            }
        })
        .collect()
}

/// Every host and plugin program exists (else: how to build it).
fn check_binaries(root: &Path, chosen: &[Pairing], brokered: &[BrokerPairing]) -> Result<()> {
    let progs = chosen
        .iter()
        .map(|p| (&p.host_argv[0], &p.plugin_argv[0], p.name()))
        .chain(brokered.iter().map(|p| {
            (
                &p.host_argv[0],
                &p.plugin_argv[0],
                format!("broker {}", p.name()),
            )
        }));
    for (host, plugin, name) in progs {
        for prog in [host, plugin] {
            if !root.join(prog).exists() {
                bail!(
                    "{prog} is missing (needed by {name}): run `cargo xtask peers`, or drop --no-build"
                );
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    args: &BenchArgs,
    conf: &BenchToml,
    load: &config::Load,
    chosen: &[Pairing],
    runs: &[Vec<Value>],
    failed: &[Option<(String, String)>],
    matrix: &matrixref::Matrix,
    broker: Option<Value>,
    wall: Duration,
    root: &Path,
    store: Value,
) -> Value {
    let figs: Vec<_> = runs
        .iter()
        .map(|r| figures::aggregate(&figures::FIGURES, r))
        .collect();
    let baseline_of = |config: &str| {
        chosen
            .iter()
            .position(|p| {
                p.host == conf.baseline.host
                    && p.plugin == conf.baseline.plugin
                    && p.config == config
            })
            .filter(|&i| failed[i].is_none())
            .map(|i| &figs[i])
    };
    let mut pairings = Vec::new();
    for (i, p) in chosen.iter().enumerate() {
        let cell = matrix.cell_for(p, &conf.matrix_alias);
        let (status, why) = match &failed[i] {
            Some((status, why)) => {
                let cause = matrixref::note(&cell).unwrap_or_else(|| "matrix: pass".into());
                (status.clone(), Some(format!("{why} [{cause}]")))
            }
            None => ("ok".to_string(), None),
        };
        let ratios = figures::ratios(&figures::FIGURES, &figs[i], baseline_of(&p.ratio_against));
        let note = if status == "ok" {
            matrixref::note(&cell)
        } else {
            None
        };
        pairings.push(json!({
            "name": p.name(),
            "host": p.host,
            "plugin": p.plugin,
            "config": p.config,
            "host_key": p.host_key,
            "transport": p.transport,
            "status": status,
            "why": why,
            "note": note,
            "matrix": cell,
            "host_command": host_argv(Path::new(""), p, load),
            "figures": figs[i],
            "ratios": ratios,
            "runs": runs[i],
        }));
    }
    let command: Vec<String> = std::env::args().skip(1).collect();
    json!({
        "schema": "soup-rpc/bench-report/v1",
        "command": format!("cargo xtask {}", command.join(" ")),
        "generated_at": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        "wall_secs": wall.as_secs_f64(),
        "quick": args.quick,
        "load": load,
        "store": store,
        "transport": conf.transport,
        "baseline": format!("{}:{}", conf.baseline.host, conf.baseline.plugin),
        "machine": docs::machine(),
        "versions": docs::versions(root),
        "matrix_generated_at": matrix.generated_at,
        "figures": figures::describe(&figures::FIGURES),
        "pairings": pairings,
        "broker": broker,
    })
}

/// The report must match `xtask/bench-report.schema.json`.
fn validate(root: &Path, report: &Value) -> Result<()> {
    let path = root.join("xtask/bench-report.schema.json");
    let schema: Value =
        serde_json::from_slice(&fs::read(&path)?).context("parsing the bench report schema")?;
    let v = jsonschema::validator_for(&schema).map_err(|e| anyhow::anyhow!("bad schema: {e}"))?;
    let errs: Vec<String> = v
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    if !errs.is_empty() {
        bail!(
            "the bench report does not match its schema:\n  {}",
            errs.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
/dev/vda / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0
/dev/vdb /work/my\\040disk ext4 rw 0 0
tmpfs /work/my\\040disk/ram tmpfs rw 0 0
";

    #[test]
    fn the_store_filesystem_is_the_deepest_mount_containing_it() {
        let fs = |p: &str| fs_of(MOUNTS, Path::new(p));
        assert_eq!(fs("/dev/shm/soup-bench-x").as_deref(), Some("tmpfs"));
        assert_eq!(
            fs("/dev/shmem").as_deref(),
            Some("ext4"),
            "a name prefix is not a mount"
        );
        assert_eq!(fs("/work/main/target/bench/store").as_deref(), Some("ext4"));
        assert_eq!(fs("/work/my disk/store").as_deref(), Some("ext4"));
        assert_eq!(fs("/work/my disk/ram/store").as_deref(), Some("tmpfs"));
        assert_eq!(fs_of("", Path::new("/x")), None);
    }

    #[test]
    fn a_given_store_directory_is_used_and_described() {
        let dir = tempfile::tempdir().unwrap();
        let want = dir.path().join("stores");
        let chosen = StoreDir::choose(Some(&want), dir.path()).unwrap();
        assert!(want.is_dir());
        assert_eq!(chosen.path, want.canonicalize().unwrap());
        assert_eq!(
            chosen.describe()["path"],
            json!(want.canonicalize().unwrap().display().to_string())
        );
        assert!(chosen.fs.is_some(), "every path is on some mount");
    }
}
