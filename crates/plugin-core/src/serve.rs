//! The plugin side: read the env contract, listen, print the handshake line, serve
//! gRPC (the application's services plus go-plugin's internal ones) until the host
//! shuts us down or goes away.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::Routes;

use crate::certificate::{CertificateInfo, SelfSignedCert, pem_to_ders};
use crate::env::{self, MagicCookie, Negotiated};
use crate::handshake::{CORE_PROTOCOL_VERSION, HandshakeLine, Network};
use crate::io::ServerStream;
use crate::lifecycle::spawn_stop_watchers;
use crate::listener::{Listener, listen};
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

pub(crate) fn env_var(name: &str) -> Option<String> {
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
        // h2's rapid-reset guard (20 by default) closes the connection when a host's
        // deadlines expire on many calls at once (a stalled plugin): every later call
        // then fails. The only peer here is our own host, on loopback or a unix socket.
        .http2_max_pending_accept_reset_streams(Some(1024))
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
            report_on_stderr(&format!("{module}: cannot start the async runtime: {e}"));
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(serve(config, routes()));
    rt.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e @ ServeError::CookieRejected { .. }) => {
            report_on_stderr(&e.to_string());
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            tracing::error!(error = %e, "plugin init error");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A line for humans on stderr; unlike `eprintln!`, no panic when nobody reads stderr.
fn report_on_stderr(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}
