//! What can go wrong hosting a plugin, each variant carrying what a user needs to act.

use std::time::Duration;

use crate::protocol::handshake::HandshakeLineError;

/// Why launching or connecting to a plugin failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// A reattach config that cannot be used (shape, protocol, network).
    #[error("{0}")]
    Reattach(#[from] crate::protocol::reattach::ReattachError),
    /// The reattach config names a process that is not running.
    #[error(
        "the reattach config's Pid {pid} is not running ({source}); restart the plugin in debug mode and use the config it prints"
    )]
    AttachedProcessGone {
        /// The pid from the config.
        pid: i32,
        /// What the OS said.
        source: std::io::Error,
    },
    /// AutoMTLS needs the handshake's certificate exchange, which attaching skips.
    #[error(
        "AutoMTLS cannot be used to attach to a running plugin (no handshake to exchange certificates); attach with TLS off, or manual TLS"
    )]
    AttachAutoMtls,
    /// `manual` TLS without the certificate, key and CA.
    #[error("TLS mode manual needs a certificate, key and CA (ManualTls); none was given")]
    ManualTlsMissing,
    /// We asked for multiplexing and the plugin did not answer field 7 `true`.
    #[error(
        "gRPC broker multiplexing was requested but the plugin does not support it (handshake field 7 is not `true`; go-plugin plugins need go-plugin >= 1.6): turn multiplexing off for this plugin; handshake line: {line:?}"
    )]
    MultiplexUnsupported {
        /// The handshake line.
        line: String,
    },
    /// The plugin command could not be started at all.
    #[error("cannot start plugin {command:?}: {source}")]
    Spawn {
        /// The program.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The plugin refused our magic cookie and exited (it was built for another host or
    /// another cookie).
    #[error(
        "the plugin rejected the magic cookie and exited ({}): check that host and plugin agree on the cookie key and value\nplugin stderr:\n{}",
        describe_exit(*code, None),
        stderr_tail.join("\n")
    )]
    CookieRejected {
        /// The plugin's exit code.
        code: Option<i32>,
        /// What it wrote to stderr.
        stderr_tail: Vec<String>,
    },
    /// The plugin answered with an app protocol version we don't speak.
    #[error(
        "incompatible API version with plugin: plugin version {theirs}, host versions {ours:?}; upgrade the plugin or the host so they share a version"
    )]
    NoCommonVersion {
        /// What we offered.
        ours: Vec<u32>,
        /// What the plugin answered.
        theirs: u32,
    },
    /// No handshake line within the time limit.
    #[error(
        "timeout while waiting for plugin to start: no handshake line on stdout after {after:?}\nplugin stderr:\n{}",
        stderr_tail.join("\n")
    )]
    HandshakeTimeout {
        /// How long we waited.
        after: Duration,
        /// What the plugin wrote to stderr meanwhile.
        stderr_tail: Vec<String>,
    },
    /// The first stdout line is not a usable handshake line.
    #[error("{0}")]
    Malformed(#[from] HandshakeLineError),
    /// The plugin exited (or closed stdout) before printing its handshake line.
    #[error(
        "plugin exited before the handshake ({}); is it a go-plugin plugin?\nplugin stderr:\n{}",
        describe_exit(*code, *signal),
        stderr_tail.join("\n")
    )]
    Exited {
        /// Exit code, if it exited normally.
        code: Option<i32>,
        /// Signal that killed it, if any.
        signal: Option<i32>,
        /// What it wrote to stderr.
        stderr_tail: Vec<String>,
    },
    /// We asked for TLS (AutoMTLS) but the handshake carries no certificate: refusing to
    /// talk plaintext (no silent downgrade).
    #[error(
        "TLS was required but the plugin offered a plaintext connection (no certificate in handshake field 6): refusing to downgrade; handshake line: {line:?}"
    )]
    PlaintextWhenTlsRequired {
        /// The handshake line.
        line: String,
    },
    /// The plugin offered TLS (a certificate in field 6) though the host asked for none.
    #[error(
        "the plugin offered TLS (a certificate in handshake field 6) but this host runs with TLS off; enable TLS or configure the plugin for plaintext"
    )]
    UnexpectedCertificate,
    /// The TLS handshake failed.
    #[error("TLS handshake with the plugin failed (plugin certificate key type: {}): {cause}", peer_key.as_deref().unwrap_or("unknown"))]
    Tls {
        /// The key type of the certificate the plugin presented or advertised.
        peer_key: Option<String>,
        /// rustls' or the transport's reason.
        cause: String,
        /// rustls' own error, when rustls refused (e.g. a certificate that is not the pin).
        rustls: Option<Box<rustls::Error>>,
        /// The handshake line the plugin printed.
        line: String,
        /// What the plugin wrote to stderr (its side of the failure).
        stderr_tail: Vec<String>,
    },
    /// The plugin's address could not be reached.
    #[error("cannot connect to plugin at {address}: {cause}")]
    Connect {
        /// Socket path or host:port.
        address: String,
        /// Why.
        cause: String,
        /// The socket error's kind (`ConnectionRefused`, `NotFound`, ...), when it was one.
        kind: Option<std::io::ErrorKind>,
        /// The handshake line the plugin printed.
        line: String,
        /// What the plugin wrote to stderr.
        stderr_tail: Vec<String>,
    },
    /// The plugin's gRPC health service did not report `plugin` SERVING.
    #[error("plugin health check failed: {cause}")]
    Health {
        /// Why.
        cause: String,
        /// The gRPC status code of the failed check, when the plugin answered with one.
        code: Option<tonic::Code>,
        /// The handshake line the plugin printed.
        line: String,
        /// What the plugin wrote to stderr.
        stderr_tail: Vec<String>,
    },
    /// Our TLS material could not be prepared.
    #[error(transparent)]
    TlsConfig(#[from] crate::tls::TlsConfigError),
    /// Our certificate could not be generated.
    #[error(transparent)]
    Certificate(#[from] crate::certificate::CertificateError),
}

/// `exit code 3`, `killed by signal 9`, ...
pub fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        (None, None) => "closed stdout without exiting".into(),
    }
}

