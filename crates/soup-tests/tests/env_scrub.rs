//! A host's own `PLUGIN_*` variables must not reach its plugin. This file holds one
//! test so that changing the process environment races with nothing.

mod common;

use common::*;
use plugin_core::{PluginClient, TlsMode};

#[tokio::test]
async fn inherited_plugin_variables_are_scrubbed() {
    let stray = plugin_core::SelfSignedCert::generate(plugin_core::KeyType::EcP256).unwrap();
    // SAFETY: the only test in this binary, before any thread reads the environment.
    unsafe {
        std::env::set_var("PLUGIN_MULTIPLEX_GRPC", "true");
        std::env::set_var("PLUGIN_CLIENT_CERT", stray.pem());
        std::env::set_var("PLUGIN_UNIX_SOCKET_DIR", "/nonexistent-socket-dir");
        std::env::set_var("PLUGIN_PROTOCOL_VERSIONS", "9");
    }
    let store = tempfile::tempdir().unwrap();
    let mut cfg = kv_launch(store.path(), &["--transport", "unix"]);
    cfg.tls = TlsMode::Off;
    let plugin = PluginClient::launch(cfg)
        .await
        .expect("inherited variables must not leak");
    let hs = plugin.handshake();
    assert_eq!(
        hs.multiplex,
        None,
        "PLUGIN_MULTIPLEX_GRPC leaked: {}",
        plugin.raw_handshake()
    );
    assert_eq!(hs.server_cert, None, "PLUGIN_CLIENT_CERT leaked");
    assert!(
        !hs.address.starts_with("/nonexistent"),
        "PLUGIN_UNIX_SOCKET_DIR leaked"
    );
    assert_eq!(hs.app_version, 1);
    plugin.shutdown().await;
}
