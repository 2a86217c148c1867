//! The plugin side: read the env contract, listen, print the handshake line, serve
//! gRPC (the application's services plus go-plugin's internal ones) until the host
//! shuts us down or goes away.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::Routes;

use crate::certificate::{CertificateInfo, SelfSignedCert, pem_to_ders};
use crate::env::{self, MagicCookie, Negotiated};
use crate::handshake::{CORE_PROTOCOL_VERSION, HandshakeLine, Network};
use crate::io::{ServerStream, Socket};
use crate::services::{Broker, Controller, ShutdownSignal, Stdio, proto};
use crate::tls::{self, ManualTls, TlsMode};
use crate::{KeyChoice, KeyType};

/// gRPC message size limit we apply to our services (Terraform uses 256 MiB; gRPC's
/// 4 MiB default is too small for real payloads).
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

/// How long a connection may take to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long in-flight RPCs get after a shutdown request before we stop anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// What a plugin serves and how.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The cookie the host must set.
    pub cookie: MagicCookie,
    /// The application protocol versions this plugin speaks.
    pub versions: Vec<u32>,
    /// `auto`: AutoMTLS when the host sent `PLUGIN_CLIENT_CERT`, else plaintext (as
    /// go-plugin); `off`: never TLS; `manual`: the files in `manual`.
    pub tls: TlsMode,
    /// The key type of our AutoMTLS certificate.
    pub key: KeyChoice,
    /// Certificate, key and CA for `manual`.
    pub manual: Option<ManualTls>,
    /// Transport; `None` = `PLUGIN_SERVER_TRANSPORTS` if set, else unix (as go-plugin on
    /// every OS but Windows).
    pub transport: Option<Network>,
    /// Exit when the process that started us exits (go-plugin plugins linger; we don't).
    pub exit_with_host: bool,
}

impl ServeConfig {
    /// A config for the given cookie and versions; TLS `auto`, key `match`.
    pub fn new(cookie: MagicCookie, versions: Vec<u32>) -> Self {
        ServeConfig {
            cookie,
            versions,
            tls: TlsMode::Auto,
            key: KeyChoice::Match,
            manual: None,
            transport: None,
            exit_with_host: true,
        }
    }
}

