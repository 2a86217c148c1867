//! `soup probe`: launch any go-plugin plugin and report everything it negotiated: the
//! cookie that it accepted, every handshake field, both certificates, TLS, timings,
//! health, the services it registers (reflection, else the known services), a Terraform
//! provider's schema summary, what it logged, and how it exited after Shutdown.

use std::time::{Duration, Instant};

use bytes::Bytes;
use plugin_core::{
    CertificateInfo, HealthStatus, HostError, KeyType, LaunchConfig, MagicCookie, ManualTls,
    Network, PluginClient, PluginExit, TlsMode,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dynamic::{self, Reflection};
use crate::presets::{self, PRESETS, Preset};

/// Which cookie to launch with.
#[derive(Debug, Clone)]
pub enum CookieChoice {
    /// `--cookie KEY=VALUE`.
    Explicit(MagicCookie),
    /// `--preset NAME`.
    Preset(&'static Preset),
    /// Neither: try every preset in turn.
    Auto,
}

/// How to probe.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// The plugin command.
    pub command: Vec<String>,
    /// The cookie.
    pub cookie: CookieChoice,
    /// Versions to offer instead of the preset's.
    pub versions: Option<Vec<u32>>,
    /// TLS mode.
    pub tls: TlsMode,
    /// Our AutoMTLS key type.
    pub key: KeyType,
    /// Manual TLS material.
    pub manual: Option<ManualTls>,
    /// Transport hint.
    pub transport: Option<Network>,
    /// Handshake time limit.
    pub handshake_timeout: Duration,
    /// Time limit for each call the probe makes (reflection, Terraform schema).
    pub call_timeout: Duration,
}

impl ProbeOptions {
    /// Defaults: try every preset, AutoMTLS with an `ec-p256` key.
    pub fn new(command: Vec<String>) -> Self {
        ProbeOptions {
            command,
            cookie: CookieChoice::Auto,
            versions: None,
            tls: TlsMode::Auto,
            key: KeyType::EcP256,
            manual: None,
            transport: None,
            handshake_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(30),
        }
    }
}

/// Everything `soup probe` found out (`--json` prints this; schema in
/// `docs/schema/probe-report.schema.json`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProbeReport {
    /// The plugin command.
    pub command: Vec<String>,
    /// The cookie the plugin accepted.
    pub cookie: CookieUsed,
    /// Every cookie tried, in order, and what the plugin did with it.
    pub attempts: Vec<Attempt>,
    /// The handshake line and its fields.
    pub handshake: HandshakeReport,
    /// The TLS session, when the connection used TLS.
    pub tls: Option<TlsReport>,
    /// Where the launch spent its time, in milliseconds.
    pub timings_ms: TimingsReport,
    /// `SERVING`, or `UNIMPLEMENTED` for a plugin without gRPC health.
    pub health: String,
    /// The gRPC services the plugin registers.
    pub services: ServicesReport,
    /// For a Terraform provider: its schema, from its own RPCs.
    pub terraform: Option<TerraformSummary>,
    /// What the plugin wrote to stderr (go-plugin plugins: hclog JSON lines).
    pub stderr: Vec<String>,
    /// How it ended after Shutdown.
    pub exit: ExitReport,
}

/// The cookie that worked.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CookieUsed {
    /// The preset's name, or `null` for `--cookie`.
    pub preset: Option<String>,
    /// The cookie's variable.
    pub key: String,
    /// Its value.
    pub value: String,
    /// Versions offered.
    pub versions: Vec<u32>,
}

/// One launch attempt.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Attempt {
    /// The preset tried (or `null` for `--cookie`).
    pub preset: Option<String>,
    /// The cookie's variable.
    pub key: String,
    /// `accepted`, `cookie rejected`, `packer plugin`, ...
    pub outcome: String,
}

/// The handshake line, field by field.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HandshakeReport {
    /// The line as printed (the certificate shortened).
    pub line: String,
    /// Field 1.
    pub core_version: u32,
    /// Field 2: the negotiated app protocol version.
    pub app_version: u32,
    /// Field 3: `unix` or `tcp`.
    pub network: String,
    /// Field 4.
    pub address: String,
    /// Field 5.
    pub protocol: String,
    /// Field 6 carried a certificate (AutoMTLS).
    pub certificate_in_handshake: bool,
    /// Field 7, when present.
    pub multiplex: Option<bool>,
}

