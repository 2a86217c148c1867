//! Deadlines: a call to a frozen plugin (SIGSTOP) returns `KvError::DeadlineExceeded`
//! once its deadline passes, instead of waiting forever; the client stays usable and the
//! plugin is still shut down and reaped.
//!
//! The plugin is the real `soup-server` of this workspace: the one built next to this
//! test (`target/<profile>/soup-server`), else `target/release/soup-server`; when neither
//! exists the test builds it with the cargo running the tests.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use soup_client::{ExitHow, KvClient, KvError, LaunchConfig};

const DEADLINE: Duration = Duration::from_millis(300);
/// How long a call with [`DEADLINE`] may take before the test calls it hung.
const HUNG: Duration = Duration::from_secs(30);

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{sig} {pid} failed");
}

/// SIGSTOPs the plugin; SIGCONTs it when dropped, so a failed assertion leaves no
/// stopped process behind.
struct Frozen(u32);

impl Frozen {
    fn new(pid: u32) -> Self {
        signal(pid, "STOP");
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

fn expect_deadline(got: Result<impl std::fmt::Debug, KvError>, want_op: &str) -> KvError {
    let err = got.expect_err("a call to a frozen plugin succeeded");
    match &err {
        KvError::DeadlineExceeded {
            op,
            key,
            deadline,
            message,
            ..
        } => {
            assert_eq!(*op, want_op);
            assert_eq!(key, "k");
            assert_eq!(*deadline, DEADLINE);
            assert_eq!(*message, None, "the frozen plugin cannot have answered");
        }
        other => panic!("expected KvError::DeadlineExceeded, got {other:?}"),
    }
    assert_eq!(err.code(), Some(tonic::Code::DeadlineExceeded));
    err
}

#[tokio::test]
async fn a_call_to_a_frozen_plugin_ends_at_its_deadline() {
    let store = tempfile::tempdir().unwrap();
    let mut config = LaunchConfig::new([
        common::soup_server().into_os_string(),
        "server".into(),
        "--store".into(),
        store.path().into(),
    ]);
    config.handshake_timeout = Duration::from_secs(20);
    let kv = KvClient::launch(config).await.expect("launch soup-server");
    assert_eq!(kv.timeout(), None, "no deadline unless the caller sets one");
    kv.put("k", b"v").await.unwrap();
    let pid = kv.plugin().pid().expect("the plugin's pid");

    let frozen = Frozen::new(pid);
    // Per call.
    let started = Instant::now();
    let got = tokio::time::timeout(HUNG, kv.get_with_timeout("k", Some(DEADLINE)))
        .await
        .expect("a Get with a 300 ms deadline to a frozen plugin never returned");
    let err = expect_deadline(got, "get");
    assert!(
        started.elapsed() >= DEADLINE,
        "returned before its deadline"
    );
    assert_eq!(
        err.to_string(),
        "get \"k\": no answer within 300ms (deadline exceeded); the plugin may be frozen or \
         overloaded; raise the call timeout if it is only slow"
    );
    // The client's default.
    let kv = kv.with_timeout(Some(DEADLINE));
    assert_eq!(kv.timeout(), Some(DEADLINE));
    let got = tokio::time::timeout(HUNG, kv.put("k", b"w"))
        .await
        .expect("a Put with the client's 300 ms deadline to a frozen plugin never returned");
    expect_deadline(got, "put");
    drop(frozen);

    // Thawed, the same client answers again (the abandoned Put may or may not have landed).
    let got = tokio::time::timeout(HUNG, kv.get("k"))
        .await
        .expect("a Get to the thawed plugin never returned")
        .expect("Get after SIGCONT");
    assert!(got == b"v" || got == b"w", "{got:?}");
    let exit = tokio::time::timeout(HUNG, kv.shutdown())
        .await
        .expect("shutdown never returned");
    assert_eq!(exit.how, ExitHow::Exited, "{exit:?}");
    assert_eq!(exit.code, Some(0), "{exit:?}");
    // Reaped: not even a zombie is left.
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "plugin {pid} was not reaped"
    );
}
