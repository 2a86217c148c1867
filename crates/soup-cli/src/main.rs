//! `soup`: host go-plugin KV plugins from the command line.
//!
//! Exit codes: 0 success; 1 the operation or the plugin failed (the error says why);
//! 2 usage error; for `client`, 1 means the report records a failure.

mod bench;
mod call;
mod cli;
mod validate;

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use cli::{Cli, Command, ConnArgs, KvCommand};
use soup_client::{KvClient, LaunchConfig};
use soup_peer::report::{ClientRun, run_client};

// mimalloc, not glibc's malloc: glibc maps and zeroes every large buffer afresh, which
// made page faults a fifth of a 1 MiB Put's cost (see plugin_core::transport::h2 for the
// rest of that measurement). Built without transparent huge pages, which doubled peak RSS.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Single-threaded: measured ~2x lower Get latency than 2 workers (no cross-thread
    // wake-ups between the caller and tonic's connection task).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(run(cli));
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("soup: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Kv(KvCommand::Put { key, value, conn }) => {
            conn.start_keylog()?;
            let kv = launch(&conn).await?;
            let res = kv.put(&key, value.as_bytes()).await;
            kv.shutdown().await;
            res?; // KvError names the operation and the key
            Ok(ExitCode::SUCCESS)
        }
        Command::Kv(KvCommand::Get { key, conn }) => {
            conn.start_keylog()?;
            let kv = launch(&conn).await?;
            let res = kv.get(&key).await;
            kv.shutdown().await;
            let value = res?;
            let mut out = std::io::stdout().lock();
            out.write_all(&value)?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Client(args) => {
            let conn = &args.conn;
            conn.require_launch("client")?;
            conn.start_keylog()?;
            let run = ClientRun {
                tls: conn.tls,
                key: conn.key_type,
                transport: conn.transport.unwrap_or(soup_client::Network::Unix),
                manual: conn.manual()?,
                server_command: conn.command.clone(),
                timeout: std::time::Duration::from_secs_f64(conn.timeout),
                versions: args.versions.clone(),
                script: args.script,
            };
            let report = run_client(run).await;
            println!("{}", serde_json::to_string(&report)?);
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Probe(args) => {
            args.conn.require_launch("probe")?;
            args.conn.start_keylog()?;
            let opts = probe_options(&args.conn, &args.target)?;
            let report = soup_client::probe::probe(opts).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", soup_client::probe::render(&report));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Conformance(args) => {
            let opts = soup_client::conformance::ConformanceOptions {
                command: args.command.clone(),
                cookie: args.target.choice()?,
                versions: args.target.versions.clone(),
                holder: std::env::current_exe()
                    .ok()
                    .map(|exe| vec![exe.display().to_string(), "hold-plugin".into()]),
                timeout: std::time::Duration::from_secs_f64(args.timeout),
            };
            let report = soup_client::conformance::run(opts).await?;
            if let Some(path) = &args.junit {
                std::fs::write(path, soup_client::conformance::junit(&report)?)
                    .with_context(|| format!("writing --junit {}", path.display()))?;
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", soup_client::conformance::render(&report));
            }
            Ok(if report.summary.fail == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::HoldPlugin(args) => {
            let mut opts = soup_client::probe::ProbeOptions::new(args.command.clone());
            opts.cookie = args.target.choice()?;
            opts.versions = args.target.versions.clone();
            let (plugin, _, _) = soup_client::probe::launch_any(&opts).await?;
            println!("{}", plugin.pid().unwrap_or(0));
            std::io::stdout().flush()?;
            std::future::pending::<()>().await;
            drop(plugin);
            Ok(ExitCode::SUCCESS)
        }
        Command::Call(args) => {
            args.conn.require_launch("call")?;
            args.conn.start_keylog()?;
            call::run(args).await
        }
        Command::Capabilities => {
            println!(
                "{}",
                serde_json::json!({
                    "language": "rust",
                    "implementation": soup_peer::report::implementation(),
                    "client": {"unsupported": []},
                    "server": {"unsupported": []},
                })
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate(args) => validate::run(args).await,
        Command::Bench(args) => {
            args.conn.start_keylog()?;
            println!("{}", bench::run(args).await?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The probe/call launch options from the command line.
pub(crate) fn probe_options(
    conn: &ConnArgs,
    target: &cli::TargetArgs,
) -> anyhow::Result<soup_client::probe::ProbeOptions> {
    let mut opts = soup_client::probe::ProbeOptions::new(conn.command.clone());
    opts.cookie = target.choice()?;
    opts.versions = target.versions.clone();
    opts.tls = conn.tls;
    opts.key = conn.key_type;
    opts.manual = conn.manual()?;
    opts.transport = conn.transport;
    opts.handshake_timeout = std::time::Duration::from_secs_f64(conn.timeout);
    opts.call_timeout = conn
        .call_deadline()
        .unwrap_or(std::time::Duration::from_secs(3600));
    Ok(opts)
}

async fn launch(conn: &ConnArgs) -> anyhow::Result<KvClient> {
    if let Some(json) = &conn.reattach {
        let (_, reattach) = plugin_core::reattach::parse(json, conn.reattach_name.as_deref())
            .context("--reattach")?;
        let address = reattach.addr.string.clone();
        let mut config = plugin_core::AttachConfig::new(reattach);
        config.tls = match conn.tls {
            plugin_core::TlsMode::Auto => plugin_core::TlsMode::Off,
            other => other,
        };
        config.manual = conn.manual()?;
        config.stdout = plugin_core::StdioSink::Stderr;
        let plugin = plugin_core::PluginClient::attach(config)
            .await
            .with_context(|| format!("attaching to the plugin at {address}"))?;
        return Ok(KvClient::over(plugin).with_timeout(conn.call_deadline()));
    }
    let mut config = LaunchConfig::new(conn.command.iter());
    config.tls = conn.tls;
    config.key = conn.key_type;
    config.manual = conn.manual()?;
    config.transport = conn.transport;
    config.handshake_timeout = std::time::Duration::from_secs_f64(conn.timeout);
    // Our stdout is the value or the probe report; a plugin's prints go to stderr.
    config.stdout = plugin_core::StdioSink::Stderr;
    let kv = KvClient::launch(config)
        .await
        .with_context(|| format!("launching plugin `{}`", conn.command.join(" ")))?;
    Ok(kv.with_timeout(conn.call_deadline()))
}
