//! The handshake line a plugin prints on stdout:
//! `CORE|APP-VERSION|NETWORK|ADDR|PROTOCOL|CERT[|MUX]`.

use std::fmt;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rustls_pki_types::CertificateDer;

/// go-plugin's core protocol version, field 1 of every handshake line.
pub const CORE_PROTOCOL_VERSION: u32 = 1;

/// The longest handshake line a host reads (a P-521 certificate line is ~830 bytes; an
/// RSA-4096 one ~2 KiB).
pub const MAX_HANDSHAKE_LINE: usize = 64 * 1024;

/// Decodes padded or unpadded standard base64 (go-plugin writes unpadded; some peers pad).
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The network a plugin listens on (field 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    /// `127.0.0.1:PORT`.
    Tcp,
    /// A unix socket path.
    Unix,
}

impl Network {
    /// `tcp` or `unix`.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Tcp => "tcp",
            Network::Unix => "unix",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tcp" => Ok(Network::Tcp),
            "unix" => Ok(Network::Unix),
            other => Err(format!("unknown transport {other:?}: expected tcp or unix")),
        }
    }
}

/// Why a line is not a handshake line we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeLineError {
    /// Not a handshake line at all, or a field that cannot be parsed.
    #[error("malformed handshake line ({reason}): {line:?}")]
    Malformed {
        /// The line as read (truncated to 200 characters).
        line: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Field 1 is not go-plugin's core version 1.
    #[error(
        "incompatible core API version with plugin: plugin speaks {plugin}, this host speaks {CORE_PROTOCOL_VERSION}"
    )]
    CoreVersion {
        /// What the plugin sent.
        plugin: u32,
    },
    /// Field 5 is not `grpc`.
    #[error(
        "unsupported plugin protocol {0:?}: this host speaks grpc only (netrpc plugins need a go-plugin netrpc host)"
    )]
    Protocol(String),
}

/// A parsed handshake line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeLine {
    /// Field 1: always 1.
    pub core_version: u32,
    /// Field 2: the negotiated application protocol version.
    pub app_version: u32,
    /// Field 3.
    pub network: Network,
    /// Field 4: socket path or `127.0.0.1:PORT`.
    pub address: String,
    /// Field 5: `grpc`.
    pub protocol: String,
    /// Field 6: the plugin's AutoMTLS certificate (DER), when present.
    pub server_cert: Option<CertificateDer<'static>>,
    /// Field 7: whether the plugin supports gRPC broker multiplexing, when present.
    pub multiplex: Option<bool>,
}

fn truncate(line: &str) -> String {
    if line.chars().count() > 200 {
        let mut s: String = line.chars().take(200).collect();
        s.push('…');
        s
    } else {
        line.to_string()
    }
}

impl HandshakeLine {
    /// Parses a line as go-plugin's host does, with the leniency interop needs:
    /// 6 to 8 (or more, ignored) fields, padded or unpadded base64 in field 6.
    pub fn parse(line: &str) -> Result<Self, HandshakeLineError> {
        let line = line.trim_end_matches(['\r', '\n']);
        let malformed = |reason: &str| HandshakeLineError::Malformed {
            line: truncate(line),
            reason: reason.to_string(),
        };
        if line.len() > MAX_HANDSHAKE_LINE {
            return Err(malformed("longer than 64 KiB"));
        }
        let fields: Vec<&str> = line.split('|').collect();
        if fields.len() < 6 {
            return Err(malformed(&format!(
                "{} fields, expected at least 6: CORE|APP-VERSION|NETWORK|ADDR|PROTOCOL|CERT",
                fields.len()
            )));
        }
        let core_version: u32 = fields[0]
            .parse()
            .map_err(|_| malformed("field 1 (core protocol version) is not a number"))?;
        if core_version != CORE_PROTOCOL_VERSION {
            return Err(HandshakeLineError::CoreVersion {
                plugin: core_version,
            });
        }
        let app_version: u32 = fields[1]
            .parse()
            .map_err(|_| malformed("field 2 (app protocol version) is not a number"))?;
        let network = fields[2]
            .parse()
            .map_err(|_| malformed("field 3 (network) is neither tcp nor unix"))?;
        let address = fields[3].to_string();
        if address.is_empty() {
            return Err(malformed("field 4 (address) is empty"));
        }
        let protocol = fields[4].to_string();
        if protocol != "grpc" {
            return Err(HandshakeLineError::Protocol(protocol));
        }
        let server_cert = match fields[5].trim() {
            "" => None,
            b64 => {
                let der = LENIENT_B64
                    .decode(b64)
                    .map_err(|e| malformed(&format!("field 6 (certificate) is not base64: {e}")))?;
                Some(CertificateDer::from(der))
            }
        };
        let multiplex = match fields.get(6).map(|s| s.trim()) {
            None | Some("") => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(malformed("field 7 (multiplex) is not true or false")),
        };
        Ok(HandshakeLine {
            core_version,
            app_version,
            network,
            address,
            protocol,
            server_cert,
            multiplex,
        })
    }

