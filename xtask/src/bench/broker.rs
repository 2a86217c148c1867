//! The brokered round trip section of `cargo xtask bench` (`[broker]` of xtask/bench.toml):
//! go-plugin's `examples/bidirectional` shape — the host calls `Counter.Put`, and inside
//! it the plugin calls the host's `AddHelper.Sum` through the GRPCBroker — timed by a
//! Rust host+plugin pair (`crates/soup-bench-broker`, on plugin-core) and a Go pair
//! (`go/cmd/soup-go-bench-broker`, go-plugin's GRPCBroker on both sides) in the same run,
//! interleaved and repeated, reported as ratios to Go ↔ Go in the same configuration.
//!
//! Two patterns, each against a fresh plugin process per host run: `steady` (AddHelper
//! served once; each timed Put makes one Sum over the brokered connection the plugin
//! dialled on its first Put) and `per_call` (go-plugin's example per Put: next id,
//! accept_and_serve, Put → dial + Sum + close, stop; all of it timed).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::exec::{self, Outcome};
use super::figures::{self, Figure, num};

/// `[broker]` of xtask/bench.toml.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct BrokerToml {
    /// `HOST:PLUGIN` every figure is shown as a ratio to (same configuration).
    pub baseline: String,
    /// `HOST:PLUGIN` pairings, in table order (the baseline first).
    pub pairings: Vec<String>,
    /// The configurations, in table order.
    pub config: Vec<BrokerConfig>,
    pub hosts: BTreeMap<String, BrokerSide>,
    pub plugins: BTreeMap<String, BrokerSide>,
    pub load: BTreeMap<String, BrokerLoad>,
}

/// One configuration of the broker section.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// The label after the slash, e.g. `auto-mux`.
    pub name: String,
    /// `auto` (AutoMTLS) or `off`.
    pub tls: String,
    /// gRPC broker multiplexing (`--multiplex`).
    #[serde(default)]
    pub multiplex: bool,
    /// The host key instead of each host's own AutoMTLS default.
    #[serde(default)]
    pub key: Option<String>,
    /// Only these `HOST:PLUGIN` pairings (default: all).
    #[serde(default)]
    pub pairings: Option<Vec<String>>,
    /// The configuration whose baseline the ratios use (default: this one).
    #[serde(default)]
    pub ratio_against: Option<String>,
}

/// How one side is invoked.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct BrokerSide {
    pub command: Vec<String>,
    /// Hosts: the key type of the certificate their AutoMTLS default makes (`--key`).
    #[serde(default)]
    pub key: Option<String>,
}

/// The load of one run kind (`full`, `quick`).
#[derive(Deserialize, Serialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct BrokerLoad {
    pub reps: usize,
    pub steady_calls: usize,
    pub steady_warmup: usize,
    pub per_call_calls: usize,
    pub per_call_warmup: usize,
}

/// One host × plugin × configuration of the broker section.
#[derive(Debug, Clone)]
pub struct BrokerPairing {
    pub host: String,
    pub plugin: String,
    pub config: String,
    pub ratio_against: String,
    pub tls: String,
    pub multiplex: bool,
    pub host_key: Option<String>,
    /// Host command and its configuration flags (load flags and plugin command follow).
    pub host_argv: Vec<String>,
    pub plugin_argv: Vec<String>,
}

impl BrokerPairing {
    /// `HOST:PLUGIN/CONFIG`.
    pub fn name(&self) -> String {
        format!("{}:{}/{}", self.host, self.plugin, self.config)
    }

    /// Whether `--pairing` filter `f` (`HOST:PLUGIN` or `HOST:PLUGIN/CONFIG`) selects it.
    pub fn matches(&self, f: &str) -> bool {
        let hp = format!("{}:{}", self.host, self.plugin);
        match f.split_once('/') {
            Some((h, config)) => h == hp && config == self.config,
            None => f == hp,
        }
    }

    /// The full host argv: configuration, load flags, `--`, the plugin command.
    pub fn argv(&self, load: &BrokerLoad) -> Vec<String> {
        let mut argv = self.host_argv.clone();
        for (flag, v) in [
            ("--steady-calls", load.steady_calls),
            ("--steady-warmup", load.steady_warmup),
            ("--per-call-calls", load.per_call_calls),
            ("--per-call-warmup", load.per_call_warmup),
        ] {
            argv.push(flag.into());
            argv.push(v.to_string());
        }
        argv.push("--".into());
        argv.extend(self.plugin_argv.iter().cloned());
        argv
    }
}

fn split_pair(s: &str) -> Option<(&str, &str)> {
    s.split_once(':')
}

