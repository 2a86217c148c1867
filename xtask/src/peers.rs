//! `cargo xtask peers`: build every peer the matrix drives.
//!
//! - rust: `cargo build --release -p soup-cli -p soup-server -p go-plugin-examples -p
//!   soup-bench-broker -p soup-tests` (the last for the fault matrix's `fault-shim`; cargo
//!   is its own stamp);
//! - go: `go build` of soup-go into `target/peers/bin/soup-go`, of the brokered round trip
//!   bench into `target/peers/bin/soup-go-bench-broker`, and of the Terraform provider built
//!   on terraform-plugin-framework (its own module, `go/terraform-provider-soupkv`) into
//!   `target/peers/bin/terraform-provider-soupkv` (modules fetched by the Go toolchain);
//! - python: a venv in `target/peers/venv` with `python/peer/requirements*.txt`;
//! - python-rs: the binding's abi3 manylinux wheel (`maturin build --release`, into
//!   `target/wheels/dist/`), installed into that venv.
//!
//! Go and Python are skipped when a stamp file under `target/peers/stamps/` holds the hash
//! of every input (sources, pins, tool version), so a second run is quick. A missing tool is
//! an error that names it and how to install it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use duct::cmd;
use sha2::{Digest, Sha256};

use crate::project_root;
use soup_conformance::versions::{Release, VersionsSpec};

/// Flags of `cargo xtask peers`.
#[derive(Args, Debug, Default)]
pub struct PeersArgs {
    /// Build only these peers (comma list of rust, go, python).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Also build older releases (xtask/versions.toml), each in target/peers/<peer>@<version>/:
    /// `all`, release names (`go@v1.6.3`), version prefixes (`go@v1.6`) or peers (`python`).
    #[arg(long, value_delimiter = ',', value_name = "RELEASES")]
    pub versions: Vec<String>,
    /// Read the releases from this file instead of xtask/versions.toml.
    #[arg(long, value_name = "FILE", hide = true)]
    pub versions_file: Option<PathBuf>,
}

/// How to get the toolchains the Go and Python peers build with.
const GO_HINT: &str = "install Go 1.26 or newer (e.g. `apt-get install golang-go`, or the official tarball) and put `go` on PATH";
const PYTHON_HINT: &str =
    "install Python 3.10 or newer with venv support (e.g. `apt-get install python3 python3-venv`)";

/// The peers this command knows how to build.
pub const BUILDABLE: [&str; 4] = ["rust", "go", "python", "python-rs"];

/// Runs `cargo xtask peers`.
pub fn run(args: &PeersArgs) -> Result<()> {
    let root = project_root();
    // Releases first: a declaration or registry problem shows before minutes of building.
    let releases_toml = args
        .versions_file
        .clone()
        .unwrap_or_else(|| root.join("xtask/versions.toml"));
    let text = fs::read_to_string(&releases_toml)
        .with_context(|| format!("reading {}", releases_toml.display()))?;
    let versions = VersionsSpec::parse(&text, &BUILDABLE)?;
    let releases = versions.select(&args.versions)?;
    let wanted: Vec<&str> = if args.only.is_empty() {
        BUILDABLE.to_vec()
    } else {
        args.only.iter().map(String::as_str).collect()
    };
    build_releases(&releases)?;
    build(&wanted)
}

/// Builds older releases of the Go and Python peers, each in `target/peers/<name>/`.
pub fn build_releases(releases: &[&Release]) -> Result<()> {
    let root = project_root();
    for r in releases {
        match (&r.modfile, &r.requirements) {
            (Some(modfile), None) => build_go_release(&root, r, modfile)?,
            (None, Some(req)) => build_python_release(&root, r, req)?,
            _ => bail!("{}: needs exactly one of modfile or requirements", r.name()),
        }
    }
    Ok(())
}

