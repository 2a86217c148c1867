//! A call whose plugin is killed under it names the plugin's death.
#![cfg(unix)]

mod common;

/// A plugin killed under a call is named in the call's error (not tonic's bare
/// `UNKNOWN: transport error`).
#[tokio::test]
async fn a_call_to_a_killed_plugin_says_the_plugin_exited() {
    let store = tempfile::tempdir().unwrap();
    let mut config = soup_client::LaunchConfig::new([common::soup_server()]);
    config.command.extend(
        ["server", "--tls", "off", "--store"]
            .map(Into::into)
            .into_iter()
            .chain([store.path().as_os_str().to_owned()]),
    );
    config.tls = soup_client::TlsMode::Off;
    let kv = soup_client::KvClient::launch(config).await.unwrap();
    kv.put("before", b"ok").await.unwrap();
    let pid = kv.plugin().pid().expect("a launched plugin has a pid");
    // SAFETY: killing the plugin this test launched.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    kv.plugin().exited().await;
    let err = kv.put("after", b"lost").await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::Unavailable), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("the plugin exited during the call (killed by signal 9)"),
        "{text}"
    );
    let exit = kv.shutdown().await;
    assert_eq!(exit.signal, Some(9));
}
