//! The plugin's handshake line as the tap recorded it, decoded by xtask (the certificate
//! in field 6 through the matrix's own decoder), and said in a few words for the table.

use serde::Serialize;

use soup_conformance::certinfo::{self, CertInfo};

/// What a handshake line carried.
#[derive(Debug, Clone, Serialize)]
pub struct Handshake {
    /// The line, without its newline.
    pub line: String,
    /// Field 2: the application protocol version the plugin chose.
    pub app_version: String,
    /// Field 3: `unix` or `tcp`.
    pub network: String,
    /// Field 5: `grpc` or `netrpc` (absent = netrpc for go-plugin).
    pub protocol: String,
    /// Field 6 decoded: the plugin's AutoMTLS certificate.
    pub certificate: Option<CertInfo>,
    /// Field 7 as sent: whether the plugin multiplexes gRPC broker connections
    /// (go-plugin ≥ 1.6 sends it only when the host set `PLUGIN_MULTIPLEX_GRPC`).
    pub multiplex: Option<String>,
    /// Why the line or its certificate could not be decoded.
    pub decode_error: Option<String>,
}

impl Handshake {
    /// Decodes a recorded line; never fails (a bad line is described, not dropped).
    pub fn parse(raw: &str) -> Self {
        let line = raw.trim_end_matches(['\r', '\n']).to_string();
        let fields: Vec<&str> = line.split('|').collect();
        let field = |i: usize| fields.get(i).map_or(String::new(), |f| f.to_string());
        let (certificate, decode_error) = match certinfo::handshake_certificate(&line) {
            Ok(None) => (None, None),
            Ok(Some(der)) => match certinfo::describe(&der) {
                Ok(info) => (Some(info), None),
                Err(e) => (None, Some(format!("{e:#}"))),
            },
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        Handshake {
            app_version: field(1),
            network: field(2),
            protocol: if fields.len() > 4 {
                field(4)
            } else {
                "netrpc".into()
            },
            certificate,
            decode_error,
            multiplex: fields.get(6).map(|f| f.to_string()),
            line,
        }
    }

    /// E.g. `unix, v1 grpc, plaintext` or `unix, v1 grpc, AutoMTLS (plugin cert ec-p521)`.
    pub fn summary(&self) -> String {
        let security = match (&self.certificate, &self.decode_error) {
            (Some(c), _) => format!("AutoMTLS (plugin cert {})", c.key_type),
            (None, Some(e)) => format!("undecodable: {e}"),
            (None, None) => "plaintext (no cert)".into(),
        };
        format!(
            "{}, v{} {}, {security}",
            self.network, self.app_version, self.protocol
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_plaintext_and_automtls_lines() {
        let plain = Handshake::parse("1|3|unix|/tmp/plugin1|grpc|\n");
        assert_eq!(plain.summary(), "unix, v3 grpc, plaintext (no cert)");
        let line = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../crates/soup-conformance/tests/fixtures/go-plugin-automtls.line"
        ))
        .unwrap();
        let auto = Handshake::parse(&line);
        assert!(
            auto.summary().ends_with("AutoMTLS (plugin cert ec-p521)"),
            "{}",
            auto.summary()
        );
        assert_eq!(Handshake::parse("1|2|unix|/tmp/p").protocol, "netrpc");
        assert_eq!(plain.multiplex, None);
        let mux = Handshake::parse("1|1|unix|/tmp/plugin1|grpc||true\n");
        assert_eq!(mux.multiplex.as_deref(), Some("true"));
        assert_eq!(mux.summary(), "unix, v1 grpc, plaintext (no cert)");
    }
}