fn build_go_release(root: &Path, r: &Release, modfile: &str) -> Result<()> {
    let go = require_tool("go", GO_HINT)?;
    let modfile = root.join(modfile);
    let text = fs::read_to_string(&modfile)
        .with_context(|| format!("{}: reading its modfile {}", r.name(), modfile.display()))?;
    let pinned = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("github.com/hashicorp/go-plugin "))
        .map(|v| v.split_whitespace().next().unwrap_or(""))
        .next();
    if pinned != Some(r.version.as_str()) {
        bail!(
            "{}: {} requires go-plugin {}, not {}: fix the modfile or the release in xtask/versions.toml",
            r.name(),
            modfile.display(),
            pinned.unwrap_or("(nothing)"),
            r.version
        );
    }
    let module = root.join("go");
    let out = root.join(r.dir()).join("bin/soup-go");
    let version = cmd!(&go, "version").read().context("`go version` failed")?;
    let stamp = Stamp::new(
        root,
        &r.name(),
        &[&module, &modfile],
        &format!("{version} {:?}", r.tags),
    )?;
    if stamp.is_fresh() && out.exists() {
        eprintln!("peers: {}: up to date ({})", r.name(), out.display());
        return Ok(());
    }
    // Every module of the release's build list must be served: say which one is not.
    let download = cmd!(
        &go,
        "mod",
        "download",
        "-json",
        format!("-modfile={}", modfile.display())
    )
    .dir(&module)
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()?;
    if !download.status.success() {
        let refused = unserved_go_modules(
            &String::from_utf8_lossy(&download.stdout),
            &String::from_utf8_lossy(&download.stderr),
        );
        if refused.is_empty() {
            bail!(
                "{}: `go mod download -modfile={}` failed: {}",
                r.name(),
                modfile.display(),
                String::from_utf8_lossy(&download.stderr).trim()
            );
        }
        bail!(
            "{}: the Go module proxy does not serve {}; change {} (and the release in xtask/versions.toml) to a version it serves (`go list -m -versions MODULE` lists them)",
            r.name(),
            refused.join("; "),
            modfile.display()
        );
    }
    let mut argv: Vec<String> = vec!["build".into(), format!("-modfile={}", modfile.display())];
    if !r.tags.is_empty() {
        argv.push(format!("-tags={}", r.tags.join(",")));
    }
    argv.extend([
        "-o".into(),
        out.display().to_string(),
        "./cmd/soup-go".into(),
    ]);
    eprintln!("peers: {}: go {}", r.name(), argv.join(" "));
    duct::cmd(&go, &argv)
        .dir(&module)
        .env("GOFLAGS", "-mod=readonly")
        .run()
        .with_context(|| format!("`go build` of soup-go for {} failed", r.name()))?;
    stamp.write()
}

