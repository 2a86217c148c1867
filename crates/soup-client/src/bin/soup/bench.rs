//! `soup bench`: the Rust host's figures against one plugin command, as JSON for
//! `cargo xtask bench`: cold start (spawn → handshake → TLS → first Get returns),
//! Get latency at 1 in flight, and Gets per second at N in flight.

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

fn config(conn: &ConnArgs) -> anyhow::Result<LaunchConfig> {
    let mut cfg = LaunchConfig::new(conn.command.iter());
    cfg.tls = conn.tls;
    cfg.key = conn.key;
    cfg.manual = conn.manual()?;
    cfg.transport = conn.transport;
    cfg.handshake_timeout = Duration::from_secs_f64(conn.timeout);
    Ok(cfg)
}

pub async fn run(args: BenchArgs) -> anyhow::Result<serde_json::Value> {
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
    let mut lat = Vec::with_capacity(args.gets);
    for _ in 0..args.gets {
        let t = Instant::now();
        kv.get("bench").await?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }

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
    let exit = kv.shutdown().await;
    Ok(serde_json::json!({
        "host": "rust",
        "tls": args.conn.tls.to_string(),
        "host_key": args.conn.key.to_string(),
        "transport": args.conn.transport.map(|t| t.to_string()),
        "server_command": args.conn.command,
        "cold_start_ms": summary(cold),
        "get_latency_us": summary(lat),
        "ops_per_sec": ops,
        "concurrency": args.concurrency,
        "plugin_exit": exit,
    }))
}
