//! `cargo xtask matrix`: every client × server × TLS × transport cell, run and judged from
//! what was on the wire.
//!
//! Cells come from `xtask/matrix.toml` (data); peers are queried once for `capabilities`
//! (cells they cannot express are n/a); `manual` cells get a CA and leaves per key type;
//! cells run on a bounded pool with a time limit; each client report is judged by xtask.
//! Outputs: the table on stdout and in `target/matrix/matrix.txt` (the insta snapshot),
//! `docs/compatibility-matrix.md`, `target/matrix/report.json`, `target/matrix/junit.xml`,
//! raw client stdout/stderr under `target/matrix/cells/<id>/`.
//! Exit status: 0 when every cell produced a result (pass, fail, timeout or n/a); non-zero
//! only for infrastructure errors (a peer missing, capabilities unreadable, ...).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::project_root;
use soup_conformance::capabilities::{self, Capabilities};
use soup_conformance::cells::{self, Cell, Filters, MatrixSpec};
use soup_conformance::certs::{self, CertSet};
use soup_conformance::shard::{self, SHARD_SCHEMA, ShardFile, ShardSpec, definition_sha256};
use soup_conformance::verdict::{self, IssuedLeaves, Judgement, Verdict};
use soup_conformance::versions::{self, Release, VersionsSpec};
use soup_conformance::{CellResult, RunMeta, outputs, pool, render, runner};

/// Flags of `cargo xtask matrix`.
#[derive(Args, Debug, Default)]
pub struct MatrixArgs {
    /// Clients to run (comma list; default all).
    #[arg(long, value_delimiter = ',')]
    pub client: Vec<String>,
    /// Servers to run (comma list; default all).
    #[arg(long, value_delimiter = ',')]
    pub server: Vec<String>,
    /// TLS modes: off, auto, manual.
    #[arg(long, value_delimiter = ',')]
    pub tls: Vec<String>,
    /// Key types (`none` selects the key-less `off` cells).
    #[arg(long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// Transports: tcp, unix.
    #[arg(long, value_delimiter = ',')]
    pub transport: Vec<String>,
    /// Cells run at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Override the per-cell time limit (seconds).
    #[arg(long)]
    pub time_limit: Option<u64>,
    /// Do not run `cargo xtask peers` first.
    #[arg(long)]
    pub no_build: bool,
    /// Run only the fault matrix (xtask/faults.toml).
    #[arg(long, conflicts_with = "no_faults")]
    pub faults_only: bool,
    /// Skip the fault matrix (a full run of the compatibility matrix runs it after).
    #[arg(long)]
    pub no_faults: bool,
    /// Faults to run (comma list of ids; default all). Implies --faults-only.
    #[arg(long, value_delimiter = ',')]
    pub fault: Vec<String>,
    /// Every client against YOUR KV plugin (go-plugin's KV example contract: cookie
    /// BASIC_PLUGIN=hello, version 1, proto.KV), run as is: shell words, no arguments
    /// added, in the cell's own directory. Writes target/matrix/custom/ only.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["server", "faults_only", "fault"])]
    pub server_cmd: Option<String>,
    /// Run shard I of N of the cells (every N-th, from the I-th): writes
    /// target/matrix/shards/I-of-N/ only; `cargo xtask matrix merge` joins the N shards.
    #[arg(long, value_name = "I/N", conflicts_with_all = ["server_cmd", "faults_only", "fault"])]
    pub shard: Option<ShardSpec>,
    /// Older releases of the peers' libraries to cross in (xtask/versions.toml): `all`,
    /// release names (`go@v1.6.3`), version prefixes (`go@v1.6`) or peers (`python`);
    /// default `newest` (matrix.toml's peers only). Each release runs against the newest
    /// release of every other peer; an unfiltered run also writes target/matrix/versions/.
    #[arg(long, value_delimiter = ',', value_name = "RELEASES")]
    pub versions: Vec<String>,
    /// `merge`.
    #[command(subcommand)]
    pub action: Option<MatrixAction>,
}

/// `cargo xtask matrix merge`.
#[derive(clap::Subcommand, Debug)]
pub enum MatrixAction {
    /// Join the shards of one run (`--shard I/N`, all N) into the whole run's table, JSON,
    /// JUnit (and, for an unfiltered run, the docs), as if it had run unsharded.
    Merge(MergeArgs),
}

/// Flags of `cargo xtask matrix merge`.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// Shard directories (each holding the shard.json `--shard` wrote), or shard.json files.
    #[arg(required = true, value_name = "DIR")]
    pub shards: Vec<PathBuf>,
}

