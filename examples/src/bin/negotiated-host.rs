//! `negotiated-host`: go-plugin's `examples/negotiated/main.go` in Rust, gRPC only.
//!
//! `KV_PROTO=grpc negotiated-host [--tls auto|off] [--multiplex] put KEY VALUE | get KEY` runs
//! `./kv-plugin` from the working directory offering protocol version 3 (gRPC KV).
//! `KV_PROTO=netrpc` would offer version 2 over go-plugin's net/rpc protocol, which
//! soup-rpc does not support: the host says so and exits 1. As in the Go host, errors go
//! to stdout as `Error: …` with exit code 1. Usage errors exit 2.

use std::process::ExitCode;

use clap::Parser;
use go_plugin_examples::host::{self, HostArgs};
use go_plugin_examples::kv::{self, KV_PROTO_UNSET, KvCommand, KvProtocol};
use go_plugin_examples::negotiated;

/// go-plugin's negotiated-version KV example host.
#[derive(Parser, Debug)]
#[command(
    name = "negotiated-host",
    version,
    about = "go-plugin's examples/negotiated host in Rust: runs ./kv-plugin; KV_PROTO=grpc offers version 3 (netrpc, version 2, is not supported)"
)]
struct Cli {
    #[command(flatten)]
    host: HostArgs,
    #[command(subcommand)]
    command: KvCommand,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    host::init_logging("negotiated-host", "info");
    match KvProtocol::from_env() {
        Some(KvProtocol::Grpc) => {}
        Some(KvProtocol::NetRpc) => {
            println!("Error: {}", negotiated::NETRPC_UNSUPPORTED);
            return ExitCode::FAILURE;
        }
        None => {
            println!("{KV_PROTO_UNSET}");
            return ExitCode::FAILURE;
        }
    }
    let result = host::block_on(host::with_plugin(
        &negotiated::plugin_spec(),
        &cli.host,
        |connection| async move { kv::run(connection.channel, &cli.command).await },
    ));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
