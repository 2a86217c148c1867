//! `soup conformance`: is this a correct go-plugin plugin? Checks any plugin binary, in any
//! language, with any services, against go-plugin's reference behaviour (hashicorp/go-plugin
//! v1.8.0 server.go and client.go), each check `pass`, `fail`, `warn` (allowed, but not what
//! go-plugin does or a known go-plugin wart) or `skip` (does not apply), with what was
//! observed. Every process started here is reaped before the check ends.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_core::{
    HandshakeLine, HealthStatus, KeyType, LaunchConfig, MagicCookie, Network, PluginClient,
    SelfSignedCert, TlsMode, env, tls,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};
use tokio::process::{Child, Command};

use crate::probe::{CookieChoice, CookieUsed, ProbeError, ProbeOptions};

/// How to run the checks.
#[derive(Debug, Clone)]
pub struct ConformanceOptions {
    /// The plugin command.
    pub command: Vec<String>,
    /// Its cookie (default: try the presets).
    pub cookie: CookieChoice,
    /// Versions to offer instead of the preset's.
    pub versions: Option<Vec<u32>>,
    /// The command that runs a holding host for the "exits when its host dies" check:
    /// `HOLDER... -- PLUGIN...` launches the plugin, prints its pid, waits to be killed.
    /// `None` skips that check.
    pub holder: Option<Vec<String>>,
    /// Bound of every wait.
    pub timeout: Duration,
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As go-plugin does.
    Pass,
    /// Breaks the protocol or what go-plugin hosts rely on.
    Fail,
    /// Works, but differs from go-plugin, or shares a known go-plugin wart.
    Warn,
    /// Does not apply to this plugin.
    Skip,
}

/// One check.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Check {
    /// Stable identifier, e.g. `cookie-refusal`.
    pub id: String,
    /// The verdict.
    pub status: Status,
    /// What go-plugin's reference implementation does.
    pub reference: String,
    /// What this plugin did.
    pub observed: String,
    /// How long the check took, in milliseconds.
    pub ms: f64,
}

/// Everything `soup conformance` found.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ConformanceReport {
    /// The plugin command.
    pub command: Vec<String>,
    /// The cookie and versions used.
    pub cookie: CookieUsed,
    /// The negotiated app protocol version.
    pub app_version: u32,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Counts per verdict.
    pub summary: Summary,
}

/// Counts per verdict.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Warned.
    pub warn: usize,
    /// Skipped.
    pub skip: usize,
}

struct Ctx {
    opts: ConformanceOptions,
    cookie: MagicCookie,
    versions: Vec<u32>,
    extra_env: Vec<(OsString, OsString)>,
    checks: Vec<Check>,
}

impl Ctx {
    fn record(
        &mut self,
        id: &str,
        started: Instant,
        status: Status,
        reference: &str,
        observed: String,
    ) {
        self.checks.push(Check {
            id: id.into(),
            status,
            reference: reference.into(),
            observed,
            ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        });
    }

    fn launch_config(&self, tls: TlsMode, key: KeyType) -> LaunchConfig {
        let mut c = LaunchConfig::new(self.opts.command.iter());
        c.cookie = self.cookie.clone();
        c.versions = self.versions.clone();
        c.tls = tls;
        c.key = key;
        c.env = self.extra_env.clone();
        c.handshake_timeout = self.opts.timeout;
        c.stdout = plugin_core::StdioSink::Discard;
        c.stderr = plugin_core::StdioSink::Discard;
        c
    }

    /// Starts the plugin by hand: the host's env contract (plugin-core's own) with this
    /// cookie value and these versions, plus `env`, and nothing else (no handshake read).
    fn spawn(
        &self,
        cookie_value: &str,
        versions: &[u32],
        env: &[(&str, String)],
    ) -> std::io::Result<Child> {
        let mut config = LaunchConfig::new(self.opts.command.iter());
        config.cookie = MagicCookie::new(self.cookie.key.clone(), cookie_value);
        config.versions = versions.to_vec();
        let mut cmd = config.plugin_command(std::ffi::OsStr::new(&self.opts.command[0]));
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn()
    }
}