/// The client and server argv prefixes of every peer of xtask/matrix.toml, resolved
/// against the workspace root.
pub fn peer_argvs(root: &Path) -> Result<BTreeMap<(String, &'static str), Vec<String>>> {
    let spec = MatrixSpec::parse(&fs::read_to_string(root.join("xtask/matrix.toml"))?)?;
    let mut out = BTreeMap::new();
    for (name, peer) in &spec.peers {
        for (role, argv) in [("client", &peer.client), ("server", &peer.server)] {
            if let Some(argv) = argv {
                out.insert((name.clone(), role), resolve(root, argv));
            }
        }
    }
    Ok(out)
}

fn resolve(root: &Path, argv: &[String]) -> Vec<String> {
    argv.iter()
        .map(|a| {
            if a.contains('/') {
                root.join(a).display().to_string()
            } else {
                a.clone()
            }
        })
        .collect()
}

/// The answers `soup validate` is built with (workspace-relative), rewritten by full runs.
const RECORDED_ANSWERS: &str = "crates/soup-cli/recorded-matrix.json";

/// Runs `cargo xtask matrix`.
pub fn run(args: &MatrixArgs) -> Result<()> {
    if let Some(MatrixAction::Merge(m)) = &args.action {
        return merge(m);
    }
    let faults_only = args.faults_only || !args.fault.is_empty();
    if !faults_only {
        run_compatibility(args)?;
    }
    let unfiltered = args.server_cmd.is_none()
        && args.shard.is_none()
        && (args.versions.is_empty() || args.versions == ["newest"])
        && args.client.is_empty()
        && args.server.is_empty()
        && args.tls.is_empty()
        && args.key.is_empty()
        && args.transport.is_empty();
    if faults_only || (unfiltered && !args.no_faults) {
        if faults_only && !args.no_build {
            crate::peers::build(&crate::peers::BUILDABLE)?;
        }
        crate::faults::run(args.jobs, &args.fault)?;
    }
    Ok(())
}

