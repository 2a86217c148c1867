//! The crypto provider, protocol versions, ALPN and server name both sides use.

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;

/// The ALPN protocol gRPC needs; grpc-go ≥ 1.67 refuses TLS peers that don't select it.
pub const ALPN_H2: &[u8] = b"h2";

/// The server name both sides use: go-plugin certificates name `localhost`.
pub const SERVER_NAME: &str = "localhost";

/// The crypto provider everything uses: aws-lc-rs, which signs and verifies P-521.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

pub(crate) fn versions() -> &'static [&'static rustls::SupportedProtocolVersion] {
    VERSIONS
}
