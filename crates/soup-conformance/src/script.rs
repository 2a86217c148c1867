//! The fixed KV script of docs/peer-contract.md, computed here from the contract's data so
//! xtask can check every step's bytes (length and SHA-256) independently of the peers.

use crate::certinfo::sha256_hex;

/// What a step must look like in a passing report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedStep {
    /// Step name (`put-ascii`, ...).
    pub step: &'static str,
    /// `put` or `get`.
    pub op: &'static str,
    /// The key, as the contract spells it.
    pub key: &'static str,
    /// The bytes sent or expected back; `None` when they cannot be known in advance
    /// (the enriched probe, the missing key).
    pub value: Option<Vec<u8>>,
    /// Informational steps record their status but never fail a cell.
    pub informational: bool,
}

/// Value of the `put-1mib` step: 1,048,576 bytes, byte i = i mod 251.
fn one_mib() -> Vec<u8> {
    (0..1_048_576u32).map(|i| (i % 251) as u8).collect()
}

/// The script as a client of language `client_language` must run it.
pub fn expected_steps(client_language: &str) -> Vec<ExpectedStep> {
    let probe = format!(r#"{{"client_language":"{client_language}","server_handshake":null}}"#);
    let step = |step, op, key, value: Option<Vec<u8>>| ExpectedStep {
        step,
        op,
        key,
        value,
        informational: false,
    };
    let binary: Vec<u8> = (0..=255u8).collect();
    vec![
        step("put-ascii", "put", "ascii", Some(b"hello, soup".to_vec())),
        step("get-ascii", "get", "ascii", Some(b"hello, soup".to_vec())),
        step("put-binary", "put", "binary", Some(binary.clone())),
        step("get-binary", "get", "binary", Some(binary)),
        step("put-empty", "put", "empty", Some(Vec::new())),
        step("get-empty", "get", "empty", Some(Vec::new())),
        step("put-1mib", "put", "large", Some(one_mib())),
        step("get-1mib", "get", "large", Some(one_mib())),
        step(
            "put-unicode-key",
            "put",
            "ключ-🔑-键",
            Some(b"unicode key".to_vec()),
        ),
        step(
            "get-unicode-key",
            "get",
            "ключ-🔑-键",
            Some(b"unicode key".to_vec()),
        ),
        step(
            "put-overwrite-1",
            "put",
            "overwrite",
            Some(b"first".to_vec()),
        ),
        step(
            "put-overwrite-2",
            "put",
            "overwrite",
            Some(b"second".to_vec()),
        ),
        step(
            "get-overwrite",
            "get",
            "overwrite",
            Some(b"second".to_vec()),
        ),
        step(
            "put-handshake-probe",
            "put",
            "handshake-probe",
            Some(probe.into_bytes()),
        ),
        step("get-handshake-probe", "get", "handshake-probe", None),
        ExpectedStep {
            informational: true,
            ..step("get-missing", "get", "missing-key", None)
        },
    ]
}

impl ExpectedStep {
    /// `(len, sha256 hex)` of the expected value, when known.
    pub fn digest(&self) -> Option<(u64, String)> {
        self.value.as_ref().map(|v| (v.len() as u64, sha256_hex(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_has_the_contract_steps_in_order() {
        let names: Vec<_> = expected_steps("go").iter().map(|s| s.step).collect();
        assert_eq!(names.len(), 16);
        assert_eq!(names[0], "put-ascii");
        assert_eq!(names[13], "put-handshake-probe");
        assert_eq!(names[15], "get-missing");
    }

    #[test]
    fn large_value_follows_mod_251() {
        let steps = expected_steps("rust");
        let v = steps[6].value.as_ref().unwrap();
        assert_eq!(v.len(), 1 << 20);
        assert_eq!(
            (v[250], v[251], v[1_048_575]),
            (250, 0, (1_048_575 % 251) as u8)
        );
    }

    #[test]
    fn probe_value_names_the_client_language() {
        let steps = expected_steps("python");
        assert_eq!(
            steps[13].value.as_deref(),
            Some(br#"{"client_language":"python","server_handshake":null}"#.as_slice())
        );
        assert_eq!(steps[4].digest().unwrap().1, sha256_hex(b""));
    }
}
