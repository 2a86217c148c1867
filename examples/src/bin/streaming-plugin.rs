//! `streaming-plugin`: go-plugin's `examples/streaming/plugin` in Rust: stores what the
//! host streams to it in the file the host configured (relative to the working
//! directory) and streams it back in chunks. The Go host runs it as `./plugin/streamer`.
//! Logs at debug level by default, as the Go plugin's trace-level logger.

use go_plugin_examples::{host, streaming};

fn main() -> std::process::ExitCode {
    host::init_logging(
        "streamer",
        "info,streaming_plugin=debug,go_plugin_examples=debug",
    );
    tracing::debug!("plugin launched, about to be served");
    plugin_core::run_plugin("streaming-plugin", streaming::serve_config(), || {
        streaming::FileStreamer::default().routes()
    })
}
