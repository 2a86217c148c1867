//! The host side: launch a plugin with the env contract, read its handshake line,
//! connect (AutoMTLS, manual TLS or plaintext), check health, and shut it down the way
//! go-plugin does (Shutdown RPC, grace period, kill), never leaving a zombie.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::KeyType;
use crate::certificate::{CertificateInfo, SelfSignedCert};
use crate::env::{self, MagicCookie};
use crate::handshake::{HandshakeLine, Network};
use crate::host_connect::{check_health, connect, forward_stdio};
use crate::host_error::HostError;
use crate::host_handshake::{LineError, drain_stdout, exited_before_handshake, read_line};
use crate::plugin_stderr::{self, StderrTail};
use crate::services::proto;
use crate::tls::{self, ManualTls, TlsMode, TlsSession};

/// go-plugin's grace period between Shutdown and kill.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How to launch a plugin.
#[derive(Debug, Clone)]
pub struct LaunchConfig {
    /// Program and arguments.
    pub command: Vec<OsString>,
    /// The magic cookie to set.
    pub cookie: MagicCookie,
    /// App protocol versions we speak.
    pub versions: Vec<u32>,
    /// TLS mode; `auto` = go-plugin AutoMTLS.
    pub tls: TlsMode,
    /// Key type of our AutoMTLS certificate (default `ec-p256`).
    pub key: KeyType,
    /// Certificate, key and CA for `manual`.
    pub manual: Option<ManualTls>,
    /// Transport to ask for (via `PLUGIN_SERVER_TRANSPORTS`); go-plugin plugins choose
    /// their own, so this is a hint and the handshake says what was chosen.
    pub transport: Option<Network>,
    /// Extra environment for the plugin (after scrubbing inherited `PLUGIN_*`).
    pub env: Vec<(OsString, OsString)>,
    /// Time limit for the handshake line (go-plugin: 1 minute).
    pub handshake_timeout: Duration,
    /// Name used in logs (defaults to the program's file name).
    pub name: Option<String>,
}

impl LaunchConfig {
    /// Defaults: go-plugin's KV cookie, version 1, AutoMTLS with an `ec-p256` host key.
    pub fn new<I, S>(command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        LaunchConfig {
            command: command.into_iter().map(Into::into).collect(),
            cookie: MagicCookie::kv_example(),
            versions: vec![1],
            tls: TlsMode::Auto,
            key: KeyType::EcP256,
            manual: None,
            transport: None,
            env: Vec::new(),
            handshake_timeout: Duration::from_secs(60),
            name: None,
        }
    }
}

/// How a plugin process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PluginExit {
    /// `exited` (on its own), `killed` (by us after the grace period), `signaled`.
    pub how: ExitHow,
    /// Exit code when it exited normally.
    pub code: Option<i32>,
    /// Signal number when a signal ended it.
    pub signal: Option<i32>,
}

/// See [`PluginExit::how`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExitHow {
    /// It exited by itself (after Shutdown, or on its own).
    Exited,
    /// We killed it after the grace period.
    Killed,
    /// Another signal ended it.
    Signaled,
}

fn exit_of(status: std::process::ExitStatus, killed_by_us: bool) -> PluginExit {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), killed_by_us) {
        (Some(_), _) => ExitHow::Exited,
        (None, true) => ExitHow::Killed,
        (None, false) => ExitHow::Signaled,
    };
    PluginExit {
        how,
        code: status.code(),
        signal: status.signal(),
    }
}

/// A running, connected plugin.
#[derive(Debug)]
pub struct PluginClient {
    child: Option<Child>,
    name: String,
    raw_line: String,
    handshake: HandshakeLine,
    channel: Channel,
    client_cert: Option<SelfSignedCert>,
    tls_session: Option<TlsSession>,
    stderr: StderrTail,
    readers: Vec<JoinHandle<()>>,
    spawn_to_handshake: Duration,
}

impl PluginClient {
    /// Starts the plugin, reads its handshake line, connects and checks health.
    pub async fn launch(config: LaunchConfig) -> Result<Self, HostError> {
        let program = config
            .command
            .first()
            .ok_or_else(|| HostError::Spawn {
                command: String::new(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "empty plugin command",
                ),
            })?
            .clone();
        let name = config.name.clone().unwrap_or_else(|| {
            std::path::Path::new(&program)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| program.to_string_lossy().into_owned())
        });
        let span = tracing::info_span!("plugin", name = %name);
        let _enter = span.enter();

