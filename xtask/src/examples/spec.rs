//! The examples as data: `xtask/examples.toml` parsed and expanded into cells
//! (example × host × plugin × multiplexing × TLS), with each cell's expectation. Pure: no process, no
//! file system, so it is unit-tested.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The declaration (`xtask/examples.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExamplesSpec {
    /// Limit per host process.
    pub step_time_limit_secs: u64,
    /// Modes a Rust host is run with, unless an example narrows them.
    pub rust_host_tls: Vec<String>,
    /// Modes our Go example hosts (the multiplexing cells' Go hosts) are run with.
    pub go_mux_host_tls: Vec<String>,
    /// The examples, in table order.
    #[serde(rename = "example")]
    pub examples: Vec<Example>,
}

/// One go-plugin example and its Rust port.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// Row label and cell id prefix.
    pub name: String,
    /// The directory in go-plugin's repository.
    pub upstream: String,
    /// What this row runs, when the name does not say it.
    pub note: Option<String>,
    /// Go host package (below `github.com/hashicorp/go-plugin/`): the mux-off cells'.
    pub go_host: String,
    /// Our Go host of the mux-on cells (a package of our module, `./cmd/...` in `go/`):
    /// the example's published client code in a main that sets GRPCBrokerMultiplex.
    pub go_mux_host: String,
    /// The published package `go_mux_host` takes the example's client code from.
    pub go_shared: String,
    /// Go plugin package.
    pub go_plugin: String,
    /// Rust host binary of `go-plugin-examples`.
    pub rust_host: String,
    /// Rust plugin binary.
    pub rust_plugin: String,
    /// How the host finds its plugin.
    pub plugin: PluginLocation,
    /// Environment for the host.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Overrides the top-level `rust_host_tls`.
    pub rust_host_tls: Option<Vec<String>>,
    /// `{name}` substitutions in expectations, by plugin language.
    #[serde(default)]
    pub plugin_vars: BTreeMap<String, BTreeMap<String, String>>,
    /// Host runs, in order, in one working directory.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
    /// Known failures.
    #[serde(default, rename = "expect")]
    pub expectations: Vec<Expectation>,
}

/// Where a go-plugin example host looks for its plugin.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum PluginLocation {
    /// A variable holding a command the host runs with `sh -c`.
    Env(String),
    /// A path relative to the host's working directory.
    Path(String),
}

/// One host run and what it must do.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Host arguments (after `--tls MODE` for a Rust host).
    pub args: Vec<String>,
    /// Expected exit code.
    #[serde(default)]
    pub exit: i32,
    /// Exact stdout, when given.
    pub stdout: Option<String>,
    /// Texts stderr must contain.
    #[serde(default)]
    pub stderr_contains: Vec<String>,
    /// Files (relative to the working directory) and their exact content afterwards.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// A known failure: which cells (unset = any), what the failure says, and why.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Host language.
    pub host: Option<String>,
    /// Plugin language.
    pub plugin: Option<String>,
    /// TLS mode (`auto`, `off`, `default`).
    pub tls: Option<String>,
    /// Multiplexing.
    pub mux: Option<bool>,
    /// Text the failing step's output must contain.
    pub fails_with: String,
    /// Why, for the docs.
    pub reason: String,
}

/// The implementations a cell pairs.
pub const LANGUAGES: [&str; 2] = ["go", "rust"];

/// A Go example host's TLS: whatever it does by itself (no AutoMTLS configured).
pub const HOST_DEFAULT_TLS: &str = "default";

/// One example run by one host against one plugin with or without multiplexing in one
/// TLS mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Index into [`ExamplesSpec::examples`].
    pub example: usize,
    /// `go` or `rust`.
    pub host: String,
    /// `go` or `rust`.
    pub plugin: String,
    /// The host asks for gRPC broker multiplexing (`PLUGIN_MULTIPLEX_GRPC`).
    pub mux: bool,
    /// `auto`, `off` (Rust host, our Go host) or `default` (go-plugin's Go host).
    pub tls: String,
}

impl Cell {
    /// File-name-safe id, e.g. `grpc-go-rust-default`, `grpc-go-rust-auto-mux`.
    pub fn id(&self, spec: &ExamplesSpec) -> String {
        format!(
            "{}-{}-{}-{}{}",
            spec.examples[self.example].name,
            self.host,
            self.plugin,
            self.tls,
            if self.mux { "-mux" } else { "" }
        )
    }

    /// `off` or `on`.
    pub fn mux_label(&self) -> &'static str {
        if self.mux { "on" } else { "off" }
    }

    /// Whether a Rust host or plugin is in it (a Go↔Go cell is a reference row).
    pub fn has_rust_side(&self) -> bool {
        self.host == "rust" || self.plugin == "rust"
    }
}

