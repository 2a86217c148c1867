//! The host side: launch a plugin with the env contract, read its handshake line,
//! connect (AutoMTLS, manual TLS or plaintext), check health, and shut it down the way
//! go-plugin does (Shutdown RPC, grace period, kill), never leaving a zombie.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use tracing::Instrument as _;

use crate::broker::{Broker, BrokerConfig, BrokerTls};
use crate::protocol::env::{self, MagicCookie};
use crate::protocol::handshake::{HandshakeLine, Network};
use crate::protocol::proto;
use crate::protocol::reattach::ReattachConfig;
use crate::tls::certificate::{CertificateInfo, SelfSignedCert};
use crate::tls::{self, KeyType, ManualTls, TlsMode, TlsSession};

use super::connect::{HealthStatus, check_health, connect, dial_mux, forward_stdio};
use super::error::HostError;
use super::handshake::{LineError, drain_stdout, exited_before_handshake, read_line};
use super::process::{ExitHow, PluginExit, Process, kill_and_reap, settle, terminate_and_reap};
use super::stderr::{self, StderrTail};
use super::stdio::StdioSink;

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
    /// Time the plugin gets to answer Shutdown, and then to exit, before it is killed
    /// (go-plugin: 2 s each, not configurable: go-plugin#295).
    pub shutdown_grace: Duration,
    /// Start the plugin in a process group of its own and signal the whole group, so a
    /// wrapper (`sh -c plugin`, as go-plugin's examples launch theirs) takes its children
    /// with it. Off by default, as go-plugin; a terminal's Ctrl-C then no longer reaches
    /// the plugin directly (the host stops it).
    pub process_group: bool,
    /// Where the plugin's GRPCStdio output goes (go-plugin's `SyncStdout`/`SyncStderr`).
    pub stdout: StdioSink,
    /// See [`LaunchConfig::stdout`].
    pub stderr: StdioSink,
    /// Brokered connections: dial timeout and listener transport.
    pub broker: BrokerConfig,
    /// Ask for gRPC broker multiplexing (`PLUGIN_MULTIPLEX_GRPC`, go-plugin's
    /// `GRPCBrokerMultiplex`): one connection, every gRPC connection a yamux stream. A
    /// plugin that does not answer field 7 `true` is refused, as go-plugin does.
    pub multiplex: bool,
}

impl LaunchConfig {
    /// The plugin's command with go-plugin's environment contract, as a host starts it:
    /// inherited `PLUGIN_*` scrubbed, cookie, versions, port range, transports and
    /// multiplexing as configured, stdin closed, stdout and stderr piped, killed on drop.
    /// `PLUGIN_CLIENT_CERT` and [`LaunchConfig::env`] are left to the caller, which sets
    /// them last.
    pub fn plugin_command(&self, program: &std::ffi::OsStr) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(self.command.iter().skip(1));
        // A host's own PLUGIN_* variables (it may itself be a plugin) must not switch on
        // TLS, muxing or socket options we did not ask for.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PLUGIN_") {
                cmd.env_remove(&k);
            }
        }
        cmd.env(&self.cookie.key, &self.cookie.value)
            .env(
                env::PLUGIN_PROTOCOL_VERSIONS,
                self.versions
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .env(env::PLUGIN_MIN_PORT, "10000")
            .env(env::PLUGIN_MAX_PORT, "25000");
        if let Some(t) = self.transport {
            cmd.env(env::PLUGIN_SERVER_TRANSPORTS, t.as_str());
        }
        if self.multiplex {
            cmd.env(env::PLUGIN_MULTIPLEX_GRPC, "true");
        }
        if self.process_group {
            cmd.process_group(0);
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

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
            shutdown_grace: SHUTDOWN_GRACE,
            process_group: false,
            stdout: StdioSink::Inherit,
            stderr: StdioSink::Inherit,
            broker: BrokerConfig::default(),
            multiplex: false,
        }
    }
}

