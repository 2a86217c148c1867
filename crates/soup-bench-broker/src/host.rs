//! The host: launches the plugin, serves AddHelper through the broker, times Puts.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use plugin_core::{KeyType, LaunchConfig, MagicCookie, PluginClient, StdioSink, TlsMode};
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::proto::{self, add_helper_server, counter_client::CounterClient};

/// Arguments of `soup-bench-broker host`.
#[derive(clap::Args, Debug)]
pub struct HostArgs {
    /// `auto` (go-plugin AutoMTLS, brokered connections pin the same certificates) or `off`.
    #[arg(long, default_value = "auto", value_parser = parse_tls)]
    tls: TlsMode,
    /// Key type of the host's AutoMTLS certificate.
    #[arg(long = "key", default_value = "ec-p256")]
    key: KeyType,
    /// gRPC broker multiplexing (go-plugin's `GRPCBrokerMultiplex`): brokered
    /// connections are yamux streams of the one host↔plugin connection.
    #[arg(long)]
    multiplex: bool,
    /// Timed Puts over the already dialled brokered connection.
    #[arg(long, default_value_t = 2000)]
    steady_calls: usize,
    /// Untimed Puts before those (the first one dials).
    #[arg(long, default_value_t = 200)]
    steady_warmup: usize,
    /// Timed Puts of go-plugin's per-call pattern (accept_and_serve, dial, Sum, stop).
    #[arg(long, default_value_t = 300)]
    per_call_calls: usize,
    /// Untimed per-call Puts before those.
    #[arg(long, default_value_t = 20)]
    per_call_warmup: usize,
    /// Seconds allowed for each handshake and for each of the two phases.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// The plugin command, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

fn parse_tls(s: &str) -> Result<TlsMode, String> {
    match s.parse::<TlsMode>()? {
        m @ (TlsMode::Auto | TlsMode::Off) => Ok(m),
        m => Err(format!("--tls {m}: only auto and off are measured")),
    }
}

/// `soup-bench-broker host`.
pub fn main(args: HostArgs) -> std::process::ExitCode {
    if args.steady_calls == 0 || args.per_call_calls == 0 {
        eprintln!("soup-bench-broker host: --steady-calls and --per-call-calls must be at least 1");
        return std::process::ExitCode::from(2);
    }
    // Single-threaded, as `soup` and every plugin-core plugin run.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(run(&args));
    rt.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("soup-bench-broker host: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

struct Adder;

#[tonic::async_trait]
impl add_helper_server::AddHelper for Adder {
    async fn sum(
        &self,
        req: Request<proto::SumRequest>,
    ) -> Result<Response<proto::SumResponse>, Status> {
        let req = req.into_inner();
        Ok(Response::new(proto::SumResponse { r: req.a + req.b }))
    }
}

fn adder() -> tonic::service::Routes {
    tonic::service::Routes::new(add_helper_server::AddHelperServer::new(Adder))
}

async fn run(args: &HostArgs) -> anyhow::Result<Value> {
    let client = launch(args, "once").await?;
    let transport = client.handshake().network.as_str().to_string();
    let steady = measure(args, &client, steady(args, &client)).await;
    let steady = finish(client, steady).await.context("steady phase")?;
    let client = launch(args, "per-call").await?;
    let per_call = measure(args, &client, per_call(args, &client)).await;
    let per_call = finish(client, per_call).await.context("per-call phase")?;
    Ok(json!({
        "host": "rust",
        "tls": args.tls.to_string(),
        "host_key": (args.tls == TlsMode::Auto).then(|| args.key.to_string()),
        "multiplex": args.multiplex,
        "transport": transport,
        "plugin_command": args.command,
        "steady": steady,
        "per_call": per_call,
    }))
}

/// A fresh plugin, told how to dial (`once` or `per-call`).
async fn launch(args: &HostArgs, dial: &str) -> anyhow::Result<PluginClient> {
    let mut cfg = LaunchConfig::new(args.command.iter());
    cfg.cookie = MagicCookie::new(crate::COOKIE.0, crate::COOKIE.1);
    cfg.versions = vec![1];
    cfg.tls = args.tls;
    cfg.key = args.key;
    cfg.multiplex = args.multiplex;
    cfg.env.push((crate::DIAL_ENV.into(), dial.into()));
    cfg.handshake_timeout = Duration::from_secs_f64(args.timeout);
    // Nothing the plugin prints may reach our stdout, which carries the JSON.
    cfg.stdout = StdioSink::Log;
    cfg.stderr = StdioSink::Log;
    PluginClient::launch(cfg).await.with_context(|| {
        format!(
            "launching the plugin ({} dial={dial})",
            args.command.join(" ")
        )
    })
}

/// What a phase measured: the timed calls' latencies (µs), and the CPU time (ms) host and
/// plugin spent over them.
struct Measured {
    latency_us: Vec<f64>,
    /// Steady phase: plain Gets on the main connection, the one-RPC reference.
    get_latency_us: Option<Vec<f64>>,
    cpu_host_ms: Option<f64>,
    cpu_plugin_ms: Option<f64>,
    pid: Option<u32>,
}

/// Runs a phase's calls within `--timeout`; a failure carries the plugin's last stderr.
async fn measure(
    args: &HostArgs,
    client: &PluginClient,
    calls: impl Future<Output = anyhow::Result<Measured>>,
) -> anyhow::Result<Measured> {
    let limit = Duration::from_secs_f64(args.timeout);
    match tokio::time::timeout(limit, calls).await {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => bail!("{e:#}{}", tail(client)),
        Err(_) => bail!(
            "did not finish within {limit:?} (--timeout){}",
            tail(client)
        ),
    }
}

/// Shuts the plugin down and makes the phase's JSON.
async fn finish(client: PluginClient, measured: anyhow::Result<Measured>) -> anyhow::Result<Value> {
    let exit = client.shutdown().await;
    let m = measured?;
    let n = m.latency_us.len() as f64;
    let mut phase = json!({
        "calls": m.latency_us.len(),
        "latency_us": summary(m.latency_us),
        "cpu_us_per_call": {
            "host": m.cpu_host_ms.map(|ms| ms * 1e3 / n),
            "plugin": m.cpu_plugin_ms.map(|ms| ms * 1e3 / n),
        },
        "plugin_pid": m.pid,
        "plugin_exit": exit,
    });
    if let Some(get) = m.get_latency_us {
        phase["get_latency_us"] = summary(get);
    }
    Ok(phase)
}

fn status(what: &str, s: Status) -> anyhow::Error {
    anyhow::anyhow!("{what}: {:?}: {}", s.code(), s.message())
}

/// The count the plugin holds must be the sum of the Puts (every Sum really ran).
async fn check_count(
    counter: &mut CounterClient<Channel>,
    key: &str,
    want: usize,
) -> anyhow::Result<()> {
    let got = counter
        .get(proto::GetRequest { key: key.into() })
        .await
        .map_err(|s| status("Get", s))?
        .into_inner()
        .value;
    if got != want as i64 {
        bail!("Get {key:?} = {got} after {want} Puts of 1");
    }
    Ok(())
}

/// Steady state: AddHelper served once under one id; every Put names it, and the plugin
/// reuses the connection it dialled on the first.
async fn steady(args: &HostArgs, client: &PluginClient) -> anyhow::Result<Measured> {
    let broker = client.broker();
    let id = broker.next_id();
    let server = broker
        .accept_and_serve(id, adder())
        .await
        .context("accept_and_serve")?;
    let mut counter = CounterClient::new(client.channel());
    let put = proto::PutRequest {
        add_server: id,
        key: "steady".into(),
        value: 1,
    };
    for _ in 0..args.steady_warmup {
        counter
            .put(put.clone())
            .await
            .map_err(|s| status("warm-up Put", s))?;
    }
    let pid = client.pid();
    let (host0, plugin0) = cpu(pid);
    let mut lat = Vec::with_capacity(args.steady_calls);
    for _ in 0..args.steady_calls {
        let t = Instant::now();
        let res = counter.put(put.clone()).await;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        res.map_err(|s| status("Put", s))?;
    }
    let (host1, plugin1) = cpu(pid);
    // The reference: as many Gets, one plain RPC each on the main connection (no callback).
    let mut get = Vec::with_capacity(args.steady_calls);
    let req = proto::GetRequest {
        key: "steady".into(),
    };
    for _ in 0..args.steady_calls {
        let t = Instant::now();
        let res = counter.get(req.clone()).await;
        get.push(t.elapsed().as_secs_f64() * 1e6);
        res.map_err(|s| status("Get", s))?;
    }
    check_count(
        &mut counter,
        "steady",
        args.steady_warmup + args.steady_calls,
    )
    .await?;
    server.stop().await;
    Ok(Measured {
        latency_us: lat,
        get_latency_us: Some(get),
        cpu_host_ms: delta(host0, host1),
        cpu_plugin_ms: delta(plugin0, plugin1),
        pid,
    })
}

/// go-plugin's examples/bidirectional per Put (shared.GRPCClient.Put): a new id, AddHelper
/// served under it, the Put (the plugin dials, calls Sum, closes), the server stopped.
async fn per_call(args: &HostArgs, client: &PluginClient) -> anyhow::Result<Measured> {
    let broker = client.broker();
    let mut counter = CounterClient::new(client.channel());
    let one = async |counter: &mut CounterClient<Channel>| -> anyhow::Result<f64> {
        let t = Instant::now();
        let id = broker.next_id();
        let server = broker
            .accept_and_serve(id, adder())
            .await
            .with_context(|| format!("accept_and_serve({id})"))?;
        let res = counter
            .put(proto::PutRequest {
                add_server: id,
                key: "per-call".into(),
                value: 1,
            })
            .await;
        server.stop().await;
        let elapsed = t.elapsed().as_secs_f64() * 1e6;
        res.map_err(|s| status("Put", s))?;
        Ok(elapsed)
    };
    for _ in 0..args.per_call_warmup {
        one(&mut counter).await.context("warm-up")?;
    }
    let pid = client.pid();
    let (host0, plugin0) = cpu(pid);
    let mut lat = Vec::with_capacity(args.per_call_calls);
    for _ in 0..args.per_call_calls {
        lat.push(one(&mut counter).await?);
    }
    let (host1, plugin1) = cpu(pid);
    check_count(
        &mut counter,
        "per-call",
        args.per_call_warmup + args.per_call_calls,
    )
    .await?;
    Ok(Measured {
        latency_us: lat,
        get_latency_us: None,
        cpu_host_ms: delta(host0, host1),
        cpu_plugin_ms: delta(plugin0, plugin1),
        pid,
    })
}

fn delta(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(b? - a?)
}

/// utime+stime (ms) of this process and of the plugin, from `/proc/<pid>/stat`.
fn cpu(plugin: Option<u32>) -> (Option<f64>, Option<f64>) {
    (cpu_ms("self"), plugin.and_then(|p| cpu_ms(&p.to_string())))
}

/// Clock ticks per second of `/proc/<pid>/stat` times (Linux's USER_HZ, fixed at 100).
const USER_HZ: f64 = 100.0;

fn cpu_ms(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) * 1e3 / USER_HZ)
}

/// `{n, min, p50, p90, p99, max}`, percentiles at index round((n-1)·p), as `soup bench`.
fn summary(mut v: Vec<f64>) -> Value {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    json!({
        "n": v.len(),
        "min": at(0.0),
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "max": at(1.0),
    })
}

fn tail(client: &PluginClient) -> String {
    let lines = client.stderr_tail();
    if lines.is_empty() {
        String::new()
    } else {
        format!("\nlast plugin stderr lines:\n  {}", lines.join("\n  "))
    }
}
