//! The KV script of the peer contract (docs/peer-contract.md): fixed step names, keys
//! and values, so every client runs exactly the same operations.

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
}

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Step name, e.g. `put-ascii`.
    pub name: &'static str,
    /// The operation.
    pub op: Op,
    /// The key.
    pub key: &'static str,
    /// The value (Put).
    pub value: Vec<u8>,
    /// What counts as success.
    pub expect: Expect,
}

fn put(name: &'static str, key: &'static str, value: Vec<u8>) -> Step {
    Step {
        name,
        op: Op::Put,
        key,
        value,
        expect: Expect::Ok,
    }
}

fn get(name: &'static str, key: &'static str, expect: Expect) -> Step {
    Step {
        name,
        op: Op::Get,
        key,
        value: Vec::new(),
        expect,
    }
}

/// The script, for a client written in `client_language`.
pub fn steps(client_language: &str) -> Vec<Step> {
    let binary: Vec<u8> = (0..=255).collect();
    let large: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    let probe = format!(r#"{{"client_language":"{client_language}","server_handshake":null}}"#);
    vec![
        put("put-ascii", "ascii", b"hello, soup".to_vec()),
        get("get-ascii", "ascii", Expect::Bytes(b"hello, soup".to_vec())),
        put("put-binary", "binary", binary.clone()),
        get("get-binary", "binary", Expect::Bytes(binary)),
        put("put-empty", "empty", Vec::new()),
        get("get-empty", "empty", Expect::Bytes(Vec::new())),
        put("put-1mib", "large", large.clone()),
        get("get-1mib", "large", Expect::Bytes(large)),
        put(
            "put-unicode-key",
            "ключ-🔑-键",
            "unicode key".as_bytes().to_vec(),
        ),
        get(
            "get-unicode-key",
            "ключ-🔑-键",
            Expect::Bytes("unicode key".as_bytes().to_vec()),
        ),
        put("put-overwrite-1", "overwrite", b"first".to_vec()),
        put("put-overwrite-2", "overwrite", b"second".to_vec()),
        get(
            "get-overwrite",
            "overwrite",
            Expect::Bytes(b"second".to_vec()),
        ),
        put("put-handshake-probe", "handshake-probe", probe.into_bytes()),
        get("get-handshake-probe", "handshake-probe", Expect::Probe),
        get("get-missing", "missing-key", Expect::AnyError),
    ]
}
