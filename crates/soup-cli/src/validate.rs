//! `soup validate`: answers "does CLIENT → SERVER work with this TLS mode and key?" from
//! the recorded matrix; nothing about compatibility is known here otherwise. By default it
//! answers from the matrix run built into the binary (`recorded-matrix.json`, which every
//! full `cargo xtask matrix` rewrites), so an installed `soup` answers anywhere;
//! `--report target/matrix/report.json` reads a local run instead, and `--probe` re-runs
//! that run's client command live and shows what crossed the wire this time.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use soup_client::KeyType;
use soup_conformance::outputs::{Answer, read_answers};
use soup_conformance::peer_report;
use soup_conformance::verdict::Verdict;
use soup_conformance::versions::VersionsSpec;

/// Arguments of `soup validate`.
#[derive(clap::Args)]
pub struct ValidateArgs {
    /// Client language: rust | go | python | python-rs
    #[arg(long)]
    pub client: String,
    /// Server language: rust | go | python
    #[arg(long)]
    pub server: String,
    /// off | auto | manual
    #[arg(long)]
    pub tls: String,
    /// Key type (ignored for tls off); aliases such as secp384r1 or P-521 accepted.
    #[arg(long)]
    pub key: Option<String>,
    /// tcp | unix
    #[arg(long, default_value = "unix")]
    pub transport: String,
    /// A matrix report to answer from (e.g. `target/matrix/report.json` after
    /// `cargo xtask matrix`); default: the run recorded into this binary.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Run the pairing live (its recorded command) instead of only reading the record.
    #[arg(long)]
    pub probe: bool,
    /// The client's release on the matrix's version axis (xtask/versions.toml): `v1.6.3`
    /// for go (go-plugin), `grpcio-1.56`, `1.56` or `pyvider-0.4` for python; a prefix
    /// that names one release is enough. Default: the newest.
    #[arg(long, value_name = "VERSION")]
    pub client_version: Option<String>,
    /// The server's release, as --client-version.
    #[arg(long, value_name = "VERSION")]
    pub server_version: Option<String>,
}

/// The answers of the last full `cargo xtask matrix` run (verdicts and causes only).
const RECORDED: &str = include_str!("../recorded-matrix.json");

/// The answers of the last `cargo xtask matrix --versions all` run.
const RECORDED_VERSIONS: &str = include_str!("../recorded-versions.json");

/// The version axis' declaration, for resolving `--client-version 1.56`.
const VERSIONS_TOML: &str = include_str!("../../../xtask/versions.toml");

/// `peer` or `peer@label`: the name a release has in the matrix's cells.
fn release_name(
    versions: &VersionsSpec,
    role: &str,
    given: &str,
    version: Option<&str>,
) -> anyhow::Result<(String, bool)> {
    let (peer, inline) = soup_conformance::versions::split(given);
    let query = match (inline, version) {
        (Some(_), Some(_)) => bail!(
            "--{role} {given} already names a release: leave out --{role}-version, or give --{role} {peer}"
        ),
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => return Ok((peer.to_string(), false)),
    };
    let label = versions
        .resolve_label(peer, query)
        .with_context(|| format!("--{role}-version {query}"))?;
    if versions.newest.get(peer) == Some(&label) {
        return Ok((peer.to_string(), false));
    }
    let name = format!("{peer}@{label}");
    if let Some(r) = versions.release(&name).filter(|r| !r.has_role(role)) {
        bail!(
            "{name} has no {role} role in the matrix: {}",
            r.roles_note.as_deref().unwrap_or("see xtask/versions.toml")
        );
    }
    Ok((name, true))
}

fn find<'a>(
    cells: &'a [Answer],
    (client, server): (&str, &str),
    args: &ValidateArgs,
    key: Option<&str>,
) -> Option<&'a Answer> {
    cells.iter().find(|c| {
        c.client == client
            && c.server == server
            && c.requested.tls == args.tls
            && c.requested.transport == args.transport
            && (args.tls == "off" || c.requested.key.as_deref() == key)
    })
}

