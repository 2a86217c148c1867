//! `cargo xtask examples`: go-plugin's own examples, Go originals against our Rust ports.
//!
//! Builds the Go example binaries from the published module (`go build` in `go/`, whose
//! go.mod keeps them as `tool`s) and our Go hosts of the multiplexing cells
//! (`go/cmd/example-hosts/*`) into `target/go-examples/` and the Rust ports
//! (`cargo build --release -p go-plugin-examples`), then runs every cell of
//! `xtask/examples.toml` (example × host × plugin × multiplexing × TLS) one after another, each in a
//! fresh temporary directory with every process reaped. Outputs: the table on stdout,
//! `docs/go-plugin-examples.md` and `target/examples/report.json` (a filtered run writes
//! `target/examples/partial/report.json` only), the commands, outputs and handshake lines
//! of every step under `target/examples/cells/<id>/`.
//! Fails when a cell with a Rust side did not do what `examples.toml` expects.

mod cell;
mod handshake;
mod render;
mod spec;
pub mod tap;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use duct::cmd;
use serde_json::{Value, json};

use crate::project_root;
use spec::{
    Cell, ExamplesSpec, Expectation, Filters, PluginLocation, go_binary_name, go_import_path,
};

/// Flags of `cargo xtask examples`.
#[derive(Args, Debug, Default)]
pub struct ExamplesArgs {
    /// Examples to run (comma list of names in xtask/examples.toml; default all).
    #[arg(long, value_delimiter = ',')]
    pub example: Vec<String>,
    /// Host languages: go, rust.
    #[arg(long, value_delimiter = ',')]
    pub host: Vec<String>,
    /// Plugin languages: go, rust.
    #[arg(long, value_delimiter = ',')]
    pub plugin: Vec<String>,
    /// TLS modes: auto, off (Rust hosts, our Go hosts), default (go-plugin's Go hosts' own).
    #[arg(long, value_delimiter = ',')]
    pub tls: Vec<String>,
    /// gRPC broker multiplexing: on, off.
    #[arg(long, value_delimiter = ',')]
    pub mux: Vec<String>,
    /// Override the per-step time limit (seconds).
    #[arg(long)]
    pub time_limit: Option<u64>,
    /// Use the binaries already built.
    #[arg(long)]
    pub no_build: bool,
}

/// How a cell's outcome compares with its expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every step did what it should.
    Pass,
    /// A step failed, and no known failure explains it.
    Fail,
    /// A step failed as `examples.toml` says it does.
    ExpectedFail,
    /// Every step passed where a failure is declared: the declaration is stale.
    UnexpectedPass,
}

impl Status {
    /// `pass`, `fail`, `expected-fail`, `unexpected-pass`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::ExpectedFail => "expected-fail",
            Status::UnexpectedPass => "unexpected-pass",
        }
    }

    /// Not what `examples.toml` says.
    pub fn is_unexpected(self) -> bool {
        matches!(self, Status::Fail | Status::UnexpectedPass)
    }
}

/// One cell's run and verdict.
pub struct CellResult<'s> {
    /// The cell.
    pub cell: Cell,
    /// Its id.
    pub id: String,
    /// What happened.
    pub run: cell::CellRun,
    /// Against the expectation.
    pub status: Status,
    /// The known failure declared for it.
    pub expectation: Option<&'s Expectation>,
}

/// Facts about the run for the outputs.
pub struct RunMeta {
    /// The command line.
    pub command: String,
    /// RFC 3339 UTC.
    pub date: String,
    /// go-plugin, grpc-go, Go, rustc, soup-rpc commit.
    pub versions: Value,
}

impl RunMeta {
    /// The docs page's versions line.
    pub fn versions_line(&self) -> String {
        let v = |k: &str| self.versions[k].as_str().unwrap_or("?").to_string();
        let commit = if self.versions["dirty"].as_bool().unwrap_or(false) {
            format!("{} with uncommitted changes", v("commit"))
        } else {
            v("commit")
        };
        format!(
            "Go binaries built from the published github.com/hashicorp/go-plugin {} with grpc-go {} \
             (`go/go.mod`), {}; Rust ports from soup-rpc commit {commit}, {}",
            v("go-plugin"),
            v("grpc-go"),
            v("go"),
            v("rustc")
        )
    }
}

