//! Frozen value objects Python reads: what the handshake negotiated, a certificate, how
//! the plugin process ended.

use plugin_core::{CertificateInfo, ExitHow, PluginClient};
use pyo3::prelude::*;

/// A certificate that crossed the wire.
#[pyclass(frozen, eq, hash, get_all, module = "soup_rpc")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Certificate {
    /// `ec-p256`, `ec-p384`, `ec-p521`, `rsa-<bits>`, `ed25519` or `unknown:<oid>`.
    key_type: String,
    /// The signature algorithm, e.g. `ecdsa-with-SHA512`.
    signature_algorithm: String,
    /// Lowercase hex SHA-256 of the DER (the certificate's fingerprint).
    sha256: String,
}

impl From<CertificateInfo> for Certificate {
    fn from(c: CertificateInfo) -> Self {
        Certificate {
            key_type: c.key_type,
            signature_algorithm: c.signature_algorithm,
            sha256: c.sha256,
        }
    }
}

#[pymethods]
impl Certificate {
    fn __repr__(&self) -> String {
        format!(
            "Certificate(key_type='{}', signature_algorithm='{}', sha256='{}')",
            self.key_type, self.signature_algorithm, self.sha256
        )
    }
}

/// What the plugin's handshake line said and what the connection negotiated.
#[pyclass(frozen, eq, get_all, module = "soup_rpc")]
#[derive(Debug, Clone, PartialEq)]
pub struct Handshake {
    /// Field 1: go-plugin's core protocol version (always 1).
    core_version: u32,
    /// Field 2: the application protocol version the plugin chose.
    app_version: u32,
    /// Field 3: `tcp` or `unix`.
    network: String,
    /// Field 4: `127.0.0.1:PORT` or a socket path.
    address: String,
    /// Field 5: `grpc`.
    protocol: String,
    /// Field 7: whether the plugin supports gRPC broker multiplexing (None when absent).
    multiplex: Option<bool>,
    /// The whole line as printed, without the newline.
    line: String,
    /// The certificate the plugin presented in TLS (None for plaintext).
    server_certificate: Option<Certificate>,
    /// The certificate this host presented (AutoMTLS: freshly made; manual: the given one).
    client_certificate: Option<Certificate>,
    /// The negotiated TLS version, e.g. `TLSv1.3` (None for plaintext).
    tls_version: Option<String>,
    /// The negotiated cipher suite's IANA name (None for plaintext).
    cipher_suite: Option<String>,
    /// Seconds from spawning the plugin to reading its handshake line.
    spawn_to_handshake: f64,
}

impl Handshake {
    /// Reads it off a connected plugin; `manual_leaf` is our manual-TLS certificate.
    pub fn of(plugin: &PluginClient, manual_leaf: Option<&[u8]>) -> Self {
        let h = plugin.handshake();
        let tls = plugin.tls_session();
        let client_der = plugin
            .client_certificate()
            .map(|c| c.der.as_ref())
            .or(manual_leaf);
        Handshake {
            core_version: h.core_version,
            app_version: h.app_version,
            network: h.network.to_string(),
            address: h.address.clone(),
            protocol: h.protocol.clone(),
            multiplex: h.multiplex,
            line: plugin.raw_handshake().to_string(),
            server_certificate: plugin.server_certificate().map(Into::into),
            client_certificate: client_der
                .and_then(|d| CertificateInfo::from_der(d).ok())
                .map(Into::into),
            tls_version: tls.map(|s| s.version.clone()),
            cipher_suite: tls.map(|s| s.cipher_suite.clone()),
            spawn_to_handshake: plugin.spawn_to_handshake().as_secs_f64(),
        }
    }
}

impl Handshake {
    /// Field 3.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// Field 4.
    pub fn address(&self) -> &str {
        &self.address
    }
}

#[pymethods]
impl Handshake {
    fn __repr__(&self) -> String {
        format!(
            "Handshake(app_version={}, network='{}', address='{}', tls_version={}, server_key_type={})",
            self.app_version,
            self.network,
            self.address,
            quoted(self.tls_version.as_deref()),
            quoted(
                self.server_certificate
                    .as_ref()
                    .map(|c| c.key_type.as_str())
            ),
        )
    }
}

/// How the plugin process ended.
#[pyclass(frozen, eq, hash, get_all, module = "soup_rpc")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PluginExit {
    /// `exited` (by itself, e.g. after the Shutdown RPC), `killed` (by this host after the
    /// grace period, or because the client was garbage-collected) or `signaled`.
    how: String,
    /// The exit code when it exited normally.
    exit_code: Option<i32>,
    /// The signal number when a signal ended it.
    signal: Option<i32>,
}

impl PluginExit {
    /// From plugin-core's record; `killed_by_us` when this host sent the SIGKILL itself.
    pub fn new(exit: plugin_core::PluginExit, killed_by_us: bool) -> Self {
        let how = match exit.how {
            ExitHow::Exited => "exited",
            ExitHow::Killed => "killed",
            ExitHow::Signaled if killed_by_us => "killed",
            ExitHow::Signaled => "signaled",
            ExitHow::LeftRunning => "left-running",
        };
        PluginExit {
            how: how.into(),
            exit_code: exit.code,
            signal: exit.signal,
        }
    }
}

#[pymethods]
impl PluginExit {
    fn __repr__(&self) -> String {
        format!(
            "PluginExit(how='{}', exit_code={}, signal={})",
            self.how,
            opt(self.exit_code),
            opt(self.signal)
        )
    }
}

fn opt(v: Option<i32>) -> String {
    v.map_or_else(|| "None".into(), |v| v.to_string())
}

fn quoted(v: Option<&str>) -> String {
    v.map_or_else(|| "None".into(), |v| format!("'{v}'"))
}
