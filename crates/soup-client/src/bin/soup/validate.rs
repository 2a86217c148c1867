//! `soup validate`: answers "does CLIENT → SERVER work with this TLS mode and key?" from
//! the recorded matrix; nothing about compatibility is known here otherwise. By default it
//! answers from the matrix run built into the binary (`recorded-matrix.json`, which every
//! full `cargo xtask matrix` rewrites), so an installed `soup` answers anywhere;
//! `--report target/matrix/report.json` reads a local run instead, and `--probe` re-runs
//! that run's client command live and shows what crossed the wire this time.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde_json::Value;
use soup_client::KeyType;

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
}

/// The answers of the last full `cargo xtask matrix` run (verdicts and causes only).
const RECORDED: &str = include_str!("../../../recorded-matrix.json");

fn find<'a>(report: &'a Value, args: &ValidateArgs, key: Option<&str>) -> Option<&'a Value> {
    report["cells"].as_array()?.iter().find(|c| {
        c["client"] == args.client.as_str()
            && c["server"] == args.server.as_str()
            && c["requested"]["tls"] == args.tls.as_str()
            && c["requested"]["transport"] == args.transport.as_str()
            && (args.tls == "off" || c["requested"]["key"].as_str() == key)
    })
}

pub async fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let key = match (&args.key, args.tls.as_str()) {
        (_, "off") => None,
        (Some(k), _) => Some(k.parse::<KeyType>()?.as_str()),
        (None, _) => bail!("--key is required with --tls {}", args.tls),
    };
    let (report, source): (Value, String) = match &args.report {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "no matrix report at {}: run `cargo xtask matrix` first, or leave out --report to use the recorded one",
                    path.display()
                )
            })?;
            let report = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a matrix report", path.display()))?;
            (report, path.display().to_string())
        }
        None => (
            serde_json::from_str(RECORDED)
                .context("the matrix recorded into this binary does not parse")?,
            format!("built into soup {}", env!("CARGO_PKG_VERSION")),
        ),
    };
    let cell = find(&report, &args, key).with_context(|| {
        format!(
            "the recorded matrix has no cell {} → {} tls={} key={} transport={} (known clients/servers: rust, go, python, python-rs)",
            args.client,
            args.server,
            args.tls,
            key.unwrap_or("-"),
            args.transport
        )
    })?;
    let verdict = cell["verdict"].as_str().unwrap_or("unknown");
    println!(
        "{} → {}  tls={} key={} transport={}: {} (matrix run of {}, {source})",
        args.client,
        args.server,
        args.tls,
        key.unwrap_or("-"),
        args.transport,
        verdict.to_uppercase(),
        report["generated_at"].as_str().unwrap_or("?"),
    );
    for (label, field) in [
        ("cause", "cause"),
        ("first error", "first_error"),
        ("n/a because", "na_reason"),
    ] {
        if let Some(v) = cell[field].as_str() {
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
    Ok(if verdict == "pass" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Re-runs the recorded client command with a fresh store and reports what it saw.
async fn probe(cell: &Value) -> anyhow::Result<ExitCode> {
    let Some(argv) = cell["command"].as_array() else {
        println!("  probe: nothing to run (the cell is n/a: a peer cannot express it)");
        return Ok(ExitCode::FAILURE);
    };
    let mut argv: Vec<String> = argv
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
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
    let report: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "the client printed no report; its stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let observed = &report["observed"];
    println!("  probe: client verdict ok={}", report["ok"]);
    println!(
        "  probe: server certificate {}, client certificate the server saw {}, TLS {} {}",
        observed["server_certificate"]["key_type"]
            .as_str()
            .unwrap_or("none"),
        observed["server_saw"]["peer_certificate"]["key_type"]
            .as_str()
            .unwrap_or("none"),
        observed["tls"]["version"].as_str().unwrap_or("-"),
        observed["tls"]["cipher_suite"].as_str().unwrap_or(""),
    );
    if let Some(e) = report["error"]["message"].as_str() {
        println!("  probe: first error: {e}");
    }
    Ok(if report["ok"] == true {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
