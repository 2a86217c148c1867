//! GRPCStdio both ways: what a plugin prints on stdout after its handshake, and what it
//! sends through `PluginStdio` as stderr, reach the writers the host chose.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugin_core::{LaunchConfig, PluginClient, StdioSink};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

async fn until(what: &str, f: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within 10 s"));
}

#[tokio::test]
async fn plugin_stdout_and_stderr_reach_the_hosts_writers() {
    let (out, err) = (Buf::default(), Buf::default());
    let mut config = LaunchConfig::new([env!("CARGO_BIN_EXE_stdio-plugin")]);
    config.stdout = StdioSink::Writer(Arc::new(Mutex::new(out.clone())));
    config.stderr = StdioSink::Writer(Arc::new(Mutex::new(err.clone())));
    let plugin = PluginClient::launch(config).await.expect("launch");
    until("the stdout line", || {
        out.text().contains("plugin stdout line")
    })
    .await;
    until("the stderr line", || {
        err.text().contains("plugin stderr line")
    })
    .await;
    assert!(
        !out.text().contains("stderr"),
        "channels kept apart: {:?}",
        out.text()
    );
    // hclog lines stay on the plugin's real stderr, not in the stream.
    assert!(!err.text().contains("@level"), "{:?}", err.text());
    plugin.shutdown().await;
}