/// A certificate that crossed the wire (or the handshake line).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CertReport {
    /// `ec-p256`, `ec-p384`, `ec-p521`, `rsa-<bits>`, `ed25519`, ...
    pub key_type: String,
    /// e.g. `ecdsa-with-SHA512`.
    pub signature_algorithm: String,
    /// Lowercase hex SHA-256 of the DER.
    pub sha256: String,
    /// Subject DN.
    pub subject: String,
    /// Validity start (RFC 3339).
    pub not_before: String,
    /// Validity end (RFC 3339).
    pub not_after: String,
    /// Basic constraints: CA.
    pub is_ca: bool,
}

impl From<CertificateInfo> for CertReport {
    fn from(c: CertificateInfo) -> Self {
        CertReport {
            key_type: c.key_type,
            signature_algorithm: c.signature_algorithm,
            sha256: c.sha256,
            subject: c.subject,
            not_before: c.not_before,
            not_after: c.not_after,
            is_ca: c.is_ca,
        }
    }
}

/// The TLS session.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TlsReport {
    /// `TLSv1.3` / `TLSv1.2`.
    pub version: String,
    /// IANA name.
    pub cipher_suite: String,
    /// The ALPN protocol agreed (`h2`).
    pub alpn: Option<String>,
    /// The certificate the plugin presented in the TLS handshake.
    pub server_certificate: Option<CertReport>,
    /// The one we presented (AutoMTLS: ours, generated for this launch).
    pub client_certificate: Option<CertReport>,
}

/// Milliseconds per launch step.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TimingsReport {
    /// Spawn → handshake line.
    pub spawn_to_handshake: f64,
    /// Handshake line → connected (socket, TLS, HTTP/2).
    pub handshake_to_connected: f64,
    /// The health check.
    pub health: f64,
    /// The whole probe, Shutdown included.
    pub total: f64,
}

/// The services found.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ServicesReport {
    /// `reflection v1`, `reflection v1alpha`, or `known services` (no reflection: each
    /// known service was called and counted when it did not answer UNIMPLEMENTED).
    pub source: String,
    /// Fully qualified service names, sorted.
    pub names: Vec<String>,
    /// With `known services`: the services tried.
    pub checked: Vec<String>,
    /// Why reflection did not answer, when it did not.
    pub reflection_error: Option<String>,
}

/// A Terraform provider's schema, summarised.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TerraformSummary {
    /// `tfplugin6` or `tfplugin5`.
    pub protocol: String,
    /// The RPC the schema came from.
    pub schema_rpc: String,
    /// The provider block's attributes.
    pub provider_attributes: Vec<String>,
    /// Managed resource types.
    pub resources: Vec<SchemaSummary>,
    /// Data sources.
    pub data_sources: Vec<SchemaSummary>,
    /// Provider-defined functions.
    pub functions: Vec<String>,
    /// Ephemeral resources.
    pub ephemeral_resources: Vec<SchemaSummary>,
    /// GetMetadata's answer (type names only), when the provider implements it.
    pub metadata: Option<MetadataSummary>,
    /// Diagnostics the provider returned.
    pub diagnostics: Vec<String>,
}

/// One type's schema.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SchemaSummary {
    /// Type name, e.g. `soupkv_entry`.
    pub name: String,
    /// Its attributes' names.
    pub attributes: Vec<String>,
}

/// GetMetadata, summarised.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MetadataSummary {
    /// Resource type names.
    pub resources: Vec<String>,
    /// Data source type names.
    pub data_sources: Vec<String>,
    /// Function names.
    pub functions: Vec<String>,
    /// Ephemeral resource type names.
    pub ephemeral_resources: Vec<String>,
}

/// How the plugin ended.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ExitReport {
    /// `exited`, `killed`, `signaled`, `leftrunning`.
    pub how: String,
    /// Exit code.
    pub code: Option<i32>,
    /// Signal.
    pub signal: Option<i32>,
}

