//! Classification of a failing cell's first error into a short, stable cause.
//!
//! The rules are one ordered table of (stage, pattern → cause): the first rule whose stage
//! matches and whose regex matches the error message or the plugin's stderr tail wins.
//! Causes may name the cell's requested crypto (`{KEY}` = `P-521`, `RSA-2048`, ...) but never
//! ports, paths or times, so the rendered table stays deterministic.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// A classified cause: full text for reports, a short label for table cells.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Cause {
    /// e.g. `tls: peer rejected P-521 signature`.
    pub text: String,
    /// e.g. `tls-sig`.
    pub short: String,
}

impl Cause {
    /// A cause decided by the verdict logic rather than by the table.
    pub fn new(short: &str, text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            short: short.into(),
        }
    }
}

/// (stage or `*`, regex, cause template, short label), first match wins.
#[rustfmt::skip]
const RULES: &[(&str, &str, &str, &str)] = &[
    ("rpc", r"(?i)value (differs|mismatch)", "data: a value did not round-trip byte for byte", "data"),
    // A peer's libraries that do not load together (the version axis installs some outside
    // their declared constraints): the plugin dies before its handshake, or a host before
    // its first spawn, with the library's own words in its stderr or report.
    ("*", r"generated code in \S+ depends on grpcio>=", "library: pyvider-rpcplugin's generated code refuses this grpcio (it needs a newer one)", "lib-grpc"),
    ("*", r"(?i)incompatible Protobuf Gencode/Runtime", "library: the protobuf runtime is older than pyvider-rpcplugin's generated code", "lib-pb"),
    // go-plugin hosts ask grpc.health.v1 for the service named `plugin` before any call.
    ("*", r#"Service 'plugin' not found|service "plugin" not found|unknown service plugin"#, "health: the plugin serves no `plugin` health service (go-plugin hosts check it)", "health"),
    ("*", r"(?i)incompatible api version|no common (protocol )?version", "handshake: no common protocol version", "version"),
    ("*", r"(?i)this binary is a plugin|cookie.*(mismatch|did not match|invalid|missing|not set)", "plugin rejected the magic cookie", "cookie"),
    ("*", r"(?i)no[_ ](shared|common)[_ ]signature|NoSignatureSchemesInCommon", "tls: no common signature algorithm for {KEY}", "tls-sig"),
    ("*", r"(?i)decrypt_?error|bad_?signature|invalid signature|signature (verification )?failed|unsupported signature|signature.*(not supported|unsupported|rejected)", "tls: peer rejected {KEY} signature", "tls-sig"),
    ("*", r"(?i)(unsupported|unknown|not supported|invalid)\W+(elliptic )?(curve|group|key type)|curve.*(unsupported|not supported)", "tls: {KEY} key not supported", "key"),
    ("*", r"(?i)PEER_DID_NOT_RETURN_A_CERTIFICATE|didn't provide a certificate|certificate ?required|NoCertificatesPresented", "tls: client presented no {KEY} certificate the server accepts", "no-ccert"),
    ("*", r"(?i)CaUsedAsEndEntity", "tls: CA certificate used as end entity rejected", "tls-ca"),
    ("*", r"(?i)unknown ?ca|UnknownIssuer|unknown authority|certificate verify failed|CERTIFICATE_VERIFY_FAILED|bad ?certificate|not trusted|NotValidForName|certificate.*(mismatch|does not match)", "tls: certificate rejected", "tls-cert"),
    ("*", r"(?i)InvalidContentType|wrong version number|WRONG_VERSION_NUMBER|http request to an https server|first record does not look like a TLS handshake", "tls: one side spoke plaintext to a TLS endpoint", "plain"),
    ("*", r"(?i)alpn|application protocol", "tls: ALPN h2 not negotiated", "alpn"),
    ("*", r"(?i)ALERT_HANDSHAKE_FAILURE|handshake_failure alert|alert handshake failure", "tls: peer sent a handshake_failure alert ({KEY})", "tls-alert"),
    ("*", r"(?i)malformed authority", "http2: server rejected the client's :authority (a percent-encoded unix socket path)", "authority"),
    ("*", r"(?i)RST_STREAM.*error code 1\b|PROTOCOL_ERROR", "http2: server reset the stream (PROTOCOL_ERROR)", "h2-proto"),
    ("*", r"(?i)resource_exhausted|larger than max|message too large|exceeds? (the )?max", "grpc: message size limit", "size"),
    ("tls", r"", "tls: handshake failed", "tls"),
    ("connect", r"(?i)\btls\b|ssl|handshake failure|alert|certificate", "tls: handshake failed", "tls"),
    ("spawn", r"", "spawn: plugin could not be started", "spawn"),
    ("handshake", r"(?i)exit|terminated|died|closed", "plugin exited {EXIT} before handshake", "exit"),
    ("handshake", r"(?i)timed? ?out|deadline", "handshake: timed out", "hs-time"),
    ("handshake", r"", "handshake: invalid or missing handshake line", "handshake"),
    // Clients word a dropped connection differently from run to run (health check
    // cancelled, transport error, broken pipe): one cause keeps the table stable.
    ("*", r"(?i)socket closed|broken pipe|connection reset|unexpected eof|health check failed|transport error", "connect: server dropped the connection", "dropped"),
    ("*", r"(?i)connection refused|unavailable|failed to connect|connect error|no such file", "connect: server unavailable", "connect"),
    ("connect", r"", "connect: failed", "connect"),
    ("timeout", r"", "timeout (client's own limit)", "timeout"),
    ("shutdown", r"(?i)did not exit|was killed", "shutdown: the plugin did not exit after GRPCController.Shutdown", "no-exit"),
    ("rpc", r"", "rpc: call failed", "rpc"),
];

static COMPILED: LazyLock<Vec<(&'static str, Regex, &'static str, &'static str)>> =
    LazyLock::new(|| {
        RULES
            .iter()
            .map(|(stage, re, cause, short)| {
                (
                    *stage,
                    Regex::new(re).expect("valid cause regex"),
                    *cause,
                    *short,
                )
            })
            .collect()
    });

/// What the classifier looks at.
pub struct Failure<'a> {
    /// The report's `error.stage` (or a stage xtask assigns, e.g. `report`).
    pub stage: &'a str,
    /// The first error, verbatim.
    pub message: &'a str,
    /// The plugin's last stderr lines (and the client's stderr when there was no report).
    pub stderr_tail: &'a [String],
    /// The cell's requested key type, if any.
    pub key: Option<&'a str>,
    /// `1`, `signal 9`, ... when the plugin's exit is known.
    pub plugin_exit: Option<String>,
}

/// The cause of a failure, by the first matching rule.
pub fn classify(failure: &Failure<'_>) -> Cause {
    let haystacks: Vec<&str> = std::iter::once(failure.message)
        .chain(
            failure
                .stderr_tail
                .iter()
                .map(String::as_str)
                .filter(|line| !is_routine_log(line)),
        )
        .collect();
    for (stage, re, template, short) in COMPILED.iter() {
        if *stage != "*" && *stage != failure.stage {
            continue;
        }
        if haystacks.iter().any(|h| re.is_match(h)) {
            return Cause::new(short, fill(template, failure));
        }
    }
    Cause::new("error", format!("unclassified {} error", failure.stage))
}

/// An hclog JSON line below `warn`: configuration dumps and progress notes whose keys
/// (`"tls"`, `PLUGIN_MAGIC_COOKIE_KEY`, ...) would match rules without saying what failed.
/// Exception: h2 reports why it refused a request ("malformed headers: ...") only at
/// debug level, and that line is the diagnosis.
fn is_routine_log(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
        let message = v.get("@message").and_then(|m| m.as_str()).unwrap_or("");
        matches!(
            v.get("@level").and_then(|l| l.as_str()),
            Some("trace" | "debug" | "info")
        ) && !message.starts_with("malformed headers")
    })
}

