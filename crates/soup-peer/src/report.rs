//! The peer contract's client report (`proto/peer-report.schema.json`) and the run
//! that produces it: launch, KV script, shutdown, one JSON object.

use std::time::{Duration, Instant};

use plugin_core::{
    CertificateInfo, HostError, KeyType, LaunchConfig, ManualTls, Network, PluginExit, TlsMode,
};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufReadExt as _;

use crate::script::{self, Expect, Op, Script};
use soup_client::{KvClient, KvError};

/// Schema identifier.
pub const SCHEMA: &str = "soup-rpc/peer-report/v1";

/// The whole report.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct Report {
    pub schema: &'static str,
    pub peer: Peer,
    pub requested: Requested,
    pub observed: Observed,
    pub timings: Timings,
    pub steps: Vec<StepResult>,
    pub plugin_exit: Option<PluginExit>,
    pub ok: bool,
    pub error: Option<ReportError>,
}

/// Who produced the report.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct Peer {
    pub language: &'static str,
    pub implementation: String,
}

/// What the matrix asked for.
#[derive(Debug, Serialize, Clone)]
#[allow(missing_docs)]
pub struct Requested {
    pub tls: String,
    pub key: String,
    pub transport: String,
    pub server_command: Vec<String>,
    pub versions: Vec<u32>,
    pub script: String,
}

/// What crossed the wire.
#[derive(Debug, Serialize, Default)]
#[allow(missing_docs)]
pub struct Observed {
    pub handshake_line: Option<String>,
    pub network: Option<String>,
    pub tls: Option<TlsObserved>,
    pub server_certificate: Option<CertificateInfo>,
    pub client_certificate: Option<CertificateInfo>,
    pub server_saw: Option<Value>,
}

/// Negotiated TLS parameters.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct TlsObserved {
    pub version: Option<String>,
    pub cipher_suite: Option<String>,
}

/// Phase timings in milliseconds.
#[derive(Debug, Serialize, Default)]
#[allow(missing_docs)]
pub struct Timings {
    pub spawn_to_handshake_ms: Option<f64>,
    pub handshake_to_first_rpc_ms: Option<f64>,
    pub total_ms: f64,
}

/// One KV step's outcome.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct StepResult {
    pub step: String,
    pub op: &'static str,
    pub key: String,
    pub ok: bool,
    pub status: String,
    pub message: String,
    pub value_len: Option<usize>,
    pub value_sha256: Option<String>,
    pub latency_us: f64,
}

/// The first error.
#[derive(Debug, Serialize)]
#[allow(missing_docs)]
pub struct ReportError {
    pub stage: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stderr_tail: Vec<String>,
}

