//! The matrix as data: `xtask/matrix.toml` parsed and expanded into cells.
//!
//! A cell is one client × server × (tls, key) × transport. Expansion is pure (no process,
//! no file system) so it is unit-tested; filters narrow it.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::versions::{self, Release};

/// The matrix declaration (`xtask/matrix.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixSpec {
    /// Per-cell wall-clock limit enforced by xtask.
    pub time_limit_secs: u64,
    /// `--timeout` given to clients.
    pub client_timeout_secs: u64,
    /// Client peers, in row order.
    pub clients: Vec<String>,
    /// Server peers, in row order.
    pub servers: Vec<String>,
    /// Transports, in table order.
    pub transports: Vec<String>,
    /// TLS modes with the key types each is run with (none for `off`).
    pub tls: Vec<TlsAxis>,
    /// How each peer is invoked.
    pub peers: BTreeMap<String, PeerSpec>,
}

/// One TLS mode and its key types.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsAxis {
    /// `off`, `auto` or `manual`.
    pub mode: String,
    /// Key types; empty for `off`.
    #[serde(default)]
    pub keys: Vec<String>,
}

/// How a peer is invoked (workspace-relative argv before the subcommand).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSpec {
    /// argv prefix for `client`.
    pub client: Option<Vec<String>>,
    /// argv prefix for `server`.
    pub server: Option<Vec<String>>,
}

/// One pairing under one crypto configuration and transport.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Cell {
    /// Client peer name.
    pub client: String,
    /// Server peer name.
    pub server: String,
    /// `off`, `auto`, `manual`.
    pub tls: String,
    /// Key type; `None` for `off`.
    pub key: Option<String>,
    /// `tcp` or `unix`.
    pub transport: String,
}

/// The server of `cargo xtask matrix --server-cmd`: a user's KV plugin, run as is (no peer
/// contract: no `server` arguments, no capabilities, no handshake-probe enrichment).
pub const CUSTOM_SERVER: &str = "custom";

impl Cell {
    /// Whether the server is a `--server-cmd` plugin, which xtask cannot ask what it saw.
    pub fn custom_server(&self) -> bool {
        self.server == CUSTOM_SERVER
    }

    /// The client's peer, without its release (`go` of `go@v1.6.3`).
    pub fn client_peer(&self) -> &str {
        versions::split(&self.client).0
    }

    /// The server's peer, without its release.
    pub fn server_peer(&self) -> &str {
        versions::split(&self.server).0
    }

    /// Whether a side is an older release (`go@v1.6.3`) of the version axis.
    pub fn versioned(&self) -> bool {
        self.client.contains('@') || self.server.contains('@')
    }

    /// A file-name-safe unique id, e.g. `go-python-auto-ec-p256-unix`.
    pub fn id(&self) -> String {
        format!(
            "{}-{}-{}-{}",
            self.client,
            self.server,
            self.column(),
            self.transport
        )
        .replace('/', "-")
    }

    /// Table row label: `client→server`.
    pub fn row(&self) -> String {
        format!("{}→{}", self.client, self.server)
    }

    /// Table column label: `off` or `tls/key`.
    pub fn column(&self) -> String {
        match &self.key {
            Some(key) => format!("{}/{key}", self.tls),
            None => self.tls.clone(),
        }
    }
}

/// Comma-list filters from the command line; an empty list keeps everything.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// `--client`.
    pub client: Vec<String>,
    /// `--server`.
    pub server: Vec<String>,
    /// `--tls`.
    pub tls: Vec<String>,
    /// `--key` (`none` selects the key-less `off` cells).
    pub key: Vec<String>,
    /// `--transport`.
    pub transport: Vec<String>,
    /// `--versions`, resolved: the older releases crossed in (`go@v1.6.3`); empty for the
    /// newest only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
}

impl Filters {
    /// True when nothing is filtered out.
    pub fn is_empty(&self) -> bool {
        self.client.is_empty()
            && self.server.is_empty()
            && self.tls.is_empty()
            && self.key.is_empty()
            && self.transport.is_empty()
            && self.versions.is_empty()
    }

    /// True when only `--versions` is given: every cell of the newest peers runs too.
    pub fn only_versions(&self) -> bool {
        Filters {
            versions: Vec::new(),
            ..self.clone()
        }
        .is_empty()
    }
}

impl MatrixSpec {
    /// Parses the declaration.
    pub fn parse(text: &str) -> Result<Self> {
        let spec: Self = toml::from_str(text).context("parsing xtask/matrix.toml")?;
        for peer in spec.clients.iter().chain(&spec.servers) {
            if !spec.peers.contains_key(peer) {
                bail!("matrix.toml names peer `{peer}` but has no [peers.{peer}]");
            }
        }
        Ok(spec)
    }

