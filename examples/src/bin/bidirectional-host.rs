//! `bidirectional-host`: go-plugin's `examples/bidirectional/main.go` in Rust.
//!
//! `COUNTER_PLUGIN=CMD bidirectional-host [--tls off|auto] [--multiplex] put KEY N | get KEY`
//! runs `sh -c "$COUNTER_PLUGIN"` as a go-plugin plugin (`BASIC_PLUGIN=hello`,
//! version 1) and calls its Counter; for `put` it serves AddHelper to the plugin through
//! the GRPCBroker. `get` prints the count. As in the Go host, errors go to stdout as
//! `Error: …` with exit code 1; usage errors (and an N that is not an integer) exit 2.

use std::process::ExitCode;

use clap::Parser;
use go_plugin_examples::bidirectional::{self, CounterCommand};
use go_plugin_examples::host::{self, HostArgs};

/// go-plugin's bidirectional (GRPCBroker) example host.
#[derive(Parser, Debug)]
#[command(
    name = "bidirectional-host",
    version,
    about = "go-plugin's examples/bidirectional host in Rust: COUNTER_PLUGIN is the plugin command (run by sh -c); the host serves AddHelper back to it through the GRPCBroker"
)]
struct Cli {
    #[command(flatten)]
    host: HostArgs,
    #[command(subcommand)]
    command: CounterCommand,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    host::init_logging("bidirectional-host", "info");
    let result = host::block_on(host::with_plugin(
        &bidirectional::plugin_spec(),
        &cli.host,
        |connection| async move { bidirectional::run(connection, &cli.command).await },
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
    use clap::{CommandFactory, Parser};

    #[test]
    fn command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn flags_go_before_the_command_and_negative_counts_parse() {
        let cli = super::Cli::try_parse_from([
            "bidirectional-host",
            "--tls",
            "auto",
            "--multiplex",
            "put",
            "a",
            "-3",
        ])
        .unwrap();
        assert!(cli.host.multiplex);
        assert_eq!(
            cli.command,
            super::CounterCommand::Put {
                key: "a".into(),
                value: -3
            }
        );
    }
}
