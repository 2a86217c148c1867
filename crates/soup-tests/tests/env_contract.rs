//! The plugin side of the env contract, observed from a real host launch: port range,
//! socket directory, multiplexing answer, hclog JSON on stderr, and the client report's
//! JSON Schema.

mod common;

use common::*;
use plugin_core::{Network, PluginClient, TlsMode};

#[tokio::test]
async fn tcp_listener_stays_within_the_port_range() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = tempfile::tempdir().unwrap();
    let mut cfg = kv_launch(store.path(), &["--transport", "tcp"]);
    cfg.env
        .push(("PLUGIN_MIN_PORT".into(), port.to_string().into()));
    cfg.env
        .push(("PLUGIN_MAX_PORT".into(), port.to_string().into()));
    let plugin = PluginClient::launch(cfg).await.unwrap();
    assert_eq!(plugin.handshake().network, Network::Tcp);
    assert_eq!(plugin.handshake().address, format!("127.0.0.1:{port}"));
    plugin.shutdown().await;
}

#[tokio::test]
async fn unix_socket_goes_in_the_socket_dir_and_is_removed_on_shutdown() {
    let store = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let mut cfg = kv_launch(store.path(), &["--transport", "unix"]);
    cfg.env.push((
        "PLUGIN_UNIX_SOCKET_DIR".into(),
        sockets.path().as_os_str().into(),
    ));
    let plugin = PluginClient::launch(cfg).await.unwrap();
    let path = std::path::PathBuf::from(&plugin.handshake().address);
    assert_eq!(path.parent(), Some(sockets.path()));
    assert!(path.exists());
    plugin.shutdown().await;
    assert!(!path.exists(), "socket removed after a graceful shutdown");
}

#[tokio::test]
async fn multiplexes_when_the_host_asks_and_kv_works_over_the_yamux_session() {
    let store = tempfile::tempdir().unwrap();
    for tls in [plugin_core::TlsMode::Auto, plugin_core::TlsMode::Off] {
        let mut cfg = kv_launch(store.path(), &[]);
        cfg.tls = tls;
        cfg.multiplex = true;
        let plugin = PluginClient::launch(cfg).await.unwrap();
        assert_eq!(plugin.handshake().multiplex, Some(true));
        assert!(
            plugin.raw_handshake().ends_with("|true"),
            "{}",
            plugin.raw_handshake()
        );
        assert!(plugin.broker().is_multiplexed());
        let mut kv = kv_proto::KvClient::new(plugin.channel());
        kv.put(kv_proto::PutRequest {
            key: "k".into(),
            value: b"over yamux".to_vec(),
        })
        .await
        .unwrap();
        let got = kv
            .get(kv_proto::GetRequest { key: "k".into() })
            .await
            .unwrap()
            .into_inner()
            .value;
        assert_eq!(got, b"over yamux");
        let exit = plugin.shutdown().await;
        assert_eq!(exit.how, plugin_core::ExitHow::Exited, "{exit:?}");
    }
}

#[tokio::test]
async fn a_go_false_multiplex_value_is_answered_false_in_field_7() {
    let store = tempfile::tempdir().unwrap();
    let mut cfg = kv_launch(store.path(), &[]);
    cfg.env
        .push(("PLUGIN_MULTIPLEX_GRPC".into(), "false".into()));
    let plugin = PluginClient::launch(cfg).await.unwrap();
    assert_eq!(plugin.handshake().multiplex, Some(false));
    assert!(plugin.raw_handshake().ends_with("|false"));
    plugin.shutdown().await;
}

#[tokio::test]
async fn a_plugin_without_field_7_is_refused_when_multiplexing_is_asked() {
    let mut cfg =
        plugin_core::LaunchConfig::new(["sh", "-c", "echo '1|1|tcp|127.0.0.1:9|grpc|'; sleep 30"]);
    cfg.tls = plugin_core::TlsMode::Off;
    cfg.multiplex = true;
    let err = PluginClient::launch(cfg).await.unwrap_err();
    assert!(
        matches!(err, plugin_core::HostError::MultiplexUnsupported { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("field 7"), "{err}");
}

#[tokio::test]
async fn plugin_stderr_is_hclog_json() {
    let store = tempfile::tempdir().unwrap();
    let plugin = PluginClient::launch(kv_launch(store.path(), &[]))
        .await
        .unwrap();
    // The "plugin serving" line precedes serving; the host's reader may lag a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while plugin.stderr_tail().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let exit_tail = plugin.stderr_tail();
    plugin.shutdown().await;
    assert!(!exit_tail.is_empty());
    for line in &exit_tail {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["@level", "@message", "@timestamp", "@module"] {
            assert!(v[key].is_string(), "{key} in {line}");
        }
        let ts = v["@timestamp"].as_str().unwrap();
        assert_eq!(ts.split('.').nth(1).unwrap().len(), 7, "6 digits + Z: {ts}");
    }
}

#[tokio::test]
async fn client_report_matches_the_json_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../proto/peer-report.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let store = tempfile::tempdir().unwrap();
    for (tls, server_tls) in [(TlsMode::Auto, "auto"), (TlsMode::Off, "off")] {
        let run = soup_peer::report::ClientRun {
            tls,
            key: plugin_core::KeyType::EcP384,
            transport: Network::Unix,
            manual: None,
            server_command: vec![
                KV_PLUGIN.into(),
                "server".into(),
                "--peer-contract".into(),
                "--tls".into(),
                server_tls.into(),
                "--store".into(),
                store.path().display().to_string(),
            ],
            timeout: std::time::Duration::from_secs(20),
            versions: vec![1],
            script: Default::default(),
        };
        let report = serde_json::to_value(soup_peer::report::run_client(run).await).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(report["steps"].as_array().unwrap().len(), 16);
    }
    // A failing run validates too.
    let run = soup_peer::report::ClientRun {
        tls: TlsMode::Auto,
        key: plugin_core::KeyType::EcP256,
        transport: Network::Unix,
        manual: None,
        server_command: vec![MISBEHAVING.into(), "exit".into(), "4".into()],
        timeout: std::time::Duration::from_secs(20),
        versions: vec![1],
        script: Default::default(),
    };
    let report = serde_json::to_value(soup_peer::report::run_client(run).await).unwrap();
    assert!(validator.iter_errors(&report).next().is_none(), "{report}");
    assert_eq!(report["error"]["stage"], "handshake");
    assert_eq!(report["ok"], false);
}