impl From<PluginExit> for ExitReport {
    fn from(e: PluginExit) -> Self {
        ExitReport {
            how: serde_json::to_value(e.how)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            code: e.code,
            signal: e.signal,
        }
    }
}

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No preset's cookie was accepted.
    #[error(
        "the plugin rejected every known cookie (tried {}); give its host's cookie with --cookie KEY=VALUE\nplugin stderr (last attempt):\n{}",
        tried.join(", "),
        stderr.join("\n")
    )]
    NoCookieAccepted {
        /// `preset (KEY)` per attempt.
        tried: Vec<String>,
        /// What the plugin printed the last time.
        stderr: Vec<String>,
    },
    /// A Packer plugin.
    #[error(
        "this is a Packer plugin, not a go-plugin gRPC plugin ({evidence}); Packer plugins speak Packer's own net/rpc protocol, which soup cannot host"
    )]
    Packer {
        /// What gave it away: its 4-field handshake line, or its refusal message.
        evidence: String,
    },
    /// Launching failed for another reason.
    #[error("{context}")]
    Launch {
        /// Which cookie was being tried.
        context: String,
        /// The host's error.
        #[source]
        source: HostError,
    },
}

/// Runs the probe.
pub async fn probe(opts: ProbeOptions) -> Result<ProbeReport, ProbeError> {
    let started = Instant::now();
    let (plugin, used, attempts) = launch_any(&opts).await?;
    Ok(report(plugin, &opts, used, attempts, started).await)
}

/// Launches the plugin with the chosen cookie, or with each preset's in turn until one is
/// accepted (`CookieChoice::Auto`).
pub async fn launch_any(
    opts: &ProbeOptions,
) -> Result<(PluginClient, CookieUsed, Vec<Attempt>), ProbeError> {
    let candidates: Vec<(Option<&'static Preset>, MagicCookie)> = match &opts.cookie {
        CookieChoice::Explicit(c) => vec![(None, c.clone())],
        CookieChoice::Preset(p) => vec![(Some(*p), p.cookie())],
        CookieChoice::Auto => PRESETS.iter().map(|p| (Some(p), p.cookie())).collect(),
    };
    let auto = matches!(opts.cookie, CookieChoice::Auto);
    let mut attempts = Vec::new();
    let mut last_stderr = Vec::new();
    let mut looks_like_packer = false;
    for (preset, cookie) in candidates {
        let versions = opts
            .versions
            .clone()
            .or_else(|| preset.map(|p| p.versions.to_vec()))
            .unwrap_or_else(|| vec![1]);
        let mut config = LaunchConfig::new(opts.command.iter());
        config.cookie = cookie.clone();
        config.versions = versions.clone();
        config.tls = opts.tls;
        config.key = opts.key;
        config.manual = opts.manual.clone();
        config.transport = opts.transport;
        config.handshake_timeout = opts.handshake_timeout;
        config.stdout = plugin_core::StdioSink::Stderr;
        if let Some(p) = preset {
            config.env = p
                .env
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
        }
        let name = preset.map(|p| p.name.to_string());
        let label = match &name {
            Some(n) => format!("preset {n} ({})", cookie.key),
            None => format!("cookie {}", cookie.key),
        };
        let attempt = |outcome: &str| Attempt {
            preset: name.clone(),
            key: cookie.key.clone(),
            outcome: outcome.to_string(),
        };
        match PluginClient::launch(config).await {
            Ok(plugin) => {
                attempts.push(attempt("accepted"));
                let used = CookieUsed {
                    preset: name.clone(),
                    key: cookie.key.clone(),
                    value: cookie.value.clone(),
                    versions,
                };
                return Ok((plugin, used, attempts));
            }
            Err(HostError::CookieRejected { stderr_tail, .. }) if auto => {
                attempts.push(attempt("cookie rejected"));
                last_stderr = stderr_tail;
            }
            Err(HostError::Exited {
                code: Some(1),
                stderr_tail,
                ..
            }) if is_packer_refusal(&stderr_tail) => {
                if !auto {
                    return Err(ProbeError::Packer {
                        evidence: format!("it refused to start: {:?}", stderr_tail.join(" ")),
                    });
                }
                attempts.push(attempt("refused by a Packer plugin"));
                looks_like_packer = true;
                last_stderr = stderr_tail;
            }
            Err(HostError::Malformed(plugin_core::HandshakeLineError::Malformed {
                line, ..
            })) if is_packer_line(&line) => {
                return Err(ProbeError::Packer {
                    evidence: format!(
                        "it printed Packer's 4-field handshake line {:?}: API major|minor|network|address",
                        line.trim()
                    ),
                });
            }
            Err(e) => {
                return Err(ProbeError::Launch {
                    context: format!("launching `{}` with {label}", opts.command.join(" ")),
                    source: e,
                });
            }
        }
    }
    if looks_like_packer {
        return Err(ProbeError::Packer {
            evidence: format!("it refused to start: {:?}", last_stderr.join(" ")),
        });
    }
    Err(ProbeError::NoCookieAccepted {
        tried: attempts
            .iter()
            .map(|a| format!("{} ({})", a.preset.as_deref().unwrap_or("--cookie"), a.key))
            .collect(),
        stderr: last_stderr,
    })
}

