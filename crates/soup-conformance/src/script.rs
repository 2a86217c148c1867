//! The fixed KV script of docs/peer-contract.md, computed here from the contract's data
//! (`peer-contract/kv-script.json`) so xtask can check every step's bytes (length and
//! SHA-256) independently of what the peers sent.

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

/// The script as a client of language `client_language` must run it: the steps of
/// `peer-contract/kv-script.json`, the copy every peer reads.
pub fn expected_steps(client_language: &str) -> Vec<ExpectedStep> {
    use soup_peer_contract::Expect;
    soup_peer_contract::kv_script()
        .iter()
        .map(|st| ExpectedStep {
            step: &st.step,
            op: st.op.as_str(),
            key: &st.key,
            // The enriched probe and the missing key cannot be known in advance.
            value: match st.expect {
                Expect::Ok | Expect::Bytes => st.value.as_ref().map(|v| v.bytes(client_language)),
                Expect::Probe | Expect::Error => None,
            },
            informational: st.expect == Expect::Error,
        })
        .collect()
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
