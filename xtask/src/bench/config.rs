//! `xtask/bench.toml`: hosts, plugins, configurations and load, expanded into pairings.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct BenchToml {
    pub baseline: Baseline,
    pub transport: String,
    pub host_order: Vec<String>,
    pub plugin_order: Vec<String>,
    pub configs: Vec<String>,
    pub load: BTreeMap<String, Load>,
    pub hosts: BTreeMap<String, Side>,
    pub plugins: BTreeMap<String, Side>,
    #[serde(default)]
    pub matrix_alias: Vec<MatrixAlias>,
    /// Extra pairings measured beside the grid (e.g. Rust ↔ Rust over tcp, or with
    /// P-521 on both sides), each compared with the baseline of `ratio_against`.
    #[serde(default)]
    pub variant: Vec<Variant>,
    /// The brokered round trip section (`src/bench/broker.rs`).
    pub broker: super::broker::BrokerToml,
}

/// An extra pairing outside the hosts × plugins × configs grid.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub host: String,
    pub plugin: String,
    /// The label shown after the slash, e.g. `auto-p521`.
    pub config: String,
    /// The grid config whose baseline the ratios use (`auto` or `off`).
    pub ratio_against: String,
    /// The matrix's TLS mode for this pairing (`auto`, `off`), to find its cell.
    pub matrix_tls: String,
    pub transport: String,
    pub host_key: Option<String>,
    pub host_args: Vec<String>,
    pub plugin_args: Vec<String>,
}

/// The baseline pairing.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub host: String,
    pub plugin: String,
}

/// The load of one run kind (`full`, `quick`).
#[derive(Deserialize, Serialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub reps: usize,
    pub launches: usize,
    pub gets: usize,
    pub concurrency: usize,
    pub duration_secs: f64,
    pub puts: usize,
}

/// How one side is invoked.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Side {
    pub command: Vec<String>,
    pub auto: Vec<String>,
    pub off: Vec<String>,
    /// Hosts: the key type of the certificate their AutoMTLS default makes.
    #[serde(default)]
    pub key: Option<String>,
}

/// A matrix cell to read instead of the pairing's own.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct MatrixAlias {
    pub host: String,
    pub plugin: String,
    pub config: String,
    pub key: String,
    pub why: String,
}

/// One host × plugin × configuration.
#[derive(Debug, Clone)]
pub struct Pairing {
    pub host: String,
    pub plugin: String,
    pub config: String,
    /// The grid config whose baseline the ratios use (the config itself in the grid).
    pub ratio_against: String,
    /// The matrix's TLS mode for this pairing.
    pub matrix_tls: String,
    /// The host certificate's key type (auto only).
    pub host_key: Option<String>,
    pub transport: String,
    /// Host command and its configuration flags (load flags and plugin command follow).
    pub host_argv: Vec<String>,
    pub plugin_argv: Vec<String>,
}

impl Pairing {
    /// `HOST:PLUGIN/CONFIG`, the name in the table and the JSON.
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
}

impl BenchToml {
    /// Reads and checks `xtask/bench.toml`.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: BenchToml =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        for c in &file.configs {
            if c != "auto" && c != "off" {
                bail!("bench.toml: config {c:?} is neither auto nor off");
            }
        }
        for h in &file.host_order {
            if !file.hosts.contains_key(h) {
                bail!("bench.toml: host {h:?} in host_order has no [hosts.{h}]");
            }
        }
        for p in &file.plugin_order {
            if !file.plugins.contains_key(p) {
                bail!("bench.toml: plugin {p:?} in plugin_order has no [plugins.{p}]");
            }
        }
        for k in ["full", "quick"] {
            if !file.load.contains_key(k) {
                bail!("bench.toml: missing [load.{k}]");
            }
        }
        file.broker.check()?;
        Ok(file)
    }

    /// Every pairing, baseline first, then hosts × plugins × configs in the file's order;
    /// `{store}` in plugin arguments becomes `store/PLUGIN`.
    pub fn pairings(&self, store: &str) -> Vec<Pairing> {
        let mut out = Vec::new();
        for config in &self.configs {
            for host in &self.host_order {
                for plugin in &self.plugin_order {
                    let (h, p) = (&self.hosts[host], &self.plugins[plugin]);
                    let pick = |s: &Side| {
                        if config == "auto" {
                            s.auto.clone()
                        } else {
                            s.off.clone()
                        }
                    };
                    let mut host_argv = h.command.clone();
                    host_argv.extend(pick(h));
                    let mut plugin_argv = p.command.clone();
                    plugin_argv.extend(
                        pick(p)
                            .into_iter()
                            .map(|a| a.replace("{store}", &format!("{store}/{plugin}"))),
                    );
                    out.push(Pairing {
                        host: host.clone(),
                        plugin: plugin.clone(),
                        config: config.clone(),
                        ratio_against: config.clone(),
                        matrix_tls: config.clone(),
                        host_key: if config == "auto" {
                            h.key.clone()
                        } else {
                            None
                        },
                        transport: self.transport.clone(),
                        host_argv,
                        plugin_argv,
                    });
                }
            }
        }
        for v in &self.variant {
            let mut host_argv = self.hosts[&v.host].command.clone();
            host_argv.extend(v.host_args.iter().cloned());
            let mut plugin_argv = self.plugins[&v.plugin].command.clone();
            plugin_argv.extend(
                v.plugin_args
                    .iter()
                    .map(|a| a.replace("{store}", &format!("{store}/{}", v.plugin))),
            );
            out.push(Pairing {
                host: v.host.clone(),
                plugin: v.plugin.clone(),
                config: v.config.clone(),
                ratio_against: v.ratio_against.clone(),
                matrix_tls: v.matrix_tls.clone(),
                host_key: v.host_key.clone(),
                transport: v.transport.clone(),
                host_argv,
                plugin_argv,
            });
        }
        // Baseline pairings first (per config), the rest in file order.
        out.sort_by_key(|p| {
            let base = p.host == self.baseline.host && p.plugin == self.baseline.plugin;
            (p.ratio_against != self.configs[0], !base)
        });
        out
    }
}
