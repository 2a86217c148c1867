//! Reattach / debug mode: a plugin started by hand (under a debugger, say) prints how to
//! reach it, and a host attaches to it instead of spawning one. The JSON is go-plugin's
//! `ReattachConfig` as Terraform's `TF_REATTACH_PROVIDERS` carries it:
//!
//! ```
//! use plugin_core::reattach::{ReattachConfig, parse};
//!
//! let one = r#"{"Protocol":"grpc","ProtocolVersion":6,"Pid":4242,"Test":true,
//!               "Addr":{"Network":"unix","String":"/tmp/plugin1"}}"#;
//! let map = format!(r#"{{"registry.terraform.io/hashicorp/null":{one}}}"#);
//! for json in [one, map.as_str()] {
//!     let (_, cfg) = parse(json, None).unwrap();
//!     assert_eq!((cfg.protocol_version, cfg.pid, cfg.test), (6, 4242, true));
//!     assert_eq!(cfg.addr.string, "/tmp/plugin1");
//! }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::handshake::Network;

/// go-plugin's `ReattachConfig`, in its JSON form (`Addr` as `{Network, String}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReattachConfig {
    /// `grpc` (go-plugin's net/rpc, `netrpc`, is not implemented here).
    pub protocol: String,
    /// The app protocol version the plugin serves.
    pub protocol_version: u32,
    /// Where it listens.
    pub addr: ReattachAddr,
    /// Its process id (0: unknown; the host then cannot watch it exit).
    #[serde(default)]
    pub pid: i32,
    /// Test (debug) mode: the host leaves the plugin running when it is done.
    #[serde(default)]
    pub test: bool,
}

/// A `net.Addr` as go-plugin's JSON carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReattachAddr {
    /// `unix` or `tcp`.
    pub network: String,
    /// Socket path or `host:port`.
    pub string: String,
}

impl ReattachConfig {
    /// The network, checked.
    pub fn network(&self) -> Result<Network, ReattachError> {
        self.addr
            .network
            .parse()
            .map_err(|_| ReattachError::UnknownNetwork(self.addr.network.clone()))
    }

    /// One line of JSON, as go-plugin's `ReattachConfig` marshals.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a ReattachConfig serialises")
    }

    /// `{"NAME": CONFIG}`: the value of `TF_REATTACH_PROVIDERS` for one plugin.
    pub fn providers_json(&self, name: &str) -> String {
        let mut map = BTreeMap::new();
        map.insert(name, self);
        serde_json::to_string(&map).expect("a ReattachConfig serialises")
    }
}

/// Why a reattach config cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReattachError {
    /// Neither a `ReattachConfig` nor a map of them.
    #[error(
        "reattach config does not parse ({0}); expected go-plugin's ReattachConfig \
         {{\"Protocol\":\"grpc\",\"ProtocolVersion\":N,\"Addr\":{{\"Network\":\"unix\",\"String\":\"/path\"}},\"Pid\":N,\"Test\":true}} \
         or a TF_REATTACH_PROVIDERS map {{\"NAME\": ReattachConfig}}"
    )]
    Json(#[source] serde_json::Error),
    /// A map with no entry.
    #[error("reattach map is empty: it names no plugin")]
    Empty,
    /// A map with several entries and no name chosen.
    #[error("reattach map names several plugins ({}); choose one by name", .0.join(", "))]
    Ambiguous(Vec<String>),
    /// The chosen name is not in the map.
    #[error("reattach map has no plugin {name:?} (it has: {})", .names.join(", "))]
    UnknownName {
        /// The name asked for.
        name: String,
        /// The names present.
        names: Vec<String>,
    },
    /// `Protocol` is not `grpc`.
    #[error(
        "reattach config's Protocol is {0:?}; soup-rpc speaks go-plugin's gRPC protocol (\"grpc\") only, not net/rpc"
    )]
    UnsupportedProtocol(String),
    /// `Addr.Network` is neither `unix` nor `tcp`.
    #[error("reattach config's Addr.Network is {0:?}; expected \"unix\" or \"tcp\"")]
    UnknownNetwork(String),
}

