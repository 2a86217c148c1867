//! Bad input around the broker and reattach, against the real plugin: each a typed error
//! naming the id or address, in bounded time, with nothing left running.

mod common;

use std::time::{Duration, Instant};

use plugin_core::reattach::{ReattachAddr, ReattachConfig};
use plugin_core::{AttachConfig, BrokerError, HostError, PluginClient};

#[tokio::test]
async fn dialling_an_id_the_plugin_never_served_times_out_naming_it() {
    let store = tempfile::tempdir().unwrap();
    let mut cfg = common::kv_launch(store.path(), &[]);
    cfg.broker.timeout = Duration::from_millis(300);
    let plugin = PluginClient::launch(cfg).await.unwrap();
    let started = Instant::now();
    let err = plugin.broker().dial(99).await.unwrap_err();
    assert!(
        matches!(err, BrokerError::Timeout { id: 99, .. }),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.to_string().contains("99"), "{err}");
    plugin.shutdown().await;
}

#[tokio::test]
async fn a_multiplexed_knock_for_an_unknown_id_is_refused_by_the_plugin() {
    let store = tempfile::tempdir().unwrap();
    let mut cfg = common::kv_launch(store.path(), &[]);
    cfg.multiplex = true;
    let plugin = PluginClient::launch(cfg).await.unwrap();
    let started = Instant::now();
    let err = plugin.broker().dial(42).await.unwrap_err();
    match &err {
        BrokerError::Knock { id: 42, reason } => {
            assert!(reason.contains("no listener for id 42"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    // The session is still good for the main connection.
    let mut kv = kv_proto::KvClient::new(plugin.channel());
    kv.put(kv_proto::PutRequest {
        key: "k".into(),
        value: b"v".to_vec(),
    })
    .await
    .unwrap();
    let exit = plugin.shutdown().await;
    assert_eq!(exit.how, plugin_core::ExitHow::Exited);
}

#[tokio::test]
async fn a_closed_broker_refuses_dials_and_serving() {
    let store = tempfile::tempdir().unwrap();
    let plugin = PluginClient::launch(common::kv_launch(store.path(), &[]))
        .await
        .unwrap();
    plugin.broker().close();
    let err = plugin.broker().dial(1).await.unwrap_err();
    assert!(matches!(err, BrokerError::Closed { id: 1 }), "{err:?}");
    let err = plugin
        .broker()
        .accept_and_serve(2, tonic::service::Routes::default())
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Closed { id: 2 }), "{err:?}");
    plugin.shutdown().await;
}

fn reattach(pid: i32, address: &str) -> AttachConfig {
    AttachConfig::new(ReattachConfig {
        protocol: "grpc".into(),
        protocol_version: 1,
        addr: ReattachAddr {
            network: "unix".into(),
            string: address.into(),
        },
        pid,
        test: true,
    })
}

#[tokio::test]
async fn attaching_to_an_address_that_refuses_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("plugin-gone");
    let gone = gone.to_str().unwrap();
    // A live pid (ours), so only the address is wrong.
    let err = PluginClient::attach(reattach(std::process::id() as i32, gone))
        .await
        .unwrap_err();
    match &err {
        HostError::Connect { address, .. } => assert_eq!(address, gone),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.io_error_kind(), Some(std::io::ErrorKind::NotFound));
}

#[tokio::test]
async fn attaching_to_a_dead_pid_is_refused_naming_it() {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    child.wait().unwrap();
    let err = PluginClient::attach(reattach(pid, "/nonexistent"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HostError::AttachedProcessGone { pid: p, .. } if p == pid),
        "{err:?}"
    );
    assert!(err.to_string().contains(&pid.to_string()), "{err}");
}

#[tokio::test]
async fn attaching_with_a_version_the_host_does_not_speak_is_refused() {
    let mut cfg = reattach(std::process::id() as i32, "/nonexistent");
    cfg.versions = vec![5, 6];
    let err = PluginClient::attach(cfg).await.unwrap_err();
    assert!(
        matches!(err, HostError::NoCommonVersion { theirs: 1, .. }),
        "{err:?}"
    );
}
