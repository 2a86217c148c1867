//! Certificates for `manual` TLS cells: per key type, one CA and a server and a client leaf
//! signed by it (SAN `DNS:localhost`, `IP:127.0.0.1`; serverAuth + clientAuth), written as
//! PEM under `target/matrix/certs/<key>/`. The leaves' SHA-256 is what the matrix compares
//! with what each side observed.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, RsaKeySize,
};
use time::{Duration, OffsetDateTime};

use crate::certinfo::sha256_hex;

/// The files of one key type, and the fingerprints of its leaves.
#[derive(Clone, Debug)]
pub struct CertSet {
    /// CA certificate (PEM) both sides trust.
    pub ca: PathBuf,
    /// Server leaf certificate (PEM).
    pub server_cert: PathBuf,
    /// Server leaf key (PEM PKCS#8).
    pub server_key: PathBuf,
    /// Client leaf certificate (PEM).
    pub client_cert: PathBuf,
    /// Client leaf key (PEM PKCS#8).
    pub client_key: PathBuf,
    /// Hex SHA-256 of the server leaf DER.
    pub server_sha256: String,
    /// Hex SHA-256 of the client leaf DER.
    pub client_sha256: String,
}

/// A fresh key pair of a contract key type.
fn key_pair(key: &str) -> Result<KeyPair> {
    let pair = match key {
        "ec-p256" => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        "ec-p384" => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        "ec-p521" => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512),
        "rsa-2048" => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
        "rsa-4096" => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096),
        other => bail!("no certificate recipe for key type `{other}`"),
    };
    pair.with_context(|| format!("generating a {key} key"))
}

fn params(common_name: String) -> Result<CertificateParams> {
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "soup-rpc matrix");
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(30);
    Ok(params)
}

/// Generates the CA and both leaves of `key` into `dir/<key>/`.
pub fn generate(dir: &Path, key: &str) -> Result<CertSet> {
    let out = dir.join(key);
    fs::create_dir_all(&out)?;

    let mut ca_params = params(format!("soup-rpc matrix CA ({key})"))?;
    ca_params.subject_alt_names.clear();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = key_pair(key)?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf = |role: &str| -> Result<(String, String, String)> {
        let mut p = params(format!("soup-rpc matrix {role} ({key})"))?;
        p.is_ca = IsCa::ExplicitNoCa;
        p.use_authority_key_identifier_extension = true;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if key.starts_with("rsa") {
            p.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let pair = key_pair(key)?;
        let cert = p.signed_by(&pair, &issuer)?;
        Ok((cert.pem(), pair.serialize_pem(), sha256_hex(cert.der())))
    };
    let (server_pem, server_key_pem, server_sha256) = leaf("server")?;
    let (client_pem, client_key_pem, client_sha256) = leaf("client")?;

    let set = CertSet {
        ca: out.join("ca.pem"),
        server_cert: out.join("server.pem"),
        server_key: out.join("server.key"),
        client_cert: out.join("client.pem"),
        client_key: out.join("client.key"),
        server_sha256,
        client_sha256,
    };
    fs::write(&set.ca, ca_cert.pem())?;
    fs::write(&set.server_cert, server_pem)?;
    fs::write(&set.server_key, server_key_pem)?;
    fs::write(&set.client_cert, client_pem)?;
    fs::write(&set.client_key, client_key_pem)?;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certinfo::describe;

    #[test]
    fn p521_leaves_are_p521_signed_by_a_p521_ca() {
        let dir = std::env::temp_dir().join(format!("xtask-certs-{}", std::process::id()));
        let set = generate(&dir, "ec-p521").unwrap();
        let pem = fs::read_to_string(&set.server_cert).unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
        let info = describe(&der).unwrap();
        assert_eq!(info.key_type, "ec-p521");
        assert_eq!(info.signature_algorithm, "ecdsa-with-SHA512");
        assert_eq!(info.sha256, set.server_sha256);
        assert_ne!(set.server_sha256, set.client_sha256);
        let key = fs::read_to_string(&set.client_key).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
        fs::remove_dir_all(&dir).unwrap();
    }
}
