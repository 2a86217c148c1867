//! Every host error provoked for real by a misbehaving or misconfigured plugin, each
//! within a bounded time, with the exact variant asserted.

mod common;

use std::time::{Duration, Instant};

use common::*;
use plugin_core::{HostError, MagicCookie, PluginClient, TlsMode};

async fn launch_err(cfg: plugin_core::LaunchConfig) -> (HostError, Duration) {
    let t = Instant::now();
    let res = tokio::time::timeout(Duration::from_secs(30), PluginClient::launch(cfg))
        .await
        .expect("launch returned within 30 s");
    match res {
        Ok(p) => panic!("launch unexpectedly succeeded: {:?}", p.raw_handshake()),
        Err(e) => (e, t.elapsed()),
    }
}

#[tokio::test]
async fn rejects_wrong_cookie_with_plugin_stderr() {
    let store = tempfile::tempdir().unwrap();
    let mut cfg = kv_launch(store.path(), &[]);
    cfg.cookie = MagicCookie::new("BASIC_PLUGIN", "goodbye");
    let (err, _) = launch_err(cfg).await;
    match &err {
        HostError::CookieRejected { code, stderr_tail } => {
            assert_eq!(*code, Some(1));
            assert!(
                stderr_tail
                    .iter()
                    .any(|l| l.contains("This binary is a plugin")),
                "{stderr_tail:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("magic cookie"), "{err}");
}

#[tokio::test]
async fn no_common_version_names_both_lists() {
    let store = tempfile::tempdir().unwrap();
    let mut cfg = kv_launch(store.path(), &[]);
    cfg.versions = vec![7, 9];
    let (err, _) = launch_err(cfg).await;
    match &err {
        HostError::NoCommonVersion { ours, theirs } => {
            assert_eq!(ours, &vec![7, 9]);
            assert_eq!(*theirs, 1, "the plugin answers with its lowest version");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn handshake_timeout_carries_stderr_tail() {
    let mut cfg = misbehaving(&["silent"]);
    cfg.handshake_timeout = Duration::from_millis(800);
    let (err, took) = launch_err(cfg).await;
    match &err {
        HostError::HandshakeTimeout { after, stderr_tail } => {
            assert_eq!(*after, Duration::from_millis(800));
            assert!(
                stderr_tail.iter().any(|l| l.contains("very slowly")),
                "{stderr_tail:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test]
async fn garbage_line_is_malformed_and_quoted() {
    let (err, _) = launch_err(misbehaving(&["garbage"])).await;
    match &err {
        HostError::Malformed(plugin_core::HandshakeLineError::Malformed { line, .. }) => {
            assert_eq!(line, "hello world, I am not a plugin");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn overlong_line_is_malformed() {
    let (err, _) = launch_err(misbehaving(&["overlong"])).await;
    match &err {
        HostError::Malformed(plugin_core::HandshakeLineError::Malformed { reason, line }) => {
            assert!(reason.contains("64 KiB"), "{reason}");
            assert!(line.len() <= 200);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn exit_before_handshake_reports_code_and_stderr() {
    let (err, _) = launch_err(misbehaving(&["exit", "3"])).await;
    match &err {
        HostError::Exited {
            code,
            signal,
            stderr_tail,
        } => {
            assert_eq!(*code, Some(3));
            assert_eq!(*signal, None);
            assert!(
                stderr_tail
                    .iter()
                    .any(|l| l.contains("could not open database"))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("exit code 3"), "{err}");
}

#[tokio::test]
async fn refuses_plaintext_plugin_when_tls_required() {
    let store = tempfile::tempdir().unwrap();
    let cfg = kv_launch(store.path(), &["--tls", "off"]);
    assert_eq!(cfg.tls, TlsMode::Auto);
    let (err, _) = launch_err(cfg).await;
    match &err {
        HostError::PlaintextWhenTlsRequired { line } => assert!(line.ends_with("|grpc|"), "{line}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn tls_failure_names_the_peer_key_type_and_cause() {
    let (err, _) = launch_err(misbehaving(&["wrong-cert"])).await;
    match &err {
        HostError::Tls {
            peer_key, cause, ..
        } => {
            assert_eq!(peer_key.as_deref(), Some("ec-p384"));
            assert!(cause.to_lowercase().contains("certificate"), "{cause}");
            // The cause stays typed: rustls' own error, not only its text.
            assert!(
                matches!(
                    err.rustls_error(),
                    Some(rustls::Error::InvalidCertificate(_))
                ),
                "{:?}",
                err.rustls_error()
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn certificate_when_tls_is_off_is_refused() {
    let store = tempfile::tempdir().unwrap();
    let mut cfg = kv_launch(store.path(), &[]);
    cfg.tls = TlsMode::Off;
    let host = plugin_core::SelfSignedCert::generate(plugin_core::KeyType::EcP256).unwrap();
    cfg.env
        .push(("PLUGIN_CLIENT_CERT".into(), host.pem().into()));
    let (err, _) = launch_err(cfg).await;
    assert!(matches!(err, HostError::UnexpectedCertificate), "{err:?}");
}

#[tokio::test]
async fn missing_plugin_binary_is_a_spawn_error() {
    let cfg = plugin_core::LaunchConfig::new(["/nonexistent/soup-plugin"]);
    let (err, _) = launch_err(cfg).await;
    match &err {
        HostError::Spawn { command, .. } => assert_eq!(command, "/nonexistent/soup-plugin"),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.io_error_kind(), Some(std::io::ErrorKind::NotFound));
}

#[tokio::test]
async fn plugin_that_dies_after_its_handshake_is_a_connect_error() {
    let mut cfg = misbehaving(&["crash-after-handshake"]);
    cfg.tls = TlsMode::Off;
    let (err, _) = launch_err(cfg).await;
    assert!(matches!(err, HostError::Connect { .. }), "{err:?}");
    assert!(
        matches!(
            err.io_error_kind(),
            Some(std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound)
        ),
        "{:?}",
        err.io_error_kind()
    );
}