/// The compatibility matrix (xtask/matrix.toml).
fn run_compatibility(args: &MatrixArgs) -> Result<()> {
    let root = project_root();
    let matrix_toml = fs::read_to_string(root.join("xtask/matrix.toml"))?;
    let mut spec = MatrixSpec::parse(&matrix_toml)?;
    let versions_toml = fs::read_to_string(root.join(VERSIONS_TOML))?;
    let versions = parse_versions(&spec, &versions_toml)?;
    if args.server_cmd.is_some() && !args.versions.is_empty() {
        bail!(
            "--versions and --server-cmd do not combine: a --server-cmd run is of your plugin, not of releases"
        );
    }
    let releases = versions.select(&args.versions)?;
    let mut filters = Filters {
        client: args.client.clone(),
        server: args.server.clone(),
        tls: args.tls.clone(),
        key: args.key.clone(),
        transport: args.transport.clone(),
        versions: releases.iter().map(|r| r.name()).collect(),
    };
    let custom = match &args.server_cmd {
        Some(cmd) => {
            let argv = shlex::split(cmd)
                .filter(|a| !a.is_empty())
                .with_context(|| format!("--server-cmd {cmd:?}: not a command line"))?;
            spec.servers = vec![cells::CUSTOM_SERVER.to_string()];
            spec.peers.insert(
                cells::CUSTOM_SERVER.to_string(),
                cells::PeerSpec {
                    client: None,
                    server: Some(argv.clone()),
                },
            );
            filters.server = Vec::new();
            // go-plugin plugins choose their own transport (unix on Linux): ask for it.
            if filters.transport.is_empty() {
                filters.transport = vec!["unix".into()];
            }
            Some(argv)
        }
        None => None,
    };
    let resolve = |argv: &[String]| resolve(&root, argv);
    let cells = spec.expand_with(&filters, &releases)?;
    if cells.is_empty() {
        bail!("no cell matches the filters");
    }
    let total_cells = cells.len();
    let cells = match args.shard {
        Some(s) => s.select(&cells),
        None => cells,
    };
    if cells.is_empty() {
        bail!(
            "shard {} of {total_cells} cells is empty: use at most {total_cells} shards",
            args.shard.map_or(String::new(), |s| s.to_string())
        );
    }
    let used =
        |role: fn(&Cell) -> &String| cells.iter().map(role).cloned().collect::<BTreeSet<_>>();
    let (clients, servers) = (used(|c| &c.client), used(|c| &c.server));
    let release_of = |name: &str| releases.iter().find(|r| r.name() == name).copied();
    if !args.no_build {
        let to_build: BTreeSet<&str> = clients
            .iter()
            .chain(&servers)
            .map(|p| versions::split(p).0)
            .collect();
        crate::peers::build(&to_build.into_iter().collect::<Vec<_>>())?;
        let used: Vec<&Release> = releases
            .iter()
            .copied()
            .filter(|r| clients.contains(&r.name()) || servers.contains(&r.name()))
            .collect();
        crate::peers::build_releases(&used)?;
    }

    let mut argvs: BTreeMap<(String, &str), Vec<String>> = BTreeMap::new();
    for (set, role) in [(&clients, "client"), (&servers, "server")] {
        for peer in set {
            let base = versions::split(peer).0;
            let prefix = match role {
                "client" => spec.peers[base].client.as_ref(),
                _ => spec.peers[base].server.as_ref(),
            }
            .with_context(|| format!("peer {base} has no {role} command in matrix.toml"))?;
            let argv = match release_of(peer) {
                Some(r) => resolve(&r.argv(prefix)?),
                None => resolve(prefix),
            };
            for arg in argv.iter().filter(|a| a.starts_with('/')) {
                if !Path::new(arg).exists() {
                    let build = match release_of(peer) {
                        Some(r) => format!("cargo xtask peers --versions {}", r.name()),
                        None => "cargo xtask peers".to_string(),
                    };
                    bail!("peer {peer} ({role}): {arg} does not exist; run `{build}`");
                }
            }
            argvs.insert((peer.clone(), role), argv);
        }
    }
    let custom_argv = custom.as_deref().map(resolve);
    let caps = query_capabilities(&argvs, custom_argv.as_ref())?;
    let mut peers_meta = BTreeMap::new();
    for ((peer, role), argv) in &argvs {
        let other = if *role == "client" {
            "server"
        } else {
            "client"
        };
        let same = argvs.get(&(peer.clone(), other)).is_none_or(|o| o == argv);
        let name = if same {
            peer.clone()
        } else {
            format!("{peer} {role}")
        };
        peers_meta.insert(name, caps[argv].clone());
    }

    let matrix_dir = root.join("target/matrix");
    // A --server-cmd run keeps its own certificates and cell directories, so it never
    // clears the last full run's.
    let work_dir = match (&custom, args.shard) {
        (Some(_), _) => matrix_dir.join("custom"),
        // Shards may run side by side on one machine: each its own directory.
        (None, Some(s)) => matrix_dir.join("shards").join(s.dir_name()),
        (None, None) => matrix_dir.clone(),
    };
    let certs = issue_certs(&work_dir.join("certs"), &cells)?;
    let cells_dir = work_dir.join("cells");
    if cells_dir.exists() {
        fs::remove_dir_all(&cells_dir)?;
    }
    runner::become_subreaper();
    let time_limit = args.time_limit.unwrap_or(spec.time_limit_secs);
    let started = Instant::now();
    // A user's plugin may keep global state (a fixed data directory): one cell at a time.
    let jobs = if custom.is_some() { 1 } else { args.jobs };
    let results = pool::run_all(
        &cells,
        jobs,
        |c| format!("{} {} {}", c.row(), c.column(), c.transport),
        |r: &Result<CellResult>| match r.as_ref().map(|r| r.judgement.verdict) {
            Ok(Verdict::Pass) => "✓",
            Ok(Verdict::Fail) => "✗",
            Ok(Verdict::Timeout) => "⏱",
            Ok(Verdict::NotApplicable) => "n/a",
            Err(_) => "error",
        },
        |cell| {
            let client = &argvs[&(cell.client.clone(), "client")];
            let server = &argvs[&(cell.server.clone(), "server")];
            if let Some(reason) = capabilities::not_applicable(cell, &caps[client], &caps[server]) {
                return Ok(CellResult {
                    cell: cell.clone(),
                    judgement: Judgement::not_applicable(reason),
                    wall_ms: None,
                    argv: Vec::new(),
                    dir: None,
                    leftover_processes: false,
                });
            }
            let set = cell
                .key
                .as_ref()
                .filter(|_| cell.tls == "manual")
                .map(|k| &certs[k]);
            let plan = runner::CellPlan {
                cell,
                client,
                server,
                certs: set,
                client_timeout_secs: spec.client_timeout_secs.min(time_limit),
                time_limit_secs: time_limit,
                dir: cells_dir.join(cell.id()),
            };
            let ran = runner::run(&plan, &root)?;
            let leaves = set.map(|s| IssuedLeaves {
                server_sha256: s.server_sha256.clone(),
                client_sha256: s.client_sha256.clone(),
            });
            Ok(CellResult {
                cell: cell.clone(),
                judgement: verdict::judge(cell, leaves.as_ref(), &ran.outcome),
                wall_ms: Some(ran.wall_ms),
                argv: ran.argv,
                dir: Some(
                    cells_dir
                        .join(cell.id())
                        .strip_prefix(&root)
                        .unwrap_or(&cells_dir)
                        .display()
                        .to_string(),
                ),
                leftover_processes: ran.leftover_processes,
            })
        },
    );
    let results: Vec<CellResult> = results.into_iter().collect::<Result<_>>()?;
    let meta = RunMeta {
        command: format!(
            "cargo xtask {}",
            std::env::args().skip(1).collect::<Vec<_>>().join(" ")
        ),
        date: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)?,
        wall_ms: started.elapsed().as_secs_f64() * 1000.0,
        jobs,
        peers: peers_meta,
    };
    if let Some(shard) = args.shard {
        let file = ShardFile {
            schema: SHARD_SCHEMA.into(),
            definition_sha256: definition(&matrix_toml, &versions_toml, &filters),
            filters: filters.clone(),
            shard,
            total_cells,
            meta: meta.clone(),
            results: results.clone(),
        };
        fs::create_dir_all(&work_dir)?;
        fs::write(
            work_dir.join("shard.json"),
            serde_json::to_string(&file)? + "\n",
        )?;
        eprintln!(
            "matrix: shard {shard}: {} of {total_cells} cells; wrote {}/shard.json (merge all {}: `cargo xtask matrix merge target/matrix/shards/*`)",
            results.len(),
            work_dir.display(),
            shard.count
        );
    }
    let out = if custom.is_some() {
        Outputs::Custom
    } else if let Some(s) = args.shard {
        Outputs::Shard(s)
    } else {
        Outputs::of_unsharded(&filters, &releases, &versions)
    };
    write_outputs(&root, &spec, &versions, &results, &meta, out)
}

