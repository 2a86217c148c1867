//! `soup bench`: the Rust host's figures against one plugin command, as JSON for
//! `cargo xtask bench`: cold start (spawn → handshake → TLS → first Get returns),
//! Get latency at 1 in flight, Gets per second at N in flight, Put of 1 MiB in MB/s, the
//! plugin's peak RSS and the CPU time (user+sys) of host and plugin per 10,000 Gets.
//!
//! CPU and RSS come from `/proc/<pid>/{stat,status}` (Linux; `null` elsewhere): utime+stime
//! of this process and of the plugin around the sequential Get phase, and the plugin's
//! VmHWM read just before it is shut down.

use std::time::{Duration, Instant};

use soup_client::{KvClient, LaunchConfig};

use crate::cli::ConnArgs;

/// Arguments of `soup bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Launches measured for cold start.
    #[arg(long, default_value_t = 20)]
    pub launches: usize,
    /// Sequential Gets measured for latency.
    #[arg(long, default_value_t = 5000)]
    pub gets: usize,
    /// Gets in flight for the throughput figure.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds of the throughput run.
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
    /// Sequential Puts of a 1 MiB value for the MB/s figure.
    #[arg(long, default_value_t = 10)]
    pub puts: usize,
    #[command(flatten)]
    pub conn: ConnArgs,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn summary(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(|a, b| a.total_cmp(b));
    serde_json::json!({
        "n": v.len(),
        "min": percentile(&v, 0.0),
        "p50": percentile(&v, 0.5),
        "p90": percentile(&v, 0.9),
        "p99": percentile(&v, 0.99),
        "max": percentile(&v, 1.0),
    })
}

/// Clock ticks per second of `/proc/<pid>/stat` times (Linux's USER_HZ, fixed at 100).
const USER_HZ: f64 = 100.0;

/// utime + stime of a process in milliseconds, from `/proc/<pid>/stat`.
fn cpu_ms(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) * 1e3 / USER_HZ)
}

/// Peak resident set size (VmHWM) in KiB, from `/proc/<pid>/status`.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn config(conn: &ConnArgs) -> anyhow::Result<LaunchConfig> {
    let mut cfg = LaunchConfig::new(conn.command.iter());
    cfg.tls = conn.tls;
    cfg.key = conn.key_type;
    cfg.manual = conn.manual()?;
    cfg.transport = conn.transport;
    cfg.handshake_timeout = Duration::from_secs_f64(conn.timeout);
    // The bench report is our stdout; a plugin's prints go to stderr.
    cfg.stdout = plugin_core::StdioSink::Stderr;
    Ok(cfg)
}

pub async fn run(args: BenchArgs) -> anyhow::Result<serde_json::Value> {
    args.conn.require_launch("bench")?;
    let value = vec![7u8; 16];
    // Cold start: each launch is a fresh plugin process.
    let mut cold = Vec::with_capacity(args.launches);
    for _ in 0..args.launches {
        let t = Instant::now();
        let kv = KvClient::launch(config(&args.conn)?).await?;
        let _ = kv.get("missing-for-cold-start").await;
        cold.push(t.elapsed().as_secs_f64() * 1e3);
        kv.shutdown().await;
    }

    let kv = KvClient::launch(config(&args.conn)?).await?;
    kv.put("bench", &value).await?;
    for _ in 0..200 {
        kv.get("bench").await?;
    }
    let plugin_pid = kv.plugin().pid();
    let cpu = || {
        let plugin = plugin_pid.and_then(|p| cpu_ms(&p.to_string()));
        (cpu_ms("self"), plugin)
    };
    let (host0, plugin0) = cpu();
    let mut lat = Vec::with_capacity(args.gets);
    for _ in 0..args.gets {
        let t = Instant::now();
        kv.get("bench").await?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (host1, plugin1) = cpu();
    let per_10k = |a: Option<f64>, b: Option<f64>| Some((b? - a?) * 10_000.0 / args.gets as f64);

    let kv = std::sync::Arc::new(kv);
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let kv = kv.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                if kv.get("bench").await.is_ok() {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await?;
    }
    let ops = total as f64 / started.elapsed().as_secs_f64();
    let kv = std::sync::Arc::into_inner(kv).expect("all tasks done");

    // Put of a 1 MiB value, sequential; MB = 10^6 bytes.
    let big = vec![0x5au8; 1 << 20];
    kv.put("bench-1mib", &big).await?;
    let started = Instant::now();
    for _ in 0..args.puts {
        kv.put("bench-1mib", &big).await?;
    }
    let put_mb_s = (args.puts * big.len()) as f64 / started.elapsed().as_secs_f64() / 1e6;

    let rss = plugin_pid.and_then(peak_rss_kib);
    let exit = kv.shutdown().await;
    Ok(serde_json::json!({
        "host": "rust",
        "tls": args.conn.tls.to_string(),
        "host_key": args.conn.key_type.to_string(),
        "transport": args.conn.transport.map(|t| t.to_string()),
        "server_command": args.conn.command,
        "cold_start_ms": summary(cold),
        "get_latency_us": summary(lat),
        "ops_per_sec": ops,
        "concurrency": args.concurrency,
        "put_1mib_mb_per_s": put_mb_s,
        "plugin_pid": plugin_pid,
        "plugin_peak_rss_kib": rss,
        "cpu_ms_per_10k_gets": {
            "host": per_10k(host0, host1),
            "plugin": per_10k(plugin0, plugin1),
        },
        "plugin_exit": exit,
    }))
}