/// Parses either shape: one `ReattachConfig`, or a `TF_REATTACH_PROVIDERS` map from
/// which `name` (or the only entry) is taken. Returns the map key, when there was one.
pub fn parse(
    json: &str,
    name: Option<&str>,
) -> Result<(Option<String>, ReattachConfig), ReattachError> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(ReattachError::Json)?;
    // A single config or a `TF_REATTACH_PROVIDERS` map? Their shapes never overlap (a
    // config's `Protocol` is a string and its `Addr` has no `Protocol`), so try the single
    // config first and fall back to the map: a map whose plugin is *named* `Addr` or
    // `Protocol` is still a map. When neither reads, report the error of the shape the
    // input looks like.
    let looks_single = value.get("Addr").is_some() || value.get("Protocol").is_some();
    let single = serde_json::from_value::<ReattachConfig>(value.clone());
    let (key, cfg) = if let Ok(cfg) = single {
        (None, cfg)
    } else {
        let map = serde_json::from_value::<BTreeMap<String, ReattachConfig>>(value);
        let mut map = match (map, single) {
            (Ok(map), _) => map,
            (Err(_), Err(e)) if looks_single => return Err(ReattachError::Json(e)),
            (Err(e), _) => return Err(ReattachError::Json(e)),
        };
        let names: Vec<String> = map.keys().cloned().collect();
        let key = match (name, names.as_slice()) {
            (_, []) => return Err(ReattachError::Empty),
            (Some(n), _) => n.to_string(),
            (None, [only]) => only.clone(),
            (None, _) => return Err(ReattachError::Ambiguous(names)),
        };
        let cfg = map.remove(&key).ok_or(ReattachError::UnknownName {
            name: key.clone(),
            names,
        })?;
        (Some(key), cfg)
    };
    if cfg.protocol != "grpc" {
        return Err(ReattachError::UnsupportedProtocol(cfg.protocol));
    }
    cfg.network()?;
    Ok((key, cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"{"Protocol":"grpc","ProtocolVersion":1,"Pid":7,"Test":true,"Addr":{"Network":"tcp","String":"127.0.0.1:1234"}}"#;

    #[test]
    fn round_trips_in_go_plugins_field_names() {
        let (_, cfg) = parse(ONE, None).unwrap();
        let back: serde_json::Value = serde_json::from_str(&cfg.to_json()).unwrap();
        let want: serde_json::Value = serde_json::from_str(ONE).unwrap();
        assert_eq!(back, want);
        let map: serde_json::Value = serde_json::from_str(&cfg.providers_json("x/y")).unwrap();
        assert_eq!(map["x/y"], want);
    }

    #[test]
    fn a_map_whose_plugin_is_named_like_a_field_is_a_map() {
        let (_, cfg) = parse(ONE, None).unwrap();
        for name in ["Addr", "Protocol", "Pid"] {
            let map = cfg.providers_json(name);
            assert_eq!(
                parse(&map, Some(name)).unwrap(),
                (Some(name.into()), cfg.clone())
            );
            assert_eq!(parse(&map, None).unwrap(), (Some(name.into()), cfg.clone()));
        }
        // A broken single config still reports what is wrong with it, not a map error.
        let err = parse(r#"{"Protocol":"grpc","Addr":{"Network":"tcp"}}"#, None).unwrap_err();
        assert!(err.to_string().contains("String"), "{err}");
    }

    #[test]
    fn bad_input_names_the_problem() {
        let err = parse("{not json", None).unwrap_err();
        assert!(matches!(err, ReattachError::Json(_)));
        assert!(err.to_string().contains("TF_REATTACH_PROVIDERS"), "{err}");

        assert!(matches!(parse("{}", None), Err(ReattachError::Empty)));

        let two = format!(r#"{{"a":{ONE},"b":{ONE}}}"#);
        let err = parse(&two, None).unwrap_err();
        assert!(err.to_string().contains("a, b"), "{err}");
        assert!(parse(&two, Some("b")).is_ok());
        let err = parse(&two, Some("c")).unwrap_err();
        assert!(matches!(err, ReattachError::UnknownName { .. }), "{err}");

        let netrpc = ONE.replace("\"grpc\"", "\"netrpc\"");
        let err = parse(&netrpc, None).unwrap_err();
        assert!(err.to_string().contains("net/rpc"), "{err}");

        let udp = ONE.replace("\"tcp\"", "\"udp\"");
        assert!(matches!(
            parse(&udp, None),
            Err(ReattachError::UnknownNetwork(n)) if n == "udp"
        ));
    }
}