/// The version axis' declaration (xtask/versions.toml), workspace-relative.
const VERSIONS_TOML: &str = "xtask/versions.toml";

/// The answers of the last `--versions all` run, for `soup validate --client-version` and
/// the docs' per-version view (workspace-relative).
const RECORDED_VERSIONS: &str = "crates/soup-cli/recorded-versions.json";

fn parse_versions(spec: &MatrixSpec, text: &str) -> Result<VersionsSpec> {
    let peers: BTreeSet<&str> = spec
        .clients
        .iter()
        .chain(&spec.servers)
        .map(String::as_str)
        .collect();
    VersionsSpec::parse(text, &peers.into_iter().collect::<Vec<_>>())
}

/// The definition a shard was cut from: matrix.toml and the filters, plus versions.toml
/// when releases are crossed in.
fn definition(matrix_toml: &str, versions_toml: &str, filters: &Filters) -> String {
    if filters.versions.is_empty() {
        definition_sha256(matrix_toml, filters)
    } else {
        definition_sha256(&format!("{matrix_toml}\n{versions_toml}"), filters)
    }
}

/// Where a run's outputs go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outputs {
    /// `target/matrix/` and the docs.
    Full,
    /// A filtered run: `target/matrix/partial/`.
    Partial,
    /// `--server-cmd`: `target/matrix/custom/`.
    Custom,
    /// `--shard I/N`: `target/matrix/shards/I-of-N/`.
    Shard(ShardSpec),
    /// `--versions` and no other filter: the newest cells as a full run, every cell in
    /// `target/matrix/versions/`; with every release (`all`) also the recorded answers and
    /// the docs' per-version view.
    Versions {
        /// Every declared release ran.
        all: bool,
    },
}

impl Outputs {
    /// Where an unsharded run (or the merge of all its shards) of the matrix's own peers
    /// writes: the filters and the releases decide.
    fn of_unsharded(filters: &Filters, releases: &[&Release], versions: &VersionsSpec) -> Self {
        if filters.is_empty() {
            Outputs::Full
        } else if filters.only_versions() {
            Outputs::Versions {
                all: releases.len() == versions.releases.len(),
            }
        } else {
            Outputs::Partial
        }
    }
}