/// `module@version: error` for each module `go mod download -json` could not fetch: an
/// entry with an `Error`, or (when loading the build list itself failed) the `go:` line on
/// stderr naming the proxy's refusal.
fn unserved_go_modules(json_stream: &str, stderr: &str) -> Vec<String> {
    let mut out: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains(": reading https://"))
        .map(|l| {
            let l = l.trim().trim_start_matches("go: ");
            let status = l.rsplit(": ").next().unwrap_or("");
            match l.split_once(": reading ") {
                Some((module, _)) => format!("{module} ({status})"),
                None => l.to_string(),
            }
        })
        .collect();
    for v in serde_json::Deserializer::from_str(json_stream).into_iter::<serde_json::Value>() {
        let Ok(v) = v else { break };
        if let Some(err) = v.get("Error").and_then(|e| e.as_str()) {
            let first = err.lines().collect::<Vec<_>>().join(" ");
            out.push(first.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    out
}

fn build_python_release(root: &Path, r: &Release, requirements: &str) -> Result<()> {
    let python = require_tool("python3", PYTHON_HINT)?;
    let req = root.join(requirements);
    let text = fs::read_to_string(&req)
        .with_context(|| format!("{}: reading its pins {}", r.name(), req.display()))?;
    for needed in ["pyvider-rpcplugin==", "grpcio=="] {
        if !text.lines().any(|l| l.trim().starts_with(needed)) {
            bail!(
                "{}: {} pins no {needed}VERSION; a release's pin list is complete (top-level and transitive)",
                r.name(),
                req.display()
            );
        }
    }
    let venv = root.join(r.dir()).join("venv");
    let venv_python = venv.join("bin/python");
    let version = cmd!(&python, "--version").read()?;
    let stamp = Stamp::new(root, &r.name(), &[&req], &version)?;
    if stamp.is_fresh() && venv_python.exists() {
        eprintln!("peers: {}: up to date ({})", r.name(), venv.display());
        return Ok(());
    }
    if venv.exists() {
        fs::remove_dir_all(&venv)?;
    }
    eprintln!(
        "peers: {}: {} -m venv {}",
        r.name(),
        python.display(),
        venv.display()
    );
    cmd!(&python, "-m", "venv", &venv)
        .run()
        .context("creating the venv failed")?;
    eprintln!(
        "peers: {}: pip install --no-deps -r {}",
        r.name(),
        req.display()
    );
    let install = cmd!(
        &venv_python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "-r",
        &req
    )
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()?;
    if !install.status.success() {
        // No half-made venv is left to look built.
        let _ = fs::remove_dir_all(root.join(r.dir()));
        let stderr = String::from_utf8_lossy(&install.stderr);
        if let Some(pin) = unserved_python_pin(&stderr) {
            bail!(
                "{}: PyPI serves no wheel for {pin} (pip: {}); change {} to a release it serves (`pip index versions NAME` lists them)",
                r.name(),
                stderr
                    .lines()
                    .filter(|l| l.starts_with("ERROR"))
                    .collect::<Vec<_>>()
                    .join(" "),
                req.display()
            );
        }
        bail!(
            "{}: pip install -r {} failed:
{stderr}",
            r.name(),
            req.display()
        );
    }
    let check = cmd!(&venv_python, "-m", "pip", "check")
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()?;
    let report = String::from_utf8_lossy(&check.stdout);
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !r.pip_check_conflicts.iter().any(|c| l.contains(c.as_str())))
        .collect();
    if !check.status.success() && !unexpected.is_empty() {
        let _ = fs::remove_dir_all(root.join(r.dir()));
        bail!(
            "{}: {} is not a consistent set (pip check):\n{}\n(a conflict installed on purpose goes in the release's pip_check_conflicts in xtask/versions.toml)",
            r.name(),
            req.display(),
            unexpected.join("\n")
        );
    }
    if check.status.success() && !r.pip_check_conflicts.is_empty() {
        let _ = fs::remove_dir_all(root.join(r.dir()));
        bail!(
            "{}: `pip check` finds none of the conflicts xtask/versions.toml declares ({}): drop pip_check_conflicts",
            r.name(),
            r.pip_check_conflicts.join("; ")
        );
    }
    if !check.status.success() {
        eprintln!(
            "peers: {}: installed outside its declared constraints, as xtask/versions.toml says: {}",
            r.name(),
            report.lines().collect::<Vec<_>>().join("; ")
        );
    }
    stamp.write()
}

/// The pin pip could not find (`No matching distribution found for grpcio==1.99.0`).
fn unserved_python_pin(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|l| {
        l.split_once("No matching distribution found for ")
            .map(|(_, pin)| pin.trim().to_string())
    })
}

/// Builds the named peers (`python-rs` rides on the python venv).
pub fn build(peers: &[&str]) -> Result<()> {
    let root = project_root();
    for peer in peers {
        match *peer {
            "rust" => build_rust(&root)?,
            "go" => build_go(&root)?,
            "python" => build_python(&root)?,
            "python-rs" => {
                build_python(&root)?;
                build_python_rs(&root)?;
            }
            other => bail!("unknown peer `{other}` (known: rust, go, python, python-rs)"),
        }
    }
    Ok(())
}

fn build_rust(root: &Path) -> Result<()> {
    eprintln!(
        "peers: rust: cargo build --release -p soup-cli -p soup-server -p go-plugin-examples -p soup-bench-broker -p soup-tests"
    );
    cmd!(
        "cargo",
        "build",
        "--release",
        "-p",
        "soup-cli",
        "-p",
        "soup-server",
        "-p",
        "go-plugin-examples",
        "-p",
        "soup-bench-broker",
        "-p",
        "soup-tests"
    )
    .dir(root)
    .run()
    .context(
        "building the Rust peers (`soup`, `soup-server`, the go-plugin examples, `soup-bench-broker`) failed",
    )?;
    Ok(())
}

