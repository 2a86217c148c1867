//! Rust host ↔ Rust plugin over every TLS mode, key type and transport, with the
//! certificate that actually crossed the wire checked by parsing it.

mod common;

use common::*;
use futures::StreamExt;
use plugin_core::{CertificateInfo, ExitHow, KeyChoice, KeyType, Network, TlsMode};
use soup_client::KvClient;

async fn roundtrip(kv: &KvClient) {
    let all: Vec<u8> = (0..=255).collect();
    kv.put("binary", &all).await.unwrap();
    assert_eq!(kv.get("binary").await.unwrap(), all);
    kv.put("empty", b"").await.unwrap();
    assert_eq!(kv.get("empty").await.unwrap(), b"");
    let err = kv.get("missing").await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::NotFound));
    assert!(err.to_string().contains("missing"), "{err}");
}

/// host key × plugin key × transport over AutoMTLS, every cell checked on the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automtls_every_key_type_on_each_side_and_transport() {
    let mut cells = Vec::new();
    for host in KeyType::ALL {
        for plugin in KeyType::ALL {
            for transport in [Network::Tcp, Network::Unix] {
                cells.push((host, plugin, transport));
            }
        }
    }
    let results: Vec<_> = futures::stream::iter(cells)
        .map(|(host, plugin, transport)| async move {
            let store = tempfile::tempdir().unwrap();
            let mut cfg = kv_launch(
                store.path(),
                &["--key", plugin.as_str(), "--transport", transport.as_str()],
            );
            cfg.key = host;
            let kv = KvClient::launch(cfg)
                .await
                .unwrap_or_else(|e| panic!("{host}->{plugin} {transport}: {e}"));
            let p = kv.plugin();
            assert_eq!(p.handshake().network, transport);
            let advertised =
                CertificateInfo::from_der(p.handshake().server_cert.as_ref().unwrap()).unwrap();
            let presented = p.server_certificate().unwrap();
            assert_eq!(presented.key_type, plugin.as_str());
            assert_eq!(
                presented, advertised,
                "the TLS certificate is the advertised one"
            );
            let ours = CertificateInfo::from_der(&p.client_certificate().unwrap().der).unwrap();
            assert_eq!(ours.key_type, host.as_str());
            assert!(p.tls_session().unwrap().version.starts_with("TLSv1."));
            roundtrip(&kv).await;
            let exit = kv.shutdown().await;
            assert_eq!(
                exit.how,
                ExitHow::Exited,
                "{host}->{plugin} {transport}: {exit:?}"
            );
            assert_eq!(exit.code, Some(0));
        })
        .buffer_unordered(4)
        .collect()
        .await;
    assert_eq!(results.len(), 50);
}

#[tokio::test]
async fn plugin_key_defaults_to_match_the_host_key() {
    assert_eq!(KeyChoice::default(), KeyChoice::Match);
    for host in [KeyType::EcP384, KeyType::EcP521, KeyType::Rsa2048] {
        let store = tempfile::tempdir().unwrap();
        let mut cfg = kv_launch(store.path(), &[]);
        cfg.key = host;
        let kv = KvClient::launch(cfg).await.unwrap();
        assert_eq!(
            kv.plugin().server_certificate().unwrap().key_type,
            host.as_str()
        );
        kv.shutdown().await;
    }
}

#[tokio::test]
async fn plaintext_when_both_sides_say_off() {
    for transport in [Network::Tcp, Network::Unix] {
        let store = tempfile::tempdir().unwrap();
        let mut cfg = kv_launch(
            store.path(),
            &["--tls", "off", "--transport", transport.as_str()],
        );
        cfg.tls = TlsMode::Off;
        let kv = KvClient::launch(cfg).await.unwrap();
        assert!(kv.plugin().tls_session().is_none());
        assert!(kv.plugin().handshake().server_cert.is_none());
        roundtrip(&kv).await;
        assert_eq!(kv.shutdown().await.code, Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_tls_every_key_type_and_transport() {
    for key in KeyType::ALL {
        let pki = Pki::new(key);
        for transport in [Network::Tcp, Network::Unix] {
            let store = tempfile::tempdir().unwrap();
            let mut args: Vec<String> = pki.server_args();
            // The handshake probe below needs the peer contract's switch.
            args.extend([
                "--transport".into(),
                transport.as_str().into(),
                "--peer-contract".into(),
            ]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut cfg = kv_launch(store.path(), &args);
            cfg.tls = TlsMode::Manual;
            cfg.manual = Some(pki.client_tls());
            let kv = KvClient::launch(cfg)
                .await
                .unwrap_or_else(|e| panic!("{key} {transport}: {e}"));
            assert!(
                kv.plugin().handshake().server_cert.is_none(),
                "manual: field 6 empty, as go-plugin"
            );
            let seen = kv.plugin().server_certificate().unwrap();
            assert_eq!(seen, CertificateInfo::from_der(&pki.server_leaf).unwrap());
            assert_eq!(seen.key_type, key.as_str());
            roundtrip(&kv).await;
            kv.put("handshake-probe", br#"{"server_handshake":null}"#)
                .await
                .unwrap();
            let probe: serde_json::Value =
                serde_json::from_slice(&kv.get("handshake-probe").await.unwrap()).unwrap();
            let client = CertificateInfo::from_der(&pki.client_leaf).unwrap();
            assert_eq!(probe["server_handshake"]["tls_mode"], "manual");
            assert_eq!(
                probe["server_handshake"]["peer_certificate"]["sha256"],
                client.sha256.as_str()
            );
            kv.shutdown().await;
        }
    }
}

#[tokio::test]
async fn acknowledged_put_survives_kill_9() {
    let store = tempfile::tempdir().unwrap();
    let kv = KvClient::launch(kv_launch(store.path(), &[]))
        .await
        .unwrap();
    let big: Vec<u8> = (0..4 << 20).map(|i| (i % 253) as u8).collect();
    kv.put("durable", &big).await.unwrap();
    let pid = kv.plugin().pid().unwrap();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc_kill(pid as i32, 9) }, 0);
    let exit = kv.shutdown().await;
    assert_eq!(exit.signal, Some(9));
    let kv = KvClient::launch(kv_launch(store.path(), &[]))
        .await
        .unwrap();
    assert_eq!(kv.get("durable").await.unwrap(), big);
    kv.shutdown().await;
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[tokio::test]
async fn plugin_ignores_sigint_as_go_plugin_plugins_do() {
    let store = tempfile::tempdir().unwrap();
    let kv = KvClient::launch(kv_launch(store.path(), &[]))
        .await
        .unwrap();
    let pid = kv.plugin().pid().unwrap();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc_kill(pid as i32, 2) }, 0);
    // Still serving after the interrupt (a Ctrl-C in a terminal reaches the whole
    // process group; the host sequences plugin shutdown).
    kv.put("after-sigint", b"still here").await.unwrap();
    assert_eq!(kv.get("after-sigint").await.unwrap(), b"still here");
    let exit = kv.shutdown().await;
    assert_eq!((exit.how, exit.code), (ExitHow::Exited, Some(0)));
}