impl BrokerToml {
    /// Checks names against each other.
    pub fn check(&self) -> Result<()> {
        for pair in self.pairings.iter().chain(std::iter::once(&self.baseline)) {
            let Some((h, p)) = split_pair(pair) else {
                bail!("bench.toml [broker]: pairing {pair:?} is not HOST:PLUGIN");
            };
            if !self.hosts.contains_key(h) {
                bail!("bench.toml [broker]: host {h:?} (in {pair:?}) has no [broker.hosts.{h}]");
            }
            if !self.plugins.contains_key(p) {
                bail!(
                    "bench.toml [broker]: plugin {p:?} (in {pair:?}) has no [broker.plugins.{p}]"
                );
            }
        }
        if self.pairings.first() != Some(&self.baseline) {
            bail!(
                "bench.toml [broker]: the baseline {:?} must be the first pairing",
                self.baseline
            );
        }
        let names: Vec<&str> = self.config.iter().map(|c| c.name.as_str()).collect();
        for (i, c) in self.config.iter().enumerate() {
            if names[..i].contains(&c.name.as_str()) {
                bail!("bench.toml [broker]: config {:?} is declared twice", c.name);
            }
            if c.tls != "auto" && c.tls != "off" {
                bail!(
                    "bench.toml [broker]: config {:?}: tls must be auto or off",
                    c.name
                );
            }
            let against = c.ratio_against.as_deref().unwrap_or(&c.name);
            let Some(base) = self.config.iter().find(|b| b.name == against) else {
                bail!(
                    "bench.toml [broker]: config {:?}: ratio_against {against:?} is no config",
                    c.name
                );
            };
            if !base.covers(&self.baseline) {
                bail!(
                    "bench.toml [broker]: config {:?} compares with {against:?}, which does not run the baseline",
                    c.name
                );
            }
            for pair in c.pairings.iter().flatten() {
                if !self.pairings.contains(pair) {
                    bail!(
                        "bench.toml [broker]: config {:?} names pairing {pair:?}, not in pairings",
                        c.name
                    );
                }
            }
        }
        for k in ["full", "quick"] {
            if !self.load.contains_key(k) {
                bail!("bench.toml: missing [broker.load.{k}]");
            }
        }
        Ok(())
    }

    /// Every pairing: per configuration (file order), the pairings in file order.
    pub fn expand(&self) -> Vec<BrokerPairing> {
        let mut out = Vec::new();
        for c in &self.config {
            for pair in &self.pairings {
                if !c.covers(pair) {
                    continue;
                }
                let (h, p) = split_pair(pair).expect("checked");
                let (host, plugin) = (&self.hosts[h], &self.plugins[p]);
                let host_key = match c.tls.as_str() {
                    "auto" => c.key.clone().or_else(|| host.key.clone()),
                    _ => None,
                };
                let mut host_argv = host.command.clone();
                host_argv.extend(["--tls".to_string(), c.tls.clone()]);
                if let Some(k) = &host_key {
                    host_argv.extend(["--key".to_string(), k.clone()]);
                }
                if c.multiplex {
                    host_argv.push("--multiplex".into());
                }
                out.push(BrokerPairing {
                    host: h.into(),
                    plugin: p.into(),
                    config: c.name.clone(),
                    ratio_against: c.ratio_against.clone().unwrap_or_else(|| c.name.clone()),
                    tls: c.tls.clone(),
                    multiplex: c.multiplex,
                    host_key,
                    host_argv,
                    plugin_argv: plugin.command.clone(),
                });
            }
        }
        out
    }
}

impl BrokerConfig {
    fn covers(&self, pair: &str) -> bool {
        self.pairings
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| p == pair))
    }
}

fn ptr(v: &Value, p: &str) -> Option<f64> {
    v.pointer(p)?.as_f64()
}

fn cpu_sum(v: &Value, phase: &str) -> Option<f64> {
    Some(
        ptr(v, &format!("/{phase}/cpu_us_per_call/host"))?
            + ptr(v, &format!("/{phase}/cpu_us_per_call/plugin"))?,
    )
}