/// `PEER capabilities` once per distinct command.
fn query_capabilities(
    argvs: &BTreeMap<(String, &str), Vec<String>>,
    custom: Option<&Vec<String>>,
) -> Result<BTreeMap<Vec<String>, Capabilities>> {
    let mut caps = BTreeMap::new();
    if let Some(argv) = custom {
        caps.insert(argv.clone(), capabilities::custom_server(argv));
    }
    for ((peer, role), argv) in argvs {
        if caps.contains_key(argv) {
            continue;
        }
        let out = duct::cmd(
            &argv[0],
            argv[1..].iter().chain([&"capabilities".to_string()]),
        )
        .dir(project_root())
        .stderr_capture()
        .read()
        .with_context(|| format!("`{} capabilities` ({peer} {role}) failed", argv.join(" ")))?;
        let parsed: Capabilities = serde_json::from_str(&out).with_context(|| {
            format!("{peer} {role}: capabilities output is not the contract's JSON: {out}")
        })?;
        caps.insert(argv.clone(), parsed);
    }
    Ok(caps)
}

/// Fresh CA and leaves for every key type of a `manual` cell.
fn issue_certs(dir: &Path, cells: &[Cell]) -> Result<BTreeMap<String, CertSet>> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    let keys: BTreeSet<&String> = cells
        .iter()
        .filter(|c| c.tls == "manual")
        .filter_map(|c| c.key.as_ref())
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = keys
            .into_iter()
            .map(|k| (k.clone(), scope.spawn(move || certs::generate(dir, k))))
            .collect();
        handles
            .into_iter()
            .map(|(k, h)| Ok((k, h.join().expect("certificate thread")?)))
            .collect()
    })
}

/// A full run writes `target/matrix/` and the docs page; a filtered run writes
/// `target/matrix/partial/` only, so it can neither stand in for the full matrix in the
/// docs nor trip the snapshot test. A `--versions` run is a full run of its newest cells
/// plus `target/matrix/versions/`.
fn write_outputs(
    root: &Path,
    spec: &MatrixSpec,
    versions: &VersionsSpec,
    results: &[CellResult],
    meta: &RunMeta,
    out: Outputs,
) -> Result<()> {
    if let Outputs::Versions { all } = out {
        let newest: Vec<CellResult> = results
            .iter()
            .filter(|r| !r.cell.versioned())
            .cloned()
            .collect();
        let mut newest_meta = meta.clone();
        newest_meta.peers.retain(|name, _| !name.contains('@'));
        if all {
            fs::write(
                root.join(RECORDED_VERSIONS),
                serde_json::to_string_pretty(&outputs::recorded_answers(results, meta))? + "\n",
            )?;
        }
        write_set(
            root,
            spec,
            versions,
            &newest,
            &newest_meta,
            Outputs::Full,
            false,
        )?;
        return write_set(root, spec, versions, results, meta, out, true);
    }
    write_set(root, spec, versions, results, meta, out, true)
}

/// The per-version view of the docs: from the last `--versions all` run's answers.
fn versions_view(root: &Path, versions: &VersionsSpec) -> String {
    match fs::read_to_string(root.join(RECORDED_VERSIONS))
        .ok()
        .and_then(|t| serde_json::from_str::<outputs::RecordedAnswers>(&t).ok())
    {
        Some(answers) => soup_conformance::versions::markdown(&answers, versions),
        None => format!(
            "\n## Across releases\n\nNo `cargo xtask matrix --versions all` run is recorded ({RECORDED_VERSIONS} is missing).\n"
        ),
    }
}