/// Runs `cargo xtask examples`.
pub fn run(args: &ExamplesArgs) -> Result<()> {
    let root = project_root();
    let mut spec = ExamplesSpec::parse(&fs::read_to_string(root.join("xtask/examples.toml"))?)?;
    if let Some(limit) = args.time_limit {
        spec.step_time_limit_secs = limit;
    }
    let filters = Filters {
        example: args.example.clone(),
        host: args.host.clone(),
        plugin: args.plugin.clone(),
        tls: args.tls.clone(),
        mux: args.mux.clone(),
    };
    let cells = spec.expand(&filters)?;
    if cells.is_empty() {
        bail!("no cell matches the filters");
    }
    if !args.no_build {
        build(&root, &spec)?;
    }
    for c in &cells {
        let ex = &spec.examples[c.example];
        for bin in [
            cell::host_binary(&root, ex, c),
            cell::plugin_binary(&root, ex, &c.plugin),
        ] {
            if !bin.exists() {
                bail!(
                    "{} is missing: run `cargo xtask examples` without --no-build",
                    bin.display()
                );
            }
        }
    }
    let out_dir = root.join("target/examples");
    let tap = install_tap(&out_dir)?;
    let scrub = scrubbed_variables(&spec);
    soup_conformance::runner::become_subreaper();

    let mut results = Vec::new();
    for (i, c) in cells.iter().enumerate() {
        let id = c.id(&spec);
        let ctx = cell::CellContext {
            spec: &spec,
            cell: c,
            root: &root,
            record_dir: out_dir.join("cells").join(&id),
            tap: &tap,
            scrub: &scrub,
        };
        let run = cell::run(&ctx)?;
        let expectation = spec.expectation(c);
        let status = match (&run.failure, expectation) {
            (None, None) => Status::Pass,
            (None, Some(_)) => Status::UnexpectedPass,
            (Some(_), Some(e)) if run.failure_output().contains(&e.fails_with) => {
                Status::ExpectedFail
            }
            (Some(_), _) => Status::Fail,
        };
        let mark = match status {
            Status::Pass | Status::UnexpectedPass => "✓",
            _ => "✗",
        };
        eprintln!(
            "[{}/{}] {mark} {id} ({:.0} ms)",
            i + 1,
            cells.len(),
            run.wall_ms
        );
        results.push(CellResult {
            cell: c.clone(),
            id,
            run,
            status,
            expectation,
        });
    }

    let meta = RunMeta {
        command: format!(
            "cargo xtask {}",
            std::env::args().skip(1).collect::<Vec<_>>().join(" ")
        ),
        date: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)?,
        versions: versions(&root),
    };
    let table = render::text(&spec, &results);
    print!("{table}");
    let report = serde_json::to_string_pretty(&render::report_json(&spec, &results, &meta))?;
    if filters.is_empty() {
        fs::write(out_dir.join("report.json"), report)?;
        fs::write(
            root.join("docs/go-plugin-examples.md"),
            render::markdown(&spec, &results, &meta),
        )?;
        eprintln!("examples: wrote target/examples/report.json, docs/go-plugin-examples.md");
    } else {
        fs::create_dir_all(out_dir.join("partial"))?;
        fs::write(out_dir.join("partial/report.json"), report)?;
        eprintln!(
            "examples: filtered run: wrote target/examples/partial/report.json (docs left as they were)"
        );
    }

    let reference: Vec<&str> = results
        .iter()
        .filter(|r| r.status.is_unexpected() && !r.cell.has_rust_side())
        .map(|r| r.id.as_str())
        .collect();
    if !reference.is_empty() {
        eprintln!(
            "examples: Go ↔ Go reference cells not as xtask/examples.toml expects: {}",
            reference.join(", ")
        );
    }
    let unexpected: Vec<&str> = results
        .iter()
        .filter(|r| r.status.is_unexpected() && r.cell.has_rust_side())
        .map(|r| r.id.as_str())
        .collect();
    if !unexpected.is_empty() {
        bail!(
            "{} cell(s) with a Rust side not as xtask/examples.toml expects: {}",
            unexpected.len(),
            unexpected.join(", ")
        );
    }
    Ok(())
}

/// Builds the Go originals and our Go hosts (skipped when go.mod, go.sum, our hosts'
/// sources, the Go version and the package list are unchanged and the binaries exist) and
/// the Rust ports.
fn build(root: &Path, spec: &ExamplesSpec) -> Result<()> {
    let go = crate::peers::require_tool(
        "go",
        "install Go 1.24 or newer (the `tool` directives in go/go.mod need it) and put `go` on PATH",
    )?;
    let module = root.join("go");
    let packages: BTreeSet<&String> = spec
        .examples
        .iter()
        .flat_map(|e| [&e.go_host, &e.go_mux_host, &e.go_plugin])
        .collect();
    let out = root.join("target/go-examples");
    let version = cmd!(&go, "version").read().context("`go version` failed")?;
    let listed: Vec<&str> = packages.iter().map(|p| p.as_str()).collect();
    let stamp = crate::peers::Stamp::new(
        root,
        "go-examples",
        &[
            &module.join("go.mod"),
            &module.join("go.sum"),
            &module.join("cmd/example-hosts"),
            &module.join("internal/examplehost"),
        ],
        &format!("{version}\n{}", listed.join("\n")),
    )?;
    let all_there = packages
        .iter()
        .all(|p| out.join(go_binary_name(p)).exists());
    if stamp.is_fresh() && all_there {
        eprintln!("examples: go: up to date ({})", out.display());
    } else {
        for package in &packages {
            let full = go_import_path(package);
            let bin = out.join(go_binary_name(package));
            eprintln!("examples: go build -o {} {full}", bin.display());
            cmd!(&go, "build", "-o", &bin, &full)
                .dir(&module)
                .run()
                .with_context(|| {
                    format!("`go build` of {full} failed (a go-plugin package must be a `tool` in go/go.mod)")
                })?;
        }
        stamp.write()?;
    }
    eprintln!("examples: rust: cargo build --release -p go-plugin-examples --bins");
    cmd!(
        "cargo",
        "build",
        "--release",
        "-p",
        "go-plugin-examples",
        "--bins"
    )
    .dir(root)
    .run()
    .context("building the Rust examples failed")?;
    Ok(())
}

