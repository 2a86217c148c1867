//! `HandshakeLine::parse`, the host's reader of a plugin's first stdout line.
//!
//! Input: the bytes a plugin printed, decoded as the host decodes them (lossy UTF-8,
//! `host/handshake.rs`). Properties, beyond not panicking:
//! - a line that parses has core version 1, protocol `grpc` and a non-empty address;
//! - it re-renders (`Display`, what our plugin prints) to a line no longer than the
//!   input that parses to the same value, and rendering that again is a fixed point;
//!   the rendered line with go-plugin's `\n` (or `\r\n`) still parses to the same value;
//! - a certificate in field 6 is described by `CertificateInfo::from_der` (as the host
//!   does) without panicking, with the fingerprint of exactly those bytes;
//! - a rejection quotes a bounded prefix of the line and names the right field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_core::certificate::sha256_hex;
use plugin_core::handshake::CORE_PROTOCOL_VERSION;
use plugin_core::{CertificateInfo, HandshakeLine, HandshakeLineError};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check(&text);
});

fn check(line: &str) {
    match HandshakeLine::parse(line) {
        Ok(parsed) => {
            assert_eq!(parsed.core_version, CORE_PROTOCOL_VERSION);
            assert_eq!(parsed.protocol, "grpc");
            assert!(!parsed.address.is_empty());
            assert!(!parsed.address.contains('|'));

            let rendered = parsed.to_string();
            let trimmed = line.trim_end_matches(['\r', '\n']);
            assert!(
                rendered.len() <= trimmed.len(),
                "rendering grew the line: {trimmed:?} -> {rendered:?}"
            );
            let again = HandshakeLine::parse(&rendered)
                .unwrap_or_else(|e| panic!("{line:?} parsed, its rendering {rendered:?} not: {e}"));
            assert_eq!(again, parsed, "round trip through {rendered:?}");
            assert_eq!(again.to_string(), rendered);
            for eol in ["\n", "\r\n"] {
                let printed = format!("{rendered}{eol}");
                assert_eq!(HandshakeLine::parse(&printed).as_ref(), Ok(&parsed));
            }

            if let Some(der) = &parsed.server_cert {
                assert!(!der.is_empty(), "an empty certificate from {line:?}");
                assert_eq!(
                    HandshakeLine::encode_cert(der).len(),
                    (der.len() * 4).div_ceil(3),
                    "unpadded base64"
                );
                if let Ok(info) = CertificateInfo::from_der(der) {
                    assert_eq!(info.sha256, sha256_hex(der));
                }
            }
        }
        Err(err) => {
            let _ = err.to_string();
            match err {
                HandshakeLineError::Malformed {
                    line: quoted,
                    reason,
                } => {
                    assert!(!reason.is_empty());
                    assert!(quoted.chars().count() <= 201, "quoted {quoted:?}");
                    let prefix = quoted.strip_suffix('…').unwrap_or(&quoted);
                    assert!(
                        line.starts_with(prefix),
                        "quoted {quoted:?} is not the line's"
                    );
                }
                HandshakeLineError::CoreVersion { plugin } => {
                    assert_ne!(plugin, CORE_PROTOCOL_VERSION)
                }
                HandshakeLineError::Protocol(p) => assert_ne!(p, "grpc"),
            }
        }
    }
}
