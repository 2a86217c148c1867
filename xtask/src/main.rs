//! `cargo xtask`: the project's automation, in plain Rust.
//!
//! One module per command (`peers`, `matrix`, `examples`, `test`, `bench`); this file only
//! parses flags and dispatches. xtask depends on no protocol crate: it drives peers as
//! processes and reads their JSON reports (docs/peer-contract.md).

mod bench;
mod conformance;
mod examples;
mod faults;
mod matrix;
mod peers;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command line of `cargo xtask`.
#[derive(Parser)]
#[command(name = "cargo xtask", about = "soup-rpc project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build every peer: Rust binaries (release), soup-go, the Python peer's venv.
    Peers(peers::PeersArgs),
    /// Run every client×server×TLS×transport cell and record what was observed.
    #[command(args_conflicts_with_subcommands = true)]
    Matrix(matrix::MatrixArgs),
    /// Host ↔ plugin benchmarks, side by side, as ratios to go-plugin's Go ↔ Go.
    Bench(bench::BenchArgs),
    /// go-plugin's examples: Go originals against the Rust ports, both ways.
    Examples(examples::ExamplesArgs),
    /// Relays a plugin's stdout and records its handshake line (used by `examples`).
    #[command(hide = true)]
    HandshakeTap(examples::tap::TapArgs),
    /// `soup conformance` on every plugin we have, into docs/conformance.md.
    Conformance(conformance::ConformanceArgs),
    /// The project's one test command: peers, cargo/go/pytest, matrix, snapshot, leftovers.
    Test(test::TestArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Peers(args) => peers::run(&args),
        Command::Matrix(args) => matrix::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Conformance(args) => conformance::run(&args),
        Command::Examples(args) => examples::run(&args),
        Command::HandshakeTap(args) => examples::tap::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of `xtask/`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