fn is_packer_refusal(stderr: &[String]) -> bool {
    stderr
        .iter()
        .any(|l| l.contains("Please do not execute plugins directly. Packer"))
}

/// Packer's `APIVersionMajor|APIVersionMinor|network|address`.
pub fn is_packer_line(line: &str) -> bool {
    let f: Vec<&str> = line.trim().split('|').collect();
    f.len() == 4
        && f[0].parse::<u32>().is_ok()
        && f[1].parse::<u32>().is_ok()
        && matches!(f[2], "unix" | "tcp")
}

async fn report(
    plugin: PluginClient,
    opts: &ProbeOptions,
    cookie: CookieUsed,
    attempts: Vec<Attempt>,
    started: Instant,
) -> ProbeReport {
    let h = plugin.handshake();
    let handshake = HandshakeReport {
        line: shorten(plugin.raw_handshake()),
        core_version: h.core_version,
        app_version: h.app_version,
        network: h.network.to_string(),
        address: h.address.clone(),
        protocol: h.protocol.clone(),
        certificate_in_handshake: h.server_cert.is_some(),
        multiplex: h.multiplex,
    };
    let tls = plugin.tls_session().map(|s| TlsReport {
        version: s.version.clone(),
        cipher_suite: s.cipher_suite.clone(),
        alpn: s.alpn.clone(),
        server_certificate: s
            .peer_certificate
            .as_ref()
            .and_then(|d| CertificateInfo::from_der(d).ok())
            .map(CertReport::from),
        client_certificate: plugin
            .client_certificate()
            .and_then(|c| CertificateInfo::from_der(&c.der).ok())
            .or_else(|| {
                opts.manual
                    .as_ref()
                    .and_then(|m| m.chain.first())
                    .and_then(|d| CertificateInfo::from_der(d).ok())
            })
            .map(CertReport::from),
    });
    let t = plugin.timings();
    let health = match plugin.health() {
        HealthStatus::Serving => "SERVING",
        HealthStatus::Unimplemented => "UNIMPLEMENTED",
    }
    .to_string();
    let channel = plugin.channel();
    let (services, pool) = services(&channel, opts.call_timeout).await;
    let terraform = terraform_summary(&channel, &services.names, pool, opts.call_timeout).await;
    let stderr_handle = plugin.stderr();
    let exit = plugin.shutdown().await;
    let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    ProbeReport {
        command: opts.command.clone(),
        cookie,
        attempts,
        handshake,
        tls,
        timings_ms: TimingsReport {
            spawn_to_handshake: ms(t.spawn_to_handshake),
            handshake_to_connected: ms(t.handshake_to_connected),
            health: ms(t.health),
            total: ms(started.elapsed()),
        },
        health,
        services,
        terraform,
        stderr: stderr_handle.lines(),
        exit: exit.into(),
    }
}

