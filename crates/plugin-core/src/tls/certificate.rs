//! Certificates: making go-plugin-shaped AutoMTLS certificates and describing the ones
//! that crossed the wire (key type, signature algorithm, fingerprint).

use std::fmt;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

use super::key_type::KeyType;

/// Errors making or reading a certificate.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// The key pair or certificate could not be generated.
    #[error("could not generate a {key} certificate: {source}")]
    Generate {
        /// The key type asked for.
        key: KeyType,
        /// rcgen's error.
        source: rcgen::Error,
    },
    /// Bytes that should hold a DER certificate do not.
    #[error("not a DER X.509 certificate: {0}")]
    Parse(String),
    /// PEM text holds no `CERTIFICATE` block.
    #[error("no CERTIFICATE block in PEM input")]
    NoPemCertificate,
}

/// A freshly made self-signed certificate and its private key.
pub struct SelfSignedCert {
    /// The key type of the certificate's public key.
    pub key_type: KeyType,
    /// The certificate, DER.
    pub der: CertificateDer<'static>,
    /// The private key, PKCS#8 DER.
    pub key_der: PrivatePkcs8KeyDer<'static>,
}

impl Clone for SelfSignedCert {
    fn clone(&self) -> Self {
        SelfSignedCert {
            key_type: self.key_type,
            der: self.der.clone(),
            key_der: self.key_der.clone_key(),
        }
    }
}

impl fmt::Debug for SelfSignedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelfSignedCert")
            .field("key_type", &self.key_type)
            .field("sha256", &sha256_hex(&self.der))
            .finish_non_exhaustive()
    }
}

impl SelfSignedCert {
    /// Makes a certificate shaped like go-plugin's AutoMTLS ones (`mtls.go`): self-signed,
    /// IsCA, CN and DNS SAN `localhost`, client and server auth, a random positive
    /// 128-bit serial, valid from 30 s ago for about 30 years.
    pub fn generate(key_type: KeyType) -> Result<Self, CertificateError> {
        let err = |source| CertificateError::Generate {
            key: key_type,
            source,
        };
        let key_pair = generate_key_pair(key_type).map_err(err)?;

        let mut params = CertificateParams::new(vec![]).map_err(err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "localhost");
        dn.push(DnType::OrganizationName, "soup-rpc");
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::DnsName("localhost".try_into().map_err(err)?)];
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyCertSign,
        ];
        if matches!(
            key_type,
            KeyType::EcP256 | KeyType::EcP384 | KeyType::EcP521
        ) {
            params.key_usages.push(KeyUsagePurpose::KeyAgreement);
        }
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        let mut serial = random_bytes::<16>();
        serial[0] &= 0x7f; // positive, as Go's big.Int serials are
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let now = ::time::OffsetDateTime::now_utc();
        params.not_before = now - Duration::from_secs(30);
        params.not_after = now + Duration::from_secs(262_980 * 3600);

        let cert = params.self_signed(&key_pair).map_err(err)?;
        Ok(SelfSignedCert {
            key_type,
            der: cert.der().clone(),
            key_der: PrivatePkcs8KeyDer::from(key_pair.serialize_der()),
        })
    }

    /// The certificate as a PEM `CERTIFICATE` block (what goes in `PLUGIN_CLIENT_CERT`).
    pub fn pem(&self) -> String {
        der_to_pem(&self.der)
    }

    /// The private key in the form rustls takes.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key_der.clone_key())
    }
}

/// A fresh key pair of `key_type` (ECDSA with the curve's own hash; RSA signing with
/// SHA-256), for certificates made here or by callers with their own shape (a CA, say).
pub fn generate_key_pair(key_type: KeyType) -> Result<KeyPair, rcgen::Error> {
    match key_type {
        KeyType::EcP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyType::EcP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        KeyType::EcP521 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512),
        KeyType::Rsa2048 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        }
        KeyType::Rsa4096 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
        }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    use rustls::crypto::aws_lc_rs::default_provider;
    let mut out = [0u8; N];
    default_provider()
        .secure_random
        .fill(&mut out)
        .expect("the OS random source failed");
    out
}

/// Wraps DER in a PEM `CERTIFICATE` block.
pub fn der_to_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Every `CERTIFICATE` block in PEM text, as DER.
pub fn pem_to_ders(pem: &str) -> Result<Vec<CertificateDer<'static>>, CertificateError> {
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| CertificateError::Parse(e.to_string()))?;
    if certs.is_empty() {
        return Err(CertificateError::NoPemCertificate);
    }
    Ok(certs)
}