/// The figures of the broker section, in table order.
pub const FIGURES: [Figure; 13] = [
    Figure {
        id: "steady_p50_us",
        label: "steady p50 µs",
        unit: "µs",
        lower_is_better: true,
        extract: |v| ptr(v, "/steady/latency_us/p50"),
    },
    Figure {
        id: "steady_p90_us",
        label: "steady p90 µs",
        unit: "µs",
        lower_is_better: true,
        extract: |v| ptr(v, "/steady/latency_us/p90"),
    },
    Figure {
        id: "steady_p99_us",
        label: "steady p99 µs",
        unit: "µs",
        lower_is_better: true,
        extract: |v| ptr(v, "/steady/latency_us/p99"),
    },
    Figure {
        id: "get_p50_us",
        label: "plain Get p50 µs",
        unit: "µs",
        lower_is_better: true,
        extract: |v| ptr(v, "/steady/get_latency_us/p50"),
    },
    Figure {
        id: "per_call_p50_us",
        label: "per-call p50 µs",
        unit: "µs",
        lower_is_better: true,
        extract: |v| ptr(v, "/per_call/latency_us/p50"),
    },
    Figure {
        id: "per_call_p90_us",
        label: "per-call p90 µs",
        unit: "µs",
        lower_is_better: true,
        extract: |v| ptr(v, "/per_call/latency_us/p90"),
    },
    Figure {
        id: "per_call_p99_us",
        label: "per-call p99 µs",
        unit: "µs",
        lower_is_better: true,
        extract: |v| ptr(v, "/per_call/latency_us/p99"),
    },
    Figure {
        id: "steady_cpu_us",
        label: "steady CPU µs",
        unit: "µs",
        lower_is_better: true,
        extract: |v| cpu_sum(v, "steady"),
    },
    Figure {
        id: "steady_cpu_host_us",
        label: "steady CPU host",
        unit: "µs",
        lower_is_better: true,
        extract: |v| ptr(v, "/steady/cpu_us_per_call/host"),
    },
    Figure {
        id: "steady_cpu_plugin_us",
        label: "steady CPU plugin",
        unit: "µs",
        lower_is_better: true,
        extract: |v| ptr(v, "/steady/cpu_us_per_call/plugin"),
    },
    Figure {
        id: "per_call_cpu_us",
        label: "per-call CPU µs",
        unit: "µs",
        lower_is_better: true,
        extract: |v| cpu_sum(v, "per_call"),
    },
    Figure {
        id: "per_call_cpu_host_us",
        label: "per-call CPU host",
        unit: "µs",
        lower_is_better: true,
        extract: |v| ptr(v, "/per_call/cpu_us_per_call/host"),
    },
    Figure {
        id: "per_call_cpu_plugin_us",
        label: "per-call CPU plugin",
        unit: "µs",
        lower_is_better: true,
        extract: |v| ptr(v, "/per_call/cpu_us_per_call/plugin"),
    },
];

/// Figures shown in the stdout table (the JSON and docs have all).
const TABLE: [&str; 7] = [
    "steady_p50_us",
    "steady_p99_us",
    "get_p50_us",
    "per_call_p50_us",
    "per_call_p99_us",
    "steady_cpu_us",
    "per_call_cpu_us",
];

/// The ratio the protocol issue asks of Rust ↔ Rust against Go ↔ Go (p50, same run).
pub const TARGET: f64 = 1.5;

/// Why a pairing did not run: its status (`fail`, `not built`) and the reason.
pub type Failure = Option<(String, String)>;

/// Runs the pairings interleaved (A B C … A B C …), `load.reps` times. Returns each
/// pairing's runs and, for one that could not run, its status and why.
pub fn run(
    root: &Path,
    chosen: &[BrokerPairing],
    load: &BrokerLoad,
) -> (Vec<Vec<Value>>, Vec<Failure>) {
    let mut runs: Vec<Vec<Value>> = vec![Vec::new(); chosen.len()];
    let mut failed: Vec<Failure> = vec![None; chosen.len()];
    let total = load.reps * chosen.len();
    let mut done = 0;
    for rep in 0..load.reps {
        for (i, p) in chosen.iter().enumerate() {
            done += 1;
            if failed[i].is_some() {
                continue;
            }
            let argv = absolute(root, &p.argv(load));
            let limit = Duration::from_secs(180);
            let t = Instant::now();
            eprint!(
                "bench broker [{done}/{total}] rep {}/{}: {:<24} … ",
                rep + 1,
                load.reps,
                p.name()
            );
            match exec::run(root, &argv, limit) {
                Outcome::Ok(v) => {
                    if v["tls"] != p.tls.as_str() || v["multiplex"] != p.multiplex {
                        let why = format!(
                            "the host reports tls={} multiplex={}, not the tls={} multiplex={} asked",
                            v["tls"], v["multiplex"], p.tls, p.multiplex
                        );
                        eprintln!("failed: {why}");
                        failed[i] = Some(("fail".into(), why));
                        continue;
                    }
                    eprintln!(
                        "{:.1} s: steady p50 {} µs, per-call p50 {} µs",
                        t.elapsed().as_secs_f64(),
                        fmt(v.pointer("/steady/latency_us/p50")),
                        fmt(v.pointer("/per_call/latency_us/p50")),
                    );
                    runs[i].push(v);
                }
                Outcome::NotBuilt(why) => {
                    eprintln!("not built: {why}");
                    failed[i] = Some(("not built".into(), why));
                }
                Outcome::Failed(why) => {
                    eprintln!("failed: {why}");
                    failed[i] = Some(("fail".into(), why));
                }
            }
        }
    }
    (runs, failed)
}

