//! What a certificate is, decoded by xtask itself from DER: key type, signature algorithm,
//! SHA-256 fingerprint; and the DER a handshake line carries in field 6.
//!
//! The matrix never trusts a peer's own description of the crypto it used when the raw
//! bytes are available: the handshake line is parsed here.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Standard-alphabet base64 accepting padded and unpadded input (go-plugin writes unpadded).
const BASE64_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A certificate as the matrix describes it (same names as the peer report).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct CertInfo {
    /// `ec-p256`, `ec-p384`, `ec-p521`, `rsa-<bits>`, `ed25519` or `unknown:<oid>`.
    pub key_type: String,
    /// Short name of the signature algorithm, e.g. `ecdsa-with-SHA512`.
    pub signature_algorithm: String,
    /// Hex SHA-256 of the DER.
    pub sha256: String,
}

/// The certificate DER in field 6 of a go-plugin handshake line, or `None` when the field is
/// absent or empty (plaintext, or `manual` TLS where go-plugin advertises nothing).
pub fn handshake_certificate(line: &str) -> Result<Option<Vec<u8>>> {
    let fields: Vec<&str> = line.trim_end_matches(['\r', '\n']).split('|').collect();
    if fields.len() < 5 {
        bail!(
            "handshake line has {} fields, expected at least 5: {line:?}",
            fields.len()
        );
    }
    match fields.get(5).map(|f| f.trim()) {
        None | Some("") => Ok(None),
        Some(b64) => BASE64_ANY_PADDING
            .decode(b64)
            .map(Some)
            .context("handshake field 6 is not base64"),
    }
}

/// Decodes a DER certificate.
pub fn describe(der: &[u8]) -> Result<CertInfo> {
    let (_, cert) = X509Certificate::from_der(der).context("not a DER X.509 certificate")?;
    let registry = x509_parser::objects::oid_registry();
    let sig_oid = &cert.signature_algorithm.algorithm;
    let signature_algorithm = x509_parser::objects::oid2sn(sig_oid, registry)
        .map(str::to_owned)
        .unwrap_or_else(|_| sig_oid.to_id_string());
    Ok(CertInfo {
        key_type: key_type(cert.public_key()),
        signature_algorithm,
        sha256: sha256_hex(der),
    })
}

/// Names a public key with x509-parser's own parse of it (its OID registry, its RSA key
/// size): `ec-p256`, `rsa-2048`, ..., `unknown:<oid>`.
fn key_type(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> String {
    use x509_parser::oid_registry::{OID_EC_P256, OID_NIST_EC_P384, OID_NIST_EC_P521};
    use x509_parser::public_key::PublicKey;
    let unknown =
        |oid: &x509_parser::der_parser::oid::Oid<'_>| format!("unknown:{}", oid.to_id_string());
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("rsa-{}", rsa.key_size()),
        Ok(PublicKey::EC(_)) => {
            match spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
            {
                Some(c) if c == OID_EC_P256 => "ec-p256".into(),
                Some(c) if c == OID_NIST_EC_P384 => "ec-p384".into(),
                Some(c) if c == OID_NIST_EC_P521 => "ec-p521".into(),
                Some(other) => unknown(&other),
                None => unknown(&spki.algorithm.algorithm),
            }
        }
        Ok(PublicKey::Unknown(_)) | Err(_)
            if spki.algorithm.algorithm == x509_parser::oid_registry::OID_SIG_ED25519 =>
        {
            "ed25519".into()
        }
        _ => unknown(&spki.algorithm.algorithm),
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn go_plugin_automtls_line_is_p521_from_unpadded_base64() {
        let line = fixture("go-plugin-automtls.line");
        let der = handshake_certificate(&line)
            .unwrap()
            .expect("field 6 present");
        let info = describe(&der).unwrap();
        assert_eq!(info.key_type, "ec-p521");
        assert_eq!(info.signature_algorithm, "ecdsa-with-SHA512");
        assert_eq!(info.sha256, sha256_hex(&der));
    }

    #[test]
    fn pyvider_automtls_line_is_p384() {
        let der = handshake_certificate(&fixture("pyvider-server-automtls.line"))
            .unwrap()
            .unwrap();
        assert_eq!(describe(&der).unwrap().key_type, "ec-p384");
    }

    #[test]
    fn padded_base64_decodes_to_the_same_der() {
        let line = fixture("go-plugin-automtls.line");
        let unpadded = handshake_certificate(&line).unwrap().unwrap();
        let padded_line = format!("{}==", line.trim_end());
        assert_eq!(
            handshake_certificate(&padded_line).unwrap().unwrap(),
            unpadded
        );
    }

    #[test]
    fn plaintext_line_has_no_certificate() {
        assert_eq!(
            handshake_certificate(&fixture("go-plugin-plaintext.line")).unwrap(),
            None
        );
        assert_eq!(
            handshake_certificate("1|1|tcp|127.0.0.1:1234|grpc").unwrap(),
            None
        );
    }

    #[test]
    fn rsa_and_ec_keys_from_generated_certificates() {
        for (alg, expected) in [
            (&rcgen::PKCS_ECDSA_P256_SHA256, "ec-p256"),
            (&rcgen::PKCS_ED25519, "ed25519"),
        ] {
            let key = rcgen::KeyPair::generate_for(alg).unwrap();
            let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            assert_eq!(describe(cert.der()).unwrap().key_type, expected);
        }
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let info = describe(cert.der()).unwrap();
        assert_eq!(info.key_type, "rsa-2048");
        assert_eq!(info.signature_algorithm, "sha256WithRSAEncryption");
    }
}