/// What a hand-started plugin did first.
enum FirstLine {
    Line(String),
    Exited {
        code: Option<i32>,
        stdout: String,
        stderr: String,
    },
    Silent,
}

/// Reads the first stdout line (or the exit), then kills and reaps the process unless
/// `keep`; returns the child when kept.
async fn first_line(mut child: Child, timeout: Duration, keep: bool) -> (FirstLine, Option<Child>) {
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut stderr = child.stderr.take().expect("piped");
    let mut line = String::new();
    let read = tokio::time::timeout(timeout, stdout.read_line(&mut line)).await;
    match read {
        Ok(Ok(n)) if n > 0 && line.ends_with('\n') => {
            let line = line.trim_end().to_string();
            if keep {
                // Keep draining so a chatty plugin never blocks on a full pipe.
                tokio::spawn(async move {
                    let mut sink = Vec::new();
                    let _ = stdout.read_to_end(&mut sink).await;
                });
                tokio::spawn(async move {
                    let mut sink = Vec::new();
                    let _ = stderr.read_to_end(&mut sink).await;
                });
                return (FirstLine::Line(line), Some(child));
            }
            let _ = child.kill().await;
            (FirstLine::Line(line), None)
        }
        Ok(_) => {
            // EOF: it exited (or closed stdout); collect what it said.
            let status = tokio::time::timeout(timeout, child.wait()).await;
            let mut err = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(2), stderr.read_to_end(&mut err)).await;
            let code = match status {
                Ok(Ok(s)) => s.code(),
                _ => {
                    let _ = child.kill().await;
                    None
                }
            };
            (
                FirstLine::Exited {
                    code,
                    stdout: line,
                    stderr: String::from_utf8_lossy(&err).into_owned(),
                },
                None,
            )
        }
        Err(_) => {
            let _ = child.kill().await;
            (FirstLine::Silent, None)
        }
    }
}

/// Runs every check.
pub async fn run(opts: ConformanceOptions) -> Result<ConformanceReport, ProbeError> {
    // Find the cookie and versions the way `soup probe` does, with AutoMTLS (P-256 host key).
    let mut probe_opts = ProbeOptions::new(opts.command.clone());
    probe_opts.cookie = opts.cookie.clone();
    probe_opts.versions = opts.versions.clone();
    probe_opts.handshake_timeout = opts.timeout;
    probe_opts.call_timeout = opts.timeout;
    let (plugin, used, _) = crate::probe::launch_any(&probe_opts).await?;
    let preset_env: Vec<(OsString, OsString)> = used
        .preset
        .as_deref()
        .and_then(|p| crate::presets::find(p).ok())
        .map(|p| {
            p.env
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect()
        })
        .unwrap_or_default();
    let mut cx = Ctx {
        opts,
        cookie: MagicCookie::new(used.key.clone(), used.value.clone()),
        versions: used.versions.clone(),
        extra_env: preset_env,
        checks: Vec::new(),
    };
    let app_version = plugin.negotiated_version();
    main_launch(&mut cx, plugin).await;
    cookie_refusal(&mut cx).await;
    versions(&mut cx, app_version).await;
    certificate_only_when_asked(&mut cx).await;
    for key in [KeyType::EcP384, KeyType::EcP521, KeyType::Rsa2048] {
        automtls_key(&mut cx, key).await;
    }
    foreign_client_certificate(&mut cx).await;
    sigint(&mut cx).await;
    host_death(&mut cx).await;
    socket_dir(&mut cx).await;
    port_range(&mut cx).await;
    let mut summary = Summary::default();
    for c in &cx.checks {
        match c.status {
            Status::Pass => summary.pass += 1,
            Status::Fail => summary.fail += 1,
            Status::Warn => summary.warn += 1,
            Status::Skip => summary.skip += 1,
        }
    }
    Ok(ConformanceReport {
        command: cx.opts.command.clone(),
        cookie: used,
        app_version,
        checks: cx.checks,
        summary,
    })
}

