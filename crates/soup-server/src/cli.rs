//! The `soup-server` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::{FileStore, KvService};
use clap::{Parser, Subcommand};
use plugin_core::{KeyChoice, MagicCookie, ManualTls, Network, ServeConfig, TlsMode};

#[derive(Parser)]
#[command(
    name = "soup-server",
    version,
    about = "soup-rpc's KV plugin (a go-plugin gRPC plugin)"
)]
struct Cli {
    /// Test harness only (docs/peer-contract.md): fill in the handshake probe, a Put whose
    /// value is a JSON object holding `server_handshake`, with what this server saw of the
    /// connection (TLS mode, the host's certificate). Without it every value is stored as sent.
    #[arg(long, global = true)]
    peer_contract: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve KV as a go-plugin plugin (the default when no subcommand is given).
    Server(ServerArgs),
    /// Print what this peer cannot express, as JSON (peer contract).
    Capabilities,
}

#[derive(clap::Args, Default)]
struct ServerArgs {
    /// off | auto (AutoMTLS when the host sends PLUGIN_CLIENT_CERT) | manual
    #[arg(long, default_value = "auto")]
    tls: TlsMode,
    /// Key type of the AutoMTLS certificate: match (the host's) | ec-p256 | ec-p384 | ec-p521 | rsa-2048 | rsa-4096
    #[arg(long, default_value = "match")]
    key: KeyChoice,
    /// tcp | unix (default: PLUGIN_SERVER_TRANSPORTS, else unix as go-plugin)
    #[arg(long)]
    transport: Option<Network>,
    /// Manual TLS: PEM certificate chain.
    #[arg(long, requires_all = ["tls_key", "tls_ca"])]
    tls_cert: Option<PathBuf>,
    /// Manual TLS: PEM private key.
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Manual TLS: PEM CA that signs the host's certificate.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// Directory holding the KV data (default: <data dir>/soup-rpc/kv).
    #[arg(long, env = "SOUP_KV_STORE")]
    store: Option<PathBuf>,
    /// Debug mode: start without a host (no magic cookie), print a go-plugin
    /// ReattachConfig and a TF_REATTACH_PROVIDERS line to attach with, serve until
    /// Shutdown, SIGTERM or Ctrl-C. TLS: plaintext, or --tls manual.
    #[arg(long)]
    debug: bool,
}

/// The `soup-server` command line, callable from other binaries (tests embed it).
pub fn cli_main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Capabilities) => {
            println!(
                "{}",
                serde_json::json!({
                    "language": "rust",
                    "implementation": concat!("soup-server ", env!("CARGO_PKG_VERSION"), " (tonic, rustls/aws-lc-rs)"),
                    "client": {"unsupported": []},
                    "server": {"unsupported": []},
                })
            );
            return ExitCode::SUCCESS;
        }
        Some(Command::Server(args)) => args,
        None => ServerArgs::default(),
    };
    let manual = match (&args.tls_cert, &args.tls_key, &args.tls_ca) {
        (Some(c), Some(k), Some(ca)) => match ManualTls::from_files(c, k, ca) {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("soup-server: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    if args.tls == TlsMode::Manual && manual.is_none() {
        eprintln!("soup-server: --tls manual needs --tls-cert, --tls-key and --tls-ca");
        return ExitCode::from(2);
    }
    let store_dir = args.store.unwrap_or_else(FileStore::default_dir);
    let store = match FileStore::open(&store_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soup-server: cannot open the KV store: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = ServeConfig::new(MagicCookie::kv_example(), vec![1]);
    config.tls = args.tls;
    config.key = args.key;
    config.manual = manual;
    config.transport = args.transport;
    config.reflection = vec![kv_proto::FILE_DESCRIPTOR_SET];
    if args.debug {
        config.debug = Some(plugin_core::DebugServe {
            name: "soup-rpc/kv".into(),
        });
    }
    let probe = cli.peer_contract.then_some(config.tls);
    plugin_core::run_plugin("soup-server", config, || {
        crate::kv_routes_with(KvService::new(store).with_handshake_probe(probe))
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
