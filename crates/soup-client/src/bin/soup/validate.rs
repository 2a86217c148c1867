//! `soup validate`: answers from the recorded matrix (`target/matrix/report.json` or
//! `--report FILE`), or with `--probe` runs the pairing live.

use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Key type (ignored for tls off).
    #[arg(long, default_value = "ec-p256")]
    pub key: String,
    /// tcp | unix
    #[arg(long, default_value = "unix")]
    pub transport: String,
    /// The matrix report to answer from.
    #[arg(long, default_value = "target/matrix/report.json")]
    pub report: PathBuf,
    /// Run the pairing live instead (needs the peers built: `cargo xtask peers`).
    #[arg(long)]
    pub probe: bool,
}

pub async fn run(_args: ValidateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("soup validate is not wired to the matrix report yet")
}
