//! The broker in the direction go-plugin's examples do not show: the plugin serves, the
//! host dials, over AutoMTLS and plaintext, with and without multiplexing.

use plugin_core::{LaunchConfig, PluginClient, TlsMode};

#[tokio::test]
async fn the_host_dials_what_its_plugin_serves_through_the_broker() {
    for (tls, multiplex) in [
        (TlsMode::Auto, false),
        (TlsMode::Off, false),
        (TlsMode::Auto, true),
        (TlsMode::Off, true),
    ] {
        let mut config = LaunchConfig::new([env!("CARGO_BIN_EXE_broker-plugin")]);
        config.tls = tls;
        config.multiplex = multiplex;
        let plugin = PluginClient::launch(config).await.unwrap();
        for _ in 0..2 {
            let id: u32 = String::from_utf8(
                kv_proto::KvClient::new(plugin.channel())
                    .get(kv_proto::GetRequest {
                        key: "serve".into(),
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .value,
            )
            .unwrap()
            .parse()
            .unwrap();
            let channel = plugin
                .broker()
                .dial(id)
                .await
                .unwrap_or_else(|e| panic!("{tls} mux={multiplex}: {e}"));
            let status = tonic_health::pb::health_client::HealthClient::new(channel)
                .check(tonic_health::pb::HealthCheckRequest {
                    service: "brokered".into(),
                })
                .await
                .unwrap()
                .into_inner()
                .status;
            assert_eq!(
                status,
                tonic_health::ServingStatus::Serving as i32,
                "{tls} mux={multiplex}"
            );
        }
        let exit = plugin.shutdown().await;
        assert_eq!(
            exit.how,
            plugin_core::ExitHow::Exited,
            "{tls} mux={multiplex}"
        );
    }
}
