//! The host side every example binary shares: the `--tls auto|off` and `--multiplex`
//! flags, launching the plugin command the way go-plugin's example hosts find it, hclog
//! JSON logs on stderr, and go-plugin's shutdown sequence once the example's calls are
//! done.

use std::ffi::OsString;
use std::future::Future;

use anyhow::Context as _;
use plugin_core::{Broker, HostError, LaunchConfig, MagicCookie, PluginClient, TlsMode};
use tonic::transport::Channel;
use tracing_subscriber::EnvFilter;

/// Environment variable that sets `--tls` for every example host.
pub const TLS_ENV: &str = "SOUP_EXAMPLES_TLS";

/// Environment variable that sets `--multiplex` for every example host (`1`, `true`,
/// `yes`, `on`: on; `0`, `false`, `no`, `off`: off).
pub const MULTIPLEX_ENV: &str = "SOUP_EXAMPLES_MULTIPLEX";

/// Flags every example host takes.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct HostArgs {
    /// `off`: plaintext, what go-plugin's example hosts do (they configure no AutoMTLS);
    /// `auto`: go-plugin AutoMTLS (the host sends its certificate in PLUGIN_CLIENT_CERT).
    #[arg(long, global = true, env = TLS_ENV, default_value = "off", value_parser = parse_tls)]
    pub tls: TlsMode,
    /// gRPC broker multiplexing (go-plugin's `GRPCBrokerMultiplex`, PLUGIN_MULTIPLEX_GRPC):
    /// one connection to the plugin, every gRPC connection (brokered ones too) a yamux
    /// stream on it. Off by default, as go-plugin's example hosts run.
    #[arg(
        long,
        global = true,
        env = MULTIPLEX_ENV,
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub multiplex: bool,
}

impl Default for HostArgs {
    /// What go-plugin's example hosts do: plaintext, no multiplexing.
    fn default() -> Self {
        HostArgs {
            tls: TlsMode::Off,
            multiplex: false,
        }
    }
}

fn parse_tls(s: &str) -> Result<TlsMode, String> {
    match s.parse::<TlsMode>()? {
        TlsMode::Manual => Err(
            "the example hosts support `auto` (AutoMTLS) and `off`; manual TLS is `soup kv --tls manual`"
                .into(),
        ),
        mode => Ok(mode),
    }
}

/// Where a go-plugin example host finds its plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginCommand {
    /// `sh -c "$VAR"`, as examples/grpc (`KV_PLUGIN`) and examples/bidirectional
    /// (`COUNTER_PLUGIN`) do.
    ShellFromEnv(&'static str),
    /// A program path relative to the host's working directory, as examples/streaming
    /// (`./plugin/streamer`) and examples/negotiated (`./kv-plugin`) do.
    Path(&'static str),
}

impl PluginCommand {
    /// The argv to start.
    pub fn argv(self) -> Vec<OsString> {
        match self {
            PluginCommand::ShellFromEnv(var) => vec![
                "sh".into(),
                "-c".into(),
                std::env::var_os(var).unwrap_or_default(),
            ],
            PluginCommand::Path(path) => vec![path.into()],
        }
    }

    /// Whether the command is a wrapper (`sh -c`) whose children must be signalled with
    /// it: the plugin then runs in a process group of its own, which the host signals
    /// whole (`LaunchConfig::process_group`).
    pub fn is_wrapper(self) -> bool {
        matches!(self, PluginCommand::ShellFromEnv(_))
    }
}

/// What a host launches: the plugin command and the handshake it offers.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// How to find the plugin.
    pub command: PluginCommand,
    /// The magic cookie (every go-plugin example uses `BASIC_PLUGIN=hello`).
    pub cookie: MagicCookie,
    /// Application protocol versions offered (`PLUGIN_PROTOCOL_VERSIONS`).
    pub versions: Vec<u32>,
}

impl PluginSpec {
    /// The launch configuration for this plugin with the host's flags.
    pub fn launch_config(&self, args: &HostArgs) -> LaunchConfig {
        let mut config = LaunchConfig::new(self.command.argv());
        config.cookie = self.cookie.clone();
        config.versions = self.versions.clone();
        config.tls = args.tls;
        config.multiplex = args.multiplex;
        config.process_group = self.command.is_wrapper();
        config
    }
}

