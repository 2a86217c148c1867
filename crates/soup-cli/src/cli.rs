//! Command-line surface of `soup`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use soup_client::{KeyType, ManualTls, Network, TlsMode};

/// Host go-plugin KV plugins (Rust, Go, Python) from the command line.
#[derive(Parser)]
#[command(name = "soup", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Get or put a key through a KV plugin.
    #[command(subcommand)]
    Kv(KvCommand),
    /// Peer contract: host the server command, run the KV script, print one JSON report.
    Client(ClientArgs),
    /// Launch any go-plugin plugin and report what it negotiated: cookie, handshake,
    /// certificates, TLS, timings, health, services, a Terraform provider's schema.
    Probe(ProbeArgs),
    /// Call a unary method of any plugin, request and response as JSON:
    /// `soup call [OPTIONS] -- CMD... /package.Service/Method ['{"json": 1}']`.
    Call(CallArgs),
    /// Is this a correct go-plugin plugin? Runs go-plugin's protocol checks against any
    /// plugin: pass / fail / warn per check, with go-plugin's reference behaviour.
    Conformance(ConformanceArgs),
    /// (internal) Host a plugin, print its pid, wait to be killed: `soup conformance`'s
    /// "exits when its host dies" check.
    #[command(hide = true)]
    HoldPlugin(HoldArgs),
    /// Print what this peer cannot express, as JSON (peer contract).
    Capabilities,
    /// Measure cold start, Get latency and throughput against a plugin (JSON on stdout).
    Bench(crate::bench::BenchArgs),
    /// Answer "does CLIENT → SERVER work with this TLS and key?" from the recorded matrix.
    Validate(crate::validate::ValidateArgs),
}