/// The checks on the first launch: stdout, field 6, ALPN, AutoMTLS P-256, health,
/// reflection, GRPCStdio, hclog, Shutdown.
async fn main_launch(cx: &mut Ctx, plugin: PluginClient) {
    let t = Instant::now();
    cx.record(
        "handshake-first-line",
        t,
        Status::Pass,
        "go-plugin: the handshake line is the first line on stdout (a stray line first breaks every host: go-plugin#199)",
        format!("first line: {}", short(plugin.raw_handshake())),
    );
    let h = plugin.handshake().clone();
    let alpn = plugin.tls_session().and_then(|s| s.alpn.clone());
    cx.record(
        "automtls-ec-p256",
        t,
        if h.server_cert.is_some() { Status::Pass } else { Status::Fail },
        "go-plugin: with PLUGIN_CLIENT_CERT set, the plugin serves TLS and prints its certificate in field 6",
        match &h.server_cert {
            Some(_) => format!(
                "TLS with an {} certificate; host key ec-p256 accepted",
                plugin.server_certificate().map(|c| c.key_type).unwrap_or_default()
            ),
            None => "field 6 is empty although the host sent PLUGIN_CLIENT_CERT".into(),
        },
    );
    cx.record(
        "alpn-h2",
        t,
        match alpn.as_deref() {
            Some("h2") => Status::Pass,
            _ => Status::Fail,
        },
        "grpc-go ≥ 1.67 refuses TLS peers that do not negotiate ALPN h2",
        format!("ALPN {}", alpn.as_deref().unwrap_or("none")),
    );
    cx.record(
        "health",
        t,
        match plugin.health() {
            HealthStatus::Serving => Status::Pass,
            HealthStatus::Unimplemented => Status::Warn,
        },
        "go-plugin: grpc.health.v1.Health reports service \"plugin\" SERVING",
        match plugin.health() {
            HealthStatus::Serving => "SERVING".to_string(),
            HealthStatus::Unimplemented => "no health service (UNIMPLEMENTED)".to_string(),
        },
    );
    let t = Instant::now();
    let channel = plugin.channel();
    let reflection = crate::dynamic::Reflection::open(&channel, cx.opts.timeout).await;
    let services = match reflection {
        Ok(mut r) => {
            let names = r.services().await.unwrap_or_default();
            cx.record(
                "reflection",
                t,
                Status::Pass,
                "go-plugin ≥ 1.2 registers gRPC server reflection (grpcurl works)",
                format!("{}: {}", r.version().service(), names.join(", ")),
            );
            Some(names)
        }
        Err(e) => {
            cx.record(
                "reflection",
                t,
                Status::Warn,
                "go-plugin ≥ 1.2 registers gRPC server reflection (grpcurl works)",
                e.to_string(),
            );
            None
        }
    };
    let t = Instant::now();
    let stdio = match &services {
        Some(names) if names.iter().any(|n| n == "plugin.GRPCStdio") => {
            (Status::Pass, "listed by reflection".to_string())
        }
        _ => match stream_opens(
            &channel,
            "/plugin.GRPCStdio/StreamStdio",
            Duration::from_secs(2),
        )
        .await
        {
            Ok(how) => (Status::Pass, how),
            Err(e) => (Status::Fail, e),
        },
    };
    cx.record(
        "grpc-stdio",
        t,
        stdio.0,
        "go-plugin's host opens plugin.GRPCStdio/StreamStdio on every plugin (go-plugin#389)",
        stdio.1,
    );
    let stderr = plugin.stderr();
    let t = Instant::now();
    let exit = plugin.shutdown().await;
    let took = t.elapsed();
    let ok = exit.how == plugin_core::ExitHow::Exited && took <= plugin_core::SHUTDOWN_GRACE;
    cx.record(
        "shutdown",
        t,
        if ok { Status::Pass } else { Status::Fail },
        "go-plugin: GRPCController.Shutdown → the plugin exits by itself within the host's 2 s grace, else it is killed",
        format!("{} {:.0} ms after Shutdown", exit_text(&exit), took.as_secs_f64() * 1e3),
    );
    let t = Instant::now();
    let lines = stderr.lines();
    let bad: Vec<&String> = lines.iter().filter(|l| !hclog_line(l)).collect();
    cx.record(
        "hclog-stderr",
        t,
        if lines.is_empty() || bad.is_empty() { Status::Pass } else { Status::Warn },
        "go-plugin hosts parse hclog JSON lines (and `[LEVEL]` prefixes) on stderr; anything else is logged at DEBUG (go-plugin#106)",
        if bad.is_empty() {
            format!("{} lines, all hclog", lines.len())
        } else {
            format!("{} of {} lines are not hclog, e.g. {:?}", bad.len(), lines.len(), short(bad[0]))
        },
    );
}

