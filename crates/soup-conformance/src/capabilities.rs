//! Peer capabilities (`PEER capabilities`): what a peer's library cannot express, so the
//! matrix shows such cells as `n/a: <reason>` instead of running them.

use serde::{Deserialize, Serialize};

use crate::cells::Cell;

/// The JSON object a peer prints for `capabilities`.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
pub struct Capabilities {
    /// `rust`, `go`, `python`, ...
    pub language: String,
    /// Library stack and versions.
    pub implementation: String,
    /// Limits as a client (host).
    #[serde(default)]
    pub client: Side,
    /// Limits as a server (plugin).
    #[serde(default)]
    pub server: Side,
}

/// One role's limits.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
pub struct Side {
    /// Rules; a cell matching any of them cannot be expressed.
    #[serde(default)]
    pub unsupported: Vec<Rule>,
}

/// `{"tls", "keys", "transports", "reason"}`; `"*"` matches anything.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
pub struct Rule {
    /// TLS mode or `*`.
    pub tls: String,
    /// Key types (aliases accepted) or `*`.
    pub keys: Vec<String>,
    /// Transports or `*`.
    pub transports: Vec<String>,
    /// Why: shown in the matrix.
    pub reason: String,
}

/// What xtask assumes of a `--server-cmd` plugin: it cannot be given certificate files.
pub fn custom_server(argv: &[String]) -> Capabilities {
    Capabilities {
        language: "custom".into(),
        implementation: argv.join(" "),
        client: Side::default(),
        server: Side {
            unsupported: vec![Rule {
                tls: "manual".into(),
                keys: vec!["*".into()],
                transports: vec!["*".into()],
                reason: "--server-cmd: the plugin runs as is, so it is given no certificate files"
                    .into(),
            }],
        },
    }
}

impl Rule {
    /// Whether the rule covers this tls mode, key (`None` for `off`) and transport.
    pub fn matches(&self, tls: &str, key: Option<&str>, transport: &str) -> bool {
        let tls_ok = self.tls == "*" || self.tls == tls;
        let key_ok = self
            .keys
            .iter()
            .any(|k| k == "*" || key.is_some_and(|key| canonical_key(k) == canonical_key(key)));
        let transport_ok = self.transports.iter().any(|t| t == "*" || t == transport);
        tls_ok && key_ok && transport_ok
    }
}

impl Side {
    /// The reason of the first rule matching the cell.
    pub fn unsupported(&self, cell: &Cell) -> Option<&str> {
        self.unsupported
            .iter()
            .find(|r| r.matches(&cell.tls, cell.key.as_deref(), &cell.transport))
            .map(|r| r.reason.as_str())
    }
}

/// The contract's key type name for any accepted alias (`P-384` → `ec-p384`,
/// `peer-contract/key-types.json`); another name, lowercased.
pub fn canonical_key(name: &str) -> String {
    soup_peer_contract::canonical_key(name).map_or_else(|| name.to_ascii_lowercase(), str::to_owned)
}

/// Why a cell cannot be run, from the client's and the server's capabilities.
pub fn not_applicable(cell: &Cell, client: &Capabilities, server: &Capabilities) -> Option<String> {
    if let Some(reason) = client.client.unsupported(cell) {
        return Some(format!("{} client: {reason}", cell.client));
    }
    server
        .server
        .unsupported(cell)
        .map(|reason| format!("{} server: {reason}", cell.server))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go() -> Capabilities {
        serde_json::from_str(
            r#"{"language": "go", "implementation": "hashicorp/go-plugin v1.8.0, grpc-go v1.85.0",
             "client": {"unsupported": [
               {"tls": "auto", "keys": ["ec-p256","P-384","rsa2048","rsa-4096"], "transports": ["*"],
                "reason": "go-plugin's AutoMTLS always makes an ECDSA P-521 host certificate"}]},
             "server": {"unsupported": [
               {"tls": "*", "keys": ["*"], "transports": ["tcp"],
                "reason": "go-plugin listens on a unix socket on every OS but Windows"}]}}"#,
        )
        .unwrap()
    }

    fn none() -> Capabilities {
        serde_json::from_str(r#"{"language": "rust", "implementation": "soup-rpc"}"#).unwrap()
    }

    fn cell(client: &str, server: &str, tls: &str, key: Option<&str>, transport: &str) -> Cell {
        Cell {
            client: client.into(),
            server: server.into(),
            tls: tls.into(),
            key: key.map(Into::into),
            transport: transport.into(),
        }
    }

    #[test]
    fn client_rule_matches_aliases_and_names_the_client() {
        let c = cell("go", "rust", "auto", Some("ec-p384"), "unix");
        assert_eq!(
            not_applicable(&c, &go(), &none()).as_deref(),
            Some("go client: go-plugin's AutoMTLS always makes an ECDSA P-521 host certificate")
        );
        let c = cell("go", "rust", "auto", Some("ec-p521"), "unix");
        assert_eq!(not_applicable(&c, &go(), &none()), None);
        let c = cell("go", "rust", "manual", Some("ec-p384"), "unix");
        assert_eq!(not_applicable(&c, &go(), &none()), None);
    }

    #[test]
    fn wildcard_server_rule_covers_off_cells_without_key() {
        let c = cell("rust", "go", "off", None, "tcp");
        assert_eq!(
            not_applicable(&c, &none(), &go()).as_deref(),
            Some("go server: go-plugin listens on a unix socket on every OS but Windows")
        );
        let c = cell("rust", "go", "off", None, "unix");
        assert_eq!(not_applicable(&c, &none(), &go()), None);
    }

    #[test]
    fn key_specific_rule_does_not_match_keyless_cell() {
        let rule = Rule {
            tls: "*".into(),
            keys: vec!["ec-p521".into()],
            transports: vec!["*".into()],
            reason: "r".into(),
        };
        assert!(!rule.matches("off", None, "tcp"));
        assert!(rule.matches("manual", Some("secp521r1"), "tcp"));
    }
}
