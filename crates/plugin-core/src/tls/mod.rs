//! TLS for both sides: go-plugin's AutoMTLS (each side pins the other's exact
//! certificate, [`auto_client_config`] / [`auto_server_config`]), manual TLS
//! (certificates and a CA as files, [`ManualTls`]), the key types and self-signed
//! certificates AutoMTLS exchanges ([`certificate`], [`KeyType`]), and what a handshake
//! negotiated ([`TlsSession`]).

pub mod certificate;
mod config;
mod key_type;
pub mod keylog;
mod mode;
mod pinned;
mod provider;
mod session;

pub use config::{
    auto_client_config, auto_server_config, manual_client_config, manual_server_config,
};
pub use key_type::{KeyChoice, KeyType, UnknownKeyType};
pub use keylog::{KeyLogError, log_keys_to};
pub use mode::{ManualTls, TlsConfigError, TlsMode};
pub use provider::{ALPN_H2, SERVER_NAME, provider};
pub use session::TlsSession;