fn fmt(v: Option<&Value>) -> String {
    v.and_then(Value::as_f64)
        .map(num)
        .unwrap_or_else(|| "-".into())
}

/// Paths under `target/` made absolute.
pub fn absolute(root: &Path, argv: &[String]) -> Vec<String> {
    argv.iter()
        .map(|a| {
            if a.starts_with("target/") {
                root.join(a).display().to_string()
            } else {
                a.clone()
            }
        })
        .collect()
}

/// The report's `broker` member.
pub fn assemble(
    conf: &BrokerToml,
    load: &BrokerLoad,
    chosen: &[BrokerPairing],
    runs: &[Vec<Value>],
    failed: &[Failure],
) -> Value {
    let figs: Vec<Map<String, Value>> = runs
        .iter()
        .map(|r| figures::aggregate(&FIGURES, r))
        .collect();
    let baseline_of = |config: &str| {
        chosen
            .iter()
            .position(|p| format!("{}:{}", p.host, p.plugin) == conf.baseline && p.config == config)
            .filter(|&i| failed[i].is_none())
            .map(|i| &figs[i])
    };
    let pairings: Vec<Value> = chosen
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (status, why) = match &failed[i] {
                Some((status, why)) => (status.clone(), Some(why.clone())),
                None => ("ok".to_string(), None),
            };
            json!({
                "name": p.name(),
                "host": p.host,
                "plugin": p.plugin,
                "config": p.config,
                "ratio_against": p.ratio_against,
                "tls": p.tls,
                "multiplex": p.multiplex,
                "host_key": p.host_key,
                "status": status,
                "why": why,
                "host_command": p.argv(load),
                "figures": figs[i],
                "ratios": figures::ratios(&FIGURES, &figs[i], baseline_of(&p.ratio_against)),
                "runs": runs[i],
            })
        })
        .collect();
    json!({
        "baseline": conf.baseline,
        "target_p50_ratio": TARGET,
        "load": load,
        "figures": figures::describe(&FIGURES),
        "pairings": pairings,
    })
}

/// The stdout table of the broker section, then each Rust ↔ Rust p50 ratio against the
/// target.
pub fn table(section: &Value) -> String {
    const W: usize = 19;
    let baseline = section["baseline"].as_str().unwrap_or("");
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\nbrokered round trip (Counter.Put → AddHelper.Sum through the broker, 1 in flight):"
    );
    let _ = write!(t, "{:<24}", "pairing");
    for id in TABLE {
        let f = FIGURES.iter().find(|f| f.id == id).expect("table figure");
        let _ = write!(t, "{:>W$}", f.label);
    }
    t.push('\n');
    let pairings = section["pairings"].as_array().cloned().unwrap_or_default();
    for p in &pairings {
        let name = p["name"].as_str().unwrap_or("");
        let _ = write!(t, "{name:<24}");
        if p["status"] != "ok" {
            let _ = writeln!(
                t,
                "  {}: {}",
                p["status"].as_str().unwrap_or(""),
                p["why"].as_str().unwrap_or("")
            );
            continue;
        }
        for id in TABLE {
            let _ = write!(t, "{:>W$}", cell(p, id));
        }
        t.push('\n');
    }
    let _ = writeln!(
        t,
        "\nmedians of the repetitions; (N×) = N times better than {baseline} in the same config \
         (auto-p521: against auto) in this run; CPU = host+plugin user+sys µs per call; \
         steady = one Sum over an already dialled brokered connection per Put; plain Get = \
         one RPC on the main connection, no callback (the reference); per-call = go-plugin's \
         example per Put (accept_and_serve + dial + Sum + stop)"
    );
    let lines = target_lines(&pairings);
    if !lines.is_empty() {
        let _ = writeln!(
            t,
            "rust:rust p50 against {baseline} (target: ≥ {TARGET}× lower):"
        );
        for l in lines {
            let _ = writeln!(t, "  {l}");
        }
    }
    t
}

/// `median (ratio×)` of figure `id` of a pairing.
pub fn cell(p: &Value, id: &str) -> String {
    let m = p["figures"][id]["median"].as_f64();
    let r = p["ratios"][id].as_f64();
    match (m, r) {
        (Some(m), Some(r)) => format!("{} ({r:.2}×)", num(m)),
        (Some(m), None) => num(m),
        _ => "-".into(),
    }
}

