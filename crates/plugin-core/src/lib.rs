//! The HashiCorp go-plugin gRPC protocol in Rust, both sides.
//!
//! A *host* starts a *plugin* process with an environment contract (magic cookie,
//! protocol versions, ports, the host's AutoMTLS certificate); the plugin answers with
//! one handshake line on stdout (`1|VERSION|NETWORK|ADDR|grpc|CERT`) and serves gRPC
//! there. This crate implements both sides wire-compatibly with go-plugin v1.8:
//!
//! - [`plugin`]: [`run_plugin`] / [`serve()`] (cookie check, version negotiation with a
//!   service set per version through [`run_plugin_with`], tcp or unix listener, AutoMTLS
//!   with any [`KeyType`], health, reflection, GRPCController, GRPCStdio, hclog JSON
//!   logs, exit with the host, debug mode);
//! - [`host`]: [`PluginClient::launch`] (env contract with inherited `PLUGIN_*`
//!   scrubbed, handshake parsing, pinned-certificate AutoMTLS, health check, go-plugin's
//!   shutdown sequence, exit futures) and [`PluginClient::attach`] (reattach), with
//!   typed [`HostError`]s;
//! - [`broker`]: go-plugin's GRPCBroker on both sides, plain or multiplexed over one
//!   yamux connection (`PLUGIN_MULTIPLEX_GRPC`);
//! - [`protocol`], [`tls`], [`transport`]: the wire contract, TLS, and byte streams the
//!   sides share.
//!
//! `docs/go-plugin-features.md` in the repository maps each go-plugin feature to its API.
//!
//! AutoMTLS certificates are self-signed CA certificates used as leaves, so both sides
//! pin the exact certificate exchanged instead of using a webpki chain. TLS is rustls
//! with the aws-lc-rs provider, which verifies the ECDSA P-521 certificates every stock
//! go-plugin peer presents.
//!
//! ```
//! use plugin_core::{HandshakeLine, KeyType, SelfSignedCert};
//!
//! let cert = SelfSignedCert::generate(KeyType::EcP384).unwrap();
//! let line = format!("1|1|unix|/tmp/plugin42|grpc|{}", HandshakeLine::encode_cert(&cert.der));
//! let parsed = HandshakeLine::parse(&line).unwrap();
//! assert_eq!(parsed.server_cert.as_deref(), Some(cert.der.as_ref()));
//! ```
#![warn(missing_docs)]

pub mod broker;
mod error_chain;
pub mod host;
pub mod plugin;
pub mod protocol;
mod shutdown;
pub mod tls;
pub mod transport;

pub use protocol::{env, handshake, hclog, reattach};
pub use tls::certificate;

pub use broker::{Broker, BrokerConfig, BrokerError, BrokeredServer};
pub use error_chain::error_chain;
pub use host::{
    AttachConfig, ExitHow, HealthStatus, HostError, LaunchConfig, LaunchTimings, PluginClient,
    PluginExit, SHUTDOWN_GRACE, StderrTail, StdioSink,
};
pub use plugin::{
    DebugServe, MAX_MESSAGE_SIZE, PluginContext, PluginStdio, ServeConfig, ServeError,
    ServeOutcome, StdioChannel, run_plugin, run_plugin_with, serve, serve_with,
};
pub use protocol::env::MagicCookie;
pub use protocol::handshake::{HandshakeLine, HandshakeLineError, Network};
pub use tls::certificate::{CertificateInfo, SelfSignedCert};
pub use tls::{KeyChoice, KeyType, ManualTls, TlsMode, TlsSession, UnknownKeyType};
pub use transport::socket::PeerInfo;
