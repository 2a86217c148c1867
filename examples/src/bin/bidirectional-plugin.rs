//! `bidirectional-plugin`: go-plugin's `examples/bidirectional/plugin-go-grpc` in Rust: a
//! Counter whose Put has the host do the addition, by dialling the host's AddHelper
//! through the GRPCBroker under the id the host put in the request. State is a JSON file
//! `kv_<key>` in the working directory (`{"Value":N}`), as the Go plugin keeps it.
//! Started by a go-plugin host (`BASIC_PLUGIN=hello`, version 1), never by hand.

use go_plugin_examples::bidirectional::{self, FileCounter};
use plugin_core::PluginContext;

fn main() -> std::process::ExitCode {
    plugin_core::run_plugin_with(
        "bidirectional-plugin",
        bidirectional::serve_config(),
        |ctx: &PluginContext| FileCounter::new(ctx.broker().clone()).routes(),
    )
}