/// Lowercase hex SHA-256 of some bytes (a certificate's fingerprint when given its DER).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What a certificate that crossed the wire really was.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertificateInfo {
    /// `ec-p256`, `ec-p384`, `ec-p521`, `rsa-<bits>`, `ed25519` or `unknown:<oid>`.
    pub key_type: String,
    /// The signature algorithm's name, e.g. `ecdsa-with-SHA512`.
    pub signature_algorithm: String,
    /// Lowercase hex SHA-256 of the DER.
    pub sha256: String,
    /// Subject distinguished name, RFC 4514 style (`CN=localhost, O=HashiCorp`).
    #[serde(default)]
    pub subject: String,
    /// Start of validity, RFC 3339 UTC.
    #[serde(default)]
    pub not_before: String,
    /// End of validity, RFC 3339 UTC.
    #[serde(default)]
    pub not_after: String,
    /// Basic constraints say CA (go-plugin's AutoMTLS certificates are self-signed CAs
    /// used as leaves).
    #[serde(default)]
    pub is_ca: bool,
}

impl CertificateInfo {
    /// Decodes a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| CertificateError::Parse(e.to_string()))?;
        Ok(CertificateInfo {
            key_type: key_type_name(cert.public_key()),
            signature_algorithm: signature_algorithm_name(&cert.signature_algorithm.algorithm),
            sha256: sha256_hex(der),
            subject: cert.subject().to_string(),
            not_before: rfc3339(cert.validity().not_before),
            not_after: rfc3339(cert.validity().not_after),
            is_ca: cert.is_ca(),
        })
    }

    /// The key type as one of ours, when it is one.
    pub fn known_key_type(&self) -> Option<KeyType> {
        self.key_type.parse().ok()
    }
}

fn rfc3339(t: x509_parser::time::ASN1Time) -> String {
    t.to_datetime()
        .format(&::time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn key_type_name(spki: &SubjectPublicKeyInfo<'_>) -> String {
    use x509_parser::oid_registry::*;
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        return match curve {
            Some(c) if c == OID_EC_P256 => "ec-p256".into(),
            Some(c) if c == OID_NIST_EC_P384 => "ec-p384".into(),
            Some(c) if c == OID_NIST_EC_P521 => "ec-p521".into(),
            Some(c) => format!("ec-unknown:{c}"),
            None => "ec-unknown".into(),
        };
    }
    if *alg == OID_PKCS1_RSAENCRYPTION {
        if let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = spki.parsed() {
            return format!("rsa-{}", rsa.key_size());
        }
        return "rsa-unknown".into();
    }
    if *alg == OID_SIG_ED25519 {
        return "ed25519".into();
    }
    format!("unknown:{alg}")
}

fn signature_algorithm_name(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    use x509_parser::oid_registry::*;
    let known = [
        (OID_SIG_ECDSA_WITH_SHA256, "ecdsa-with-SHA256"),
        (OID_SIG_ECDSA_WITH_SHA384, "ecdsa-with-SHA384"),
        (OID_SIG_ECDSA_WITH_SHA512, "ecdsa-with-SHA512"),
        (OID_PKCS1_SHA256WITHRSA, "sha256WithRSAEncryption"),
        (OID_PKCS1_SHA384WITHRSA, "sha384WithRSAEncryption"),
        (OID_PKCS1_SHA512WITHRSA, "sha512WithRSAEncryption"),
        (OID_PKCS1_RSASSAPSS, "rsassaPss"),
        (OID_SIG_ED25519, "ed25519"),
    ];
    known
        .iter()
        .find(|(o, _)| o == oid)
        .map(|(_, n)| (*n).to_string())
        .unwrap_or_else(|| oid.to_id_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_every_key_type_shaped_like_go_plugin() {
        for key in KeyType::ALL {
            let cert = SelfSignedCert::generate(key).unwrap();
            let info = CertificateInfo::from_der(&cert.der).unwrap();
            assert_eq!(info.key_type, key.as_str());
            let (_, x509) = X509Certificate::from_der(&cert.der).unwrap();
            assert!(x509.is_ca(), "{key}: go-plugin certs are CA certs");
            let san = x509.subject_alternative_name().unwrap().unwrap();
            assert!(
                san.value
                    .general_names
                    .iter()
                    .any(|n| matches!(n, GeneralName::DNSName("localhost")))
            );
            let eku = x509.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.client_auth && eku.server_auth);
            assert!(x509.validity().is_valid());
            assert!(
                x509.validity().not_before.timestamp()
                    < ::time::OffsetDateTime::now_utc().unix_timestamp()
            );
        }
    }

    #[test]
    fn pem_round_trips() {
        let cert = SelfSignedCert::generate(KeyType::EcP256).unwrap();
        let ders = pem_to_ders(&cert.pem()).unwrap();
        assert_eq!(ders, vec![cert.der.clone()]);
        assert!(matches!(
            pem_to_ders("nothing here"),
            Err(CertificateError::NoPemCertificate)
        ));
    }
}
