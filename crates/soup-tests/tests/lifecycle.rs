//! Host lifecycle knobs go-plugin users ask for: a configurable Shutdown grace
//! (go-plugin#295), a future that resolves when the plugin dies unexpectedly
//! (go-plugin#92), and killing the plugin's whole process group.

mod common;

use std::time::{Duration, Instant};

use plugin_core::{ExitHow, PluginClient};

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[tokio::test]
async fn a_frozen_plugin_is_killed_after_the_configured_grace() {
    let store = tempfile::tempdir().unwrap();
    let mut config = common::kv_launch(store.path(), &[]);
    config.shutdown_grace = Duration::from_millis(300);
    let plugin = PluginClient::launch(config).await.unwrap();
    let pid = plugin.pid().unwrap() as i32;
    // SAFETY: our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let started = Instant::now();
    let exit = plugin.shutdown().await;
    let took = started.elapsed();
    assert_eq!(exit.how, ExitHow::Killed, "{exit:?}");
    assert_eq!(exit.signal, Some(libc::SIGKILL));
    // Two graces (the RPC, then the exit) and slack; far below go-plugin's fixed 2 s + 2 s.
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert!(!alive(pid));
}

#[tokio::test]
async fn unexpected_exit_resolves_when_the_plugin_is_killed_from_outside() {
    let store = tempfile::tempdir().unwrap();
    let plugin = PluginClient::launch(common::kv_launch(store.path(), &[]))
        .await
        .unwrap();
    let died = plugin.unexpected_exit();
    let pid = plugin.pid().unwrap() as i32;
    // SAFETY: our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let exit = tokio::time::timeout(Duration::from_secs(5), died)
        .await
        .expect("resolves")
        .expect("an unexpected exit");
    assert_eq!(
        (exit.how, exit.signal),
        (ExitHow::Signaled, Some(libc::SIGKILL))
    );
    let mut plugin = plugin;
    assert!(plugin.has_exited());
    assert_eq!(plugin.pid(), None, "no pid once reaped");
}

#[tokio::test]
async fn a_requested_shutdown_is_not_unexpected() {
    let store = tempfile::tempdir().unwrap();
    let plugin = PluginClient::launch(common::kv_launch(store.path(), &[]))
        .await
        .unwrap();
    let died = plugin.unexpected_exit();
    let exit = plugin.shutdown().await;
    assert_eq!(exit.how, ExitHow::Exited);
    assert_eq!(died.await, None);
}

#[tokio::test]
async fn process_group_takes_a_wrappers_children_along() {
    let store = tempfile::tempdir().unwrap();
    // `sh -c 'plugin; true'`: sh stays the parent (no exec), as wrappers do.
    let script = format!(
        "{} server --store {}; true",
        common::KV_PLUGIN,
        store.path().display()
    );
    let mut config = plugin_core::LaunchConfig::new(["sh", "-c", script.as_str()]);
    config.process_group = true;
    config.shutdown_grace = Duration::from_millis(200);
    let plugin = PluginClient::launch(config).await.unwrap();
    let sh = plugin.pid().unwrap() as i32;
    let inner = children_of(sh);
    assert_eq!(inner.len(), 1, "sh runs one plugin: {inner:?}");
    // Freeze the real plugin so only a kill ends it.
    // SAFETY: a process of the group we started.
    unsafe { libc::kill(inner[0], libc::SIGSTOP) };
    let exit = plugin.shutdown().await;
    assert_eq!(exit.how, ExitHow::Killed, "{exit:?}");
    tokio::time::timeout(Duration::from_secs(5), async {
        while alive(inner[0]) && !is_zombie(inner[0]) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the wrapped plugin dies with its group");
}

fn children_of(pid: i32) -> Vec<i32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}
