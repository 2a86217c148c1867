//! Versioned service sets (go-plugin's `VersionedPlugins`): the host offers a list, the
//! plugin picks the highest common version, and the host gets that version's services.

use plugin_core::{HostError, LaunchConfig, PluginClient};

async fn get_with(versions: Vec<u32>) -> Result<(u32, String), HostError> {
    let mut config = LaunchConfig::new([env!("CARGO_BIN_EXE_versioned-plugin")]);
    config.versions = versions;
    let plugin = PluginClient::launch(config).await?;
    let version = plugin.negotiated_version();
    let value = kv_proto::KvClient::new(plugin.channel())
        .get(kv_proto::GetRequest { key: "k".into() })
        .await
        .expect("get")
        .into_inner()
        .value;
    plugin.shutdown().await;
    Ok((version, String::from_utf8(value).unwrap()))
}

#[tokio::test]
async fn the_highest_common_version_picks_the_service_set() {
    assert_eq!(
        get_with(vec![1]).await.unwrap(),
        (1, "served by version 1".into())
    );
    assert_eq!(
        get_with(vec![2, 1]).await.unwrap(),
        (2, "served by version 2".into())
    );
    assert_eq!(
        get_with(vec![1, 2, 7]).await.unwrap(),
        (2, "served by version 2".into())
    );
}

#[tokio::test]
async fn no_common_version_is_refused_naming_both_sides() {
    let err = get_with(vec![5, 6]).await.unwrap_err();
    let HostError::NoCommonVersion { ours, theirs } = &err else {
        panic!("{err:?}");
    };
    assert_eq!((ours.as_slice(), *theirs), ([5, 6].as_slice(), 1));
}