/// How to attach to a plugin that is already running (reattach / debug mode): no spawn,
/// the address and version from a go-plugin `ReattachConfig`.
#[derive(Debug, Clone)]
pub struct AttachConfig {
    /// Where the plugin is, its version and pid, and whether it is in test mode.
    pub reattach: ReattachConfig,
    /// App protocol versions we speak; the config's version must be one of them.
    pub versions: Vec<u32>,
    /// `off` or `manual` (AutoMTLS needs a handshake).
    pub tls: TlsMode,
    /// Certificate, key and CA for `manual`.
    pub manual: Option<ManualTls>,
    /// Time the plugin gets to exit after Shutdown (a plugin not in test mode).
    pub shutdown_grace: Duration,
    /// Where the plugin's GRPCStdio stdout goes.
    pub stdout: StdioSink,
    /// Where the plugin's GRPCStdio stderr goes.
    pub stderr: StdioSink,
    /// Brokered connections.
    pub broker: BrokerConfig,
    /// Name used in logs.
    pub name: Option<String>,
}

impl AttachConfig {
    /// TLS off, versions `[1]`, go-plugin's grace.
    pub fn new(reattach: ReattachConfig) -> Self {
        AttachConfig {
            reattach,
            versions: vec![1],
            tls: TlsMode::Off,
            manual: None,
            shutdown_grace: SHUTDOWN_GRACE,
            stdout: StdioSink::Inherit,
            stderr: StdioSink::Inherit,
            broker: BrokerConfig::default(),
            name: None,
        }
    }
}

/// A running, connected plugin.
#[derive(Debug)]
pub struct PluginClient {
    process: Process,
    broker: Broker,
    shutdown_grace: Duration,
    name: String,
    raw_line: String,
    handshake: HandshakeLine,
    channel: Channel,
    client_cert: Option<SelfSignedCert>,
    tls_session: Option<TlsSession>,
    stderr: StderrTail,
    readers: Vec<JoinHandle<()>>,
    timings: LaunchTimings,
    health: HealthStatus,
}

