//! Shared helpers for the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use plugin_core::{KeyType, LaunchConfig, ManualTls, Network, TlsMode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::CertificateDer;

pub const KV_PLUGIN: &str = env!("CARGO_BIN_EXE_kv-plugin");
pub const MISBEHAVING: &str = env!("CARGO_BIN_EXE_misbehaving-plugin");

/// A launch of the real KV plugin with its store in `store`.
pub fn kv_launch(store: &Path, server_args: &[&str]) -> LaunchConfig {
    let mut cmd = vec![
        KV_PLUGIN.to_string(),
        "server".into(),
        "--store".into(),
        store.display().to_string(),
    ];
    cmd.extend(server_args.iter().map(|s| s.to_string()));
    let mut cfg = LaunchConfig::new(cmd);
    cfg.handshake_timeout = Duration::from_secs(20);
    cfg
}

pub fn misbehaving(args: &[&str]) -> LaunchConfig {
    let mut cmd = vec![MISBEHAVING.to_string()];
    cmd.extend(args.iter().map(|s| s.to_string()));
    let mut cfg = LaunchConfig::new(cmd);
    cfg.handshake_timeout = Duration::from_secs(3);
    cfg
}

fn key_pair(key: KeyType) -> KeyPair {
    plugin_core::certificate::generate_key_pair(key).unwrap()
}

/// A CA and two leaves (server, client) of one key type, written as PEM files.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub server_leaf: CertificateDer<'static>,
    pub client_leaf: CertificateDer<'static>,
}

impl Pki {
    pub fn new(key: KeyType) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = key_pair(KeyType::EcP256);
        let mut ca_params = CertificateParams::new(vec![]).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "soup test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |name: &str| {
            let k = key_pair(key);
            let mut p = CertificateParams::new(vec!["localhost".into()]).unwrap();
            p.subject_alt_names
                .push(SanType::IpAddress([127, 0, 0, 1].into()));
            p.distinguished_name.push(DnType::CommonName, name);
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            let cert = p.signed_by(&k, &issuer).unwrap();
            std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.path().join(format!("{name}.key")), k.serialize_pem()).unwrap();
            cert.der().clone()
        };
        let server_leaf = leaf("server");
        let client_leaf = leaf("client");
        Pki {
            dir,
            server_leaf,
            client_leaf,
        }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--tls".into(),
            "manual".into(),
            "--tls-cert".into(),
            self.path("server.pem").display().to_string(),
            "--tls-key".into(),
            self.path("server.key").display().to_string(),
            "--tls-ca".into(),
            self.path("ca.pem").display().to_string(),
        ]
    }

    pub fn client_tls(&self) -> ManualTls {
        ManualTls::from_files(
            &self.path("client.pem"),
            &self.path("client.key"),
            &self.path("ca.pem"),
        )
        .unwrap()
    }
}

pub fn transport_arg(t: Network) -> [&'static str; 2] {
    ["--transport", t.as_str()]
}

pub fn tls_arg(t: TlsMode) -> [&'static str; 2] {
    ["--tls", t.as_str()]
}