fn shorten(line: &str) -> String {
    // Field 6 is a base64 certificate of ~700 characters: keep its ends.
    line.split('|')
        .map(|f| {
            if f.len() > 48 {
                format!("{}…{}", &f[..20], &f[f.len() - 12..])
            } else {
                f.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Services every go-plugin plugin may register, and a side-effect-free unary call that
/// answers UNIMPLEMENTED when the service is absent. The controller (Shutdown only) and
/// the streaming broker and stdio services have no such call and are not checked.
const KNOWN_SERVICES: &[(&str, &str)] = &[
    ("grpc.health.v1.Health", "/grpc.health.v1.Health/Check"),
    ("proto.KV", "/proto.KV/Get"),
    ("tfplugin5.Provider", "/tfplugin5.Provider/GetSchema"),
    ("tfplugin6.Provider", "/tfplugin6.Provider/GetMetadata"),
];

async fn services(
    channel: &tonic::transport::Channel,
    timeout: Duration,
) -> (ServicesReport, Option<(Reflection, Vec<String>)>) {
    let reflection_error = match Reflection::open(channel, timeout).await {
        Ok(mut r) => match r.services().await {
            Ok(names) => {
                let source = match r.version() {
                    dynamic::ReflectionVersion::V1 => "reflection v1",
                    dynamic::ReflectionVersion::V1alpha => "reflection v1alpha",
                };
                let report = ServicesReport {
                    source: source.into(),
                    names: names.clone(),
                    checked: Vec::new(),
                    reflection_error: None,
                };
                return (report, Some((r, names)));
            }
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    let mut names = Vec::new();
    for (service, method) in KNOWN_SERVICES {
        match dynamic::unary_raw(channel, method, Bytes::new(), Some(timeout)).await {
            Err(s) if s.code() == tonic::Code::Unimplemented => {}
            _ => names.push((*service).to_string()),
        }
    }
    names.sort();
    (
        ServicesReport {
            source: "known services".into(),
            names,
            checked: KNOWN_SERVICES
                .iter()
                .map(|(s, _)| (*s).to_string())
                .collect(),
            reflection_error: Some(reflection_error),
        },
        None,
    )
}

async fn terraform_summary(
    channel: &tonic::transport::Channel,
    names: &[String],
    reflection: Option<(Reflection, Vec<String>)>,
    timeout: Duration,
) -> Option<TerraformSummary> {
    let (protocol, schema_rpc) = if names.iter().any(|n| n == "tfplugin6.Provider") {
        ("tfplugin6", "GetProviderSchema")
    } else if names.iter().any(|n| n == "tfplugin5.Provider") {
        ("tfplugin5", "GetSchema")
    } else {
        return None;
    };
    let service = format!("{protocol}.Provider");
    let mut summary = TerraformSummary {
        protocol: protocol.into(),
        schema_rpc: schema_rpc.into(),
        provider_attributes: Vec::new(),
        resources: Vec::new(),
        data_sources: Vec::new(),
        functions: Vec::new(),
        ephemeral_resources: Vec::new(),
        metadata: None,
        diagnostics: Vec::new(),
    };
    let Some((mut reflection, _)) = reflection else {
        summary
            .diagnostics
            .push("no gRPC reflection: the provider's message types are unknown, so its schema was not read (use `soup call --proto`)".into());
        return Some(summary);
    };
    let pool = match reflection.pool_for(std::slice::from_ref(&service)).await {
        Ok(p) => p,
        Err(e) => {
            summary.diagnostics.push(e.to_string());
            return Some(summary);
        }
    };
    let call = |method: &'static str| {
        let pool = pool.clone();
        let service = service.clone();
        async move {
            let m = dynamic::find_method(&pool, &service, method).map_err(|e| e.to_string())?;
            let req = dynamic::encode_json(&m, "{}").map_err(|e| e.to_string())?;
            let path = format!("/{service}/{method}");
            let bytes = dynamic::unary_raw(channel, &path, req, Some(timeout))
                .await
                .map_err(|s| format!("{method}: {:?}: {}", s.code(), s.message()))?;
            let msg = dynamic::decode(&m, bytes).map_err(|e| e.to_string())?;
            Ok::<Value, String>(dynamic::to_json(&msg))
        }
    };
    match call("GetMetadata").await {
        Ok(v) => {
            let names_of = |field: &str, key: &str| -> Vec<String> {
                let mut n: Vec<String> = v[field]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e[key].as_str().map(str::to_string))
                    .collect();
                n.sort();
                n
            };
            summary.metadata = Some(MetadataSummary {
                resources: names_of("resources", "type_name"),
                data_sources: names_of("data_sources", "type_name"),
                functions: names_of("functions", "name"),
                ephemeral_resources: names_of("ephemeral_resources", "type_name"),
            });
            summary.diagnostics.extend(diagnostics(&v));
        }
        Err(e) if e.contains("no method") || e.contains("Unimplemented") => {}
        Err(e) => summary.diagnostics.push(e),
    }
    match call(schema_rpc).await {
        Ok(v) => {
            summary.provider_attributes = attributes(&v["provider"]);
            summary.resources = schemas(&v["resource_schemas"]);
            summary.data_sources = schemas(&v["data_source_schemas"]);
            summary.ephemeral_resources = schemas(&v["ephemeral_resource_schemas"]);
            let mut functions: Vec<String> = v["functions"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            functions.sort();
            summary.functions = functions;
            summary.diagnostics.extend(diagnostics(&v));
        }
        Err(e) => summary.diagnostics.push(e),
    }
    Some(summary)
}

fn attributes(schema: &Value) -> Vec<String> {
    let mut names: Vec<String> = schema["block"]["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str().map(str::to_string))
        .collect();
    names.extend(
        schema["block"]["block_types"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b["type_name"].as_str().map(|n| format!("{n} (block)"))),
    );
    names.sort();
    names
}

fn schemas(map: &Value) -> Vec<SchemaSummary> {
    let mut out: Vec<SchemaSummary> = map
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, schema)| SchemaSummary {
            name: name.clone(),
            attributes: attributes(schema),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn diagnostics(v: &Value) -> Vec<String> {
    v["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "{}: {} {}",
                d["severity"].as_str().unwrap_or("?"),
                d["summary"].as_str().unwrap_or(""),
                d["detail"].as_str().unwrap_or("")
            )
            .trim()
            .to_string()
        })
        .collect()
}

/// The report's JSON Schema (committed as `docs/schema/probe-report.schema.json`).
pub fn json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(ProbeReport)).expect("a schema is JSON")
}

/// A human table of the report.
pub fn render(r: &ProbeReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let row = |s: &mut String, k: &str, v: &str| {
        let _ = writeln!(s, "{k:<22} {v}");
    };
    row(&mut s, "plugin", &r.command.join(" "));
    let preset = r.cookie.preset.as_deref().unwrap_or("--cookie");
    row(
        &mut s,
        "cookie",
        &format!(
            "{} ({}), versions {:?}",
            r.cookie.key, preset, r.cookie.versions
        ),
    );
    if r.attempts.len() > 1 {
        let tried: Vec<String> = r
            .attempts
            .iter()
            .map(|a| {
                format!(
                    "{}: {}",
                    a.preset.as_deref().unwrap_or("--cookie"),
                    a.outcome
                )
            })
            .collect();
        row(&mut s, "tried", &tried.join("; "));
    }
    row(&mut s, "handshake", &r.handshake.line);
    row(
        &mut s,
        "negotiated",
        &format!(
            "core {}, app protocol {}, {} {}, {}, multiplex {}",
            r.handshake.core_version,
            r.handshake.app_version,
            r.handshake.network,
            r.handshake.address,
            r.handshake.protocol,
            match r.handshake.multiplex {
                Some(true) => "yes",
                Some(false) => "no",
                None => "not offered",
            }
        ),
    );
    match &r.tls {
        None => row(&mut s, "tls", "off (plaintext)"),
        Some(t) => {
            row(
                &mut s,
                "tls",
                &format!(
                    "{}, {}, ALPN {}",
                    t.version,
                    t.cipher_suite,
                    t.alpn.as_deref().unwrap_or("none")
                ),
            );
            for (k, c) in [
                ("plugin certificate", &t.server_certificate),
                ("host certificate", &t.client_certificate),
            ] {
                if let Some(c) = c {
                    row(
                        &mut s,
                        k,
                        &format!(
                            "{} {}, CA {}, {} .. {}",
                            c.key_type,
                            c.signature_algorithm,
                            if c.is_ca { "yes" } else { "no" },
                            c.not_before,
                            c.not_after
                        ),
                    );
                    row(&mut s, "", &format!("sha256 {}", c.sha256));
                }
            }
        }
    }
    row(
        &mut s,
        "timings (ms)",
        &format!(
            "spawn→handshake {:.1}, →connected {:.1}, health {:.1}, total {:.1}",
            r.timings_ms.spawn_to_handshake,
            r.timings_ms.handshake_to_connected,
            r.timings_ms.health,
            r.timings_ms.total
        ),
    );
    row(&mut s, "health", &r.health);
    row(
        &mut s,
        "services",
        &format!("({}) {}", r.services.source, r.services.names.join(", ")),
    );
    if let Some(t) = &r.terraform {
        row(
            &mut s,
            "terraform",
            &format!("{} ({})", t.protocol, t.schema_rpc),
        );
        row(&mut s, "  provider", &t.provider_attributes.join(", "));
        let list = |v: &[SchemaSummary]| {
            v.iter()
                .map(|x| format!("{} [{}]", x.name, x.attributes.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        };
        row(&mut s, "  resources", &list(&t.resources));
        row(&mut s, "  data sources", &list(&t.data_sources));
        row(&mut s, "  functions", &t.functions.join(", "));
        row(&mut s, "  ephemeral", &list(&t.ephemeral_resources));
        for d in &t.diagnostics {
            row(&mut s, "  diagnostic", d);
        }
    }
    let mut levels: std::collections::BTreeMap<String, usize> = Default::default();
    let mut shown = Vec::new();
    for line in &r.stderr {
        let parsed: Option<Value> = serde_json::from_str(line).ok();
        let (level, text) = match parsed.as_ref().and_then(|v| v.as_object()) {
            Some(o) if o.contains_key("@message") => (
                o.get("@level")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
                format!(
                    "[{}] {}",
                    o.get("@level").and_then(Value::as_str).unwrap_or("?"),
                    o.get("@message").and_then(Value::as_str).unwrap_or("")
                ),
            ),
            _ => ("text".to_string(), line.clone()),
        };
        *levels.entry(level).or_default() += 1;
        shown.push(text);
    }
    let counts: Vec<String> = levels.iter().map(|(l, n)| format!("{n} {l}")).collect();
    row(
        &mut s,
        "stderr",
        &format!(
            "{} lines{}",
            r.stderr.len(),
            if counts.is_empty() {
                String::new()
            } else {
                format!(" ({})", counts.join(", "))
            }
        ),
    );
    let skip = shown.len().saturating_sub(5);
    if skip > 0 {
        row(
            &mut s,
            "",
            &format!("… {skip} earlier lines (--json has them all)"),
        );
    }
    for l in &shown[skip..] {
        row(&mut s, "", l);
    }
    row(
        &mut s,
        "exit after Shutdown",
        &match (r.exit.code, r.exit.signal) {
            (Some(c), _) => format!("{} (code {c})", r.exit.how),
            (None, Some(sig)) => format!("{} (signal {sig})", r.exit.how),
            _ => r.exit.how.clone(),
        },
    );
    s
}

/// `--cookie KEY=VALUE`.
pub fn parse_cookie(s: &str) -> Result<MagicCookie, String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok(MagicCookie::new(k, v)),
        _ => Err(format!(
            "{s:?} is not KEY=VALUE (e.g. TF_PLUGIN_MAGIC_COOKIE=d602bf8f...); known presets: {}",
            presets::names().join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packer_lines_are_told_apart_from_go_plugin_lines() {
        assert!(is_packer_line("5|0|unix|/tmp/packer-plugin123\n"));
        assert!(is_packer_line("5|1|tcp|127.0.0.1:10000"));
        assert!(!is_packer_line("1|1|unix|/tmp/plugin|grpc|"));
        assert!(!is_packer_line("hello|world|x|y"));
    }

    #[test]
    fn the_committed_schema_is_the_generated_one() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/schema/probe-report.schema.json"
        );
        let generated = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
        if std::env::var_os("SOUP_UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/schema/probe-report.schema.json is stale: run `SOUP_UPDATE_SCHEMA=1 cargo test -p soup-client --lib probe` and commit it"
        );
    }

    #[test]
    fn cookies_parse_as_key_value() {
        let c = parse_cookie("BASIC_PLUGIN=hello").unwrap();
        assert_eq!(
            (c.key.as_str(), c.value.as_str()),
            ("BASIC_PLUGIN", "hello")
        );
        let err = parse_cookie("BASIC_PLUGIN").unwrap_err();
        assert!(
            err.contains("KEY=VALUE") && err.contains("terraform"),
            "{err}"
        );
    }
}