fn last_line(s: &str) -> &str {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

fn code_text(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exited with code {c}"),
        None => "ended by a signal".into(),
    }
}

fn exit_text(e: &plugin_core::PluginExit) -> String {
    match (e.how, e.code, e.signal) {
        (_, Some(c), _) => format!("exited with code {c}"),
        (plugin_core::ExitHow::Killed, _, _) => "killed after the grace period".into(),
        (_, None, Some(s)) => format!("ended by signal {s}"),
        _ => "left running".into(),
    }
}

fn hclog_line(l: &str) -> bool {
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(l) {
        return o.contains_key("@message") || o.contains_key("@level");
    }
    let l = l.trim_start();
    ["[TRACE]", "[DEBUG]", "[INFO]", "[WARN]", "[ERROR]"]
        .iter()
        .any(|p| l.starts_with(p))
}

fn short(s: &str) -> String {
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Opens a server stream: `Ok` unless the plugin answers UNIMPLEMENTED (grpc-go sends a
/// stream's headers only with its first message, so no answer within `wait` means open).
async fn stream_opens(
    channel: &tonic::transport::Channel,
    path: &'static str,
    wait: Duration,
) -> Result<String, String> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.map_err(|e| e.to_string())?;
    let call = grpc.server_streaming(
        tonic::Request::new(bytes::Bytes::new()),
        http::uri::PathAndQuery::from_static(path),
        crate::dynamic::RawCodec,
    );
    match tokio::time::timeout(wait, call).await {
        Err(_) => Ok("open (no UNIMPLEMENTED within 2 s)".into()),
        Ok(Ok(_)) => Ok("open".into()),
        Ok(Err(s)) if s.code() == tonic::Code::Unimplemented => {
            Err(format!("UNIMPLEMENTED: {}", s.message()))
        }
        Ok(Err(s)) => Ok(format!("answered {:?}", s.code())),
    }
}

async fn cookie_refusal(cx: &mut Ctx) {
    let t = Instant::now();
    let reference = "go-plugin: a wrong cookie → exit 1, a human message on stderr (\"This binary is a plugin...\"), nothing on stdout";
    let child = match cx.spawn("soup-conformance-wrong-cookie", &cx.versions.clone(), &[]) {
        Ok(c) => c,
        Err(e) => {
            return cx.record(
                "cookie-refusal",
                t,
                Status::Fail,
                reference,
                format!("cannot start: {e}"),
            );
        }
    };
    let (first, _) = first_line(child, cx.opts.timeout, false).await;
    let (status, observed) = match first {
        FirstLine::Exited {
            code: Some(1),
            stdout,
            stderr,
        } if stdout.is_empty() && !stderr.trim().is_empty() => (
            Status::Pass,
            format!("exit 1: {:?}", short(last_line(&stderr))),
        ),
        FirstLine::Exited {
            code,
            stdout,
            stderr,
        } => (
            if code.is_some_and(|c| c != 0) {
                Status::Warn
            } else {
                Status::Fail
            },
            format!(
                "{}, stdout {:?}, stderr {:?}",
                code_text(code),
                short(&stdout),
                short(last_line(&stderr))
            ),
        ),
        FirstLine::Line(l) => (Status::Fail, format!("served anyway: {}", short(&l))),
        FirstLine::Silent => (
            Status::Fail,
            format!("neither exited nor printed within {:?}", cx.opts.timeout),
        ),
    };
    cx.record("cookie-refusal", t, status, reference, observed);
}

async fn versions(cx: &mut Ctx, negotiated: u32) {
    // Offer 1..=negotiated+3: the highest version both have must still be `negotiated`
    // unless the plugin also speaks a higher one we now offer.
    let t = Instant::now();
    let reference = "go-plugin: the plugin picks the highest version both sides list";
    let offered: Vec<u32> = (1..=negotiated).collect();
    let (status, observed) = match cx.spawn(&cx.cookie.value.clone(), &offered, &[]) {
        Err(e) => (Status::Fail, format!("cannot start: {e}")),
        Ok(child) => match first_line(child, cx.opts.timeout, false).await.0 {
            FirstLine::Line(l) => match HandshakeLine::parse(&l) {
                Ok(h) if h.app_version == negotiated => (
                    Status::Pass,
                    format!("offered {offered:?}, chose {}", h.app_version),
                ),
                Ok(h) => (
                    Status::Fail,
                    format!(
                        "offered {offered:?}, chose {} (expected {negotiated})",
                        h.app_version
                    ),
                ),
                Err(e) => (Status::Fail, e.to_string()),
            },
            other => (Status::Fail, describe(&other)),
        },
    };
    cx.record("version-highest-common", t, status, reference, observed);

    let t = Instant::now();
    let reference = "go-plugin: no version in common → the plugin still prints a handshake with its own (lowest) version, and the host refuses it";
    let none = [negotiated + 50];
    let (status, observed) = match cx.spawn(&cx.cookie.value.clone(), &none, &[]) {
        Err(e) => (Status::Fail, format!("cannot start: {e}")),
        Ok(child) => match first_line(child, cx.opts.timeout, false).await.0 {
            FirstLine::Line(l) => match HandshakeLine::parse(&l) {
                Ok(h) if h.app_version == none[0] => (
                    Status::Fail,
                    format!(
                        "offered {none:?}, claimed {} (a version it does not speak)",
                        h.app_version
                    ),
                ),
                Ok(h) => (
                    Status::Pass,
                    format!("offered {none:?}, answered {}", h.app_version),
                ),
                Err(e) => (Status::Fail, e.to_string()),
            },
            FirstLine::Exited { code, stderr, .. } => (
                Status::Warn,
                format!(
                    "{} instead: {:?}",
                    code_text(code),
                    short(last_line(&stderr))
                ),
            ),
            FirstLine::Silent => (Status::Fail, "no answer".into()),
        },
    };
    cx.record("version-none-in-common", t, status, reference, observed);
}

fn describe(f: &FirstLine) -> String {
    match f {
        FirstLine::Line(l) => short(l),
        FirstLine::Exited { code, stderr, .. } => {
            format!("{}: {:?}", code_text(*code), short(last_line(stderr)))
        }
        FirstLine::Silent => "no handshake line".into(),
    }
}

async fn certificate_only_when_asked(cx: &mut Ctx) {
    let t = Instant::now();
    let reference = "go-plugin: no PLUGIN_CLIENT_CERT → plaintext, field 6 empty";
    let mut config = cx.launch_config(TlsMode::Off, KeyType::EcP256);
    config.handshake_timeout = cx.opts.timeout;
    let (status, observed) = match PluginClient::launch(config).await {
        Ok(p) => {
            let h = p.health();
            let line = short(p.raw_handshake());
            let _ = p.shutdown().await;
            (Status::Pass, format!("plaintext, health {h:?}: {line}"))
        }
        Err(plugin_core::HostError::UnexpectedCertificate) => (
            Status::Fail,
            "offered TLS (field 6) though the host sent no certificate".into(),
        ),
        Err(e) => (Status::Fail, e.to_string()),
    };
    cx.record(
        "plaintext-without-client-cert",
        t,
        status,
        reference,
        observed,
    );
}

async fn automtls_key(cx: &mut Ctx, key: KeyType) {
    let t = Instant::now();
    let id = format!("automtls-{key}");
    let reference = "go-plugin: accepts the host's AutoMTLS certificate whatever its key type (Go hosts send P-521)";
    let (status, observed) = match PluginClient::launch(cx.launch_config(TlsMode::Auto, key)).await
    {
        Ok(p) => {
            let c = p
                .server_certificate()
                .map(|c| c.key_type)
                .unwrap_or_default();
            let _ = p.shutdown().await;
            (
                Status::Pass,
                format!("host key {key} accepted; plugin presented {c}"),
            )
        }
        Err(e) => (Status::Fail, e.to_string()),
    };
    cx.record(&id, t, status, reference, observed);
}

/// Sends certificate A in PLUGIN_CLIENT_CERT, connects presenting B: a plugin that answers
/// is not doing mutual TLS.
async fn foreign_client_certificate(cx: &mut Ctx) {
    let t = Instant::now();
    let id = "client-cert-enforced";
    let reference = "go-plugin: the plugin requires exactly the certificate from PLUGIN_CLIENT_CERT (mutual TLS); any other is refused";
    let (sent, other) = match (
        SelfSignedCert::generate(KeyType::EcP256),
        SelfSignedCert::generate(KeyType::EcP256),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            return cx.record(
                id,
                t,
                Status::Fail,
                reference,
                "cannot generate certificates".into(),
            );
        }
    };
    let child = match cx.spawn(
        &cx.cookie.value.clone(),
        &cx.versions.clone(),
        &[(env::PLUGIN_CLIENT_CERT, sent.pem())],
    ) {
        Ok(c) => c,
        Err(e) => return cx.record(id, t, Status::Fail, reference, format!("cannot start: {e}")),
    };
    let (first, child) = first_line(child, cx.opts.timeout, true).await;
    let mut child = child;
    let result = async {
        let FirstLine::Line(line) = first else {
            return (Status::Fail, describe(&first));
        };
        let h = match HandshakeLine::parse(&line) {
            Ok(h) => h,
            Err(e) => return (Status::Fail, e.to_string()),
        };
        let Some(server_cert) = h.server_cert.clone() else {
            return (Status::Skip, "no TLS (field 6 empty)".into());
        };
        let config = match tls::auto_client_config(&other, server_cert) {
            Ok(c) => Arc::new(c),
            Err(e) => return (Status::Fail, e.to_string()),
        };
        match health_with(&h, config, cx.opts.timeout).await {
            Ok(()) => (
                Status::Fail,
                "answered a health check over TLS with a client certificate other than the one it was given: mutual TLS is not mutual".into(),
            ),
            Err(e) => (Status::Pass, format!("refused: {}", short(&e))),
        }
    }
    .await;
    if let Some(c) = child.as_mut() {
        let _ = c.kill().await;
    }
    cx.record(id, t, result.0, reference, result.1);
}