        let client_cert = match config.tls {
            TlsMode::Auto => Some(SelfSignedCert::generate(config.key)?),
            _ => None,
        };
        if config.tls == TlsMode::Manual && config.manual.is_none() {
            return Err(HostError::TlsConfig(crate::tls::TlsConfigError::Rustls(
                rustls::Error::General("TLS mode manual needs a certificate, key and CA".into()),
            )));
        }

        let mut cmd = Command::new(&program);
        cmd.args(&config.command[1..]);
        // A host's own PLUGIN_* variables (it may itself be a plugin) must not switch on
        // TLS, muxing or socket options we did not ask for.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PLUGIN_") {
                cmd.env_remove(&k);
            }
        }
        cmd.env(&config.cookie.key, &config.cookie.value)
            .env(
                env::PLUGIN_PROTOCOL_VERSIONS,
                config
                    .versions
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .env(env::PLUGIN_MIN_PORT, "10000")
            .env(env::PLUGIN_MAX_PORT, "25000");
        if let Some(cert) = &client_cert {
            cmd.env(env::PLUGIN_CLIENT_CERT, cert.pem());
        }
        if let Some(t) = config.transport {
            cmd.env(env::PLUGIN_SERVER_TRANSPORTS, t.as_str());
        }
        for (k, v) in &config.env {
            cmd.env(k, v);
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);

        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| HostError::Spawn {
            command: program.to_string_lossy().into_owned(),
            source,
        })?;
        tracing::debug!(pid = child.id(), "plugin started");
        let stderr = StderrTail::default();
        let mut readers = vec![tokio::spawn(plugin_stderr::pump(
            child.stderr.take().expect("stderr is piped"),
            stderr.clone(),
            name.clone(),
        ))];
        let mut stdout = child.stdout.take().expect("stdout is piped");

        let first = tokio::time::timeout(config.handshake_timeout, read_line(&mut stdout)).await;
        let line = match first {
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                settle(&mut readers).await;
                return Err(HostError::HandshakeTimeout {
                    after: config.handshake_timeout,
                    stderr_tail: stderr.lines(),
                });
            }
            Ok(Err(LineError::TooLong(prefix))) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                settle(&mut readers).await;
                return Err(crate::handshake::HandshakeLineError::Malformed {
                    line: prefix,
                    reason: "no newline within 64 KiB".into(),
                }
                .into());
            }
            Ok(Err(LineError::Eof)) => {
                return Err(exited_before_handshake(child, readers, stderr).await);
            }
            Ok(Ok(line)) => line,
        };
        let spawn_to_handshake = started.elapsed();
        readers.push(tokio::spawn(drain_stdout(stdout, name.clone())));

        let handshake = match HandshakeLine::parse(&line) {
            Ok(h) => h,
            Err(e) => {
                kill_and_reap(&mut child).await;
                return Err(e.into());
            }
        };
        if !config.versions.contains(&handshake.app_version) {
            kill_and_reap(&mut child).await;
            return Err(HostError::NoCommonVersion {
                ours: config.versions.clone(),
                theirs: handshake.app_version,
            });
        }
        tracing::debug!(line = %line, "plugin handshake");

        let tls_config = match tls_client_config(&config, &handshake, client_cert.as_ref(), &line) {
            Ok(c) => c,
            Err(e) => {
                kill_and_reap(&mut child).await;
                return Err(e);
            }
        };
        let peer_key = handshake
            .server_cert
            .as_ref()
            .and_then(|c| CertificateInfo::from_der(c).ok())
            .map(|i| i.key_type);
        let (channel, tls_session) = match connect(&handshake, tls_config, peer_key, &line).await {
            Ok(c) => c,
            Err(e) => {
                terminate_and_reap(&mut child).await;
                settle(&mut readers).await;
                return Err(e.with_stderr_tail(stderr.lines()));
            }
        };
        if let Err(e) = check_health(&channel, &line).await {
            terminate_and_reap(&mut child).await;
            settle(&mut readers).await;
            return Err(e.with_stderr_tail(stderr.lines()));
        }
        readers.push(tokio::spawn(forward_stdio(channel.clone(), name.clone())));

        drop(_enter);
        Ok(PluginClient {
            child: Some(child),
            name,
            raw_line: line,
            handshake,
            channel,
            client_cert,
            tls_session,
            stderr,
            readers,
            spawn_to_handshake,
        })
    }

    /// A gRPC channel to the plugin, for the application's service clients.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The handshake line exactly as the plugin printed it (no newline).
    pub fn raw_handshake(&self) -> &str {
        &self.raw_line
    }

    /// The parsed handshake line.
    pub fn handshake(&self) -> &HandshakeLine {
        &self.handshake
    }

    /// What TLS negotiated (None for plaintext).
    pub fn tls_session(&self) -> Option<&TlsSession> {
        self.tls_session.as_ref()
    }

    /// The certificate the plugin presented in TLS, decoded.
    pub fn server_certificate(&self) -> Option<CertificateInfo> {
        self.tls_session
            .as_ref()
            .and_then(|s| s.peer_certificate.as_ref())
            .and_then(|c| CertificateInfo::from_der(c).ok())
    }

    /// Our AutoMTLS certificate, when we made one.
    pub fn client_certificate(&self) -> Option<&SelfSignedCert> {
        self.client_cert.as_ref()
    }

    /// The last lines the plugin wrote to stderr.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr.lines()
    }

    /// From spawn to the handshake line.
    pub fn spawn_to_handshake(&self) -> Duration {
        self.spawn_to_handshake
    }

    /// The plugin's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// Whether the plugin process has exited.
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Stops the plugin as go-plugin does: GRPCController.Shutdown, then up to
    /// [`SHUTDOWN_GRACE`] for it to exit, then SIGKILL. Always reaps the process.
    pub async fn shutdown(mut self) -> PluginExit {
        let mut child = self.child.take().expect("child present until shutdown");
        let mut controller =
            proto::grpc_controller_client::GrpcControllerClient::new(self.channel.clone());
        match tokio::time::timeout(SHUTDOWN_GRACE, controller.shutdown(proto::Empty {})).await {
            Ok(Ok(_)) => tracing::debug!(plugin = %self.name, "plugin acknowledged shutdown"),
            Ok(Err(status)) => {
                tracing::debug!(plugin = %self.name, code = ?status.code(), "shutdown RPC ended without a reply (Go plugins close the connection)")
            }
            Err(_) => tracing::warn!(plugin = %self.name, "shutdown RPC got no answer"),
        }
        drop(controller);
        let exit = match tokio::time::timeout(SHUTDOWN_GRACE, child.wait()).await {
            Ok(Ok(status)) => exit_of(status, false),
            _ => {
                tracing::warn!(plugin = %self.name, "plugin failed to exit gracefully; killing it");
                let _ = child.start_kill();
                match child.wait().await {
                    Ok(status) => exit_of(status, true),
                    Err(_) => PluginExit {
                        how: ExitHow::Killed,
                        code: None,
                        signal: None,
                    },
                }
            }
        };
        settle(&mut self.readers).await;
        tracing::info!(plugin = %self.name, ?exit, "plugin process exited");
        exit
    }
}

