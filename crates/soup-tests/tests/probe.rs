//! `soup probe`'s engine (soup_client::probe) against real plugins and broken ones: the
//! cookie rotation, the report and its JSON Schema, Packer detection, a cookie every
//! preset fails, and a plugin that dies mid-probe.

mod common;

use std::time::Duration;

use soup_client::probe::{CookieChoice, ProbeError, ProbeOptions, probe};

fn options(command: Vec<String>) -> ProbeOptions {
    let mut o = ProbeOptions::new(command);
    o.handshake_timeout = Duration::from_secs(20);
    o.call_timeout = Duration::from_secs(20);
    o
}

#[tokio::test]
async fn probing_the_kv_plugin_reports_every_field_and_matches_the_schema() {
    let store = tempfile::tempdir().unwrap();
    let cmd = vec![
        common::KV_PLUGIN.to_string(),
        "server".into(),
        "--store".into(),
        store.path().display().to_string(),
        "--key".into(),
        "ec-p384".into(),
    ];
    let report = probe(options(cmd)).await.expect("probe");
    assert_eq!(report.cookie.preset.as_deref(), Some("kv"));
    assert_eq!(report.attempts.len(), 1, "kv is tried first");
    assert_eq!(report.handshake.app_version, 1);
    assert!(report.handshake.certificate_in_handshake);
    let tls = report.tls.as_ref().expect("AutoMTLS");
    assert_eq!(tls.alpn.as_deref(), Some("h2"));
    let server = tls.server_certificate.as_ref().unwrap();
    assert_eq!(server.key_type, "ec-p384", "observed on the wire, as asked");
    assert!(server.is_ca, "go-plugin AutoMTLS certificates are CAs");
    assert_eq!(server.sha256.len(), 64);
    assert_eq!(tls.client_certificate.as_ref().unwrap().key_type, "ec-p256");
    assert_eq!(report.health, "SERVING");
    assert_eq!(report.services.source, "reflection v1");
    for s in ["proto.KV", "grpc.health.v1.Health", "plugin.GRPCController"] {
        assert!(report.services.names.iter().any(|n| n == s), "{s}");
    }
    assert!(report.terraform.is_none());
    assert_eq!(
        (report.exit.how.as_str(), report.exit.code),
        ("exited", Some(0))
    );
    assert!(
        report.stderr.iter().any(|l| l.contains("\"@message\"")),
        "hclog JSON lines: {:?}",
        report.stderr
    );

    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/schema/probe-report.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let mut broken = json.clone();
    broken["handshake"]["app_version"] = serde_json::json!("one");
    assert!(!validator.is_valid(&broken), "the schema checks types");
}

#[tokio::test]
async fn a_cookie_every_preset_fails_names_what_was_tried() {
    // The real plugin, behind a wrapper that overrides the cookie it is given.
    let store = tempfile::tempdir().unwrap();
    let cmd = vec![
        "sh".into(),
        "-c".into(),
        "BASIC_PLUGIN=not-hello exec \"$0\" server --store \"$1\"".into(),
        common::KV_PLUGIN.to_string(),
        store.path().display().to_string(),
    ];
    let err = probe(options(cmd)).await.unwrap_err();
    let ProbeError::NoCookieAccepted { tried, stderr } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        tried.len(),
        soup_client::presets::PRESETS.len(),
        "{tried:?}"
    );
    let msg = err.to_string();
    for p in [
        "kv (BASIC_PLUGIN)",
        "terraform (TF_PLUGIN_MAGIC_COOKIE)",
        "--cookie",
    ] {
        assert!(msg.contains(p), "{p} in {msg}");
    }
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("magic cookie") || l.contains("plugin")),
        "{stderr:?}"
    );
}

#[tokio::test]
async fn an_explicit_wrong_cookie_is_the_launch_error_itself() {
    let store = tempfile::tempdir().unwrap();
    let mut o = options(vec![
        common::KV_PLUGIN.to_string(),
        "server".into(),
        "--store".into(),
        store.path().display().to_string(),
    ]);
    o.cookie = CookieChoice::Explicit(soup_client::MagicCookie::new("BASIC_PLUGIN", "nope"));
    let err = probe(o).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ProbeError::Launch {
                source: soup_client::HostError::CookieRejected { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_packer_plugin_is_recognised_with_or_without_its_cookie() {
    let err = probe(options(vec![common::MISBEHAVING.into(), "packer".into()]))
        .await
        .unwrap_err();
    let ProbeError::Packer { evidence } = &err else {
        panic!("{err}")
    };
    assert!(
        evidence.contains("\"5|0|unix|/tmp/packer-plugin"),
        "{evidence}"
    );
    assert!(
        err.to_string().contains("not a go-plugin gRPC plugin"),
        "{err}"
    );

    // Told it is a Terraform provider: the refusal is Packer's, and says so.
    let mut o = options(vec![common::MISBEHAVING.into(), "packer".into()]);
    o.cookie = CookieChoice::Preset(soup_client::presets::find("terraform").unwrap());
    let err = probe(o).await.unwrap_err().to_string();
    assert!(err.contains("Packer will execute these for you"), "{err}");
}

#[tokio::test]
async fn a_plugin_that_dies_after_its_handshake_fails_the_probe_with_the_cause() {
    let mut o = options(vec![
        common::MISBEHAVING.into(),
        "crash-after-handshake".into(),
    ]);
    o.tls = soup_client::TlsMode::Off;
    let err = probe(o).await.unwrap_err();
    let msg = format!("{:#}", anyhow_chain(&err));
    assert!(msg.contains("preset kv"), "{msg}");
    assert!(
        msg.contains("cannot connect") || msg.contains("exited"),
        "{msg}"
    );
}

fn anyhow_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