/// A health check over a TLS connection made with `config`.
async fn health_with(
    h: &HandshakeLine,
    config: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<(), String> {
    let network = h.network;
    let address = h.address.clone();
    let connector = tower::service_fn(move |_: http::Uri| {
        let config = config.clone();
        let address = address.clone();
        async move {
            let socket = plugin_core::transport::socket::Socket::connect(network, &address).await?;
            let name =
                rustls_pki_types::ServerName::try_from(tls::SERVER_NAME).expect("valid name");
            let s = tokio_rustls::TlsConnector::from(config)
                .connect(name, socket)
                .await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
        }
    });
    let channel = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_timeout(timeout)
        .connect_with_connector(connector)
        .await
        .map_err(|e| plugin_core::error_chain(&e))?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let req = tonic_health::pb::HealthCheckRequest {
        service: "plugin".into(),
    };
    match tokio::time::timeout(timeout, health.check(req)).await {
        Err(_) => Err("no answer".into()),
        Ok(Err(s)) => Err(format!("{:?}: {}", s.code(), plugin_core::error_chain(&s))),
        Ok(Ok(_)) => Ok(()),
    }
}

async fn sigint(cx: &mut Ctx) {
    let t = Instant::now();
    let reference = "go-plugin: the plugin ignores SIGINT (a terminal's Ctrl-C reaches the whole group; the host stops it)";
    let (status, observed) =
        match PluginClient::launch(cx.launch_config(TlsMode::Auto, KeyType::EcP256)).await {
            Err(e) => (Status::Fail, e.to_string()),
            Ok(p) => {
                let pid = p.pid().unwrap_or(0) as i32;
                // SAFETY: kill(2) on the pid of our own live child.
                unsafe { libc::kill(pid, libc::SIGINT) };
                let exited = tokio::time::timeout(Duration::from_secs(1), p.exited()).await;
                let r = match exited {
                    Ok(e) => (Status::Fail, format!("exited on SIGINT: {}", exit_text(&e))),
                    Err(_) => {
                        let ok = crate::dynamic::unary_raw(
                            &p.channel(),
                            "/grpc.health.v1.Health/Check",
                            bytes::Bytes::new(),
                            Some(cx.opts.timeout),
                        )
                        .await;
                        match ok {
                            Ok(_) => (Status::Pass, "still serving 1 s after SIGINT".into()),
                            Err(s) => (
                                Status::Fail,
                                format!("alive but not serving after SIGINT: {:?}", s.code()),
                            ),
                        }
                    }
                };
                let _ = p.shutdown().await;
                r
            }
        };
    cx.record("sigint-ignored", t, status, reference, observed);
}

async fn host_death(cx: &mut Ctx) {
    let t = Instant::now();
    let id = "exits-when-host-dies";
    let reference = "go-plugin: plugins do NOT exit when their host dies (go-plugin#210, open): they serve until killed, orphaned";
    let Some(holder) = cx.opts.holder.clone() else {
        return cx.record(
            id,
            t,
            Status::Skip,
            reference,
            "no holding host given".into(),
        );
    };
    let mut cmd = Command::new(&holder[0]);
    cmd.args(&holder[1..])
        .arg("--cookie")
        .arg(format!("{}={}", cx.cookie.key, cx.cookie.value))
        .arg("--versions")
        .arg(
            cx.versions
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )
        .arg("--")
        .args(&cx.opts.command)
        .envs(cx.extra_env.iter().map(|(k, v)| (k.clone(), v.clone())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut holder_child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return cx.record(
                id,
                t,
                Status::Fail,
                reference,
                format!("cannot start the holding host: {e}"),
            );
        }
    };
    let mut out = tokio::io::BufReader::new(holder_child.stdout.take().expect("piped"));
    let mut line = String::new();
    let got = tokio::time::timeout(cx.opts.timeout, out.read_line(&mut line)).await;
    let Some(pid) = got
        .ok()
        .and_then(|r| r.ok())
        .and_then(|_| line.trim().parse::<i32>().ok())
    else {
        let _ = holder_child.kill().await;
        return cx.record(
            id,
            t,
            Status::Fail,
            reference,
            format!("the holding host printed no pid: {line:?}"),
        );
    };
    let _ = holder_child.kill().await; // SIGKILL: the host dies without a word
    let died = Instant::now();
    let bound = Duration::from_secs(5);
    let mut gone = false;
    while died.elapsed() < bound {
        if !running(pid) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, observed) = if gone {
        (
            Status::Pass,
            format!(
                "exited {:.0} ms after its host was killed",
                died.elapsed().as_secs_f64() * 1e3
            ),
        )
    } else {
        // SAFETY: the orphan of the host we killed; init reaps it.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        (
            Status::Warn,
            format!(
                "still running {bound:?} after its host was killed (then killed here), as go-plugin's own plugins"
            ),
        )
    };
    cx.record(id, t, status, reference, observed);
}