    /// Encodes a certificate as go-plugin does for field 6: unpadded standard base64 of the DER.
    pub fn encode_cert(der: &[u8]) -> String {
        LENIENT_B64.encode(der)
    }
}

impl fmt::Display for HandshakeLine {
    /// The line as go-plugin prints it (without the newline).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}|{}|{}|{}|{}|{}",
            self.core_version,
            self.app_version,
            self.network,
            self.address,
            self.protocol,
            self.server_cert
                .as_ref()
                .map(|c| Self::encode_cert(c))
                .unwrap_or_default()
        )?;
        if let Some(m) = self.multiplex {
            write!(f, "|{m}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyType, SelfSignedCert};

    fn cert_line(b64: &str) -> String {
        format!("1|1|unix|/tmp/plugin1|grpc|{b64}")
    }

    #[test]
    fn parses_unpadded_and_padded_certificates_alike() {
        let cert = SelfSignedCert::generate(KeyType::EcP521).unwrap();
        let unpadded = HandshakeLine::encode_cert(&cert.der);
        assert!(!unpadded.ends_with('='));
        let padded = base64::engine::general_purpose::STANDARD.encode(&cert.der);
        assert_ne!(unpadded, padded, "a P-521 cert needs padding");
        for b64 in [&unpadded, &padded] {
            let line = HandshakeLine::parse(&cert_line(b64)).unwrap();
            assert_eq!(line.server_cert.as_deref(), Some(cert.der.as_ref()));
        }
    }

    #[test]
    fn parses_six_seven_and_eight_fields() {
        let six = HandshakeLine::parse("1|5|tcp|127.0.0.1:1234|grpc|\n").unwrap();
        assert_eq!(six.app_version, 5);
        assert_eq!(six.network, Network::Tcp);
        assert_eq!(six.server_cert, None);
        assert_eq!(six.multiplex, None);
        let seven = HandshakeLine::parse("1|5|unix|/tmp/p|grpc||true").unwrap();
        assert_eq!(seven.multiplex, Some(true));
        let eight = HandshakeLine::parse("1|5|unix|/tmp/p|grpc||false|future").unwrap();
        assert_eq!(eight.multiplex, Some(false));
    }

    #[test]
    fn round_trips_through_display() {
        let cert = SelfSignedCert::generate(KeyType::EcP256).unwrap();
        let text = cert_line(&HandshakeLine::encode_cert(&cert.der));
        assert_eq!(HandshakeLine::parse(&text).unwrap().to_string(), text);
    }

    #[test]
    fn rejects_garbage_quoting_it() {
        let err = HandshakeLine::parse("hello world").unwrap_err();
        match err {
            HandshakeLineError::Malformed { line, reason } => {
                assert_eq!(line, "hello world");
                assert!(reason.contains("1 fields"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            HandshakeLine::parse("1|x|tcp|a|grpc|"),
            Err(HandshakeLineError::Malformed { .. })
        ));
        assert!(matches!(
            HandshakeLine::parse("1|1|udp|a|grpc|"),
            Err(HandshakeLineError::Malformed { .. })
        ));
        assert!(matches!(
            HandshakeLine::parse("1|1|tcp|a|grpc|!!!notbase64"),
            Err(HandshakeLineError::Malformed { .. })
        ));
        assert_eq!(
            HandshakeLine::parse("2|1|tcp|a|grpc|"),
            Err(HandshakeLineError::CoreVersion { plugin: 2 })
        );
        assert_eq!(
            HandshakeLine::parse("1|1|tcp|a|netrpc|"),
            Err(HandshakeLineError::Protocol("netrpc".into()))
        );
    }

    #[test]
    fn rejects_overlong_lines() {
        let long = format!("1|1|tcp|a|grpc|{}", "A".repeat(MAX_HANDSHAKE_LINE));
        match HandshakeLine::parse(&long).unwrap_err() {
            HandshakeLineError::Malformed { line, reason } => {
                assert!(reason.contains("64 KiB"));
                assert!(
                    line.chars().count() <= 201,
                    "the error quotes a bounded prefix"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