/// What narrows a run (empty = everything).
#[derive(Debug, Default, Clone)]
pub struct Filters {
    /// Example names.
    pub example: Vec<String>,
    /// Host languages.
    pub host: Vec<String>,
    /// Plugin languages.
    pub plugin: Vec<String>,
    /// TLS modes (`default` = the cells of go-plugin's Go hosts).
    pub tls: Vec<String>,
    /// Multiplexing: `on`, `off`.
    pub mux: Vec<String>,
}

impl Filters {
    /// No filter set.
    pub fn is_empty(&self) -> bool {
        self.example.is_empty()
            && self.host.is_empty()
            && self.plugin.is_empty()
            && self.tls.is_empty()
            && self.mux.is_empty()
    }
}

fn admits(filter: &[String], value: &str) -> bool {
    filter.is_empty() || filter.iter().any(|f| f == value)
}

impl ExamplesSpec {
    /// Parses and checks the declaration.
    pub fn parse(text: &str) -> Result<Self> {
        let spec: ExamplesSpec = toml::from_str(text).context("xtask/examples.toml")?;
        for ex in &spec.examples {
            if ex.steps.is_empty() {
                bail!("example {} has no step", ex.name);
            }
            for tls in ex.rust_host_tls.as_ref().unwrap_or(&spec.rust_host_tls) {
                if tls != "auto" && tls != "off" {
                    bail!(
                        "example {}: Rust host TLS mode {tls:?} is not auto or off",
                        ex.name
                    );
                }
            }
            if !ex.go_mux_host.starts_with("./") {
                bail!(
                    "example {}: go_mux_host {:?} is not a package of our module (./cmd/...)",
                    ex.name,
                    ex.go_mux_host
                );
            }
            for lang in ex.plugin_vars.keys() {
                if !LANGUAGES.contains(&lang.as_str()) {
                    bail!("example {}: plugin_vars.{lang}: not a language", ex.name);
                }
            }
        }
        for tls in &spec.go_mux_host_tls {
            if tls != "auto" && tls != "off" {
                bail!("go_mux_host_tls: {tls:?} is not auto or off");
            }
        }
        Ok(spec)
    }

    /// Every cell, in table order: per example go→rust, rust→go, rust→rust, go→go, each
    /// without then with multiplexing; a Rust host once per TLS mode, go-plugin's Go host
    /// (mux off) once, our Go host (mux on) once per `go_mux_host_tls` mode.
    pub fn expand(&self, filters: &Filters) -> Result<Vec<Cell>> {
        for name in &filters.example {
            if !self.examples.iter().any(|e| &e.name == name) {
                bail!("no example named {name:?} in xtask/examples.toml");
            }
        }
        let pairs = [
            ("go", "rust"),
            ("rust", "go"),
            ("rust", "rust"),
            ("go", "go"),
        ];
        let mut cells = Vec::new();
        for (i, ex) in self.examples.iter().enumerate() {
            if !admits(&filters.example, &ex.name) {
                continue;
            }
            for (host, plugin) in pairs {
                for mux in [false, true] {
                    let modes: Vec<String> = match (host, mux) {
                        ("rust", _) => ex
                            .rust_host_tls
                            .clone()
                            .unwrap_or_else(|| self.rust_host_tls.clone()),
                        (_, false) => vec![HOST_DEFAULT_TLS.to_string()],
                        (_, true) => self.go_mux_host_tls.clone(),
                    };
                    for tls in modes {
                        let cell = Cell {
                            example: i,
                            host: host.into(),
                            plugin: plugin.into(),
                            mux,
                            tls,
                        };
                        if admits(&filters.host, host)
                            && admits(&filters.plugin, plugin)
                            && admits(&filters.tls, &cell.tls)
                            && admits(&filters.mux, cell.mux_label())
                        {
                            cells.push(cell);
                        }
                    }
                }
            }
        }
        Ok(cells)
    }

    /// The expectation a cell's failure is held against (first match), if any.
    pub fn expectation(&self, cell: &Cell) -> Option<&Expectation> {
        let matches = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        self.examples[cell.example].expectations.iter().find(|e| {
            matches(&e.host, &cell.host)
                && matches(&e.plugin, &cell.plugin)
                && matches(&e.tls, &cell.tls)
                && e.mux.is_none_or(|m| m == cell.mux)
        })
    }
}

impl Example {
    /// The Go host a cell runs: go-plugin's (mux off) or ours (mux on).
    pub fn go_host_for(&self, mux: bool) -> &str {
        if mux {
            &self.go_mux_host
        } else {
            &self.go_host
        }
    }

