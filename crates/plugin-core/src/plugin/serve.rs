//! `serve()` and `run_plugin()`: the env contract, TLS setup, version negotiation, the
//! handshake line, and the gRPC server until the host shuts us down or goes away.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use tokio::sync::mpsc;
use tonic::service::Routes;

use crate::broker::{Broker, BrokerConfig, BrokerTls};
use crate::protocol::env::{self, MagicCookie, Negotiated, env_var};
use crate::protocol::handshake::{CORE_PROTOCOL_VERSION, HandshakeLine, Network};
use crate::protocol::proto;
use crate::shutdown::ShutdownSignal;
use crate::tls::certificate::{CertificateInfo, SelfSignedCert, pem_to_ders};
use crate::tls::{self, KeyChoice, KeyType, ManualTls, TlsMode};
use crate::transport::accept::accept_loop;
use crate::transport::listener::{Listener, bind};
use crate::transport::mux::Mux;

use super::debug::{DebugServe, print_attach_instructions};
use super::lifecycle::{ServeOutcome, Watch, spawn_stop_watchers};
use super::reflection::with_reflection;
use super::services::{BrokerService, Controller, PluginStdio, StdioService};

/// gRPC message size limit we apply to our services (Terraform uses 256 MiB; gRPC's
/// 4 MiB default is too small for real payloads).
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

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
    /// After the handshake, send what the process prints on stdout to the host through
    /// GRPCStdio, as go-plugin does with `os.Stdout` (a go-plugin host writes it to its
    /// `SyncStdout`). Logs stay on stderr as hclog JSON.
    pub redirect_stdout: bool,
    /// Brokered connections: dial timeout and listener transport.
    pub broker: BrokerConfig,
    /// Multiplex when the host asks (`PLUGIN_MULTIPLEX_GRPC`), as go-plugin ≥ 1.6 does;
    /// `false` answers field 7 `false`.
    pub multiplex: bool,
    /// Encoded `FileDescriptorSet`s of the application's services (e.g.
    /// `kv_proto::FILE_DESCRIPTOR_SET`), served by gRPC reflection (v1 and v1alpha) next
    /// to go-plugin's own services and health, as go-plugin plugins register it.
    pub reflection: Vec<&'static [u8]>,
    /// Debug (go-plugin "test") mode: serve without a host, print how to attach (as
    /// go-plugin's `ReattachConfig` and a `TF_REATTACH_PROVIDERS` line) instead of the
    /// handshake line, and serve until Shutdown, SIGTERM or Ctrl-C.
    pub debug: Option<DebugServe>,
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
            redirect_stdout: true,
            broker: BrokerConfig::default(),
            multiplex: true,
            reflection: Vec::new(),
            debug: None,
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
    Listen(#[from] crate::transport::listener::ListenError),
    /// Our own certificate could not be made.
    #[error(transparent)]
    Certificate(#[from] crate::certificate::CertificateError),
    /// rustls rejected our TLS configuration.
    #[error("TLS configuration rejected: {0}")]
    Tls(#[from] rustls::Error),
    /// Manual TLS material is unusable (bad CA, no verifier).
    #[error(transparent)]
    TlsConfig(#[from] tls::TlsConfigError),
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Server(#[from] tonic::transport::Error),
    /// A descriptor set given for reflection does not decode.
    #[error("gRPC reflection: a descriptor set in ServeConfig::reflection is invalid: {0}")]
    Reflection(#[source] tonic_reflection::server::Error),
    /// Writing the handshake line failed.
    #[error("cannot write the handshake line to stdout: {0}")]
    Stdout(std::io::Error),
}

/// What a plugin's services can use besides their own state: the negotiated version,
/// the broker, and the GRPCStdio stream to the host.
#[derive(Debug, Clone)]
pub struct PluginContext {
    version: u32,
    broker: Broker,
    stdio: PluginStdio,
}

impl PluginContext {
    /// The app protocol version negotiated with the host (pick the service set for it:
    /// go-plugin's `VersionedPlugins`).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The plugin's side of the GRPCBroker.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Output to the host through GRPCStdio.
    pub fn stdio(&self) -> &PluginStdio {
        &self.stdio
    }
}

/// Serves `routes` (the application's services) as a go-plugin plugin. Reads the env
/// contract, prints the handshake line, and returns when the plugin should exit.
pub async fn serve(config: ServeConfig, routes: Routes) -> Result<ServeOutcome, ServeError> {
    serve_with(config, |_| routes).await
}

/// [`serve()`] for plugins whose services depend on the negotiated version or use the
/// broker or stdio: `build` gets the [`PluginContext`] once the version is known.
/// Versions without a service set of their own are the caller's `match`.
pub async fn serve_with(
    config: ServeConfig,
    build: impl FnOnce(&PluginContext) -> Routes,
) -> Result<ServeOutcome, ServeError> {
    super::lifecycle::note_host_pid();
    if config.debug.is_none()
        && std::env::var(&config.cookie.key).ok().as_deref() != Some(config.cookie.value.as_str())
    {
        return Err(ServeError::CookieRejected {
            key: config.cookie.key.clone(),
        });
    }

    let version = negotiate(&config.versions, config.debug.is_some());
    let (tls_config, server_cert, broker_tls) = tls_setup(&config)?;
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
    // As go-plugin: field 7 only when the host set the variable (older hosts split the
    // line in 6); multiplexing when its value is a Go `true` and we allow it.
    let multiplex = match env_var(env::PLUGIN_MULTIPLEX_GRPC) {
        None => false,
        Some(v) => {
            let on = config.multiplex && go_parse_bool(&v);
            line.multiplex = Some(on);
            tracing::info!(requested = %v, multiplexing = on, "host asked for gRPC broker multiplexing");
            on
        }
    };

    let shutdown = ShutdownSignal::default();
    let ctx = PluginContext {
        version,
        broker: Broker::with_mux("plugin", broker_tls, config.broker.clone(), multiplex),
        stdio: PluginStdio::default(),
    };
    let routes = build(&ctx);
    let routes = with_reflection(routes, &config.reflection).map_err(ServeError::Reflection)?;
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
        .add_service(proto::grpc_stdio_server::GrpcStdioServer::new(
            StdioService {
                stdio: ctx.stdio.clone(),
                shutdown: shutdown.clone(),
            },
        ))
        .add_service(proto::grpc_broker_server::GrpcBrokerServer::new(
            BrokerService {
                broker: ctx.broker.clone(),
            },
        ));

    let main_listener = if multiplex {
        // The host's one connection becomes a yamux session; its streams are the main
        // gRPC connection and the brokered ones.
        let (tx, rx) = mpsc::unbounded_channel();
        let raw = listener.clone();
        let broker = ctx.broker.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                socket = raw.accept() => match socket {
                    Ok(socket) => broker.set_mux(Mux::start(socket, false, Some(tx))),
                    Err(e) => tracing::warn!(error = %e, "accepting the multiplexed connection failed"),
                },
                _ = shutdown.wait() => {}
            }
        });
        Listener::mux(rx, listener.network(), listener.address())
    } else {
        listener.clone()
    };
    let incoming = accept_loop(main_listener, tls_config, shutdown.clone());

    // Before the handshake line: a host may signal us the moment it has read it, and
    // SIGTERM's (or SIGINT's) default action would kill us before the handlers exist.
    let outcome = Arc::new(std::sync::Mutex::new(None));
    spawn_stop_watchers(
        &Watch {
            debug: config.debug.is_some(),
            exit_with_host: config.exit_with_host,
        },
        &shutdown,
        &outcome,
    );

    if let Some(debug) = &config.debug {
        print_attach_instructions(debug, &line).map_err(ServeError::Stdout)?;
    } else {
        let text = format!("{line}\n");
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(ServeError::Stdout)?;
    }
    let _redirect = if config.redirect_stdout && config.debug.is_none() {
        match ctx.stdio.redirect_stdout() {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "cannot redirect stdout to GRPCStdio; it stays as it is");
                None
            }
        }
    } else {
        None
    };
    tracing::info!(
        network = %line.network,
        address = %line.address,
        version,
        tls = line.server_cert.is_some() || config.tls == TlsMode::Manual,
        "plugin serving"
    );

    let server = crate::transport::h2::server(tonic::transport::Server::builder())
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
    ctx.broker.close();
    ctx.broker.close_mux();
    listener.cleanup();
    let outcome = outcome
        .lock()
        .expect("outcome lock")
        .unwrap_or(ServeOutcome::ShutdownRequested);
    tracing::info!(?outcome, "plugin stopped");
    Ok(outcome)
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
    Ok(bind(transport(config)).await?)
}