/// Why a plugin could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The magic cookie is missing or wrong: the binary was run by hand.
    #[error(
        "This binary is a plugin. These are not meant to be executed directly.\n\
         Please execute the program that consumes these plugins, which will\n\
         load any plugins automatically\n(magic cookie {key} is missing or has the wrong value)"
    )]
    CookieRejected {
        /// The cookie's variable name.
        key: String,
    },
    /// `PLUGIN_CLIENT_CERT` holds no usable certificate.
    #[error(
        "PLUGIN_CLIENT_CERT holds no usable PEM certificate ({0}); the host's AutoMTLS certificate is required to verify it"
    )]
    BadClientCert(String),
    /// `manual` TLS without certificate files.
    #[error("TLS mode manual needs a certificate, key and CA (--tls-cert, --tls-key, --tls-ca)")]
    ManualTlsMissing,
    /// Port range or socket problems.
    #[error("cannot listen: {0}")]
    Listen(String),
    /// Our own certificate could not be made.
    #[error(transparent)]
    Certificate(#[from] crate::certificate::CertificateError),
    /// rustls rejected our TLS configuration.
    #[error("TLS configuration rejected: {0}")]
    Tls(#[from] rustls::Error),
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Server(#[from] tonic::transport::Error),
    /// Writing the handshake line failed.
    #[error("cannot write the handshake line to stdout: {0}")]
    Stdout(std::io::Error),
}

/// How serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeOutcome {
    /// The host called GRPCController.Shutdown.
    ShutdownRequested,
    /// The host process went away.
    HostExited,
    /// SIGTERM.
    Terminated,
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Serves `routes` (the application's services) as a go-plugin plugin. Reads the env
/// contract, prints the handshake line, and returns when the plugin should exit.
pub async fn serve(config: ServeConfig, routes: Routes) -> Result<ServeOutcome, ServeError> {
    if std::env::var(&config.cookie.key).ok().as_deref() != Some(config.cookie.value.as_str()) {
        return Err(ServeError::CookieRejected {
            key: config.cookie.key.clone(),
        });
    }

    let version = negotiate(&config.versions);
    let (tls_config, server_cert) = tls_setup(&config)?;
    let listener = listen(&config).await?;

    let mut line = HandshakeLine {
        core_version: CORE_PROTOCOL_VERSION,
        app_version: version,
        network: listener.network(),
        address: listener.address(),
        protocol: "grpc".into(),
        server_cert,
        multiplex: None,
    };
    if env_var(env::PLUGIN_MULTIPLEX_GRPC).is_some() {
        tracing::info!("host asked for gRPC broker multiplexing; this plugin does not multiplex");
        line.multiplex = Some(false);
    }

    let shutdown = ShutdownSignal::default();
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let routes = routes
        .add_service(health_service)
        .add_service(proto::grpc_controller_server::GrpcControllerServer::new(
            Controller {
                shutdown: shutdown.clone(),
            },
        ))
        .add_service(proto::grpc_stdio_server::GrpcStdioServer::new(Stdio {
            shutdown: shutdown.clone(),
        }))
        .add_service(proto::grpc_broker_server::GrpcBrokerServer::new(Broker {
            shutdown: shutdown.clone(),
        }));

    let incoming = accept_loop(listener.clone(), tls_config, shutdown.clone());

    {
        let text = format!("{line}\n");
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(ServeError::Stdout)?;
    }
    tracing::info!(
        network = %line.network,
        address = %line.address,
        version,
        tls = line.server_cert.is_some() || config.tls == TlsMode::Manual,
        "plugin serving"
    );

    let outcome = Arc::new(std::sync::Mutex::new(None));
    spawn_stop_watchers(&config, &shutdown, &outcome);

    let server = tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown.clone().wait_owned());
    tokio::pin!(server);
    tokio::select! {
        res = &mut server => res?,
        _ = async { shutdown.wait().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::debug!("in-flight RPCs did not finish within the grace period; stopping anyway");
        }
    }
    listener.cleanup();
    let outcome = outcome
        .lock()
        .expect("outcome lock")
        .unwrap_or(ServeOutcome::ShutdownRequested);
    tracing::info!(?outcome, "plugin stopped");
    Ok(outcome)
}

impl ShutdownSignal {
    async fn wait_owned(self) {
        self.wait().await
    }
}

fn negotiate(ours: &[u32]) -> u32 {
    let raw = std::env::var(env::PLUGIN_PROTOCOL_VERSIONS).unwrap_or_default();
    let (host, bad) = env::parse_protocol_versions(&raw);
    for b in bad {
        tracing::warn!(entry = %b, "host sent an invalid plugin protocol version; ignoring it");
    }
    match env::negotiate_version(ours, &host) {
        Negotiated::Common(v) => v,
        Negotiated::Fallback(v) => {
            tracing::warn!(
                plugin_versions = ?ours,
                host_versions = ?host,
                answering = v,
                "no protocol version in common with the host; answering with our lowest so the host can reject it"
            );
            v
        }
    }
}

type TlsSetup = (
    Option<Arc<rustls::ServerConfig>>,
    Option<CertificateDer<'static>>,
);

fn tls_setup(config: &ServeConfig) -> Result<TlsSetup, ServeError> {
    match config.tls {
        TlsMode::Off => {
            if env_var(env::PLUGIN_CLIENT_CERT).is_some() {
                tracing::warn!(
                    "host sent PLUGIN_CLIENT_CERT but TLS is off for this plugin; serving plaintext"
                );
            }
            Ok((None, None))
        }
        TlsMode::Manual => {
            let manual = config.manual.as_ref().ok_or(ServeError::ManualTlsMissing)?;
            let cfg = tls::manual_server_config(manual)?;
            Ok((Some(Arc::new(cfg)), None))
        }
        TlsMode::Auto => {
            let Some(pem) = env_var(env::PLUGIN_CLIENT_CERT) else {
                tracing::info!(
                    "host sent no PLUGIN_CLIENT_CERT; serving plaintext, as go-plugin does"
                );
                return Ok((None, None));
            };
            let host_cert = pem_to_ders(&pem)
                .map_err(|e| ServeError::BadClientCert(e.to_string()))?
                .remove(0);
            let host_info = CertificateInfo::from_der(&host_cert)
                .map_err(|e| ServeError::BadClientCert(e.to_string()))?;
            let key = match config.key {
                KeyChoice::Fixed(k) => k,
                KeyChoice::Match => host_info.known_key_type().unwrap_or(KeyType::EcP256),
            };
            let own = SelfSignedCert::generate(key)?;
            tracing::debug!(host_key = %host_info.key_type, our_key = %key, "configuring server automatic mTLS");
            let cfg = tls::auto_server_config(&own, host_cert)?;
            Ok((Some(Arc::new(cfg)), Some(own.der.clone())))
        }
    }
}

/// A bound listener.
#[derive(Debug, Clone)]
enum Listener {
    Tcp(Arc<TcpListener>, String),
    Unix(Arc<UnixListener>, PathBuf),
}

impl Listener {
    fn network(&self) -> Network {
        match self {
            Listener::Tcp(..) => Network::Tcp,
            Listener::Unix(..) => Network::Unix,
        }
    }
    fn address(&self) -> String {
        match self {
            Listener::Tcp(_, a) => a.clone(),
            Listener::Unix(_, p) => p.display().to_string(),
        }
    }
    async fn accept(&self) -> std::io::Result<Socket> {
        match self {
            Listener::Tcp(l, _) => {
                let (s, _) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok(Socket::Tcp(s))
            }
            Listener::Unix(l, _) => Ok(Socket::Unix(l.accept().await?.0)),
        }
    }
    fn cleanup(&self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn transport(config: &ServeConfig) -> Network {
    if let Some(t) = config.transport {
        return t;
    }
    // pyvider's hint: "tcp", "unix" or a JSON list like ["tcp"]; the first we know wins.
    if let Some(hint) = env_var(env::PLUGIN_SERVER_TRANSPORTS) {
        let cleaned = hint.replace(['[', ']', '"', '\''], "");
        if let Some(t) = cleaned.split(',').find_map(|t| t.parse::<Network>().ok()) {
            return t;
        }
    }
    Network::Unix
}

async fn listen(config: &ServeConfig) -> Result<Listener, ServeError> {
    match transport(config) {
        Network::Tcp => listen_tcp().await,
        Network::Unix => listen_unix(),
    }
}

async fn listen_tcp() -> Result<Listener, ServeError> {
    let parse = |name| -> Result<u16, ServeError> {
        match env_var(name) {
            None => Ok(0),
            Some(v) => v
                .parse()
                .map_err(|e| ServeError::Listen(format!("couldn't get value from {name}: {e}"))),
        }
    };
    let (min, max) = (parse(env::PLUGIN_MIN_PORT)?, parse(env::PLUGIN_MAX_PORT)?);
    if min > max {
        return Err(ServeError::Listen(format!(
            "PLUGIN_MIN_PORT value of {min} is greater than PLUGIN_MAX_PORT value of {max}"
        )));
    }
    // Start at a random point of the range so concurrent plugins don't all race for
    // the first port (go-plugin walks from MIN; any free port in range is valid).
    let span = u32::from(max - min) + 1;
    let offset = (std::process::id()
        ^ (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)))
        % span;
    for i in 0..span {
        let port = min as u32 + (offset + i) % span;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port as u16)).await {
            let addr = l
                .local_addr()
                .map_err(|e| ServeError::Listen(e.to_string()))?
                .to_string();
            return Ok(Listener::Tcp(Arc::new(l), addr));
        }
    }
    Err(ServeError::Listen(format!(
        "couldn't bind plugin TCP listener on 127.0.0.1 ports {min}..={max}"
    )))
}

fn listen_unix() -> Result<Listener, ServeError> {
    let dir = env_var(env::PLUGIN_UNIX_SOCKET_DIR)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let mut last_err = None;
    for _ in 0..16 {
        let mut rnd = [0u8; 5];
        rustls::crypto::aws_lc_rs::default_provider()
            .secure_random
            .fill(&mut rnd)
            .map_err(|e| ServeError::Listen(format!("random source failed: {e:?}")))?;
        let path = dir.join(format!(
            "plugin{}",
            u64::from_be_bytes([0, 0, 0, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4]])
        ));
        match UnixListener::bind(&path) {
            Ok(l) => {
                if let Some(group) = env_var(env::PLUGIN_UNIX_SOCKET_GROUP) {
                    set_group_writable(&path, &group)?;
                }
                return Ok(Listener::Unix(Arc::new(l), path));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(e) => {
                return Err(ServeError::Listen(format!(
                    "cannot bind unix socket {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Err(ServeError::Listen(format!(
        "no free unix socket name in {}: {last_err:?}",
        dir.display()
    )))
}

fn set_group_writable(path: &std::path::Path, group: &str) -> Result<(), ServeError> {
    use std::os::unix::fs::PermissionsExt;
    let gid: u32 = match group.parse() {
        Ok(gid) => gid,
        Err(_) => {
            let name = std::ffi::CString::new(group)
                .map_err(|_| ServeError::Listen(format!("bad group name {group:?}")))?;
            // SAFETY: getgrnam reads a NUL-terminated string and returns a pointer to
            // static storage or null; we copy the gid out at once.
            let gr = unsafe { libc::getgrnam(name.as_ptr()) };
            if gr.is_null() {
                return Err(ServeError::Listen(format!(
                    "PLUGIN_UNIX_SOCKET_GROUP names unknown group {group:?}"
                )));
            }
            // SAFETY: non-null pointer returned by getgrnam.
            unsafe { (*gr).gr_gid }
        }
    };
    std::os::unix::fs::chown(path, None, Some(gid))
        .and_then(|_| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)))
        .map_err(|e| {
            ServeError::Listen(format!(
                "cannot give {} to group {group}: {e}",
                path.display()
            ))
        })
}

fn accept_loop(
    listener: Listener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: ShutdownSignal,
) -> ReceiverStream<std::io::Result<ServerStream>> {
    let (tx, rx) = mpsc::channel(16);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let socket = tokio::select! {
                _ = shutdown.wait() => break,
                s = listener.accept() => s,
            };
            let socket = match socket {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            let tx = tx.clone();
            let acceptor = acceptor.clone();
            // Each handshake runs on its own so a slow or hostile peer stalls nobody.
            tokio::spawn(async move {
                let stream = match acceptor {
                    None => ServerStream::Plain(socket),
                    Some(acc) => {
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acc.accept(socket)).await
                        {
                            Ok(Ok(s)) => ServerStream::Tls(Box::new(s)),
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "TLS handshake with host failed");
                                return;
                            }
                            Err(_) => {
                                tracing::warn!("TLS handshake with host timed out");
                                return;
                            }
                        }
                    }
                };
                let _ = tx.send(Ok(stream)).await;
            });
        }
    });
    ReceiverStream::new(rx)
}

