//! The peer client report (`proto/peer-report.schema.json`): schema validation and the
//! typed view xtask reads after validation.

use std::sync::LazyLock;

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The schema, compiled once.
static SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value =
        serde_json::from_str(include_str!("../../../proto/peer-report.schema.json"))
            .expect("peer-report schema is JSON");
    jsonschema::validator_for(&schema).expect("peer-report schema compiles")
});

/// Parses `stdout` as one JSON report and validates it; the error names the first
/// schema violation with its JSON pointer.
pub fn parse(stdout: &str) -> Result<PeerReport> {
    let value: Value = serde_json::from_str(stdout.trim())
        .map_err(|e| anyhow!("client stdout is not one JSON object: {e}"))?;
    if let Some(error) = SCHEMA.iter_errors(&value).next() {
        let at = error.instance_path().to_string();
        let at = if at.is_empty() { "/".to_string() } else { at };
        return Err(anyhow!("report violates the schema at {at}: {error}"));
    }
    serde_json::from_value(value).map_err(|e| anyhow!("report shape: {e}"))
}

/// A validated client report (fields xtask reads).
#[derive(Clone, Debug, Deserialize)]
pub struct PeerReport {
    /// Who produced it.
    pub peer: Peer,
    /// What the client was asked.
    pub requested: Requested,
    /// What the client saw.
    pub observed: ObservedReport,
    /// The client's own timings.
    pub timings: Timings,
    /// The KV script steps, in the order run.
    pub steps: Vec<Step>,
    /// How the plugin exited.
    pub plugin_exit: Option<PluginExit>,
    /// The client's own verdict.
    pub ok: bool,
    /// The first error.
    pub error: Option<ReportError>,
}

/// `peer`.
#[derive(Clone, Debug, Deserialize)]
pub struct Peer {
    /// `rust`, `go`, ...
    pub language: String,
    /// Library stack.
    pub implementation: String,
}

/// `requested`.
#[derive(Clone, Debug, Deserialize)]
pub struct Requested {
    /// TLS mode.
    pub tls: String,
    /// Key type as given.
    pub key: String,
    /// Transport.
    pub transport: String,
}

/// `observed`.
#[derive(Clone, Debug, Deserialize)]
pub struct ObservedReport {
    /// The raw handshake line.
    pub handshake_line: Option<String>,
    /// Field 3 of the handshake line.
    pub network: Option<String>,
    /// TLS parameters, null when plaintext.
    pub tls: Option<TlsParams>,
    /// The server certificate as the client describes it.
    pub server_certificate: Option<ReportedCert>,
    /// The certificate this client presented.
    pub client_certificate: Option<ReportedCert>,
    /// The server's `server_handshake` object.
    pub server_saw: Option<ServerSaw>,
}

/// `observed.tls`.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
pub struct TlsParams {
    /// e.g. `TLSv1.3`.
    pub version: Option<String>,
    /// IANA cipher suite name.
    pub cipher_suite: Option<String>,
}

/// A certificate as a peer reports it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct ReportedCert {
    /// Key type name.
    pub key_type: String,
    /// Signature algorithm (absent in `server_saw.peer_certificate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_algorithm: Option<String>,
    /// Hex SHA-256 of the DER.
    pub sha256: String,
}

/// `observed.server_saw`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ServerSaw {
    /// The server's language.
    pub server_language: String,
    /// The TLS mode the server says it used.
    pub tls_mode: String,
    /// The client certificate the server saw.
    pub peer_certificate: Option<ReportedCert>,
}

/// `timings`.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
pub struct Timings {
    /// Spawn to handshake line, ms.
    pub spawn_to_handshake_ms: Option<f64>,
    /// Handshake to first RPC, ms.
    pub handshake_to_first_rpc_ms: Option<f64>,
    /// Whole client run, ms.
    pub total_ms: f64,
}

/// One KV step.
#[derive(Clone, Debug, Deserialize)]
pub struct Step {
    /// Step name.
    pub step: String,
    /// `get` or `put`.
    pub op: String,
    /// Key used.
    pub key: String,
    /// Client's verdict for the step.
    pub ok: bool,
    /// gRPC status code name.
    pub status: String,
    /// Status message.
    pub message: String,
    /// Bytes sent or received.
    pub value_len: Option<u64>,
    /// Their SHA-256.
    pub value_sha256: Option<String>,
}

/// `plugin_exit`.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
pub struct PluginExit {
    /// exited, killed, signaled, unknown.
    pub how: String,
    /// Exit code.
    pub code: Option<i64>,
    /// Signal number.
    pub signal: Option<i64>,
}

impl PluginExit {
    /// `1`, `signal 9`, ... for causes.
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => code.to_string(),
            (None, Some(sig)) => format!("by signal {sig}"),
            _ => format!("({})", self.how),
        }
    }
}

/// `error`.
#[derive(Clone, Debug, Deserialize)]
pub struct ReportError {
    /// Stage that failed.
    pub stage: String,
    /// First error, verbatim.
    pub message: String,
    /// Plugin's last stderr lines.
    #[serde(default)]
    pub stderr_tail: Vec<String>,
}
