//! soup-client: host go-plugin KV plugins (Rust, Go, Python...) from Rust.
//!
//! [`KvClient::launch`] starts a plugin with the go-plugin env contract, does the
//! handshake and AutoMTLS (any key type; stock go-plugin plugins present P-521), checks
//! health, and gives typed `get`/`put`. [`KvClient::shutdown`] stops the plugin as a
//! go-plugin host does.
//!
//! ```no_run
//! # async fn demo() -> Result<(), soup_client::KvError> {
//! use soup_client::{KvClient, LaunchConfig};
//! let kv = KvClient::launch(LaunchConfig::new(["soup-server", "server"])).await?;
//! kv.put("greeting", b"hello").await?;
//! assert_eq!(kv.get("greeting").await?, b"hello");
//! kv.shutdown().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod conformance;
pub mod dynamic;
mod kv;
pub mod presets;
pub mod probe;

pub use kv::{KvClient, KvError};
pub use plugin_core::{
    CertificateInfo, ExitHow, HandshakeLine, HostError, KeyType, LaunchConfig, MagicCookie,
    ManualTls, Network, PluginClient, PluginExit, TlsMode,
};
