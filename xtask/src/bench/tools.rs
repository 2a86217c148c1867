//! The `tools` section: what soup's generic tools cost, against the plain paths measured in
//! the same run (issue targets as ratios, never asserted):
//! - `soup probe` of soup-server end to end (launch, reflection, Shutdown) against a bare
//!   `soup kv get` launch of the same plugin, whole processes, interleaved;
//! - Python: a Get through grpcio's generated stub over `soup_rpc`'s `.channel`, against
//!   `KvClient.get` and against grpcio's own channel to the same plaintext plugin
//!   (`python/peer/soup_rs_channel_bench.py`);
//! - the floor under every Get: a 16-byte round trip to another process over a unix socket
//!   with no RPC stack at all (`cat` echoing one end of a socketpair), so a target such as
//!   "N× lower than grpcio" can be read against the bare cost of two wake-ups. That cost
//!   depends on where the scheduler puts the two processes: measured on the 2-core VM,
//!   ~10 µs when they share a core (short runs, or `taskset -c 0`) and ~50-60 µs across
//!   the two (long runs), so it is a floor for that placement, not for every Get.

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
    let floor = floor(if quick { 2_000 } else { 20_000 }).unwrap_or_else(|e| json!({ "error": e }));
    json!({ "probe": probe, "channel": channel, "floor": floor })
}

/// The process round-trip floor: `rounds` sequential 16-byte echoes through `cat`, whose
/// stdin and stdout are the same end of a unix socketpair (so the bytes cross the same
/// kind of socket a plugin's Get does, and wake the same two processes), in µs.
fn floor(rounds: usize) -> Result<Value, String> {
    use std::io::{Read as _, Write as _};
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;
    let (mut ours, theirs) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    let theirs_out = theirs.try_clone().map_err(|e| format!("socketpair: {e}"))?;
    let mut cat = Command::new("cat")
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(OwnedFd::from(theirs_out)))
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run cat: {e}"))?;
    let mut echo = || -> Result<Vec<f64>, String> {
        let msg = [7u8; 16];
        let mut back = [0u8; 16];
        let mut us = Vec::with_capacity(rounds);
        for i in 0..rounds + rounds / 10 {
            let t = Instant::now();
            ours.write_all(&msg)
                .map_err(|e| format!("write to cat: {e}"))?;
            ours.read_exact(&mut back)
                .map_err(|e| format!("read from cat: {e}"))?;
            // The first tenth warms up (page faults, scheduler placement), as the Gets do.
            if i >= rounds / 10 {
                us.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        Ok(us)
    };
    let result = echo();
    // EOF on its stdin ends cat; kill it anyway if the echo failed half-way.
    let _ = ours.shutdown(std::net::Shutdown::Both);
    if result.is_err() {
        let _ = cat.kill();
    }
    let _ = cat.wait();
    let us = result?;
    Ok(json!({
        "what": "16-byte round trip to cat echoing a unix socketpair",
        "rounds": us.len(),
        "round_trip_us": stats(us),
    }))
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
    let at = |q: f64| round(v[((v.len() - 1) as f64 * q) as usize]);
    json!({
        "p50": round(v[v.len() / 2]),
        "p99": at(0.99),
        "min": round(v[0]),
        "max": round(v[v.len() - 1]),
        "n": v.len(),
    })
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
    let fl = &t["floor"];
    match fl["error"].as_str() {
        Some(e) => s.push_str(&format!("  floor: failed: {e}\n")),
        None if fl.is_null() => {}
        None => {
            let floor = f(&fl["round_trip_us"]["p50"]);
            s.push_str(&format!(
                "  floor: a 16-byte round trip to another process over a unix socket (no RPC stack) p50 {floor:.0} µs, p99 {:.0} µs\n",
                f(&fl["round_trip_us"]["p99"])
            ));
            let over = |k: &str| f(&c["get_latency_us"][k]["p50"]) / floor;
            if c["error"].is_null() && floor > 0.0 {
                let grpcio = over("grpcio_get");
                s.push_str(&format!(
                    "  over the floor: .channel {:.1}×, KvClient.get {:.1}×, grpcio {grpcio:.1}× (the floor depends on whether the two processes share a core)\n",
                    over("channel_get"),
                    over("kv_get"),
                ));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_echoes_through_another_process() {
        let v = floor(200).expect("cat echoes a socketpair");
        assert_eq!(v["rounds"], 200, "{v}");
        let p50 = v["round_trip_us"]["p50"].as_f64().unwrap();
        let p99 = v["round_trip_us"]["p99"].as_f64().unwrap();
        let min = v["round_trip_us"]["min"].as_f64().unwrap();
        assert!(min > 0.0 && min <= p50 && p50 <= p99, "{v}");
    }

    #[test]
    fn the_table_reads_each_get_against_the_floor() {
        let t = json!({
            "probe": { "error": "not run" },
            "channel": { "get_latency_us": {
                "channel_get": { "p50": 100.0 },
                "kv_get": { "p50": 80.0 },
                "grpcio_get": { "p50": 300.0 },
            }, "p50_ratios": { "channel_over_kv": 1.25, "channel_over_grpcio": 0.33 } },
            "floor": { "round_trip_us": { "p50": 50.0, "p99": 90.0, "min": 40.0 } },
        });
        let s = table(&t);
        assert!(s.contains("p50 50 µs, p99 90 µs"), "{s}");
        assert!(
            s.contains(".channel 2.0×, KvClient.get 1.6×, grpcio 6.0× (the floor depends on whether the two processes share a core)"),
            "{s}"
        );
        let failed = table(
            &json!({ "probe": {"error": "x"}, "channel": {"error": "y"}, "floor": { "error": "cannot run cat" } }),
        );
        assert!(failed.contains("floor: failed: cannot run cat"), "{failed}");
    }
}