pub async fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let key = match (&args.key, args.tls.as_str()) {
        (_, "off") => None,
        (Some(k), _) => Some(k.parse::<KeyType>()?.as_str()),
        (None, _) => bail!("--key is required with --tls {}", args.tls),
    };
    let versions = VersionsSpec::parse(VERSIONS_TOML, &["rust", "go", "python", "python-rs"])
        .context("the version axis built into this binary does not parse")?;
    let (client, client_old) = release_name(
        &versions,
        "client",
        &args.client,
        args.client_version.as_deref(),
    )?;
    let (server, server_old) = release_name(
        &versions,
        "server",
        &args.server,
        args.server_version.as_deref(),
    )?;
    if client_old && server_old {
        bail!(
            "the matrix crosses one older release at a time with the newest of the other peer: \
             {client} → {server} was never run; give the newest for one side"
        );
    }
    let versioned = client_old || server_old;
    let (answers, source) = match &args.report {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "no matrix report at {}: run `cargo xtask matrix` first, or leave out --report to use the recorded one",
                    path.display()
                )
            })?;
            let answers = read_answers(&text).with_context(|| {
                format!(
                    "{} is not a matrix report (`cargo xtask matrix` writes target/matrix/report.json)",
                    path.display()
                )
            })?;
            (answers, path.display().to_string())
        }
        None if versioned => (
            read_answers(RECORDED_VERSIONS)
                .context("the version axis recorded into this binary does not parse")?,
            format!(
                "`--versions all` run built into soup {}",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        None => (
            read_answers(RECORDED)
                .context("the matrix recorded into this binary does not parse")?,
            format!("built into soup {}", env!("CARGO_PKG_VERSION")),
        ),
    };
    let cell = find(&answers.cells, (&client, &server), &args, key).with_context(|| {
        let hint = if versioned {
            let names: std::collections::BTreeSet<&str> = answers
                .cells
                .iter()
                .flat_map(|c| [c.client.as_str(), c.server.as_str()])
                .filter(|n| n.contains('@'))
                .collect();
            format!(
                "releases in this record: {}",
                names.into_iter().collect::<Vec<_>>().join(", ")
            )
        } else {
            "known clients/servers: rust, go, python, python-rs".to_string()
        };
        format!(
            "the recorded matrix has no cell {} → {} tls={} key={} transport={} ({hint})",
            client,
            server,
            args.tls,
            key.unwrap_or("-"),
            args.transport
        )
    })?;
    let verdict = serde_json::to_value(cell.verdict)?;
    let verdict = verdict.as_str().unwrap_or("unknown");
    println!(
        "{} → {}  tls={} key={} transport={}: {} (matrix run of {}, {source})",
        client,
        server,
        args.tls,
        key.unwrap_or("-"),
        args.transport,
        verdict.to_uppercase(),
        answers.generated_at,
    );
    for (label, value) in [
        ("cause", &cell.cause),
        ("first error", &cell.first_error),
        ("n/a because", &cell.na_reason),
    ] {
        if let Some(v) = value {
            println!("  {label}: {v}");
        }
    }
    if args.probe {
        if args.report.is_none() {
            bail!(
                "--probe re-runs a local matrix run's command: run `cargo xtask matrix`, then pass --report target/matrix/report.json"
            );
        }
        return probe(cell).await;
    }
    Ok(if cell.verdict == Verdict::Pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Re-runs the recorded client command with a fresh store and reports what it saw.
async fn probe(cell: &Answer) -> anyhow::Result<ExitCode> {
    if cell.command.is_empty() {
        println!("  probe: nothing to run (the cell is n/a: a peer cannot express it)");
        return Ok(ExitCode::FAILURE);
    }
    let mut argv = cell.command.clone();
    let store = std::env::temp_dir().join(format!("soup-validate-{}", std::process::id()));
    if let Some(v) = argv
        .iter()
        .position(|a| a == "--store")
        .and_then(|i| argv.get_mut(i + 1))
    {
        *v = store.display().to_string();
    }
    let out = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| {
            format!(
                "running {:?} (build the peers: `cargo xtask peers`)",
                argv[0]
            )
        })?;
    let _ = std::fs::remove_dir_all(&store);
    let report = peer_report::parse(&String::from_utf8_lossy(&out.stdout)).with_context(|| {
        format!(
            "the client printed no valid report; its stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let observed = &report.observed;
    let key_type = |c: &Option<peer_report::ReportedCert>| {
        c.as_ref()
            .map_or("none".to_string(), |c| c.key_type.clone())
    };
    println!("  probe: client verdict ok={}", report.ok);
    let tls = observed.tls.as_ref();
    println!(
        "  probe: server certificate {}, client certificate the server saw {}, TLS {} {}",
        key_type(&observed.server_certificate),
        key_type(
            &observed
                .server_saw
                .as_ref()
                .and_then(|s| s.peer_certificate.clone())
        ),
        tls.and_then(|t| t.version.as_deref()).unwrap_or("-"),
        tls.and_then(|t| t.cipher_suite.as_deref()).unwrap_or(""),
    );
    if let Some(e) = &report.error {
        println!("  probe: first error: {}", e.message);
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_matrix_reads_typed_and_other_files_are_named() {
        let answers = read_answers(RECORDED).unwrap();
        assert!(
            answers
                .cells
                .iter()
                .any(|c| c.client == "rust" && c.server == "go" && c.verdict == Verdict::Pass),
            "the recorded matrix has a passing rust → go cell"
        );
        let e =
            read_answers(r#"{"schema":"soup-rpc/peer-report/v1","generated_at":"x","cells":[]}"#)
                .unwrap_err()
                .to_string();
        assert!(e.contains("soup-rpc/matrix-report/v1"), "{e}");
        let e = read_answers("{").unwrap_err().to_string();
        assert!(e.starts_with("not a matrix report"), "{e}");
    }

    fn versions() -> VersionsSpec {
        VersionsSpec::parse(VERSIONS_TOML, &["rust", "go", "python", "python-rs"]).unwrap()
    }

    #[test]
    fn the_recorded_version_axis_has_every_declared_release_in_each_of_its_roles() {
        let answers = read_answers(RECORDED_VERSIONS).unwrap();
        for r in &versions().releases {
            let name = r.name();
            for (role, present) in [
                ("client", answers.cells.iter().any(|c| c.client == name)),
                ("server", answers.cells.iter().any(|c| c.server == name)),
            ] {
                assert_eq!(
                    present,
                    r.has_role(role),
                    "{name} as {role}: crates/soup-cli/recorded-versions.json is stale; rerun `cargo xtask matrix --versions all`"
                );
            }
        }
    }

    #[test]
    fn release_names_resolve_from_flags_or_inline() {
        let v = versions();
        let name = |given: &str, version: Option<&str>| {
            release_name(&v, "server", given, version).map_err(|e| format!("{e:#}"))
        };
        assert_eq!(name("go", None).unwrap(), ("go".into(), false));
        assert_eq!(name("go", Some("v1.8.0")).unwrap(), ("go".into(), false));
        assert_eq!(name("go", Some("1.7")).unwrap(), ("go@v1.7.0".into(), true));
        assert_eq!(name("go@v1.4.8", None).unwrap(), ("go@v1.4.8".into(), true));
        assert!(
            name("go@v1.4.8", Some("v1.4.8"))
                .unwrap_err()
                .contains("already names a release")
        );
        assert!(name("go", Some("v1.6")).unwrap_err().contains("ambiguous"));
        let e = release_name(&v, "client", "go", Some("v1.4.8"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no client role") && e.contains("RunnerFunc"),
            "{e}"
        );
    }
}