/// Whether `pid` runs: an exited orphan stays a zombie until its new parent (init, or a
/// subreaper such as `cargo xtask test`) reaps it, and `kill(pid, 0)` still finds it.
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: `PID (comm) S ...`.
        Ok(stat) => stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

async fn socket_dir(cx: &mut Ctx) {
    let t = Instant::now();
    let reference = "go-plugin ≥ 1.5: unix sockets are created in PLUGIN_UNIX_SOCKET_DIR when set";
    let Ok(dir) = tempfile::Builder::new().prefix("soup-conf-").tempdir() else {
        return cx.record(
            "unix-socket-dir",
            t,
            Status::Fail,
            reference,
            "no temp dir".into(),
        );
    };
    let d = dir.path().display().to_string();
    let (status, observed) = match cx.spawn(
        &cx.cookie.value.clone(),
        &cx.versions.clone(),
        &[(env::PLUGIN_UNIX_SOCKET_DIR, d.clone())],
    ) {
        Err(e) => (Status::Fail, format!("cannot start: {e}")),
        Ok(child) => match first_line(child, cx.opts.timeout, false).await.0 {
            FirstLine::Line(l) => match HandshakeLine::parse(&l) {
                Ok(h) if h.network == Network::Tcp => (Status::Skip, "serves tcp".into()),
                Ok(h) if h.address.starts_with(&d) => {
                    (Status::Pass, format!("socket {}", h.address))
                }
                Ok(h) => (
                    Status::Fail,
                    format!("socket {} is not under {d}", h.address),
                ),
                Err(e) => (Status::Fail, e.to_string()),
            },
            other => (Status::Fail, describe(&other)),
        },
    };
    cx.record("unix-socket-dir", t, status, reference, observed);
}

