//! soup-server: go-plugin's KV example service as a Rust go-plugin plugin.
//!
//! Values are bytes, stored one file per key with atomic, durable writes
//! ([`FileStore`]); Get of a missing key is gRPC `NOT_FOUND` naming the key. The plugin
//! side of the protocol (cookie, handshake, AutoMTLS, internal services) is
//! [`plugin_core::serve`].
//!
//! ```no_run
//! use plugin_core::{MagicCookie, ServeConfig};
//! use soup_server::{FileStore, kv_routes};
//!
//! let store = FileStore::open(FileStore::default_dir()).unwrap();
//! let config = ServeConfig::new(MagicCookie::kv_example(), vec![1]);
//! std::process::exit(match plugin_core::run_plugin("soup-server", config, || kv_routes(store)) {
//!     code if code == std::process::ExitCode::SUCCESS => 0,
//!     _ => 1,
//! });
//! ```
#![warn(missing_docs)]

mod cli;
mod service;
mod store;

pub use cli::cli_main;

pub use service::{KvService, enrich_probe};
pub use store::{FileStore, StoreError};

/// The gRPC routes of the KV plugin over `store`, with go-plugin-sized message limits.
pub fn kv_routes(store: FileStore) -> tonic::service::Routes {
    kv_routes_with(KvService::new(store))
}

/// The gRPC routes of `service`, with go-plugin-sized message limits.
pub fn kv_routes_with(service: KvService) -> tonic::service::Routes {
    tonic::service::Routes::new(
        kv_proto::KvServer::new(service)
            .max_decoding_message_size(plugin_core::MAX_MESSAGE_SIZE)
            .max_encoding_message_size(plugin_core::MAX_MESSAGE_SIZE),
    )
}
