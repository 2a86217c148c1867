//! The environment contract between a go-plugin host and its plugin (`client.go, Start`;
//! `server.go, Serve`).

/// Comma list of application protocol versions the host speaks, in any order.
pub const PLUGIN_PROTOCOL_VERSIONS: &str = "PLUGIN_PROTOCOL_VERSIONS";
/// Lowest TCP port the plugin may bind.
pub const PLUGIN_MIN_PORT: &str = "PLUGIN_MIN_PORT";
/// Highest TCP port the plugin may bind (inclusive).
pub const PLUGIN_MAX_PORT: &str = "PLUGIN_MAX_PORT";
/// The host's AutoMTLS certificate, PEM; its presence turns AutoMTLS on.
pub const PLUGIN_CLIENT_CERT: &str = "PLUGIN_CLIENT_CERT";
/// `true` when the host wants gRPC broker multiplexing (we answer `false`).
pub const PLUGIN_MULTIPLEX_GRPC: &str = "PLUGIN_MULTIPLEX_GRPC";
/// Directory in which the plugin creates its unix socket.
pub const PLUGIN_UNIX_SOCKET_DIR: &str = "PLUGIN_UNIX_SOCKET_DIR";
/// Group (name or gid) that should own the plugin's unix socket, mode 0660.
pub const PLUGIN_UNIX_SOCKET_GROUP: &str = "PLUGIN_UNIX_SOCKET_GROUP";
/// pyvider-rpcplugin's transport preference (`tcp`, `unix`, or a JSON list of them). Not
/// go-plugin's, but the only host-side transport hint in the ecosystem, so we honour it.
pub const PLUGIN_SERVER_TRANSPORTS: &str = "PLUGIN_SERVER_TRANSPORTS";

/// A magic cookie: a UX guard so the plugin binary is not run by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MagicCookie {
    /// The environment variable's name, e.g. `BASIC_PLUGIN`.
    pub key: String,
    /// Its expected value, e.g. `hello`.
    pub value: String,
}

impl MagicCookie {
    /// A cookie from its key and value.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        MagicCookie {
            key: key.into(),
            value: value.into(),
        }
    }

    /// go-plugin's KV example cookie, `BASIC_PLUGIN=hello`, which the matrix uses.
    pub fn kv_example() -> Self {
        MagicCookie::new("BASIC_PLUGIN", "hello")
    }
}

/// Parses `PLUGIN_PROTOCOL_VERSIONS` as go-plugin does: entries that are not integers
/// are skipped (and returned separately so the caller can log them).
pub fn parse_protocol_versions(raw: &str) -> (Vec<u32>, Vec<String>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for part in raw.split(',').filter(|p| !p.is_empty()) {
        match part.parse::<u32>() {
            Ok(v) => ok.push(v),
            Err(_) => bad.push(part.to_string()),
        }
    }
    (ok, bad)
}

/// The outcome of app-protocol version negotiation on the plugin side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Negotiated {
    /// The highest version both sides speak.
    Common(u32),
    /// Nothing in common (or the host sent no list): go-plugin answers with its
    /// *lowest* version so the host rejects it with a clear message.
    Fallback(u32),
}

impl Negotiated {
    /// The version to put in handshake field 2.
    pub fn version(&self) -> u32 {
        match self {
            Negotiated::Common(v) | Negotiated::Fallback(v) => *v,
        }
    }
}

/// Picks the highest version in both lists; none in common → our lowest.
///
/// # Panics
/// If `ours` is empty (a plugin must speak at least one version).
pub fn negotiate_version(ours: &[u32], host: &[u32]) -> Negotiated {
    let mut sorted = ours.to_vec();
    sorted.sort_unstable();
    assert!(
        !sorted.is_empty(),
        "a plugin must speak at least one version"
    );
    match sorted.iter().rev().find(|v| host.contains(v)) {
        Some(v) => Negotiated::Common(*v),
        None => Negotiated::Fallback(sorted[0]),
    }
}

/// A variable's value, `None` when unset or empty.
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_highest_common_in_any_order() {
        assert_eq!(
            negotiate_version(&[1, 2, 3], &[3, 1]),
            Negotiated::Common(3)
        );
        assert_eq!(
            negotiate_version(&[3, 1, 2], &[2, 1]),
            Negotiated::Common(2)
        );
        assert_eq!(
            negotiate_version(&[5, 6], &[7, 6, 4]),
            Negotiated::Common(6)
        );
    }

    #[test]
    fn falls_back_to_lowest_when_nothing_in_common() {
        assert_eq!(negotiate_version(&[6, 5], &[7, 9]), Negotiated::Fallback(5));
        assert_eq!(negotiate_version(&[6, 5], &[]), Negotiated::Fallback(5));
    }

    #[test]
    fn skips_entries_that_are_not_numbers() {
        let (ok, bad) = parse_protocol_versions("4, 5,x,6");
        assert_eq!(ok, vec![4, 6]);
        assert_eq!(bad, vec![" 5".to_string(), "x".to_string()]);
    }
}
