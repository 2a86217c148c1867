//! The host side every example binary shares: the `--tls auto|off` flag, launching the
//! plugin command the way go-plugin's example hosts find it, hclog JSON logs on stderr,
//! and go-plugin's shutdown sequence once the example's calls are done.

use std::ffi::OsString;
use std::future::Future;

use anyhow::Context as _;
use plugin_core::{HostError, LaunchConfig, MagicCookie, PluginClient, TlsMode};
use tonic::transport::Channel;
use tracing_subscriber::EnvFilter;

/// Environment variable that sets `--tls` for every example host.
pub const TLS_ENV: &str = "SOUP_EXAMPLES_TLS";

/// Flags every example host takes.
#[derive(clap::Args, Debug, Clone)]
pub struct HostArgs {
    /// `off`: plaintext, what go-plugin's example hosts do (they configure no AutoMTLS);
    /// `auto`: go-plugin AutoMTLS (the host sends its certificate in PLUGIN_CLIENT_CERT).
    #[arg(long, global = true, env = TLS_ENV, default_value = "off", value_parser = parse_tls)]
    pub tls: TlsMode,
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
    /// `sh -c "$VAR"`, as examples/grpc does with `KV_PLUGIN`.
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

/// Launches the plugin, hands its gRPC channel to `calls`, then shuts the plugin down
/// (GRPCController.Shutdown, grace period, kill) whether the calls succeeded or not.
pub async fn with_plugin<T, F, Fut>(spec: &PluginSpec, tls: TlsMode, calls: F) -> anyhow::Result<T>
where
    F: FnOnce(Channel) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let client = launch(spec, tls).await?;
    let result = calls(client.channel()).await;
    let exit = client.shutdown().await;
    tracing::debug!(how = ?exit.how, code = ?exit.code, "plugin process exited");
    result
}

/// Starts the plugin and connects (handshake, TLS as asked, health check).
pub async fn launch(spec: &PluginSpec, tls: TlsMode) -> Result<PluginClient, HostError> {
    let mut config = LaunchConfig::new(spec.command.argv());
    config.cookie = spec.cookie.clone();
    config.versions = spec.versions.clone();
    config.tls = tls;
    let client = PluginClient::launch(config).await?;
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

    #[test]
    fn tls_flag_accepts_auto_and_off_only() {
        assert_eq!(parse_tls("auto"), Ok(TlsMode::Auto));
        assert_eq!(parse_tls("off"), Ok(TlsMode::Off));
        assert!(parse_tls("manual").unwrap_err().contains("auto"));
        assert!(parse_tls("tls1.3").is_err());
    }

    #[test]
    fn shell_command_reads_the_variable_at_launch() {
        let argv = PluginCommand::ShellFromEnv("SOUP_EXAMPLES_TEST_UNSET_VARIABLE").argv();
        assert_eq!(argv, ["sh", "-c", ""].map(OsString::from));
        assert_eq!(
            PluginCommand::Path("./kv-plugin").argv(),
            [OsString::from("./kv-plugin")]
        );
    }
}
