//! The scripts of the peer contract (docs/peer-contract.md): fixed step names, keys and
//! values, so every client runs exactly the same operations. `kv` is the matrix's; the
//! others (`--script`) are the fault matrix's.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Put or Get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Put a value.
    Put,
    /// Get a value.
    Get,
}

/// What a Get step expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Put steps expect nothing but OK.
    Ok,
    /// Exactly these bytes.
    Bytes(Vec<u8>),
    /// A JSON object whose `server_handshake` is an object.
    Probe,
    /// Any error status (recorded; NOT_FOUND expected).
    AnyError,
    /// OK or NOT_FOUND, whatever the value (`get-deadline`).
    Answer,
}

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Step name, e.g. `put-ascii`.
    pub name: String,
    /// The operation.
    pub op: Op,
    /// The key.
    pub key: String,
    /// The value (Put).
    pub value: Vec<u8>,
    /// What counts as success.
    pub expect: Expect,
    /// This call's deadline (`None`: none).
    pub deadline: Option<Duration>,
    /// Read one line (or EOF) from stdin before this step (the `get` script's pause).
    pub after_stdin_line: bool,
}

fn put(name: impl Into<String>, key: impl Into<String>, value: Vec<u8>) -> Step {
    Step {
        name: name.into(),
        op: Op::Put,
        key: key.into(),
        value,
        expect: Expect::Ok,
        deadline: None,
        after_stdin_line: false,
    }
}

fn get(name: impl Into<String>, key: impl Into<String>, expect: Expect) -> Step {
    Step {
        name: name.into(),
        op: Op::Get,
        key: key.into(),
        value: Vec::new(),
        expect,
        deadline: None,
        after_stdin_line: false,
    }
}

/// Which script a client runs (`--script`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Script {
    /// The KV script (the matrix's).
    #[default]
    Kv,
    /// `put-ascii`, a line from stdin, then `get-deadline`: one Get with a 2 s deadline.
    Get,
    /// Puts of `stream-<i>`, stopping at the first failure.
    PutStream(u32),
    /// Gets of `stream-<i>`, every one.
    GetStream(u32),
    /// One Put and one Get of a value this many bytes long.
    PutLarge(u64),
    /// `put-ascii`, then keep the plugin until stdin reaches EOF.
    Hold,
}

/// What a host prints on stderr when the `get` script pauses (docs/peer-contract.md).
pub const PAUSE_MARKER: &str = "soup-peer: paused before get-deadline";

/// The deadline of `get-deadline`.
pub const GET_DEADLINE: Duration = Duration::from_secs(2);

impl Script {
    /// Whether the run stops at the first failing step.
    pub fn stops_at_first_failure(self) -> bool {
        matches!(self, Script::PutStream(_))
    }

    /// The largest message this script sends or expects, if over the KV script's 1 MiB.
    pub fn largest_value(self) -> Option<u64> {
        match self {
            Script::PutLarge(n) => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Script::Kv => f.write_str("kv"),
            Script::Get => f.write_str("get"),
            Script::PutStream(n) => write!(f, "put-stream:{n}"),
            Script::GetStream(n) => write!(f, "get-stream:{n}"),
            Script::PutLarge(n) => write!(f, "put-large:{n}"),
            Script::Hold => f.write_str("hold"),
        }
    }
}

/// A `--script` value that is not one of the contract's.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown script {0:?}: expected kv, get, hold, put-stream:N, get-stream:N or put-large:BYTES"
)]
pub struct UnknownScript(String);

impl FromStr for Script {
    type Err = UnknownScript;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || UnknownScript(s.to_string());
        Ok(match s.split_once(':') {
            None => match s {
                "kv" => Script::Kv,
                "get" => Script::Get,
                "hold" => Script::Hold,
                _ => return Err(bad()),
            },
            Some((name, n)) => {
                let n: u64 = n.parse().map_err(|_| bad())?;
                let n32 = || u32::try_from(n).map_err(|_| bad());
                match name {
                    "put-stream" => Script::PutStream(n32()?),
                    "get-stream" => Script::GetStream(n32()?),
                    "put-large" => Script::PutLarge(n),
                    _ => return Err(bad()),
                }
            }
        })
    }
}

/// `stream(i)`: 1024 bytes, byte j = (i + j) mod 251.
pub fn stream_value(i: u32) -> Vec<u8> {
    (0..1024u64)
        .map(|j| ((u64::from(i) + j) % 251) as u8)
        .collect()
}

/// `large(n)`: n bytes, byte j = j mod 251.
pub fn large_value(n: u64) -> Vec<u8> {
    (0..n).map(|j| (j % 251) as u8).collect()
}