/// Where a launch spent its time (go-plugin's steps, in order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LaunchTimings {
    /// From spawn to the handshake line on stdout (zero when attached).
    pub spawn_to_handshake: Duration,
    /// From the handshake line to an open connection (socket, TLS, HTTP/2).
    pub handshake_to_connected: Duration,
    /// The health check of service `plugin`.
    pub health: Duration,
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
        Self::launch_named(config, program, name)
            .instrument(span)
            .await
    }

    async fn launch_named(
        config: LaunchConfig,
        program: OsString,
        name: String,
    ) -> Result<Self, HostError> {
        let client_cert = match config.tls {
            TlsMode::Auto => Some(SelfSignedCert::generate(config.key)?),
            _ => None,
        };
        if config.tls == TlsMode::Manual && config.manual.is_none() {
            return Err(HostError::ManualTlsMissing);
        }

        let mut cmd = config.plugin_command(&program);
        if let Some(cert) = &client_cert {
            cmd.env(env::PLUGIN_CLIENT_CERT, cert.pem());
        }
        // Last, so the caller's extra environment wins.
        for (k, v) in &config.env {
            cmd.env(k, v);
        }

        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| HostError::Spawn {
            command: program.to_string_lossy().into_owned(),
            source,
        })?;
        tracing::debug!(pid = child.id(), "plugin started");
        let stderr = StderrTail::default();
        let mut readers = vec![tokio::spawn(stderr::pump(
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
                return Err(crate::protocol::handshake::HandshakeLineError::Malformed {
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
        if config.multiplex && handshake.multiplex != Some(true) {
            kill_and_reap(&mut child).await;
            return Err(HostError::MultiplexUnsupported { line });
        }

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
        let broker_tls = match broker_tls(&config, &handshake, client_cert.as_ref(), &tls_config) {
            Ok(t) => t,
            Err(e) => {
                kill_and_reap(&mut child).await;
                return Err(e);
            }
        };
        let mux = if config.multiplex {
            match dial_mux(&handshake, &line).await {
                Ok(m) => Some(m),
                Err(e) => {
                    terminate_and_reap(&mut child).await;
                    settle(&mut readers).await;
                    return Err(e.with_stderr_tail(stderr.lines()));
                }
            }
        } else {
            None
        };
        let connecting = Instant::now();
        let (channel, tls_session) =
            match connect(&handshake, tls_config, peer_key, &line, mux.clone()).await {
                Ok(c) => c,
                Err(e) => {
                    terminate_and_reap(&mut child).await;
                    settle(&mut readers).await;
                    return Err(e.with_stderr_tail(stderr.lines()));
                }
            };
        let handshake_to_connected = connecting.elapsed();
        let checking = Instant::now();
        let health = match check_health(&channel, &line).await {
            Ok(h) => h,
            Err(e) => {
                terminate_and_reap(&mut child).await;
                settle(&mut readers).await;
                return Err(e.with_stderr_tail(stderr.lines()));
            }
        };
        let timings = LaunchTimings {
            spawn_to_handshake,
            handshake_to_connected,
            health: checking.elapsed(),
        };
        readers.push(tokio::spawn(
            forward_stdio(
                channel.clone(),
                name.clone(),
                config.stdout.clone(),
                config.stderr.clone(),
            )
            .in_current_span(),
        ));
        let broker = Broker::with_mux("host", broker_tls, config.broker.clone(), mux.is_some());
        if let Some(mux) = mux {
            broker.set_mux(mux);
        }
        if let Some(pump) = broker.spawn_client_stream(channel.clone()) {
            readers.push(pump);
        }

        Ok(PluginClient {
            process: Process::supervise(child, config.process_group),
            broker,
            shutdown_grace: config.shutdown_grace,
            name,
            raw_line: line,
            handshake,
            channel,
            client_cert,
            tls_session,
            stderr,
            readers,
            timings,
            health,
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

    /// The plugin's stderr tail itself: keeps filling until the plugin closes stderr, so
    /// it still tells what the plugin wrote on its way out after [`PluginClient::shutdown`].
    pub fn stderr(&self) -> StderrTail {
        self.stderr.clone()
    }

    /// From spawn to the handshake line.
    pub fn spawn_to_handshake(&self) -> Duration {
        self.timings.spawn_to_handshake
    }

    /// Where the launch spent its time.
    pub fn timings(&self) -> LaunchTimings {
        self.timings
    }

    /// What the health check said (`Unimplemented` for a plugin without health).
    pub fn health(&self) -> HealthStatus {
        self.health
    }

    /// The plugin's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        if self.process.exit.borrow().is_some() {
            None
        } else {
            self.process.pid
        }
    }

    /// Whether the plugin process has exited.
    pub fn has_exited(&mut self) -> bool {
        self.process.exit.borrow().is_some()
    }

    /// The host's side of the GRPCBroker: serve services to the plugin
    /// ([`Broker::accept_and_serve`]) or dial the ones it serves ([`Broker::dial`]).
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Attaches to a running plugin from its reattach config: no spawn; the version is
    /// checked, the pid (when given) must be running, then connect, health, broker and
    /// stdio as [`PluginClient::launch`]. [`PluginClient::shutdown`] leaves a test-mode
    /// plugin running and never kills an attached one.
    pub async fn attach(config: AttachConfig) -> Result<Self, HostError> {
        let r = &config.reattach;
        let name = config
            .name
            .clone()
            .unwrap_or_else(|| format!("attached:{}", r.addr.string));
        let span = tracing::info_span!("plugin", name = %name);
        Self::attach_named(config, name).instrument(span).await
    }

    async fn attach_named(config: AttachConfig, name: String) -> Result<Self, HostError> {
        let r = config.reattach.clone();
        if r.protocol != "grpc" {
            return Err(
                crate::protocol::reattach::ReattachError::UnsupportedProtocol(r.protocol).into(),
            );
        }
        let network = r.network()?;
        if !config.versions.contains(&r.protocol_version) {
            return Err(HostError::NoCommonVersion {
                ours: config.versions.clone(),
                theirs: r.protocol_version,
            });
        }
        let process = if r.pid > 0 {
            Process::attached(r.pid, r.test)
                .map_err(|source| HostError::AttachedProcessGone { pid: r.pid, source })?
        } else {
            Process::unknown(r.test)
        };
        let tls_config = match config.tls {
            TlsMode::Off => None,
            TlsMode::Auto => return Err(HostError::AttachAutoMtls),
            TlsMode::Manual => {
                let manual = config.manual.as_ref().ok_or(HostError::ManualTlsMissing)?;
                Some(Arc::new(
                    tls::manual_client_config(manual).map_err(HostError::TlsConfig)?,
                ))
            }
        };
        let handshake = HandshakeLine {
            core_version: crate::protocol::handshake::CORE_PROTOCOL_VERSION,
            app_version: r.protocol_version,
            network,
            address: r.addr.string.clone(),
            protocol: "grpc".into(),
            server_cert: None,
            multiplex: None,
        };
        let line = handshake.to_string();
        let broker_tls = match (&config.tls, &tls_config) {
            (TlsMode::Manual, Some(client)) => Some(BrokerTls {
                server: Arc::new(
                    tls::manual_server_config(config.manual.as_ref().expect("checked"))
                        .map_err(HostError::TlsConfig)?,
                ),
                client: client.clone(),
            }),
            _ => None,
        };
        let connecting = Instant::now();
        let (channel, tls_session) = connect(&handshake, tls_config, None, &line, None).await?;
        let handshake_to_connected = connecting.elapsed();
        let checking = Instant::now();
        let health = check_health(&channel, &line).await?;
        let timings = LaunchTimings {
            spawn_to_handshake: Duration::ZERO,
            handshake_to_connected,
            health: checking.elapsed(),
        };
        let mut readers = vec![tokio::spawn(
            forward_stdio(
                channel.clone(),
                name.clone(),
                config.stdout.clone(),
                config.stderr.clone(),
            )
            .in_current_span(),
        )];
        let broker = Broker::new("host", broker_tls, config.broker.clone());
        if let Some(pump) = broker.spawn_client_stream(channel.clone()) {
            readers.push(pump);
        }
        tracing::info!(pid = r.pid, test = r.test, address = %r.addr.string, "attached to a running plugin");
        Ok(PluginClient {
            process,
            broker,
            shutdown_grace: config.shutdown_grace,
            name,
            raw_line: line,
            handshake,
            channel,
            client_cert: None,
            tls_session,
            stderr: StderrTail::default(),
            readers,
            timings,
            health,
        })
    }

    /// Whether this client attached to a running plugin instead of starting it.
    pub fn is_attached(&self) -> bool {
        self.process.attached.is_some()
    }

    /// The app protocol version the plugin chose from [`LaunchConfig::versions`]: pick
    /// the client set for it (go-plugin's `VersionedPlugins`).
    pub fn negotiated_version(&self) -> u32 {
        self.handshake.app_version
    }

    /// Resolves when the plugin process ends, however it ends (go-plugin#92).
    pub fn exited(&self) -> impl std::future::Future<Output = PluginExit> + Send + 'static {
        let mut rx = self.process.exit.clone();
        async move {
            match rx.wait_for(Option::is_some).await {
                Ok(exit) => exit.expect("checked is_some"),
                Err(_) => PluginExit {
                    how: ExitHow::Killed,
                    code: None,
                    signal: None,
                },
            }
        }
    }

    /// Resolves with how the plugin ended if it ended without [`PluginClient::shutdown`]
    /// asking it to (a crash, a kill from elsewhere); with `None` if it was shut down.
    pub fn unexpected_exit(
        &self,
    ) -> impl std::future::Future<Output = Option<PluginExit>> + Send + 'static {
        let exited = self.exited();
        let expected = self.process.expected.clone();
        async move {
            let exit = exited.await;
            (!expected.load(std::sync::atomic::Ordering::SeqCst)).then_some(exit)
        }
    }

    /// Stops the plugin as go-plugin does: closes the broker, GRPCController.Shutdown,
    /// then up to [`LaunchConfig::shutdown_grace`] for it to exit, then SIGKILL (of its
    /// process group with [`LaunchConfig::process_group`]). Always reaps the process.
    pub async fn shutdown(mut self) -> PluginExit {
        let grace = self.shutdown_grace;
        self.process
            .expected
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.broker.close();
        if let Some(test) = self.process.attached {
            return self.detach(test, grace).await;
        }
        let mut controller =
            proto::grpc_controller_client::GrpcControllerClient::new(self.channel.clone());
        match tokio::time::timeout(grace, controller.shutdown(proto::Empty {})).await {
            Ok(Ok(_)) => tracing::debug!(plugin = %self.name, "plugin acknowledged shutdown"),
            Ok(Err(status)) => {
                tracing::debug!(plugin = %self.name, code = ?status.code(), "shutdown RPC ended without a reply (Go plugins close the connection)")
            }
            Err(_) => tracing::warn!(plugin = %self.name, "shutdown RPC got no answer"),
        }
        drop(controller);
        let exit = match tokio::time::timeout(grace, self.exited()).await {
            Ok(exit) => exit,
            Err(_) => {
                tracing::warn!(plugin = %self.name, "plugin failed to exit gracefully; killing it");
                self.process.signal(libc::SIGKILL);
                self.exited().await
            }
        };
        self.broker.close_mux();
        settle(&mut self.readers).await;
        tracing::info!(plugin = %self.name, ?exit, "plugin process exited");
        exit
    }
}

impl PluginClient {
    /// Ends an attached session: a test-mode plugin is left running (go-plugin's client
    /// does the same); any other gets Shutdown and `grace` to exit, and is never killed.
    async fn detach(mut self, test: bool, grace: Duration) -> PluginExit {
        let left = PluginExit {
            how: ExitHow::LeftRunning,
            code: None,
            signal: None,
        };
        if test {
            tracing::info!(plugin = %self.name, "detached; the test-mode plugin keeps running for the next attach");
            settle_now(&mut self.readers);
            return left;
        }
        let mut controller =
            proto::grpc_controller_client::GrpcControllerClient::new(self.channel.clone());
        let _ = tokio::time::timeout(grace, controller.shutdown(proto::Empty {})).await;
        settle_now(&mut self.readers);
        if self.process.pid.is_none() {
            return left;
        }
        match tokio::time::timeout(grace, self.exited()).await {
            Ok(exit) => exit,
            Err(_) => {
                tracing::warn!(plugin = %self.name, pid = ?self.process.pid, "attached plugin did not exit after Shutdown; not killing a process this host did not start");
                left
            }
        }
    }
}

fn settle_now(readers: &mut Vec<JoinHandle<()>>) {
    for r in readers.drain(..) {
        r.abort();
    }
}

impl Drop for PluginClient {
    fn drop(&mut self) {
        self.broker.close();
        self.broker.close_mux();
        for r in &self.readers {
            r.abort();
        }
        if self.process.attached.is_none() && self.process.exit.borrow().is_none() {
            self.process.signal(libc::SIGKILL);
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
            let cfg = tls::manual_client_config(manual).map_err(HostError::TlsConfig)?;
            Ok(Some(Arc::new(cfg)))
        }
    }
}

/// The TLS of the host's brokered listeners and dials: the main connection's identities.
fn broker_tls(
    config: &LaunchConfig,
    handshake: &HandshakeLine,
    own: Option<&SelfSignedCert>,
    client: &Option<Arc<rustls::ClientConfig>>,
) -> Result<Option<BrokerTls>, HostError> {
    let Some(client) = client.clone() else {
        return Ok(None);
    };
    let server = match config.tls {
        TlsMode::Off => return Ok(None),
        TlsMode::Auto => {
            let own = own.expect("AutoMTLS host certificate made before spawn");
            let plugin_cert = handshake
                .server_cert
                .clone()
                .expect("AutoMTLS checked the plugin's certificate");
            tls::auto_server_config(own, plugin_cert).map_err(|e| HostError::TlsConfig(e.into()))?
        }
        TlsMode::Manual => {
            let manual = config.manual.as_ref().expect("checked before spawn");
            tls::manual_server_config(manual).map_err(HostError::TlsConfig)?
        }
    };
    Ok(Some(BrokerTls {
        server: Arc::new(server),
        client,
    }))
}