#[derive(Subcommand)]
pub enum KvCommand {
    /// Store VALUE under KEY.
    Put {
        key: String,
        value: String,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Print the value stored under KEY (raw bytes on stdout).
    Get {
        key: String,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

/// Which host's cookie and versions to launch the plugin with.
#[derive(Args, Clone, Debug)]
pub struct TargetArgs {
    /// The plugin's magic cookie, as its host sets it (e.g. `BASIC_PLUGIN=hello`).
    #[arg(long, value_name = "KEY=VALUE", value_parser = soup_client::probe::parse_cookie, conflicts_with = "preset")]
    pub cookie: Option<soup_client::MagicCookie>,
    /// A known host's cookie and versions: kv, terraform (tofu), vault, vault-database,
    /// nomad, waypoint, packer. With neither this nor --cookie, each is tried in turn.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// App protocol versions to offer, e.g. `5,6` (default: the preset's).
    #[arg(long, value_name = "N,N", value_delimiter = ',')]
    pub versions: Option<Vec<u32>>,
}

impl TargetArgs {
    /// The cookie choice these flags make.
    pub fn choice(&self) -> anyhow::Result<soup_client::probe::CookieChoice> {
        use soup_client::probe::CookieChoice;
        Ok(match (&self.cookie, &self.preset) {
            (Some(c), _) => CookieChoice::Explicit(c.clone()),
            (None, Some(p)) => CookieChoice::Preset(soup_client::presets::find(p)?),
            (None, None) => CookieChoice::Auto,
        })
    }
}

/// `soup probe`.
#[derive(Args, Clone)]
pub struct ProbeArgs {
    /// Print the report as JSON (schema: docs/schema/probe-report.schema.json).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `soup client` (docs/peer-contract.md).
#[derive(Args, Clone)]
pub struct ClientArgs {
    /// App protocol versions to offer and accept, e.g. `1` or `1,2`.
    #[arg(long, value_name = "N,N", value_delimiter = ',', default_value = "1")]
    pub versions: Vec<u32>,
    /// kv | get | hold | put-stream:N | get-stream:N | put-large:BYTES
    #[arg(long, default_value = "kv")]
    pub script: soup_peer::script::Script,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `soup conformance`.
#[derive(Args, Clone)]
pub struct ConformanceArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the checks as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Seconds each wait may take (handshake, calls).
    #[arg(long, default_value_t = 20.0)]
    pub timeout: f64,
    #[command(flatten)]
    pub target: TargetArgs,
    /// The plugin command, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// `soup hold-plugin`.
#[derive(Args, Clone)]
pub struct HoldArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The plugin command, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// `soup call`.
#[derive(Args, Clone)]
pub struct CallArgs {
    /// Take message types from these .proto files instead of the plugin's reflection.
    #[arg(long, value_name = "FILE")]
    pub proto: Vec<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// How to launch and reach the plugin.
#[derive(Args, Clone)]
pub struct ConnArgs {
    /// off | auto (go-plugin AutoMTLS) | manual
    #[arg(long, default_value = "auto")]
    pub tls: TlsMode,
    /// Key type of our AutoMTLS certificate.
    // Its own id: `soup kv get KEY` has a positional `key`, and clap ids must be unique.
    #[arg(
        long = "key",
        id = "key_type",
        value_name = "KEY_TYPE",
        default_value = "ec-p256"
    )]
    pub key_type: KeyType,
    /// Transport to ask the plugin for (a hint: go-plugin plugins choose their own).
    #[arg(long)]
    pub transport: Option<Network>,
    /// Manual TLS: PEM certificate chain.
    #[arg(long, requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// Manual TLS: PEM private key.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// Manual TLS: PEM CA that signs the plugin's certificate.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Seconds allowed for the handshake (and, for `client`, the whole run).
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Seconds each call (Get, Put) may take before it fails as DEADLINE_EXCEEDED (sent as
    /// grpc-timeout and enforced here, so a frozen plugin cannot hang the command); 0 = none.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub call_timeout: f64,
    /// The plugin command, after `--`.
    #[arg(last = true, required_unless_present = "reattach")]
    pub command: Vec<String>,
    /// Attach to a running plugin instead of starting one: go-plugin's ReattachConfig
    /// JSON, or a TF_REATTACH_PROVIDERS map (what `soup-server server --debug` prints).
    /// TLS `auto` means plaintext here (AutoMTLS needs a handshake); `manual` works.
    #[arg(long, value_name = "JSON")]
    pub reattach: Option<String>,
    /// With --reattach and a map naming several plugins: which one.
    #[arg(long, value_name = "NAME", requires = "reattach")]
    pub reattach_name: Option<String>,
    /// Append the TLS session secrets to FILE (NSS key log format), so a capture of the
    /// session decrypts in Wireshark/tshark. Off unless given (or SSLKEYLOGFILE is set).
    #[arg(long, value_name = "FILE", env = "SSLKEYLOGFILE")]
    pub keylog: Option<PathBuf>,
}

impl ConnArgs {
    /// Starts key logging when asked; a path that cannot be written fails here.
    pub fn start_keylog(&self) -> anyhow::Result<()> {
        if let Some(path) = &self.keylog {
            plugin_core::tls::log_keys_to(path).map_err(|e| anyhow::anyhow!("--keylog: {e}"))?;
        }
        Ok(())
    }

    /// The per-call deadline (`--call-timeout`), `None` for 0.
    pub fn call_deadline(&self) -> Option<std::time::Duration> {
        (self.call_timeout > 0.0)
            .then(|| std::time::Duration::try_from_secs_f64(self.call_timeout).ok())
            .flatten()
    }

    /// Fails for commands that start the plugin themselves (they measure or report the
    /// launch): `--reattach` cannot apply to them.
    pub fn require_launch(&self, command: &str) -> anyhow::Result<()> {
        if self.reattach.is_some() {
            anyhow::bail!(
                "`soup {command}` starts the plugin itself (it reports or measures the launch); --reattach works with `soup kv get/put`"
            );
        }
        Ok(())
    }

    /// Manual TLS material, read when all three files are given.
    pub fn manual(&self) -> anyhow::Result<Option<ManualTls>> {
        match (&self.tls_cert, &self.tls_key, &self.tls_ca) {
            (Some(c), Some(k), Some(ca)) => Ok(Some(ManualTls::from_files(c, k, ca)?)),
            _ if self.tls == TlsMode::Manual => {
                anyhow::bail!("--tls manual needs --tls-cert, --tls-key and --tls-ca")
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn reattach_replaces_the_plugin_command_but_not_for_launching_commands() {
        let cli = Cli::try_parse_from(["soup", "kv", "get", "k", "--reattach", "{}"])
            .expect("no command needed with --reattach");
        let Command::Kv(KvCommand::Get { conn, .. }) = cli.command else {
            panic!("not kv get");
        };
        assert!(conn.command.is_empty());
        let err = conn.require_launch("bench").unwrap_err().to_string();
        assert!(err.contains("--reattach works with `soup kv"), "{err}");
        assert!(
            Cli::try_parse_from(["soup", "kv", "get", "k"]).is_err(),
            "a command or --reattach"
        );
    }

    #[test]
    fn probe_cookie_and_preset_exclude_each_other_and_versions_split() {
        let cli = Cli::try_parse_from([
            "soup",
            "probe",
            "--preset",
            "terraform",
            "--versions",
            "5,6",
            "--",
            "p",
        ])
        .unwrap();
        let Command::Probe(p) = cli.command else {
            panic!("not probe")
        };
        assert_eq!(p.target.versions, Some(vec![5, 6]));
        assert!(
            Cli::try_parse_from([
                "soup", "probe", "--preset", "kv", "--cookie", "A=b", "--", "p"
            ])
            .is_err()
        );
        let err = Cli::try_parse_from(["soup", "probe", "--cookie", "nonsense", "--", "p"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("KEY=VALUE"), "{err}");
    }

    #[test]
    fn kv_put_takes_a_positional_key_and_a_key_type_flag() {
        let cli = Cli::try_parse_from([
            "soup",
            "kv",
            "put",
            "greeting",
            "hello world",
            "--key",
            "ec-p521",
            "--",
            "plugin",
        ])
        .expect("parses");
        let Command::Kv(KvCommand::Put { key, value, conn }) = cli.command else {
            panic!("not kv put");
        };
        assert_eq!((key.as_str(), value.as_str()), ("greeting", "hello world"));
        assert_eq!(conn.key_type, KeyType::EcP521);
        assert_eq!(conn.command, ["plugin"]);
    }
}