/// The steps of `script`, for a client written in `client_language`.
pub fn script_steps(script: Script, client_language: &str) -> Vec<Step> {
    match script {
        Script::Kv => steps(client_language),
        Script::Get => vec![
            put_ascii(),
            Step {
                deadline: Some(GET_DEADLINE),
                after_stdin_line: true,
                ..get("get-deadline", "ascii", Expect::Answer)
            },
        ],
        Script::PutStream(n) => (0..n)
            .map(|i| {
                put(
                    format!("put-stream-{i}"),
                    format!("stream-{i}"),
                    stream_value(i),
                )
            })
            .collect(),
        Script::GetStream(n) => (0..n)
            .map(|i| {
                get(
                    format!("get-stream-{i}"),
                    format!("stream-{i}"),
                    Expect::Bytes(stream_value(i)),
                )
            })
            .collect(),
        Script::PutLarge(n) => {
            let v = large_value(n);
            vec![
                put("put-large", "large", v.clone()),
                get("get-large", "large", Expect::Bytes(v)),
            ]
        }
        Script::Hold => vec![put_ascii()],
    }
}

/// The KV script, for a client written in `client_language`: `peer-contract/kv-script.json`,
/// the copy every peer reads.
pub fn steps(client_language: &str) -> Vec<Step> {
    use soup_peer_contract as contract;
    contract::kv_script()
        .iter()
        .map(|st| {
            let value = st
                .value
                .as_ref()
                .map_or_else(Vec::new, |v| v.bytes(client_language));
            match (st.op, st.expect) {
                (contract::Op::Put, _) => put(st.step.clone(), st.key.clone(), value),
                (contract::Op::Get, contract::Expect::Probe) => {
                    get(st.step.clone(), st.key.clone(), Expect::Probe)
                }
                (contract::Op::Get, contract::Expect::Error) => {
                    get(st.step.clone(), st.key.clone(), Expect::AnyError)
                }
                (contract::Op::Get, _) => {
                    get(st.step.clone(), st.key.clone(), Expect::Bytes(value))
                }
            }
        })
        .collect()
}

/// `put-ascii`, the KV script's first step (the `get` and `hold` scripts start with it).
fn put_ascii() -> Step {
    let st = soup_peer_contract::kv_script()
        .iter()
        .find(|s| s.step == "put-ascii")
        .expect("the KV script has put-ascii");
    let value = st.value.as_ref().map_or_else(Vec::new, |v| v.bytes(""));
    put(st.step.clone(), st.key.clone(), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_names_round_trip_and_bad_ones_are_named() {
        for s in [
            "kv",
            "get",
            "hold",
            "put-stream:5",
            "get-stream:0",
            "put-large:268435457",
        ] {
            assert_eq!(s.parse::<Script>().unwrap().to_string(), s);
        }
        for bad in [
            "",
            "kv:1",
            "put-stream",
            "put-stream:x",
            "put-stream:-1",
            "large:5",
        ] {
            let e = bad.parse::<Script>().unwrap_err().to_string();
            assert!(e.contains("put-stream:N"), "{bad}: {e}");
        }
    }

    #[test]
    fn stream_and_large_values_follow_the_contract() {
        let v = stream_value(300);
        assert_eq!(
            (v.len(), v[0], v[1023]),
            (1024, (300 % 251) as u8, ((300 + 1023) % 251) as u8)
        );
        assert_eq!(large_value(1_048_576), steps("rust")[6].value);
        let s = script_steps(Script::PutStream(3), "rust");
        assert_eq!(
            s.iter()
                .map(|s| (s.name.as_str(), s.key.as_str()))
                .collect::<Vec<_>>(),
            [
                ("put-stream-0", "stream-0"),
                ("put-stream-1", "stream-1"),
                ("put-stream-2", "stream-2")
            ]
        );
        let get = script_steps(Script::Get, "go");
        assert_eq!(
            (get[1].deadline, get[1].after_stdin_line),
            (Some(GET_DEADLINE), true)
        );
    }

    #[test]
    fn plugin_core_parses_every_key_type_name_and_alias_of_the_contract() {
        for k in soup_peer_contract::key_types() {
            for spelling in std::iter::once(&k.name).chain(&k.aliases) {
                let parsed: plugin_core::KeyType = spelling.parse().unwrap_or_else(|e| {
                    panic!("key-types.json lists {spelling:?}; plugin-core says {e}")
                });
                assert_eq!(parsed.as_str(), k.name, "{spelling}");
            }
        }
        assert_eq!(
            plugin_core::KeyType::ALL.map(|k| k.as_str()).to_vec(),
            soup_peer_contract::key_types()
                .iter()
                .map(|k| k.name.as_str())
                .collect::<Vec<_>>()
        );
    }
}
