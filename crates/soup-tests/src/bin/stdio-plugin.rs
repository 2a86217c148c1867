//! A test plugin that writes to the host through GRPCStdio: once a host reads the
//! stream, it prints a line on stdout (redirected to the stream after the handshake, as
//! go-plugin does) and sends a line as stderr through `PluginStdio`.

use std::time::Duration;

use plugin_core::{MagicCookie, PluginContext, ServeConfig};

fn main() -> std::process::ExitCode {
    let config = ServeConfig::new(MagicCookie::kv_example(), vec![1]);
    plugin_core::run_plugin_with("stdio-plugin", config, |ctx: &PluginContext| {
        let stdio = ctx.stdio().clone();
        tokio::spawn(async move {
            // Wait (bounded) for the host's StreamStdio call.
            for _ in 0..500 {
                if stdio.is_streaming() {
                    println!("plugin stdout line");
                    stdio.stderr("plugin stderr line\n");
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        tonic::service::Routes::default()
    })
}