fn build_go(root: &Path) -> Result<()> {
    let go = require_tool("go", GO_HINT)?;
    let module = root.join("go");
    let package = go_main_package(&module)?;
    let out = root.join("target/peers/bin/soup-go");
    // The brokered round trip bench of `cargo xtask bench` (host and plugin in one binary).
    let bench_broker = root.join("target/peers/bin/soup-go-bench-broker");
    // A real Terraform provider for `soup probe`; a module of its own so that the framework's
    // dependencies stay out of soup-go's go.mod. Under `go/`, so the stamp below hashes it.
    let provider_module = module.join("terraform-provider-soupkv");
    let provider = root.join("target/peers/bin/terraform-provider-soupkv");
    let version = cmd!(&go, "version").read().context("`go version` failed")?;
    let stamp = Stamp::new(root, "go", &[&module], &version)?;
    if stamp.is_fresh() && out.exists() && bench_broker.exists() && provider.exists() {
        eprintln!("peers: go: up to date ({})", out.display());
        return Ok(());
    }
    eprintln!("peers: go: go build -o {} {package}", out.display());
    cmd!(&go, "build", "-o", &out, &package)
        .dir(&module)
        .run()
        .context("`go build` of soup-go failed")?;
    let bench_package = "./cmd/soup-go-bench-broker";
    eprintln!(
        "peers: go: go build -o {} {bench_package}",
        bench_broker.display()
    );
    cmd!(&go, "build", "-o", &bench_broker, bench_package)
        .dir(&module)
        .run()
        .context("`go build` of soup-go-bench-broker failed")?;
    eprintln!(
        "peers: go: (in {}) go build -o {} .",
        provider_module.display(),
        provider.display()
    );
    cmd!(&go, "build", "-o", &provider, ".")
        .dir(&provider_module)
        .run()
        .context("`go build` of terraform-provider-soupkv failed")?;
    stamp.write()
}

/// The main package of soup-go: `./cmd/soup-go` when it holds Go files, else the module root.
fn go_main_package(module: &Path) -> Result<String> {
    let has_go = |dir: &Path| {
        fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "go"))
        })
    };
    if has_go(&module.join("cmd/soup-go")) {
        Ok("./cmd/soup-go".into())
    } else if has_go(module) {
        Ok(".".into())
    } else {
        bail!(
            "no Go main package for soup-go: expected Go files in {} or {}",
            module.join("cmd/soup-go").display(),
            module.display()
        )
    }
}

fn build_python(root: &Path) -> Result<()> {
    let python = require_tool("python3", PYTHON_HINT)?;
    if cmd!(&python, "-c", "import venv, ensurepip")
        .stdout_null()
        .stderr_null()
        .unchecked()
        .run()?
        .status
        .code()
        != Some(0)
    {
        bail!(
            "`python3` has no working `venv`/`ensurepip` module: install it (e.g. `apt-get install python3-venv`)"
        );
    }
    let peer_dir = root.join("python/peer");
    let requirements = requirement_files(&peer_dir)?;
    let venv = root.join("target/peers/venv");
    let version = cmd!(&python, "--version").read()?;
    let inputs: Vec<&Path> = requirements.iter().map(PathBuf::as_path).collect();
    let stamp = Stamp::new(root, "python", &inputs, &version)?;
    let venv_python = venv.join("bin/python");
    if stamp.is_fresh() && venv_python.exists() {
        eprintln!("peers: python: up to date ({})", venv.display());
        return Ok(());
    }
    if !venv_python.exists() {
        eprintln!(
            "peers: python: {} -m venv {}",
            python.display(),
            venv.display()
        );
        cmd!(&python, "-m", "venv", &venv)
            .run()
            .context("creating the venv failed")?;
    }
    let mut pip = vec![
        "-m".into(),
        "pip".into(),
        "install".into(),
        "--quiet".into(),
    ];
    for file in &requirements {
        pip.push("-r".into());
        pip.push(file.display().to_string());
    }
    eprintln!("peers: python: pip install {}", pip[4..].join(" "));
    duct::cmd(&venv_python, &pip)
        .run()
        .context("installing the Python peer's pinned requirements failed")?;
    stamp.write()
}

/// Builds the Python binding's wheel (`maturin build --release`: an abi3 manylinux wheel
/// in `target/wheels/dist/`, the file a user would install) and installs that wheel into
/// the peers' venv, where the `python-rs` client runs; the binding's pytest suite installs
/// the same file into a fresh venv (`cargo xtask test`). Skipped when none of its inputs
/// changed and the wheel is there.
fn build_python_rs(root: &Path) -> Result<()> {
    let venv_python = root.join("target/peers/venv/bin/python");
    let inputs: Vec<PathBuf> = [
        "python/pyproject.toml",
        "python/soup_rpc",
        "crates/soup-py",
        "crates/soup-client",
        "crates/soup-peer",
        "peer-contract",
        "crates/plugin-core",
        "crates/kv-proto",
        "proto",
        // The workspace manifest: dependency features and profiles live there.
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
    ]
    .iter()
    .map(|p| root.join(p))
    .collect();
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let stamp = Stamp::new(root, "python-rs", &inputs, "")?;
    if stamp.is_fresh() && built_wheel(root).is_ok() {
        eprintln!("peers: python-rs: up to date (soup_rpc in target/peers/venv)");
        return Ok(());
    }
    let dist = root.join(WHEEL_DIR);
    if dist.exists() {
        fs::remove_dir_all(&dist)?;
    }
    eprintln!("peers: python-rs: maturin build --release --out {WHEEL_DIR} (in python/)");
    cmd!(
        root.join("target/peers/venv/bin/maturin"),
        "build",
        "--release",
        "--out",
        &dist
    )
    .dir(root.join("python"))
    .run()
    .context("building the Python binding's wheel (maturin build --release, in python/) failed")?;
    let wheel = built_wheel(root)?;
    eprintln!("peers: python-rs: pip install {}", wheel.display());
    cmd!(
        &venv_python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--force-reinstall",
        "--no-deps",
        &wheel
    )
    .run()
    .context("installing the Python binding's wheel into target/peers/venv failed")?;
    stamp.write()
}

