//! The peer contract's shared data (docs/peer-contract.md): the KV script every client
//! runs and the key-type names with their aliases, from `kv-script.json` and
//! `key-types.json` beside this crate. The Go peer embeds the same files and the Python
//! peer reads them, so no language keeps a copy of its own.
#![warn(missing_docs)]

use std::sync::LazyLock;

use serde::Deserialize;

/// `kv-script.json`, as committed.
pub const KV_SCRIPT_JSON: &str = include_str!("../kv-script.json");
/// `key-types.json`, as committed.
pub const KEY_TYPES_JSON: &str = include_str!("../key-types.json");

/// Put or Get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Put a value.
    Put,
    /// Get a value.
    Get,
}

impl Op {
    /// `put` or `get`, as reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
        }
    }
}

/// What a step counts as success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// A Put that succeeds.
    Ok,
    /// A Get returning exactly the step's value.
    Bytes,
    /// A Get returning a JSON object whose `server_handshake` is an object.
    Probe,
    /// A Get that must fail (NOT_FOUND expected; informational).
    Error,
}

/// `n` bytes, byte `j` = `j mod modulus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sequence {
    /// Length in bytes.
    pub length: u64,
    /// Byte j is j mod this (1..=256).
    pub modulus: u16,
}

/// How the script writes a value.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum ValueSpec {
    /// UTF-8 text; `{client_language}` in it is the client's language.
    Utf8(String),
    /// A byte sequence.
    Sequence(Sequence),
}

impl ValueSpec {
    /// The bytes, for a client written in `client_language`.
    pub fn bytes(&self, client_language: &str) -> Vec<u8> {
        match self {
            ValueSpec::Utf8(text) => text
                .replace("{client_language}", client_language)
                .into_bytes(),
            ValueSpec::Sequence(s) => (0..s.length)
                .map(|j| (j % u64::from(s.modulus)) as u8)
                .collect(),
        }
    }
}

/// One step of the KV script.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Step name, e.g. `put-ascii`.
    pub step: String,
    /// The operation.
    pub op: Op,
    /// The key.
    pub key: String,
    /// The value sent (Put) or expected back (Get with [`Expect::Bytes`]).
    pub value: Option<ValueSpec>,
    /// What counts as success.
    pub expect: Expect,
}

/// A `--key` name with its aliases.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyType {
    /// The contract's name (`ec-p256`, ...).
    pub name: String,
    /// Other spellings every peer accepts (matched trimmed and lowercased).
    pub aliases: Vec<String>,
    /// The curve name pyvider's `PYVIDER_CLIENT_CERT_CURVE` takes (curves only).
    pub curve: Option<String>,
}

#[derive(Deserialize)]
struct ScriptFile {
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct KeyTypesFile {
    key_types: Vec<KeyType>,
}

static KV_SCRIPT: LazyLock<Vec<Step>> = LazyLock::new(|| {
    serde_json::from_str::<ScriptFile>(KV_SCRIPT_JSON)
        .expect("peer-contract/kv-script.json parses (a test checks it)")
        .steps
});

static KEY_TYPES: LazyLock<Vec<KeyType>> = LazyLock::new(|| {
    serde_json::from_str::<KeyTypesFile>(KEY_TYPES_JSON)
        .expect("peer-contract/key-types.json parses (a test checks it)")
        .key_types
});

/// The KV script's steps, in order.
pub fn kv_script() -> &'static [Step] {
    &KV_SCRIPT
}

/// The key types, in contract order.
pub fn key_types() -> &'static [KeyType] {
    &KEY_TYPES
}

/// The contract name of a `--key` value or alias (trimmed, case-insensitive).
pub fn canonical_key(value: &str) -> Option<&'static str> {
    let low = value.trim().to_ascii_lowercase();
    key_types()
        .iter()
        .find(|k| k.name == low || k.aliases.contains(&low))
        .map(|k| k.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_files_parse_and_hold_the_contract() {
        let s = kv_script();
        assert_eq!(s.len(), 16);
        assert_eq!(
            (s[0].step.as_str(), s[0].op, s[0].expect),
            ("put-ascii", Op::Put, Expect::Ok)
        );
        let probe = s[13].value.as_ref().unwrap().bytes("rust");
        assert_eq!(
            probe,
            br#"{"client_language":"rust","server_handshake":null}"#
        );
        let big = s[6].value.as_ref().unwrap().bytes("rust");
        assert_eq!((big.len(), big[250], big[251]), (1 << 20, 250, 0));
        let bin = s[2].value.as_ref().unwrap().bytes("rust");
        assert_eq!(bin, (0..=255u8).collect::<Vec<_>>());
        // Every Put sends a value and every Bytes Get names one.
        for st in s {
            let needs_value = st.op == Op::Put || st.expect == Expect::Bytes;
            assert_eq!(st.value.is_some(), needs_value, "{}", st.step);
        }
        assert_eq!(
            key_types()
                .iter()
                .map(|k| k.name.as_str())
                .collect::<Vec<_>>(),
            ["ec-p256", "ec-p384", "ec-p521", "rsa-2048", "rsa-4096"]
        );
        assert_eq!(canonical_key(" P-384 "), Some("ec-p384"));
        assert_eq!(canonical_key("ed25519"), None);
    }
}

#[cfg(test)]
mod doc_tests {
    /// docs/peer-contract.md's table of the KV script names the file's steps, in order.
    #[test]
    fn the_contract_doc_describes_this_script() {
        let doc = include_str!("../../docs/peer-contract.md");
        let table: Vec<(String, String, String)> = doc
            .split("### The KV script")
            .nth(1)
            .expect("docs/peer-contract.md has the KV script section")
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| -> (String, String, String) {
                let cols: Vec<&str> = l.split('|').map(|c| c.trim().trim_matches('`')).collect();
                (cols[1].into(), cols[2].to_lowercase(), cols[3].into())
            })
            .take_while(|(step, _, _)| step.starts_with("put-") || step.starts_with("get-"))
            .collect();
        let file: Vec<(String, String, String)> = super::kv_script()
            .iter()
            .map(|s| (s.step.clone(), s.op.as_str().into(), s.key.clone()))
            .collect();
        assert_eq!(table, file);
    }
}