fn fill(template: &str, failure: &Failure<'_>) -> String {
    template
        .replace("{KEY}", &failure.key.map_or("the".into(), human_key))
        .replace(
            "{EXIT}",
            failure.plugin_exit.as_deref().unwrap_or("(status unknown)"),
        )
}

/// `ec-p521` → `P-521`, `rsa-2048` → `RSA-2048`.
pub fn human_key(key: &str) -> String {
    match key.strip_prefix("ec-p") {
        Some(bits) => format!("P-{bits}"),
        None => key.to_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(stage: &str, message: &str, key: Option<&str>) -> Cause {
        classify(&Failure {
            stage,
            message,
            stderr_tail: &[],
            key,
            plugin_exit: Some("1".into()),
        })
    }

    #[test]
    fn boringssl_signature_rejection_names_the_key() {
        let c = cause(
            "rpc",
            "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Ssl handshake failed: SSL_ERROR_SSL: error:1000006b:SSL routines:OPENSSL_internal:BAD_SIGNATURE",
            Some("ec-p521"),
        );
        assert_eq!(
            c,
            Cause::new("tls-sig", "tls: peer rejected P-521 signature")
        );
    }

    #[test]
    fn go_unknown_authority_is_certificate_rejected() {
        let c = cause(
            "connect",
            "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority",
            Some("rsa-2048"),
        );
        assert_eq!(c.text, "tls: certificate rejected");
    }

    #[test]
    fn plugin_exit_before_handshake_uses_exit_code() {
        let c = cause("handshake", "plugin exited before we could connect", None);
        assert_eq!(c, Cause::new("exit", "plugin exited 1 before handshake"));
    }

    #[test]
    fn h2_malformed_authority_is_the_diagnosis_even_at_debug_level() {
        let tail = vec![r#"{"@level":"debug","@message":"malformed headers: malformed authority (b\"tmp%2Fplugin1\"): invalid authority","@module":"soup-server"}"#.to_string()];
        let cause = classify(&Failure {
            stage: "rpc",
            message: "put-ascii: INTERNAL: Stream removed (RST_STREAM (Received RST_STREAM with error code 1))",
            stderr_tail: &tail,
            key: None,
            plugin_exit: None,
        });
        assert_eq!(cause.short, "authority");
    }

    #[test]
    fn stderr_tail_is_searched_too() {
        let tail = vec!["panic: unsupported elliptic curve".to_string()];
        let c = classify(&Failure {
            stage: "handshake",
            message: "plugin exited",
            stderr_tail: &tail,
            key: Some("ec-p384"),
            plugin_exit: None,
        });
        assert_eq!(c.text, "tls: P-384 key not supported");
    }

    #[test]
    fn routine_log_lines_are_not_evidence() {
        let tail = vec![
            r#"{"@level": "info", "@message": "starting", "config": {"PLUGIN_MAGIC_COOKIE_KEY": "BASIC_PLUGIN"}, "tls": "manual"}"#.to_string(),
            "I1125 03:14:00.731005 822 ssl_transport_security.cc:2563] Handshake failed with error SSL_ERROR_SSL: error:100000c0:SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE: Invalid certificate verification context".to_string(),
        ];
        let c = classify(&Failure {
            stage: "connect",
            message: "rpc error: code = Unavailable desc = write tcp 127.0.0.1:50288->127.0.0.1:42783: write: broken pipe",
            stderr_tail: &tail,
            key: Some("ec-p521"),
            plugin_exit: None,
        });
        assert_eq!(
            c.text,
            "tls: client presented no P-521 certificate the server accepts"
        );
        let c = classify(&Failure {
            stderr_tail: &tail[..1],
            ..Failure {
                stage: "connect",
                message: "Socket closed",
                stderr_tail: &[],
                key: None,
                plugin_exit: None,
            }
        });
        assert_eq!(c.text, "connect: server dropped the connection");
    }

    #[test]
    fn boringssl_no_common_signature_algorithms() {
        let tail = vec!["I1125 ssl_transport_security.cc:2563] Handshake failed with error SSL_ERROR_SSL: error:100000fd:SSL routines:OPENSSL_internal:NO_COMMON_SIGNATURE_ALGORITHMS: Invalid certificate verification context".to_string()];
        let c = classify(&Failure {
            stage: "tls",
            message: "Handshake read failed (Socket closed)",
            stderr_tail: &tail,
            key: Some("ec-p521"),
            plugin_exit: None,
        });
        assert_eq!(c.text, "tls: no common signature algorithm for P-521");
    }

    #[test]
    fn rustls_invalid_content_type_means_plaintext_peer() {
        let tail = vec![r#"{"@level":"warn","@message":"TLS handshake with host failed","error":"received corrupt message of type InvalidContentType"}"#.to_string()];
        let c = classify(&Failure {
            stage: "tls",
            message: "UNAVAILABLE: ipv4:127.0.0.1:21133: Socket closed",
            stderr_tail: &tail,
            key: Some("ec-p256"),
            plugin_exit: None,
        });
        assert_eq!(
            c,
            Cause::new("plain", "tls: one side spoke plaintext to a TLS endpoint")
        );
    }

    #[test]
    fn go_plugin_cookie_message_is_recognised() {
        let c = cause(
            "handshake",
            "This binary is a plugin. These are not meant to be executed directly.",
            None,
        );
        assert_eq!(c.short, "cookie");
    }

    #[test]
    fn unknown_error_is_unclassified_with_stage() {
        assert_eq!(
            cause("internal", "boom", None).text,
            "unclassified internal error"
        );
        assert_eq!(cause("rpc", "boom", None).text, "rpc: call failed");
    }

    #[test]
    fn human_key_names() {
        assert_eq!(human_key("ec-p256"), "P-256");
        assert_eq!(human_key("rsa-4096"), "RSA-4096");
    }

    #[test]
    fn libraries_that_do_not_load_together_are_named_from_the_stderr_tail() {
        let tail = vec![
            "RuntimeError: The grpc package installed is at version 1.56.2, but the generated code in grpc_broker_pb2_grpc.py depends on grpcio>=1.75.0. Please upgrade".to_string(),
        ];
        let c = classify(&Failure {
            stage: "handshake",
            message: "plugin exited before the handshake (exit code 1)",
            stderr_tail: &tail,
            key: None,
            plugin_exit: None,
        });
        assert_eq!(c.short, "lib-grpc", "{c:?}");
        let c = cause(
            "internal",
            "pyvider-rpcplugin does not load: VersionError: Detected incompatible Protobuf Gencode/Runtime versions when loading grpc_broker.proto",
            None,
        );
        assert_eq!(c.short, "lib-pb", "{c:?}");
    }

    #[test]
    fn a_missing_plugin_health_service_is_not_a_dropped_connection() {
        let c = cause(
            "connect",
            r#"plugin health check failed: NotFound: code: 'Some requested entity was not found', message: "Service 'plugin' not found.""#,
            None,
        );
        assert_eq!(c.short, "health", "{c:?}");
        let c = cause(
            "shutdown",
            "the plugin did not exit within 2 s of GRPCController.Shutdown and was killed",
            None,
        );
        assert_eq!(c.short, "no-exit", "{c:?}");
    }
}