/// Where `maturin build` puts the binding's wheel.
const WHEEL_DIR: &str = "target/wheels/dist";

/// The binding's wheel `cargo xtask peers` built: one `soup_rpc-*-abi3-manylinux*.whl`.
pub fn built_wheel(root: &Path) -> Result<PathBuf> {
    let dir = root.join(WHEEL_DIR);
    let wheels: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| {
            format!(
                "no wheel directory {}: run `cargo xtask peers`",
                dir.display()
            )
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    let [wheel] = wheels.as_slice() else {
        bail!(
            "expected one wheel in {}, found {}: run `cargo xtask peers --only python-rs`",
            dir.display(),
            wheels.len()
        );
    };
    let name = wheel.file_name().unwrap_or_default().to_string_lossy();
    if !(name.starts_with("soup_rpc-") && name.contains("-abi3-") && name.contains("manylinux")) {
        bail!(
            "{name} is not an abi3 manylinux wheel of soup_rpc (maturin build --release should make one)"
        );
    }
    Ok(wheel.clone())
}

/// `python/peer/requirements*.txt`, sorted so the stamp is stable.
fn requirement_files(peer_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(peer_dir)
        .with_context(|| format!("reading {}", peer_dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("requirements") && n.ends_with(".txt"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!(
            "no pinned requirements in {} (requirements*.txt)",
            peer_dir.display()
        );
    }
    Ok(files)
}

/// Finds `tool` on PATH or fails with an install hint.
pub fn require_tool(tool: &str, hint: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("`{tool}` not found on PATH: {hint}"))
}

/// A hash of a build's inputs, stored under `target/peers/stamps/NAME.stamp`.
pub(crate) struct Stamp {
    path: PathBuf,
    digest: String,
}

impl Stamp {
    /// Hashes every file under `inputs` (recursively, in path order) plus `extra`.
    pub(crate) fn new(root: &Path, name: &str, inputs: &[&Path], extra: &str) -> Result<Self> {
        let mut files = Vec::new();
        for input in inputs {
            collect_files(input, &mut files)?;
        }
        files.sort();
        let mut hasher = Sha256::new();
        hasher.update(extra.as_bytes());
        for file in &files {
            hasher.update(file.to_string_lossy().as_bytes());
            hasher.update(fs::read(file).with_context(|| format!("reading {}", file.display()))?);
        }
        Ok(Self {
            path: root
                .join("target/peers/stamps")
                .join(format!("{name}.stamp")),
            digest: hex::encode(hasher.finalize()),
        })
    }

    pub(crate) fn is_fresh(&self) -> bool {
        fs::read_to_string(&self.path).is_ok_and(|s| s.trim() == self.digest)
    }

    pub(crate) fn write(&self) -> Result<()> {
        fs::create_dir_all(self.path.parent().expect("stamp has a parent"))?;
        fs::write(&self.path, &self.digest)?;
        Ok(())
    }
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    // Build products and caches that appear beside sources are not inputs, nor is the
    // matrix's own output that `soup` embeds (the binding does not; every matrix run
    // rewrites it, which would rebuild the binding every time).
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "__pycache__"
        || name == "target"
        || name == "recorded-matrix.json"
        || name.ends_with(".pyc")
        || name.ends_with(".so")
    {
        return Ok(());
    }
    if path.is_dir() {
        for entry in fs::read_dir(path)? {
            collect_files(&entry?.path(), out)?;
        }
    } else if path.is_file() {
        out.push(path.to_path_buf());
    }
    Ok(())
}
