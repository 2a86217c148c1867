//! What a finished TLS handshake negotiated, as both sides report it.

use rustls_pki_types::CertificateDer;

/// What a finished TLS handshake negotiated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TlsSession {
    /// e.g. `TLSv1.3`.
    pub version: String,
    /// IANA name, e.g. `TLS_AES_128_GCM_SHA256`.
    pub cipher_suite: String,
    /// The ALPN protocol both sides agreed on (`h2` for gRPC), if any.
    #[serde(default)]
    pub alpn: Option<String>,
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
            alpn: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            peer_certificate: conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.clone().into_owned()),
        }
    }
}
