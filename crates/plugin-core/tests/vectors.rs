//! Parsers and verifiers against lines, certificates and logs captured from real
//! go-plugin v1.8.0 and pyvider-rpcplugin peers (copied from shared/vectors), so these
//! hold without Go or Python installed.

use plugin_core::certificate::pem_to_ders;
use plugin_core::{CertificateInfo, HandshakeLine, Network};

fn vector(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn go_plugin_automtls_line_carries_an_unpadded_p521_ca_certificate() {
    let raw = vector("go-plugin-automtls.line");
    let field6 = raw.trim_end().split('|').nth(5).unwrap();
    assert_eq!(field6.len() % 4, 2, "go-plugin writes unpadded base64");
    let line = HandshakeLine::parse(&raw).unwrap();
    assert_eq!(line.core_version, 1);
    let info = CertificateInfo::from_der(line.server_cert.as_ref().unwrap()).unwrap();
    assert_eq!(info.key_type, "ec-p521");
    assert_eq!(info.signature_algorithm, "ecdsa-with-SHA512");
    // Re-encoding gives go-plugin's exact text back.
    assert_eq!(line.to_string(), raw.trim_end());
}

#[test]
fn go_plugin_plaintext_and_multiplex_lines() {
    let plain = HandshakeLine::parse(&vector("go-plugin-plaintext.line")).unwrap();
    assert_eq!(plain.server_cert, None);
    assert_eq!(plain.network, Network::Unix);
    let mux = HandshakeLine::parse(&vector("go-plugin-multiplex.line")).unwrap();
    assert_eq!(mux.multiplex, Some(true));
}

#[test]
fn go_plugin_no_common_version_answers_its_lowest() {
    let line = HandshakeLine::parse(&vector("go-plugin-no-common-version.line")).unwrap();
    assert_eq!(line.app_version, 1);
}

#[test]
fn pyvider_server_presents_p384_whatever_was_asked() {
    let line = HandshakeLine::parse(&vector("pyvider-server-automtls.line")).unwrap();
    let info = CertificateInfo::from_der(line.server_cert.as_ref().unwrap()).unwrap();
    assert_eq!(info.key_type, "ec-p384");
}

#[test]
fn go_plugin_host_certificate_is_a_p521_ca_with_both_usages() {
    use x509_parser::prelude::*;
    let ders = pem_to_ders(&vector("go-plugin-host-client-cert.pem")).unwrap();
    assert_eq!(ders.len(), 1);
    assert_eq!(
        CertificateInfo::from_der(&ders[0]).unwrap().key_type,
        "ec-p521"
    );
    let (_, cert) = X509Certificate::from_der(&ders[0]).unwrap();
    assert!(cert.is_ca());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && eku.server_auth);
}

#[test]
fn our_hclog_lines_have_the_shape_of_go_plugins() {
    let go_line = vector("go-plugin-stderr.jsonl");
    let go: serde_json::Value = serde_json::from_str(go_line.lines().next().unwrap()).unwrap();
    let ours: serde_json::Value =
        serde_json::from_str(&plugin_core::hclog::HclogJson::new("t").line(
            &tracing::Level::INFO,
            "hello",
            serde_json::Map::new(),
        ))
        .unwrap();
    for key in ["@level", "@message", "@timestamp"] {
        assert!(go[key].is_string() && ours[key].is_string(), "{key}");
    }
    let frac = |v: &serde_json::Value| {
        let ts = v["@timestamp"].as_str().unwrap().to_string();
        ts.split('.').nth(1).unwrap().trim_end_matches('Z').len()
    };
    assert_eq!(frac(&go), 6);
    assert_eq!(frac(&ours), frac(&go));
}
