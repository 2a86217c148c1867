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
    Client(ConnArgs),
    /// Launch any go-plugin plugin, handshake, health, and report what was negotiated.
    Probe(ConnArgs),
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
}

impl ConnArgs {
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
