//! What a cell actually did, extracted from a validated report: the server certificate
//! decoded by xtask from the raw handshake line (falling back to the client's description),
//! the client certificate the server saw, network, TLS parameters, the missing-key status.

use serde::{Deserialize, Serialize};

use crate::certinfo::{self, CertInfo};
use crate::peer_report::{PeerReport, PluginExit, ReportedCert, TlsParams};

/// The observed facts of one cell, as recorded in `report.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observed {
    /// The client's library stack (`peer.implementation`).
    pub client_implementation: Option<String>,
    /// Handshake field 3.
    pub network: Option<String>,
    /// TLS version and cipher suite, when TLS was used.
    pub tls: Option<TlsParams>,
    /// The server certificate.
    pub server_certificate: Option<CertInfo>,
    /// Where it came from: `handshake` (decoded by xtask) or `report` (the client's
    /// `observed.server_certificate`).
    pub server_certificate_source: Option<String>,
    /// The certificate the client says it presented in TLS.
    pub client_certificate: Option<ReportedCert>,
    /// The client certificate the server saw (`server_saw.peer_certificate`).
    pub client_certificate_seen_by_server: Option<ReportedCert>,
    /// The server's language, from the handshake probe.
    pub server_language: Option<String>,
    /// The TLS mode the server reports.
    pub server_tls_mode: Option<String>,
    /// gRPC status of `get-missing` (informational).
    pub get_missing_status: Option<String>,
    /// How the plugin exited.
    pub plugin_exit: Option<PluginExit>,
    /// When the TLS server certificate and the handshake's differ: the TLS one's SHA-256.
    pub tls_certificate_differs_from_handshake: Option<String>,
    /// Problems decoding what was observed (e.g. a field 6 that is not a certificate).
    pub decode_error: Option<String>,
}

/// Extracts the observed facts from a report.
pub fn observe(report: &PeerReport) -> Observed {
    let o = &report.observed;
    let mut observed = Observed {
        client_implementation: Some(report.peer.implementation.clone()),
        network: o.network.clone(),
        tls: o.tls.clone(),
        client_certificate: o.client_certificate.clone(),
        client_certificate_seen_by_server: o
            .server_saw
            .as_ref()
            .and_then(|s| s.peer_certificate.clone()),
        server_language: o.server_saw.as_ref().map(|s| s.server_language.clone()),
        server_tls_mode: o.server_saw.as_ref().map(|s| s.tls_mode.clone()),
        get_missing_status: report
            .steps
            .iter()
            .find(|s| s.step == "get-missing")
            .map(|s| s.status.clone()),
        plugin_exit: report.plugin_exit.clone(),
        ..Observed::default()
    };
    let from_line = o.handshake_line.as_deref().map(|line| {
        certinfo::handshake_certificate(line)
            .and_then(|der| der.map(|d| certinfo::describe(&d)).transpose())
    });
    match from_line {
        Some(Ok(Some(info))) => {
            if let Some(tls) = &o.server_certificate
                && tls.sha256 != info.sha256
            {
                observed.tls_certificate_differs_from_handshake = Some(tls.sha256.clone());
            }
            observed.server_certificate = Some(info);
            observed.server_certificate_source = Some("handshake".into());
        }
        Some(Err(e)) => observed.decode_error = Some(format!("{e:#}")),
        Some(Ok(None)) | None => {}
    }
    if observed.server_certificate.is_none()
        && let Some(cert) = &o.server_certificate
    {
        observed.server_certificate = Some(CertInfo {
            key_type: cert.key_type.clone(),
            signature_algorithm: cert.signature_algorithm.clone().unwrap_or_default(),
            sha256: cert.sha256.clone(),
        });
        observed.server_certificate_source = Some("report".into());
    }
    observed
}
