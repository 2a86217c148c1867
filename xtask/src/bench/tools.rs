//! The `tools` section: what soup's generic tools cost, against the plain paths measured in
//! the same run (issue targets as ratios, never asserted):
//! - `soup probe` of soup-server end to end (launch, reflection, Shutdown) against a bare
//!   `soup kv get` launch of the same plugin, whole processes, interleaved;
//! - Python: a Get through grpcio's generated stub over `soup_rpc`'s `.channel`, against
//!   `KvClient.get` and against grpcio's own channel to the same plaintext plugin
//!   (`python/peer/soup_rs_channel_bench.py`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::exec::{self, Outcome};

/// Runs the section; `quick` shortens it.
pub fn run(root: &Path, store: &Path, quick: bool) -> Value {
    let soup = root.join("target/release/soup");
    let server = root.join("target/release/soup-server");
    let store = store.join("tools");
    let _ = std::fs::create_dir_all(&store);
    let plugin: Vec<String> = vec![
        server.display().to_string(),
        "server".into(),
        "--store".into(),
        store.display().to_string(),
    ];
    let probe = probe_vs_get(&soup, &plugin, if quick { 5 } else { 30 });
    let channel = channel(root, &server, &store, if quick { 500 } else { 5000 });
    json!({ "probe": probe, "channel": channel })
}

fn timed(cmd: &mut Command) -> Result<f64, String> {
    let t = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(ms)
}

fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    let p50 = v[v.len() / 2];
    json!({ "p50": round(p50), "min": round(v[0]), "max": round(v[v.len() - 1]), "n": v.len() })
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn probe_vs_get(soup: &Path, plugin: &[String], n: usize) -> Value {
    let kv = |args: &[&str]| {
        let mut c = Command::new(soup);
        c.args(args).arg("--").args(plugin);
        c
    };
    if let Err(e) = timed(&mut kv(&["kv", "put", "bench", "value"])) {
        return json!({ "error": e });
    }
    let (mut probe, mut get) = (Vec::new(), Vec::new());
    for _ in 0..n {
        // Interleaved, so drift on this shared machine hits both alike.
        match (
            timed(&mut kv(&["probe", "--json"])),
            timed(&mut kv(&["kv", "get", "bench"])),
        ) {
            (Ok(p), Ok(g)) => {
                probe.push(p);
                get.push(g);
            }
            (Err(e), _) | (_, Err(e)) => return json!({ "error": e }),
        }
    }
    let (p, g) = (stats(probe), stats(get));
    let ratio = p["p50"].as_f64().unwrap_or(0.0) / g["p50"].as_f64().unwrap_or(1.0);
    json!({
        "probe_ms": p,
        "kv_get_ms": g,
        "probe_over_kv_get": round(ratio),
        "target": "≤ 1.5",
    })
}

fn channel(root: &Path, server: &Path, store: &Path, gets: usize) -> Value {
    let python = root.join("target/peers/venv/bin/python");
    let argv: Vec<String> = [
        python.display().to_string(),
        "python/peer/soup_rs_channel_bench.py".into(),
        "--tls".into(),
        "off".into(),
        "--gets".into(),
        gets.to_string(),
        "--".into(),
        server.display().to_string(),
        "server".into(),
        "--tls".into(),
        "off".into(),
        "--store".into(),
        store.display().to_string(),
    ]
    .to_vec();
    match exec::run(root, &argv, Duration::from_secs(600)) {
        Outcome::Ok(mut v) => {
            v["targets"] = json!({
                "channel_over_kv": "≤ 1.3",
                "channel_over_grpcio": "≤ 0.2 (≥ 5× lower)",
            });
            v
        }
        Outcome::NotBuilt(why) => json!({ "error": format!("not built: {why}") }),
        Outcome::Failed(why) => json!({ "error": why }),
    }
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// The section as text.
pub fn table(t: &Value) -> String {
    let mut s = String::from("\ntools (ratios in this run; targets from issue 13)\n");
    let p = &t["probe"];
    match p["error"].as_str() {
        Some(e) => s.push_str(&format!("  soup probe vs soup kv get: failed: {e}\n")),
        None => s.push_str(&format!(
            "  soup probe of soup-server p50 {:.1} ms vs soup kv get {:.1} ms: {:.2}× (target ≤ 1.5)\n",
            f(&p["probe_ms"]["p50"]),
            f(&p["kv_get_ms"]["p50"]),
            f(&p["probe_over_kv_get"])
        )),
    }
    let c = &t["channel"];
    match c["error"].as_str() {
        Some(e) => s.push_str(&format!("  python .channel: failed: {e}\n")),
        None => {
            let p50 = |k: &str| format!("{:.0}", f(&c["get_latency_us"][k]["p50"]));
            s.push_str(&format!(
                "  python Get p50: .channel {} µs, KvClient.get {} µs, grpcio channel {} µs\n",
                p50("channel_get"),
                p50("kv_get"),
                p50("grpcio_get")
            ));
            s.push_str(&format!(
                "  ratios: .channel/KvClient {:.2} (target ≤ 1.3), .channel/grpcio {:.2} (target ≤ 0.2, i.e. ≥ 5× lower)\n",
                f(&c["p50_ratios"]["channel_over_kv"]),
                f(&c["p50_ratios"]["channel_over_grpcio"])
            ));
        }
    }
    s
}
