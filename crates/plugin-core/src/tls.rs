//! TLS for both sides: go-plugin's AutoMTLS (each side pins the other's exact
//! certificate) and manual TLS (certificates and a CA given as files, as go-plugin's
//! `ClientConfig.TLSConfig` / `ServeConfig.TLSProvider`).
//!
//! AutoMTLS certificates are self-signed CA certificates used as leaves, which webpki
//! rejects (`CaUsedAsEndEntity`); so AutoMTLS verifies with a pinned-certificate verifier:
//! byte-equal DER, validity period, and the handshake signature checked by the crypto
//! provider. Nothing is left unverified.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::SelfSignedCert;
use crate::pinned::{PinnedClientVerifier, PinnedServerVerifier, pinned};

/// The ALPN protocol gRPC needs; grpc-go ≥ 1.67 refuses TLS peers that don't select it.
pub const ALPN_H2: &[u8] = b"h2";

/// The server name both sides use: go-plugin certificates name `localhost`.
pub const SERVER_NAME: &str = "localhost";

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plaintext: only when asked for, never as a fallback.
    Off,
    /// go-plugin AutoMTLS.
    #[default]
    Auto,
    /// Certificates, key and CA given as files.
    Manual,
}

impl TlsMode {
    /// `off`, `auto` or `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Off => "off",
            TlsMode::Auto => "auto",
            TlsMode::Manual => "manual",
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "none" | "disabled" | "plaintext" => Ok(TlsMode::Off),
            "auto" | "automtls" => Ok(TlsMode::Auto),
            "manual" => Ok(TlsMode::Manual),
            other => Err(format!(
                "unknown TLS mode {other:?}: expected off, auto or manual"
            )),
        }
    }
}

/// Errors setting up TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// Which file it was (certificate, key, CA).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file holds no usable PEM of the expected kind.
    #[error("{path} holds no {what} in PEM form: {detail}")]
    Pem {
        /// What was expected.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        detail: String,
    },
    /// rustls refused the configuration (e.g. key and certificate do not match).
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Certificate chain, private key and trusted CA for `manual` TLS.
#[derive(Debug)]
pub struct ManualTls {
    /// Our certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Our private key.
    pub key: PrivateKeyDer<'static>,
    /// CA certificates that signed the peer's leaf.
    pub ca: Vec<CertificateDer<'static>>,
}

impl Clone for ManualTls {
    fn clone(&self) -> Self {
        ManualTls {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            ca: self.ca.clone(),
        }
    }
}

impl ManualTls {
    /// Reads PEM files: certificate chain, private key (PKCS#8, PKCS#1 or SEC1), CA.
    pub fn from_files(cert: &Path, key: &Path, ca: &Path) -> Result<Self, TlsConfigError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| TlsConfigError::Read {
                what,
                path: path.to_path_buf(),
                source,
            })
        };
        let certs = |what, path: &Path| -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
            let bytes = read(what, path)?;
            let v: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<_, _>>()
                .map_err(|e| TlsConfigError::Pem {
                    what,
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                })?;
            if v.is_empty() {
                return Err(TlsConfigError::Pem {
                    what,
                    path: path.to_path_buf(),
                    detail: "no CERTIFICATE block".into(),
                });
            }
            Ok(v)
        };
        let chain = certs("certificate", cert)?;
        let ca = certs("CA certificate", ca)?;
        let key_bytes = read("private key", key)?;
        let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| TlsConfigError::Pem {
            what: "private key",
            path: key.to_path_buf(),
            detail: e.to_string(),
        })?;
        Ok(ManualTls { chain, key, ca })
    }

    fn roots(&self) -> Result<rustls::RootCertStore, rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        for ca in &self.ca {
            roots
                .add(ca.clone())
                .map_err(|e| rustls::Error::General(format!("bad CA certificate: {e}")))?;
        }
        Ok(roots)
    }
}

/// The crypto provider everything uses: aws-lc-rs, which signs and verifies P-521.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn versions() -> &'static [&'static rustls::SupportedProtocolVersion] {
    VERSIONS
}

/// Host TLS config for AutoMTLS: present `own`, trust only `server_cert`.
pub fn auto_client_config(
    own: &SelfSignedCert,
    server_cert: CertificateDer<'static>,
) -> Result<ClientConfig, rustls::Error> {
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier(pinned(server_cert))))
        .with_client_auth_cert(vec![own.der.clone()], own.private_key())?;
    cfg.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(cfg)
}

/// Plugin TLS config for AutoMTLS: present `own`, require exactly `client_cert`.
pub fn auto_server_config(
    own: &SelfSignedCert,
    client_cert: CertificateDer<'static>,
) -> Result<ServerConfig, rustls::Error> {
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions())?
        .with_client_cert_verifier(Arc::new(PinnedClientVerifier(pinned(client_cert))))
        .with_single_cert(vec![own.der.clone()], own.private_key())?;
    cfg.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(cfg)
}

/// Host TLS config for manual TLS: present the configured chain, trust the CA.
pub fn manual_client_config(m: &ManualTls) -> Result<ClientConfig, rustls::Error> {
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(m.roots()?),
        provider(),
    )
    .build()
    .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions())?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(m.chain.clone(), m.key.clone_key())?;
    cfg.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(cfg)
}

/// Plugin TLS config for manual TLS: present the configured chain, require a client
/// certificate signed by the CA.
pub fn manual_server_config(m: &ManualTls) -> Result<ServerConfig, rustls::Error> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(m.roots()?),
        provider(),
    )
    .build()
    .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(m.chain.clone(), m.key.clone_key())?;
    cfg.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(cfg)
}

/// What a finished TLS handshake negotiated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TlsSession {
    /// e.g. `TLSv1.3`.
    pub version: String,
    /// IANA name, e.g. `TLS_AES_128_GCM_SHA256`.
    pub cipher_suite: String,
    /// The peer's leaf certificate, DER.
    #[serde(skip)]
    pub peer_certificate: Option<CertificateDer<'static>>,
}

impl TlsSession {
    /// Reads the negotiated parameters off a rustls connection.
    pub fn from_connection(conn: &rustls::CommonState) -> Self {
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            Some(other) => format!("{other:?}"),
            None => "unknown".to_string(),
        };
        let cipher_suite = conn
            .negotiated_cipher_suite()
            .map(|s| {
                // rustls says TLS13_AES_128_GCM_SHA256; IANA (and Go) say TLS_AES_128_GCM_SHA256.
                let name = s.suite().as_str().unwrap_or("unknown");
                match name.strip_prefix("TLS13_") {
                    Some(rest) => format!("TLS_{rest}"),
                    None => name.to_string(),
                }
            })
            .unwrap_or_else(|| "unknown".into());
        TlsSession {
            version,
            cipher_suite,
            peer_certificate: conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.clone().into_owned()),
        }
    }
}