async fn port_range(cx: &mut Ctx) {
    let t = Instant::now();
    let reference = "go-plugin: a tcp listener takes a port in PLUGIN_MIN_PORT..=PLUGIN_MAX_PORT";
    let (min, max) = (23_100u16, 23_199u16);
    let env = [
        (env::PLUGIN_SERVER_TRANSPORTS, "tcp".to_string()),
        (env::PLUGIN_MIN_PORT, min.to_string()),
        (env::PLUGIN_MAX_PORT, max.to_string()),
    ];
    let (status, observed) = match cx.spawn(&cx.cookie.value.clone(), &cx.versions.clone(), &env) {
        Err(e) => (Status::Fail, format!("cannot start: {e}")),
        Ok(child) => match first_line(child, cx.opts.timeout, false).await.0 {
            FirstLine::Line(l) => match HandshakeLine::parse(&l) {
                Ok(h) if h.network == Network::Unix => (
                    Status::Skip,
                    "serves unix even when tcp is asked for".into(),
                ),
                Ok(h) => {
                    let port = h
                        .address
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse::<u16>().ok());
                    match port {
                        Some(p) if (min..=max).contains(&p) => {
                            (Status::Pass, format!("port {p} in {min}..={max}"))
                        }
                        _ => (
                            Status::Fail,
                            format!("address {} outside {min}..={max}", h.address),
                        ),
                    }
                }
                Err(e) => (Status::Fail, e.to_string()),
            },
            other => (Status::Fail, describe(&other)),
        },
    };
    cx.record("port-range", t, status, reference, observed);
}

