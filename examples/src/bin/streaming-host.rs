//! `streaming-host`: go-plugin's `examples/streaming/main.go` in Rust.
//!
//! `streaming-host [--tls auto|off] [--multiplex] PATH` runs `./plugin/streamer` from the working
//! directory, configures PATH and a chunk size of 10, streams "Lorem ipsum dolor sit
//! amet" to the plugin and reads it back under a 1000-byte message limit, logging
//! `received N bytes` (hclog JSON, debug) on stderr. Errors go to stderr with exit code 1,
//! usage errors exit 2.

use std::process::ExitCode;

use clap::Parser;
use go_plugin_examples::host::{self, HostArgs};
use go_plugin_examples::streaming::{self, CHUNK_SIZE, PAYLOAD, Streamer};

/// go-plugin's streaming example host.
#[derive(Parser, Debug)]
#[command(
    name = "streaming-host",
    version,
    about = "go-plugin's examples/streaming host in Rust: runs ./plugin/streamer, writes PATH through it and reads it back"
)]
struct Cli {
    #[command(flatten)]
    host: HostArgs,
    /// The file the plugin writes (relative to the plugin's working directory).
    path: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    host::init_logging(
        "streaming-host",
        "info,streaming_host=debug,plugin_core::host::stderr=debug",
    );
    tracing::debug!("launching a client");
    let path = cli.path.clone();
    let result = host::block_on(host::with_plugin(
        &streaming::plugin_spec(),
        &cli.host,
        |connection| async move {
            let mut streamer = Streamer::new(connection.channel);
            streamer.configure(&path, CHUNK_SIZE).await?;
            streamer.write(PAYLOAD).await?;
            tracing::debug!("writing finished");
            let bytes = streamer.read().await?;
            tracing::debug!(
                bytes = %String::from_utf8_lossy(&bytes),
                "received {} bytes",
                bytes.len()
            );
            Ok(())
        },
    ));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streaming-host: {e:#}");
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