impl HostError {
    /// The plugin's stderr tail, for the variants that carry one.
    pub fn stderr_tail(&self) -> &[String] {
        match self {
            HostError::CookieRejected { stderr_tail, .. }
            | HostError::HandshakeTimeout { stderr_tail, .. }
            | HostError::Exited { stderr_tail, .. }
            | HostError::Tls { stderr_tail, .. }
            | HostError::Connect { stderr_tail, .. }
            | HostError::Health { stderr_tail, .. } => stderr_tail,
            _ => &[],
        }
    }

    /// Attaches the plugin's stderr tail to a failure found after the handshake.
    pub(crate) fn with_stderr_tail(mut self, tail: Vec<String>) -> Self {
        if let HostError::Tls { stderr_tail, .. }
        | HostError::Connect { stderr_tail, .. }
        | HostError::Health { stderr_tail, .. } = &mut self
        {
            *stderr_tail = tail;
        }
        self
    }

    /// rustls' error, for a TLS handshake rustls refused.
    pub fn rustls_error(&self) -> Option<&rustls::Error> {
        match self {
            HostError::Tls { rustls, .. } => rustls.as_deref(),
            HostError::TlsConfig(crate::tls::TlsConfigError::Rustls(e))
            | HostError::TlsConfig(crate::tls::TlsConfigError::BadCa(e)) => Some(e),
            _ => None,
        }
    }

    /// The I/O error kind, for failures that were a socket or process error.
    pub fn io_error_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            HostError::Connect { kind, .. } => *kind,
            HostError::Spawn { source, .. } | HostError::AttachedProcessGone { source, .. } => {
                Some(source.kind())
            }
            _ => None,
        }
    }

    /// The gRPC status code, for a health check the plugin answered with an error.
    pub fn grpc_code(&self) -> Option<tonic::Code> {
        match self {
            HostError::Health { code, .. } => *code,
            _ => None,
        }
    }

    /// The handshake line, for failures after the plugin printed one.
    pub fn handshake_line(&self) -> Option<&str> {
        match self {
            HostError::Tls { line, .. }
            | HostError::Connect { line, .. }
            | HostError::Health { line, .. }
            | HostError::PlaintextWhenTlsRequired { line } => Some(line),
            _ => None,
        }
    }

    /// The phase that failed: `spawn`, `handshake`, `tls`, `connect`.
    pub fn stage(&self) -> &'static str {
        match self {
            HostError::Spawn { .. } => "spawn",
            HostError::Tls { .. }
            | HostError::TlsConfig(_)
            | HostError::Certificate(_)
            | HostError::PlaintextWhenTlsRequired { .. }
            | HostError::UnexpectedCertificate => "tls",
            HostError::Connect { .. } | HostError::Health { .. } => "connect",
            _ => "handshake",
        }
    }
}