fn spawn_stop_watchers(
    config: &ServeConfig,
    shutdown: &ShutdownSignal,
    outcome: &Arc<std::sync::Mutex<Option<ServeOutcome>>>,
) {
    let set = {
        let outcome = outcome.clone();
        let shutdown = shutdown.clone();
        move |o: ServeOutcome| {
            outcome.lock().expect("outcome lock").get_or_insert(o);
            shutdown.trigger();
        }
    };

    // go-plugin plugins ignore SIGINT: a terminal's Ctrl-C reaches the whole process
    // group, and the host sequences plugin shutdown itself.
    if let Ok(mut sigint) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    {
        tokio::spawn(async move {
            let mut count = 0u64;
            while sigint.recv().await.is_some() {
                count += 1;
                tracing::trace!(count, "plugin received interrupt signal, ignoring");
            }
        });
    }
    if let Ok(mut sigterm) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        let set = set.clone();
        tokio::spawn(async move {
            if sigterm.recv().await.is_some() {
                tracing::info!("SIGTERM: shutting down");
                set(ServeOutcome::Terminated);
            }
        });
    }
    {
        let shutdown = shutdown.clone();
        let outcome = outcome.clone();
        tokio::spawn(async move {
            shutdown.wait().await;
            outcome
                .lock()
                .expect("outcome lock")
                .get_or_insert(ServeOutcome::ShutdownRequested);
        });
    }
    if config.exit_with_host {
        // SAFETY: getppid has no preconditions.
        let parent = unsafe { libc::getppid() };
        if parent > 1 {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                loop {
                    tick.tick().await;
                    // SAFETY: as above.
                    if unsafe { libc::getppid() } != parent {
                        tracing::warn!(host_pid = parent, "host process exited; shutting down");
                        set(ServeOutcome::HostExited);
                        break;
                    }
                }
            });
        }
    }
}

/// Runs a plugin to completion on a fresh tokio runtime, the way a plugin's `main` wants
/// it: hclog logging, a cookie mismatch reported for humans with exit code 1, errors
/// reported on stderr with exit code 1.
pub fn run_plugin(
    module: &str,
    config: ServeConfig,
    routes: impl FnOnce() -> Routes,
) -> std::process::ExitCode {
    crate::hclog::init(module);
    // One thread: a plugin serves one host, and a single-threaded runtime halves Get
    // latency (no cross-thread wake-ups); blocking work goes to spawn_blocking.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{module}: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(serve(config, routes()));
    rt.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e @ ServeError::CookieRejected { .. }) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            tracing::error!(error = %e, "plugin init error");
            std::process::ExitCode::FAILURE
        }
    }
}