impl Drop for PluginClient {
    fn drop(&mut self) {
        for r in &self.readers {
            r.abort();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            // Reap now if it is already gone; otherwise tokio's orphan queue reaps it.
            let _ = child.try_wait();
        }
    }
}

pub(crate) async fn kill_and_reap(child: &mut Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// After a failed connection: SIGTERM, so the plugin can log its side of the failure
/// (a TLS alert, say) before it goes, then SIGKILL if it has not exited in 500 ms.
async fn terminate_and_reap(child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own, not yet reaped, child.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        if tokio::time::timeout(Duration::from_millis(500), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    kill_and_reap(child).await;
}

/// Waits (bounded) for the pipe readers so the stderr tail is complete.
pub(crate) async fn settle(readers: &mut Vec<JoinHandle<()>>) {
    for r in readers.drain(..) {
        let abort = r.abort_handle();
        if tokio::time::timeout(Duration::from_secs(1), r)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

fn tls_client_config(
    config: &LaunchConfig,
    handshake: &HandshakeLine,
    own: Option<&SelfSignedCert>,
    line: &str,
) -> Result<Option<Arc<rustls::ClientConfig>>, HostError> {
    match config.tls {
        TlsMode::Off => {
            if handshake.server_cert.is_some() {
                return Err(HostError::UnexpectedCertificate);
            }
            Ok(None)
        }
        TlsMode::Auto => {
            let server_cert = handshake.server_cert.clone().ok_or_else(|| {
                HostError::PlaintextWhenTlsRequired {
                    line: line.to_string(),
                }
            })?;
            let own = own.expect("AutoMTLS host certificate made before spawn");
            let cfg = tls::auto_client_config(own, server_cert)
                .map_err(|e| HostError::TlsConfig(e.into()))?;
            Ok(Some(Arc::new(cfg)))
        }
        TlsMode::Manual => {
            let manual = config.manual.as_ref().expect("checked before spawn");
            let cfg =
                tls::manual_client_config(manual).map_err(|e| HostError::TlsConfig(e.into()))?;
            Ok(Some(Arc::new(cfg)))
        }
    }
}
