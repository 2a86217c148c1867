//! `grpc-host`: go-plugin's `examples/grpc/main.go` in Rust.
//!
//! `KV_PROTO=grpc KV_PLUGIN=CMD grpc-host [--tls auto|off] [--multiplex] put KEY VALUE | get KEY`:
//! runs `sh -c "$KV_PLUGIN"` as a go-plugin plugin (`BASIC_PLUGIN=hello`, version 1)
//! and calls its KV service. Like the Go host, errors go to stdout as `error: …` with
//! exit code 1; `KV_PROTO=netrpc` (go-plugin's net/rpc protocol) is refused, as soup-rpc
//! speaks gRPC only. Usage errors exit 2.

use std::process::ExitCode;

use clap::Parser;
use go_plugin_examples::grpc;
use go_plugin_examples::host::{self, HostArgs};
use go_plugin_examples::kv::{self, KV_PROTO_UNSET, KvCommand, KvProtocol};

/// go-plugin's KV example host.
#[derive(Parser, Debug)]
#[command(
    name = "grpc-host",
    version,
    about = "go-plugin's examples/grpc host in Rust: KV_PLUGIN is the plugin command (run by sh -c), KV_PROTO must be grpc"
)]
struct Cli {
    #[command(flatten)]
    host: HostArgs,
    #[command(subcommand)]
    command: KvCommand,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    host::init_logging("grpc-host", "info");
    match KvProtocol::from_env() {
        Some(KvProtocol::Grpc) => {}
        Some(KvProtocol::NetRpc) => {
            println!(
                "error: KV_PROTO=netrpc: go-plugin's net/rpc protocol is not supported by soup-rpc, which speaks go-plugin's gRPC protocol only; use KV_PROTO=grpc"
            );
            return ExitCode::FAILURE;
        }
        None => {
            println!("{KV_PROTO_UNSET}");
            return ExitCode::FAILURE;
        }
    }
    let result = host::block_on(host::with_plugin(
        &grpc::plugin_spec(),
        &cli.host,
        |connection| async move { kv::run(connection.channel, &cli.command).await },
    ));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error: {e:#}");
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