/// The report as a table.
pub fn render(r: &ConformanceReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "plugin {} (cookie {}, app protocol {})",
        r.command.join(" "),
        r.cookie.key,
        r.app_version
    );
    for c in &r.checks {
        let mark = match c.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Warn => "warn",
            Status::Skip => "skip",
        };
        let _ = writeln!(s, "{mark}  {:<30} {}", c.id, c.observed);
        if c.status == Status::Fail || c.status == Status::Warn {
            let _ = writeln!(s, "      {:<30} reference: {}", "", c.reference);
        }
    }
    let _ = writeln!(
        s,
        "{} pass, {} fail, {} warn, {} skip",
        r.summary.pass, r.summary.fail, r.summary.warn, r.summary.skip
    );
    s
}

/// The report as JUnit XML (one test case per check; warn and skip are not failures).
pub fn junit(r: &ConformanceReport) -> Result<String, quick_junit::SerializeError> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(format!("soup conformance: {}", r.command.join(" ")));
    for c in &r.checks {
        let status = match c.status {
            Status::Pass | Status::Warn => TestCaseStatus::success(),
            Status::Skip => TestCaseStatus::skipped(),
            Status::Fail => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(c.observed.clone());
                s.set_description(c.reference.clone());
                s
            }
        };
        let mut case = TestCase::new(c.id.clone(), status);
        case.set_time(Duration::from_secs_f64(c.ms / 1e3));
        case.set_system_out(format!("{}\nreference: {}", c.observed, c.reference));
        suite.add_test_case(case);
    }
    let mut report = Report::new("soup conformance");
    report.add_test_suite(suite);
    report.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zombie_is_not_running() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Exited but not yet reaped: a zombie, which kill(pid, 0) would still find.
        let deadline = Instant::now() + Duration::from_secs(10);
        while running(pid) {
            assert!(Instant::now() < deadline, "`true` never exited");
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: signal 0 only checks existence.
        assert_eq!(
            unsafe { libc::kill(pid, 0) },
            0,
            "still a zombie until reaped"
        );
        child.wait().unwrap();
        assert!(running(std::process::id() as i32));
    }
}