/// Go's `strconv.ParseBool` truth values, which go-plugin applies to the variable.
fn go_parse_bool(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

fn negotiate(ours: &[u32], debug: bool) -> u32 {
    let raw = std::env::var(env::PLUGIN_PROTOCOL_VERSIONS).unwrap_or_default();
    if debug && raw.trim().is_empty() {
        // No host to negotiate with: as go-plugin, the lowest version we speak.
        return ours
            .iter()
            .copied()
            .min()
            .expect("a plugin speaks a version");
    }
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
    Option<BrokerTls>,
);

fn tls_setup(config: &ServeConfig) -> Result<TlsSetup, ServeError> {
    match config.tls {
        TlsMode::Off => {
            if env_var(env::PLUGIN_CLIENT_CERT).is_some() {
                tracing::warn!(
                    "host sent PLUGIN_CLIENT_CERT but TLS is off for this plugin; serving plaintext"
                );
            }
            Ok((None, None, None))
        }
        TlsMode::Manual => {
            let manual = config.manual.as_ref().ok_or(ServeError::ManualTlsMissing)?;
            let server = Arc::new(tls::manual_server_config(manual)?);
            let client = Arc::new(tls::manual_client_config(manual)?);
            Ok((
                Some(server.clone()),
                None,
                Some(BrokerTls { server, client }),
            ))
        }
        TlsMode::Auto => {
            let Some(pem) = env_var(env::PLUGIN_CLIENT_CERT) else {
                tracing::info!(
                    "host sent no PLUGIN_CLIENT_CERT; serving plaintext, as go-plugin does"
                );
                return Ok((None, None, None));
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
            let server = Arc::new(tls::auto_server_config(&own, host_cert.clone())?);
            // Brokered connections the plugin dials present the same certificate and pin
            // the host's, as go-plugin's plugin-side tls.Config does both ways.
            let client = Arc::new(tls::auto_client_config(&own, host_cert)?);
            Ok((
                Some(server.clone()),
                Some(own.der.clone()),
                Some(BrokerTls { server, client }),
            ))
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
    run_plugin_with(module, config, |_| routes())
}

/// [`run_plugin`] with [`serve_with`]'s per-version, broker-aware service builder.
pub fn run_plugin_with(
    module: &str,
    config: ServeConfig,
    build: impl FnOnce(&PluginContext) -> Routes,
) -> std::process::ExitCode {
    super::lifecycle::note_host_pid();
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
    let result = rt.block_on(serve_with(config, build));
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
