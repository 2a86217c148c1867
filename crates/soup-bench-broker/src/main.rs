//! `soup-bench-broker`: benchmark only (not a product binary). Times go-plugin's brokered
//! round trip, the shape of go-plugin's `examples/bidirectional`: the host calls
//! `Counter.Put(add_server = id, …)`, and inside that call the plugin dials the host's
//! `AddHelper` through the GRPCBroker under `id`, calls `Sum`, and only then replies.
//!
//! ```text
//! soup-bench-broker host [--tls auto|off] [--key ec-p256] [--multiplex] [--steady-calls N]
//!     [--steady-warmup N] [--per-call-calls N] [--per-call-warmup N] -- PLUGIN-COMMAND...
//! soup-bench-broker plugin
//! ```
//!
//! The host measures two patterns, each against a fresh plugin process, and prints one
//! JSON object (xtask/README.md, "cargo xtask bench"):
//!
//! - `steady`: the host serves AddHelper once; the plugin dials it on the first Put and
//!   keeps the connection, so each timed Put makes one `Sum` over an already dialled
//!   brokered connection;
//! - `per_call`: go-plugin's example per Put: next id, `accept_and_serve`, Put (the
//!   plugin dials, calls Sum, closes), stop the brokered server. The whole sequence is
//!   timed.
//!
//! The plugin learns which pattern from `SOUP_BENCH_BROKER_DIAL` (`once` or `per-call`),
//! set by the host. Its counter lives in memory (go-plugin's example writes a file per
//! Put; that would measure the disk, not the broker). The Go counterpart is
//! `go/cmd/soup-go-bench-broker`, on go-plugin's own GRPCBroker; both speak go-plugin's
//! `examples/bidirectional/proto` on the wire, so a Rust host drives a Go plugin and back.

mod host;
mod plugin;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The environment variable through which the host tells the plugin how to dial.
pub const DIAL_ENV: &str = "SOUP_BENCH_BROKER_DIAL";

/// The magic cookie of go-plugin's examples/bidirectional (`shared.Handshake`).
pub const COOKIE: (&str, &str) = ("BASIC_PLUGIN", "hello");

mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("proto");
}

#[derive(Parser)]
#[command(
    name = "soup-bench-broker",
    about = "Times go-plugin's brokered round trip (benchmark only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Launch the plugin command and time brokered round trips (one JSON object on stdout).
    Host(host::HostArgs),
    /// Serve the Counter as a go-plugin plugin (started by a host).
    Plugin,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Plugin => plugin::main(),
        Command::Host(args) => host::main(args),
    }
}