/// Copies this binary to `target/examples/bin/handshake-tap`, so a `cargo build` that
/// replaces xtask's own binary during a run cannot pull the tap from under a cell.
fn install_tap(out_dir: &Path) -> Result<PathBuf> {
    let dir = out_dir.join("bin");
    fs::create_dir_all(&dir)?;
    let tap = dir.join("handshake-tap");
    let tmp = dir.join(format!("handshake-tap.{}", std::process::id()));
    fs::copy("/proc/self/exe", &tmp).context("copying xtask as the handshake tap")?;
    fs::rename(&tmp, &tap)?;
    Ok(tap)
}

/// Inherited variables that would change what a host or plugin does.
fn scrubbed_variables(spec: &ExamplesSpec) -> Vec<String> {
    let mut names: BTreeSet<String> = [
        "BASIC_PLUGIN",
        "RUST_LOG",
        "KV_PROTO",
        TLS_ENV,
        MULTIPLEX_ENV,
    ]
    .map(String::from)
    .into();
    for ex in &spec.examples {
        names.extend(ex.env.keys().cloned());
        if let PluginLocation::Env(var) = &ex.plugin {
            names.insert(var.clone());
        }
    }
    names.extend(
        std::env::vars_os()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .filter(|k| k.starts_with("PLUGIN_")),
    );
    names.into_iter().collect()
}

/// The variable our example hosts (Rust and Go) read for `--tls` / AutoMTLS
/// (`go_plugin_examples::host::TLS_ENV`, `examplehost.TLSEnv`; xtask depends on no
/// protocol crate, so it is named here too).
pub const TLS_ENV: &str = "SOUP_EXAMPLES_TLS";

/// The variable our example hosts read for `--multiplex` / GRPCBrokerMultiplex
/// (`go_plugin_examples::host::MULTIPLEX_ENV`, `examplehost.MultiplexEnv`).
pub const MULTIPLEX_ENV: &str = "SOUP_EXAMPLES_MULTIPLEX";

/// Versions for the docs line: from `go list -m` in go/, `go version`, `rustc -V`, git.
fn versions(root: &Path) -> Value {
    let module = root.join("go");
    let go_list = |m: &str| {
        cmd!("go", "list", "-m", "-f", "{{.Version}}", m)
            .dir(&module)
            .stderr_null()
            .read()
            .unwrap_or_else(|_| "?".into())
    };
    let read = |e: duct::Expression| e.stderr_null().read().unwrap_or_else(|_| "?".into());
    let go = read(cmd!("go", "version"));
    json!({
        "go-plugin": go_list("github.com/hashicorp/go-plugin"),
        "grpc-go": go_list("google.golang.org/grpc"),
        "go": go.trim_start_matches("go version ").to_string(),
        "rustc": read(cmd!("rustc", "-V")),
        "commit": read(cmd!("git", "rev-parse", "--short=12", "HEAD").dir(root)),
        "dirty": !read(cmd!("git", "status", "--porcelain").dir(root)).trim().is_empty(),
    })
}

/// Programs a run starts, for `cargo xtask test`'s leftover check: the Go example binaries,
/// the tap, and the Rust ports named in `examples.toml`.
pub fn process_patterns(root: &Path) -> Vec<PathBuf> {
    let mut patterns = vec![
        root.join("target/go-examples/"),
        root.join("target/examples/bin/handshake-tap"),
    ];
    if let Ok(spec) = fs::read_to_string(root.join("xtask/examples.toml"))
        .map_err(anyhow::Error::from)
        .and_then(|t| ExamplesSpec::parse(&t))
    {
        let bins: BTreeSet<&String> = spec
            .examples
            .iter()
            .flat_map(|e| [&e.rust_host, &e.rust_plugin])
            .collect();
        patterns.extend(
            bins.into_iter()
                .map(|b| root.join("target/release").join(b)),
        );
    }
    patterns
}
