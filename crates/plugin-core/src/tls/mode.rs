//! TLS modes, manual TLS material, and what can go wrong reading it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

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
    /// A CA certificate rustls cannot use as a trust anchor.
    #[error("bad CA certificate: {0}")]
    BadCa(#[source] rustls::Error),
    /// The CA set cannot make a verifier (e.g. it is empty).
    #[error("cannot build a certificate verifier from the CA: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
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

    pub(crate) fn roots(&self) -> Result<rustls::RootCertStore, TlsConfigError> {
        let mut roots = rustls::RootCertStore::empty();
        for ca in &self.ca {
            roots.add(ca.clone()).map_err(TlsConfigError::BadCa)?;
        }
        Ok(roots)
    }
}