/// What a client run was asked to do.
#[derive(Debug, Clone)]
pub struct ClientRun {
    /// TLS mode.
    pub tls: TlsMode,
    /// Host key type (AutoMTLS).
    pub key: KeyType,
    /// Transport asked of the server.
    pub transport: Network,
    /// Manual TLS material.
    pub manual: Option<ManualTls>,
    /// The server command.
    pub server_command: Vec<String>,
    /// Bound on the whole run.
    pub timeout: Duration,
    /// App protocol versions offered and accepted (`--versions`, the contract's default `[1]`).
    pub versions: Vec<u32>,
    /// The script to run (`--script`).
    pub script: Script,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn status_name(code: tonic::Code) -> String {
    let s = format!("{code:?}");
    // `NotFound` → `NOT_FOUND`, as gRPC names codes everywhere else.
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Runs the contract's client side and returns the report (never panics on peer
/// misbehaviour: every failure becomes `error`).
pub async fn run_client(run: ClientRun) -> Report {
    run_client_as(
        run,
        Peer {
            language: "rust",
            implementation: implementation(),
        },
    )
    .await
}

/// [`run_client`] for another front end of this library, which reports itself as `peer`
/// (the Python binding is `python-rs`); `peer.language` also goes into the handshake probe.
pub async fn run_client_as(run: ClientRun, peer: Peer) -> Report {
    let started = Instant::now();
    let requested = Requested {
        tls: run.tls.to_string(),
        key: run.key.to_string(),
        transport: run.transport.to_string(),
        server_command: run.server_command.clone(),
        versions: run.versions.clone(),
        script: run.script.to_string(),
    };
    let mut report = Report {
        schema: SCHEMA,
        peer,
        requested,
        observed: Observed::default(),
        timings: Timings::default(),
        steps: Vec::new(),
        plugin_exit: None,
        ok: false,
        error: None,
    };
    let work = execute(&run, &mut report);
    if tokio::time::timeout(run.timeout, work).await.is_err() {
        report.error.get_or_insert(ReportError {
            stage: "timeout",
            message: format!("client run exceeded {:?}", run.timeout),
            stderr_tail: Vec::new(),
        });
    }
    report.timings.total_ms = ms(started.elapsed());
    report.ok =
        report.error.is_none() && !report.steps.is_empty() && report.steps.iter().all(|s| s.ok);
    report
}

/// `soup-rpc 0.1.0 (tonic, rustls/aws-lc-rs)`.
pub fn implementation() -> String {
    concat!(
        "soup-rpc ",
        env!("CARGO_PKG_VERSION"),
        " (tonic, rustls/aws-lc-rs)"
    )
    .to_string()
}

async fn execute(run: &ClientRun, report: &mut Report) {
    let mut config = LaunchConfig::new(run.server_command.iter());
    config.tls = run.tls;
    config.key = run.key;
    config.manual = run.manual.clone();
    config.transport = Some(run.transport);
    // Under the run's bound, so a plugin that never answers gets the handshake's own error.
    config.handshake_timeout = run.timeout.mul_f64(0.75);
    config.versions = run.versions.clone();
    // The report is our stdout; a plugin's prints go to stderr.
    config.stdout = plugin_core::StdioSink::Stderr;
    let kv = match KvClient::launch(config).await {
        // A large value's limit must be the plugin's, not ours.
        Ok(kv) => match run.script.largest_value() {
            Some(n) => kv.with_max_message_size(
                usize::try_from(n.saturating_add(1 << 20)).unwrap_or(usize::MAX),
            ),
            None => kv,
        },
        Err(KvError::Host(e)) => {
            record_launch_error(report, &e);
            return;
        }
        Err(e) => {
            report.error = Some(ReportError {
                stage: "internal",
                message: e.to_string(),
                stderr_tail: Vec::new(),
            });
            return;
        }
    };
    let handshake_at = Instant::now();
    let plugin = kv.plugin();
    report.timings.spawn_to_handshake_ms = Some(ms(plugin.spawn_to_handshake()));
    report.observed.handshake_line = Some(plugin.raw_handshake().to_string());
    report.observed.network = Some(plugin.handshake().network.to_string());
    report.observed.tls = plugin.tls_session().map(|s| TlsObserved {
        version: Some(s.version.clone()),
        cipher_suite: Some(s.cipher_suite.clone()),
    });
    report.observed.server_certificate = plugin.server_certificate();
    report.observed.client_certificate = match (plugin.client_certificate(), &run.manual) {
        (Some(c), _) => CertificateInfo::from_der(&c.der).ok(),
        (None, Some(m)) => m
            .chain
            .first()
            .and_then(|c| CertificateInfo::from_der(c).ok()),
        _ => None,
    };
    // The launch already did the first RPC (health); this is connect + TLS + health.
    report.timings.handshake_to_first_rpc_ms = Some(0.0);

    let mut first = true;
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    for step in script::script_steps(run.script, report.peer.language) {
        if step.after_stdin_line {
            eprintln!("{}", script::PAUSE_MARKER);
            // EOF or an error ends the pause the same way.
            let _ = stdin.read_line(&mut String::new()).await;
        }
        let t = Instant::now();
        let (result, value) = match step.op {
            Op::Put => (
                kv.put_with_timeout(&step.key, &step.value, step.deadline)
                    .await
                    .map(|_| None),
                Some(step.value.clone()),
            ),
            Op::Get => {
                let r = kv.get_with_timeout(&step.key, step.deadline).await;
                let v = r.as_ref().ok().cloned();
                (r.map(Some), v)
            }
        };
        let latency = t.elapsed();
        if first {
            report.timings.handshake_to_first_rpc_ms = Some(ms(handshake_at.elapsed()));
            first = false;
        }
        let (ok, status, message) = match (&result, &step.expect) {
            (Ok(_), Expect::Ok) => (true, "OK".to_string(), String::new()),
            (Ok(Some(got)), Expect::Bytes(want)) => {
                let ok = got == want;
                let msg = if ok {
                    String::new()
                } else {
                    format!(
                        "value differs: got {} bytes, expected {}",
                        got.len(),
                        want.len()
                    )
                };
                (ok, "OK".into(), msg)
            }
            (Ok(Some(got)), Expect::Probe) => match probe_object(got) {
                Some(saw) => {
                    report.observed.server_saw = Some(saw);
                    (true, "OK".into(), String::new())
                }
                None => (
                    false,
                    "OK".into(),
                    "value is not a JSON object with a server_handshake object".into(),
                ),
            },
            (Ok(_), Expect::AnyError) => (false, "OK".into(), "a missing key returned OK".into()),
            (Ok(_), Expect::Answer) => (true, "OK".into(), String::new()),
            (Err(e), Expect::Answer) if e.code() == Some(tonic::Code::NotFound) => {
                (true, "NOT_FOUND".into(), rpc_message(e))
            }
            (Ok(_), _) => (false, "OK".into(), "no value".into()),
            (Err(e), Expect::AnyError) => (
                true,
                e.code().map(status_name).unwrap_or_default(),
                rpc_message(e),
            ),
            (Err(e), _) => (
                false,
                e.code()
                    .map(status_name)
                    .unwrap_or_else(|| "UNKNOWN".into()),
                rpc_message(e),
            ),
        };
        if !ok && report.error.is_none() {
            report.error = Some(ReportError {
                stage: "rpc",
                message: format!("{}: {status}: {message}", step.name),
                stderr_tail: Vec::new(),
            });
        }
        let (value_len, value_sha256) = match (&step.op, &value) {
            (_, Some(v)) => (Some(v.len()), Some(hex::encode(Sha256::digest(v)))),
            _ => (None, None),
        };
        report.steps.push(StepResult {
            step: step.name,
            op: match step.op {
                Op::Put => "put",
                Op::Get => "get",
            },
            key: step.key,
            ok,
            status,
            message,
            value_len,
            value_sha256,
            latency_us: (latency.as_secs_f64() * 1e9).round() / 1e3,
        });
        if !ok && run.script.stops_at_first_failure() {
            break;
        }
    }
    if run.script == Script::Hold {
        // Keep the plugin until our stdin ends (xtask SIGKILLs a holding host to see what
        // the plugin does when its host dies). A read error ends the hold the same way.
        let _ = tokio::io::copy(&mut stdin, &mut tokio::io::sink()).await;
    }
    let tail = kv.plugin().stderr_tail();
    let exit = kv.shutdown().await;
    report.plugin_exit = Some(exit);
    if exit.how != plugin_core::ExitHow::Exited && report.error.is_none() {
        report.error = Some(ReportError {
            stage: "shutdown",
            message: format!("plugin did not exit after Shutdown: {exit:?}"),
            stderr_tail: tail,
        });
    }
}

fn rpc_message(e: &KvError) -> String {
    match e {
        KvError::Rpc { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn probe_object(got: &[u8]) -> Option<Value> {
    match serde_json::from_slice::<Value>(got).ok()? {
        Value::Object(mut o) => match o.remove("server_handshake") {
            Some(v @ Value::Object(_)) => Some(v),
            _ => None,
        },
        _ => None,
    }
}

fn record_launch_error(report: &mut Report, e: &HostError) {
    // What was observed before the failure still belongs in the report.
    if let Some(line) = e.handshake_line() {
        report.observed.handshake_line = Some(line.to_string());
        report.observed.network = plugin_core::HandshakeLine::parse(line)
            .ok()
            .map(|h| h.network.to_string());
    }
    report.error = Some(ReportError {
        stage: e.stage(),
        message: e.to_string(),
        stderr_tail: e.stderr_tail().to_vec(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_grpc_names() {
        assert_eq!(status_name(tonic::Code::NotFound), "NOT_FOUND");
        assert_eq!(status_name(tonic::Code::Ok), "OK");
        assert_eq!(status_name(tonic::Code::Unavailable), "UNAVAILABLE");
        assert_eq!(
            status_name(tonic::Code::DeadlineExceeded),
            "DEADLINE_EXCEEDED"
        );
    }
}