/// What the example's calls get: the plugin's gRPC channel, and the GRPCBroker for a
/// host that serves services back to its plugin (examples/bidirectional).
#[derive(Debug, Clone)]
pub struct Connection {
    /// The plugin's gRPC channel (a yamux stream when multiplexed).
    pub channel: Channel,
    /// The host's end of the GRPCBroker.
    pub broker: Broker,
}

/// Launches the plugin, hands its connection to `calls`, then shuts the plugin down
/// (GRPCController.Shutdown, grace period, kill) whether the calls succeeded or not.
pub async fn with_plugin<T, F, Fut>(
    spec: &PluginSpec,
    args: &HostArgs,
    calls: F,
) -> anyhow::Result<T>
where
    F: FnOnce(Connection) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let client = launch(spec, args).await?;
    let result = calls(Connection {
        channel: client.channel(),
        broker: client.broker().clone(),
    })
    .await;
    let exit = client.shutdown().await;
    tracing::debug!(how = ?exit.how, code = ?exit.code, "plugin process exited");
    result
}

/// Starts the plugin and connects (handshake, TLS and multiplexing as asked, health
/// check).
pub async fn launch(spec: &PluginSpec, args: &HostArgs) -> Result<PluginClient, HostError> {
    let client = PluginClient::launch(spec.launch_config(args)).await?;
    let handshake = client.handshake();
    tracing::info!(
        version = handshake.app_version,
        network = %handshake.network,
        address = %handshake.address,
        tls = client.tls_session().is_some(),
        plugin_certificate = client
            .server_certificate()
            .map(|c| c.key_type)
            .unwrap_or_else(|| "none".into()),
        multiplexed = client.broker().is_multiplexed(),
        "using plugin"
    );
    Ok(client)
}

/// hclog JSON lines on stderr (go-plugin's format, so a Go tool reading them is at home);
/// level from `RUST_LOG`, else `default_filter`. Plugin stderr lines are forwarded here at
/// their own level.
pub fn init_logging(module: &str, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| plugin_core::hclog::BestEffortStderr)
        .log_internal_errors(false)
        .event_format(plugin_core::hclog::HclogJson::new(module))
        .try_init();
}

/// Runs a host's async main on a single-threaded runtime.
pub fn block_on<T>(main: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(main)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        host: HostArgs,
    }

    #[test]
    fn tls_flag_accepts_auto_and_off_only() {
        assert_eq!(parse_tls("auto"), Ok(TlsMode::Auto));
        assert_eq!(parse_tls("off"), Ok(TlsMode::Off));
        assert!(parse_tls("manual").unwrap_err().contains("auto"));
        assert!(parse_tls("tls1.3").is_err());
    }

    #[test]
    fn multiplex_flag_sets_the_launch_config_and_defaults_off() {
        let spec = crate::grpc::plugin_spec();
        let off = Cli::try_parse_from(["host"]).unwrap().host;
        assert_eq!(off, HostArgs::default());
        assert!(!spec.launch_config(&off).multiplex);
        let on = Cli::try_parse_from(["host", "--multiplex", "--tls", "auto"])
            .unwrap()
            .host;
        let config = spec.launch_config(&on);
        assert!(config.multiplex);
        assert_eq!(config.tls, TlsMode::Auto);
    }

    #[test]
    fn shell_command_reads_the_variable_at_launch_and_runs_in_its_own_group() {
        let argv = PluginCommand::ShellFromEnv("SOUP_EXAMPLES_TEST_UNSET_VARIABLE").argv();
        assert_eq!(argv, ["sh", "-c", ""].map(OsString::from));
        assert_eq!(
            PluginCommand::Path("./kv-plugin").argv(),
            [OsString::from("./kv-plugin")]
        );
        let args = HostArgs::default();
        assert!(
            crate::grpc::plugin_spec()
                .launch_config(&args)
                .process_group
        );
        assert!(
            !crate::negotiated::plugin_spec()
                .launch_config(&args)
                .process_group
        );
    }
}