fn write_set(
    root: &Path,
    spec: &MatrixSpec,
    versions: &VersionsSpec,
    results: &[CellResult],
    meta: &RunMeta,
    out: Outputs,
    print: bool,
) -> Result<()> {
    let full = out == Outputs::Full;
    let mut rows: Vec<String> = spec
        .clients
        .iter()
        .flat_map(|c| spec.servers.iter().map(move |s| format!("{c}→{s}")))
        .collect();
    for r in results {
        let row = r.cell.row();
        if !rows.contains(&row) {
            rows.push(row);
        }
    }
    let grid = render::Grid::new(results, &spec.columns(), &rows, &spec.transports);
    let table = render::text(&grid, results);
    let dir = match out {
        Outputs::Full => root.join("target/matrix"),
        Outputs::Partial => root.join("target/matrix/partial"),
        Outputs::Custom => root.join("target/matrix/custom"),
        Outputs::Shard(s) => root.join("target/matrix/shards").join(s.dir_name()),
        Outputs::Versions { .. } => root.join("target/matrix/versions"),
    };
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("matrix.txt"), &table)?;
    fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&outputs::report(results, meta))?,
    )?;
    fs::write(dir.join("junit.xml"), outputs::junit_xml(results, meta)?)?;
    if full {
        fs::write(
            root.join("docs/compatibility-matrix.md"),
            render::markdown(&grid, results, meta) + &versions_view(root, versions),
        )?;
        fs::write(
            root.join(RECORDED_ANSWERS),
            serde_json::to_string_pretty(&outputs::recorded_answers(results, meta))? + "\n",
        )?;
    }
    if !print {
        return Ok(());
    }
    print!("{table}");

    let mut slowest: Vec<&CellResult> = results.iter().filter(|r| r.wall_ms.is_some()).collect();
    slowest.sort_by(|a, b| {
        b.wall_ms
            .partial_cmp(&a.wall_ms)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    eprintln!(
        "\nmatrix: {:.1} s wall, {} jobs; slowest cells:",
        meta.wall_ms / 1000.0,
        meta.jobs
    );
    for r in slowest.iter().take(5) {
        eprintln!("  {:>8.0} ms  {}", r.wall_ms.unwrap_or(0.0), r.cell.id());
    }
    let leftovers: Vec<String> = results
        .iter()
        .filter(|r| r.leftover_processes)
        .map(|r| r.cell.id())
        .collect();
    if !leftovers.is_empty() {
        eprintln!(
            "matrix: clients left processes running (killed by xtask): {}",
            leftovers.join(", ")
        );
    }
    let (kind, sub) = match out {
        Outputs::Full => {
            eprintln!(
                "matrix: wrote target/matrix/{{matrix.txt,report.json,junit.xml}}, docs/compatibility-matrix.md, {RECORDED_ANSWERS}"
            );
            return Ok(());
        }
        Outputs::Versions { all } => {
            eprintln!(
                "matrix: --versions run: wrote target/matrix/versions/{{matrix.txt,report.json,junit.xml}}; its newest cells, as a full run: target/matrix/{{matrix.txt,report.json,junit.xml}}, docs/compatibility-matrix.md, {RECORDED_ANSWERS}{}",
                if all {
                    format!(
                        " and, every release having run, {RECORDED_VERSIONS} with the docs' per-version view"
                    )
                } else {
                    " (the per-version view and its record need `--versions all`)".to_string()
                }
            );
            return Ok(());
        }
        Outputs::Custom => ("--server-cmd".to_string(), "custom".to_string()),
        Outputs::Shard(s) => (format!("shard {s}"), format!("shards/{}", s.dir_name())),
        Outputs::Partial => ("filtered".to_string(), "partial".to_string()),
    };
    eprintln!(
        "matrix: {kind} run: wrote target/matrix/{sub}/{{matrix.txt,report.json,junit.xml}} (docs and the full report are left as they were)"
    );
    Ok(())
}

/// `cargo xtask matrix merge DIR...`: the shards of one run, joined and rendered as that run.
fn merge(args: &MergeArgs) -> Result<()> {
    let root = project_root();
    let mut files = Vec::new();
    for path in &args.shards {
        let file = if path.is_dir() {
            path.join("shard.json")
        } else {
            path.clone()
        };
        let text = fs::read_to_string(&file).with_context(|| {
            format!(
                "no shard at {}: pass the directories `cargo xtask matrix --shard I/N` wrote (target/matrix/shards/I-of-N)",
                file.display()
            )
        })?;
        let shard: ShardFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a shard file", file.display()))?;
        files.push((file.display().to_string(), shard));
    }
    let matrix_toml = fs::read_to_string(root.join("xtask/matrix.toml"))?;
    let spec = MatrixSpec::parse(&matrix_toml)?;
    let filters = files
        .first()
        .map(|(_, f)| f.filters.clone())
        .unwrap_or_default();
    let versions_toml = fs::read_to_string(root.join(VERSIONS_TOML))?;
    let versions = parse_versions(&spec, &versions_toml)?;
    let releases = versions.select(&filters.versions)?;
    let cells = spec.expand_with(&filters, &releases)?;
    let definition = definition(&matrix_toml, &versions_toml, &filters);
    let (results, meta) = shard::merge(files, &cells, &definition)?;
    let out = Outputs::of_unsharded(&filters, &releases, &versions);
    write_outputs(&root, &spec, &versions, &results, &meta, out)
}