/// One line per Rust ↔ Rust configuration: its steady and per-call p50 ratios.
pub fn target_lines(pairings: &[Value]) -> Vec<String> {
    let verdict = |r: Option<f64>| match r {
        Some(r) if r >= TARGET => format!("{r:.2}× (≥ {TARGET}×)"),
        Some(r) => format!("{r:.2}× (< {TARGET}×)"),
        None => "no ratio".into(),
    };
    pairings
        .iter()
        .filter(|p| p["host"] == "rust" && p["plugin"] == "rust" && p["status"] == "ok")
        .map(|p| {
            format!(
                "{}: steady {}, per-call {}",
                p["config"].as_str().unwrap_or(""),
                verdict(p["ratios"]["steady_p50_us"].as_f64()),
                verdict(p["ratios"]["per_call_p50_us"].as_f64()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section() -> BrokerToml {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench.toml");
        super::super::config::BenchToml::load(&path)
            .expect("xtask/bench.toml loads")
            .broker
    }

    #[test]
    fn every_config_runs_the_baseline_first_and_p521_is_rust_only() {
        let conf = section();
        let all = conf.expand();
        for c in &conf.config {
            let rows: Vec<&BrokerPairing> = all.iter().filter(|p| p.config == c.name).collect();
            assert!(!rows.is_empty(), "{}", c.name);
            if c.ratio_against.is_none() {
                assert_eq!(
                    format!("{}:{}", rows[0].host, rows[0].plugin),
                    conf.baseline
                );
            }
        }
        let p521: Vec<String> = all
            .iter()
            .filter(|p| p.config == "auto-p521")
            .map(BrokerPairing::name)
            .collect();
        assert_eq!(p521, ["rust:rust/auto-p521"]);
        assert!(
            all.iter()
                .filter(|p| p.config == "auto-p521")
                .all(|p| p.ratio_against == "auto" && p.host_key.as_deref() == Some("ec-p521"))
        );
    }

    #[test]
    fn argv_carries_tls_key_multiplex_load_and_the_plugin() {
        let conf = section();
        let load = &conf.load["quick"];
        let all = conf.expand();
        let find = |name: &str| all.iter().find(|p| p.name() == name).expect(name);
        let argv = find("rust:go/auto-mux").argv(load);
        let plugin_at = argv.iter().position(|a| a == "--").unwrap();
        let (host, plugin) = argv.split_at(plugin_at);
        assert_eq!(host[0], "target/release/soup-bench-broker");
        for flag in [
            "--multiplex",
            "--steady-calls",
            "--per-call-calls",
            "--steady-warmup",
            "--per-call-warmup",
        ] {
            assert!(host.contains(&flag.to_string()), "{flag} in {host:?}");
        }
        let key = host.iter().position(|a| a == "--key").unwrap();
        assert_eq!(
            host[key + 1],
            "ec-p256",
            "the Rust host's own AutoMTLS default"
        );
        assert_eq!(
            &plugin[1..],
            ["target/peers/bin/soup-go-bench-broker", "plugin"]
        );

        let off = find("go:go/off").argv(load);
        assert!(!off.contains(&"--key".to_string()) && !off.contains(&"--multiplex".to_string()));
        assert_eq!(find("go:go/off").host_key, None);
        assert_eq!(find("go:go/auto").host_key.as_deref(), Some("ec-p521"));
    }

    #[test]
    fn check_names_what_is_wrong() {
        let mut conf = section();
        conf.pairings.swap(0, 1);
        assert!(
            conf.check()
                .unwrap_err()
                .to_string()
                .contains("first pairing")
        );
        let mut conf = section();
        conf.config[0].tls = "manual".into();
        assert!(
            conf.check()
                .unwrap_err()
                .to_string()
                .contains("auto or off")
        );
        let mut conf = section();
        conf.config[1].ratio_against = Some("auto-p521".into());
        assert!(conf.check().unwrap_err().to_string().contains("baseline"));
        let mut conf = section();
        conf.pairings.push("rust:python".into());
        assert!(conf.check().unwrap_err().to_string().contains("python"));
    }

    #[test]
    fn pairing_filters_match_by_name_with_or_without_config() {
        let all = section().expand();
        let p = all.iter().find(|p| p.name() == "go:rust/off-mux").unwrap();
        assert!(p.matches("go:rust") && p.matches("go:rust/off-mux"));
        assert!(!p.matches("go:rust/off") && !p.matches("rust:go"));
    }
}