    /// All column labels in table order (`off`, `auto/ec-p256`, ...).
    pub fn columns(&self) -> Vec<String> {
        self.tls
            .iter()
            .flat_map(|axis| {
                if axis.keys.is_empty() {
                    vec![axis.mode.clone()]
                } else {
                    axis.keys
                        .iter()
                        .map(|k| format!("{}/{k}", axis.mode))
                        .collect()
                }
            })
            .collect()
    }

    /// Every cell that passes `filters`: every declared peer takes part, none is left out
    /// because it has not been built (the matrix builds what it runs).
    pub fn expand(&self, filters: &Filters) -> Result<Vec<Cell>> {
        self.expand_with(filters, &[])
    }

    /// [`expand`](Self::expand) plus, for each older release (`--versions`), the cells of
    /// that release crossed with the newest release of every other peer: as a client
    /// against every server, as a server under every client (as its roles allow).
    pub fn expand_with(&self, filters: &Filters, releases: &[&Release]) -> Result<Vec<Cell>> {
        let keys: Vec<&String> = self.tls.iter().flat_map(|a| &a.keys).collect();
        let base = |list: &[String]| -> Vec<String> {
            list.iter()
                .map(|v| versions::split(v).0.to_string())
                .collect()
        };
        check_known("--client", &base(&filters.client), self.clients.iter())?;
        check_known("--server", &base(&filters.server), self.servers.iter())?;
        check_known("--tls", &filters.tls, self.tls.iter().map(|a| &a.mode))?;
        check_known("--transport", &filters.transport, self.transports.iter())?;
        let none = "none".to_string();
        check_known("--key", &filters.key, keys.into_iter().chain([&none]))?;
        let keep =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        // A peer filter `go` keeps every release of go; `go@v1.6.3` only that one.
        let keep_peer = |list: &[String], name: &str| {
            list.is_empty()
                || list
                    .iter()
                    .any(|v| v == name || (!v.contains('@') && versions::split(name).0 == v))
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        for client in &self.clients {
            for server in &self.servers {
                pairs.push((client.clone(), server.clone()));
            }
        }
        for r in releases {
            if r.has_role("client") && self.clients.contains(&r.peer) {
                for server in &self.servers {
                    pairs.push((r.name(), server.clone()));
                }
            }
            if r.has_role("server") && self.servers.contains(&r.peer) {
                for client in &self.clients {
                    pairs.push((client.clone(), r.name()));
                }
            }
        }

        let mut cells = Vec::new();
        for (client, server) in pairs
            .iter()
            .filter(|(c, s)| keep_peer(&filters.client, c) && keep_peer(&filters.server, s))
        {
            {
                for axis in self.tls.iter().filter(|a| keep(&filters.tls, &a.mode)) {
                    let keys: Vec<Option<&String>> = if axis.keys.is_empty() {
                        vec![None]
                    } else {
                        axis.keys.iter().map(Some).collect()
                    };
                    for key in keys
                        .into_iter()
                        .filter(|k| keep(&filters.key, k.map_or("none", |k| k.as_str())))
                    {
                        for transport in self
                            .transports
                            .iter()
                            .filter(|t| keep(&filters.transport, t))
                        {
                            cells.push(Cell {
                                client: client.clone(),
                                server: server.clone(),
                                tls: axis.mode.clone(),
                                key: key.cloned(),
                                transport: transport.clone(),
                            });
                        }
                    }
                }
            }
        }
        Ok(cells)
    }
}

fn check_known<'a>(
    flag: &str,
    given: &[String],
    known: impl Iterator<Item = &'a String> + Clone,
) -> Result<()> {
    for value in given {
        if !known.clone().any(|k| k == value) {
            let list: Vec<&str> = known.map(String::as_str).collect();
            bail!("{flag} {value}: unknown (known: {})", list.join(", "));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MatrixSpec {
        MatrixSpec::parse(include_str!("../../../xtask/matrix.toml")).unwrap()
    }

    #[test]
    fn full_matrix_is_every_pairing_times_eleven_crypto_times_two_transports() {
        let cells = spec().expand(&Filters::default()).unwrap();
        assert_eq!(cells.len(), 4 * 3 * 11 * 2);
        assert_eq!(cells[0].id(), "rust-rust-off-tcp");
        assert_eq!(cells[1].id(), "rust-rust-off-unix");
        assert_eq!(cells[2].id(), "rust-rust-auto-ec-p256-tcp");
        let ids: std::collections::BTreeSet<_> = cells.iter().map(Cell::id).collect();
        assert_eq!(ids.len(), cells.len(), "ids are unique");
    }

    #[test]
    fn python_rs_is_a_client_only() {
        let cells = spec().expand(&Filters::default()).unwrap();
        assert_eq!(
            cells.iter().filter(|c| c.client == "python-rs").count(),
            3 * 11 * 2
        );
        assert!(cells.iter().all(|c| c.server != "python-rs"));
    }

    #[test]
    fn filters_narrow_each_axis() {
        let filters = Filters {
            client: vec!["go".into(), "python".into()],
            server: vec!["python".into()],
            tls: vec!["auto".into(), "off".into()],
            key: vec!["ec-p384".into()],
            transport: vec!["unix".into()],
            ..Filters::default()
        };
        let cells = spec().expand(&filters).unwrap();
        let ids: Vec<_> = cells.iter().map(Cell::id).collect();
        assert_eq!(
            ids,
            [
                "go-python-auto-ec-p384-unix",
                "python-python-auto-ec-p384-unix"
            ]
        );
    }

    #[test]
    fn key_none_selects_off_cells() {
        let filters = Filters {
            key: vec!["none".into()],
            ..Filters::default()
        };
        let cells = spec().expand(&filters).unwrap();
        assert!(cells.iter().all(|c| c.tls == "off" && c.key.is_none()));
        assert_eq!(cells.len(), 4 * 3 * 2);
    }

    #[test]
    fn unknown_filter_value_is_an_error() {
        let filters = Filters {
            client: vec!["pyhton".into()],
            ..Filters::default()
        };
        let err = spec().expand(&filters).unwrap_err();
        assert!(
            err.to_string().contains("--client pyhton: unknown"),
            "{err}"
        );
    }

    #[test]
    fn columns_follow_declaration_order() {
        let columns = spec().columns();
        assert_eq!(columns.len(), 11);
        assert_eq!(columns[0], "off");
        assert_eq!(columns[1], "auto/ec-p256");
        assert_eq!(columns[10], "manual/rsa-4096");
    }

    fn releases() -> crate::versions::VersionsSpec {
        crate::versions::VersionsSpec::parse(
            include_str!("../../../xtask/versions.toml"),
            &["rust", "go", "python", "python-rs"],
        )
        .unwrap()
    }

    #[test]
    fn a_release_is_crossed_with_the_newest_of_every_other_peer() {
        let v = releases();
        let r = v.select(&["go@v1.6.3".into()]).unwrap();
        let cells = spec().expand_with(&Filters::default(), &r).unwrap();
        let newest = 4 * 3 * 11 * 2;
        // as a client against 3 servers, as a server under 4 clients
        assert_eq!(cells.len(), newest + (3 + 4) * 11 * 2);
        assert_eq!(
            &cells[..newest],
            spec().expand(&Filters::default()).unwrap().as_slice()
        );
        let versioned: Vec<&Cell> = cells.iter().filter(|c| c.versioned()).collect();
        assert!(versioned.iter().all(|c| {
            (c.client == "go@v1.6.3") != (c.server == "go@v1.6.3")
                && !(c.client.contains('@') && c.server.contains('@'))
        }));
        let c = versioned.iter().find(|c| c.server == "go@v1.6.3").unwrap();
        assert_eq!(c.server_peer(), "go");
        assert_eq!(c.id(), "rust-go@v1.6.3-off-tcp");
        let ids: std::collections::BTreeSet<_> = cells.iter().map(Cell::id).collect();
        assert_eq!(ids.len(), cells.len(), "ids are unique");
    }

    #[test]
    fn a_server_only_release_has_no_client_cells_and_filters_see_releases() {
        let v = releases();
        let r = v.select(&["go@v1.4.8".into()]).unwrap();
        let filters = Filters {
            server: vec!["go".into()],
            tls: vec!["off".into()],
            transport: vec!["unix".into()],
            ..Filters::default()
        };
        let cells = spec().expand_with(&filters, &r).unwrap();
        let ids: Vec<String> = cells.iter().map(Cell::id).collect();
        assert_eq!(ids.len(), 4 + 4, "{ids:?}");
        assert!(
            ids.contains(&"python-rs-go@v1.4.8-off-unix".to_string()),
            "{ids:?}"
        );
        assert!(cells.iter().all(|c| c.client != "go@v1.4.8"), "server only");
        let only = Filters {
            server: vec!["go@v1.4.8".into()],
            ..filters
        };
        let cells = spec().expand_with(&only, &r).unwrap();
        assert_eq!(cells.len(), 4);
        assert!(cells.iter().all(|c| c.server == "go@v1.4.8"));
    }
}