    /// `text` with `{name}` replaced by the plugin language's variables.
    pub fn substitute(&self, plugin: &str, text: &str) -> String {
        let mut out = text.to_string();
        if let Some(vars) = self.plugin_vars.get(plugin) {
            for (name, value) in vars {
                out = out.replace(&format!("{{{name}}}"), value);
            }
        }
        out
    }
}

/// The binary name of a Go package below `github.com/hashicorp/go-plugin/`
/// (`examples/grpc/plugin-go-grpc` → `grpc-plugin-go-grpc`) or of our module
/// (`./cmd/example-hosts/grpc` → `example-hosts-grpc`).
pub fn go_binary_name(package: &str) -> String {
    match package.strip_prefix("./") {
        Some(ours) => ours.trim_start_matches("cmd/").replace('/', "-"),
        None => package.trim_start_matches("examples/").replace('/', "-"),
    }
}

/// The import path `go build` takes for a package of [`Example`].
pub fn go_import_path(package: &str) -> String {
    if package.starts_with("./") {
        package.to_string()
    } else {
        format!("github.com/hashicorp/go-plugin/{package}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ExamplesSpec {
        ExamplesSpec::parse(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples.toml"))
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn go_hosts_run_once_rust_hosts_once_per_mode() {
        let spec = spec();
        let cells = spec
            .expand(&Filters {
                example: vec!["grpc".into()],
                ..Filters::default()
            })
            .unwrap();
        let ids: Vec<String> = cells.iter().map(|c| c.id(&spec)).collect();
        assert_eq!(
            ids,
            [
                "grpc-go-rust-default",
                "grpc-go-rust-auto-mux",
                "grpc-go-rust-off-mux",
                "grpc-rust-go-auto",
                "grpc-rust-go-off",
                "grpc-rust-go-auto-mux",
                "grpc-rust-go-off-mux",
                "grpc-rust-rust-auto",
                "grpc-rust-rust-off",
                "grpc-rust-rust-auto-mux",
                "grpc-rust-rust-off-mux",
                "grpc-go-go-default",
                "grpc-go-go-auto-mux",
                "grpc-go-go-off-mux",
            ]
        );
        assert!(!cells[13].has_rust_side());
        let grpc = &spec.examples[cells[0].example];
        assert_eq!(grpc.go_host_for(false), "examples/grpc");
        assert_eq!(grpc.go_host_for(true), "./cmd/example-hosts/grpc");
    }

    #[test]
    fn the_mux_filter_selects_cells_by_on_and_off() {
        let spec = spec();
        let on = spec
            .expand(&Filters {
                mux: vec!["on".into()],
                ..Filters::default()
            })
            .unwrap();
        assert!(!on.is_empty() && on.iter().all(|c| c.mux));
        let off = spec
            .expand(&Filters {
                mux: vec!["off".into()],
                ..Filters::default()
            })
            .unwrap();
        assert!(!off.is_empty() && off.iter().all(|c| !c.mux));
        assert_eq!(
            on.len() + off.len(),
            spec.expand(&Filters::default()).unwrap().len()
        );
    }

    #[test]
    fn expectations_match_by_language_and_substitutions_by_plugin() {
        let spec = spec();
        let cells = spec.expand(&Filters::default()).unwrap();
        let find = |id: &str| cells.iter().find(|c| c.id(&spec) == id).unwrap();
        assert!(spec.expectation(find("streaming-go-go-default")).is_some());
        assert!(spec.expectation(find("streaming-go-go-auto-mux")).is_some());
        assert!(
            spec.expectation(find("streaming-go-rust-default"))
                .is_none()
        );
        assert!(
            spec.expectation(find("negotiated-netrpc-rust-go-off"))
                .is_some()
        );
        assert!(
            spec.expectation(find("negotiated-netrpc-go-go-default"))
                .is_none()
        );
        let grpc = &spec.examples[find("grpc-go-rust-default").example];
        assert_eq!(
            grpc.substitute("rust", "Written from {writer}"),
            "Written from plugin-rust-grpc"
        );
        assert_eq!(
            go_binary_name("examples/grpc/plugin-go-grpc"),
            "grpc-plugin-go-grpc"
        );
        assert_eq!(
            go_binary_name("./cmd/example-hosts/grpc"),
            "example-hosts-grpc"
        );
        assert_eq!(
            go_import_path("examples/grpc"),
            "github.com/hashicorp/go-plugin/examples/grpc"
        );
        assert_eq!(
            go_import_path("./cmd/example-hosts/grpc"),
            "./cmd/example-hosts/grpc"
        );
    }

    #[test]
    fn unknown_example_filter_is_an_error() {
        let err = spec()
            .expand(&Filters {
                example: vec!["nope".into()],
                ..Filters::default()
            })
            .unwrap_err();
        assert!(err.to_string().contains("nope"));
    }
}
