//! A real host that holds its plugin: launches `PLUGIN...` with `PluginClient` (which pipes
//! and reads the plugin's stderr, as every real host does), prints the plugin's pid on
//! stdout, and waits until it is killed. The host-death tests kill it.

use std::io::Write as _;

fn main() -> std::process::ExitCode {
    let command: Vec<String> = std::env::args().skip(1).collect();
    if command.is_empty() {
        eprintln!("usage: holding-host PLUGIN-COMMAND...");
        return std::process::ExitCode::from(2);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let plugin = match plugin_core::PluginClient::launch(plugin_core::LaunchConfig::new(
            command,
        ))
        .await
        {
            Ok(p) => p,
            Err(e) => {
                eprintln!("holding-host: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let pid = plugin.pid().expect("a launched plugin has a pid");
        let mut out = std::io::stdout().lock();
        writeln!(out, "{pid}")
            .and_then(|()| out.flush())
            .expect("stdout");
        drop(out);
        std::future::pending::<()>().await;
        unreachable!("pending never completes")
    })
}
