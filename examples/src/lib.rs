//! go-plugin's own examples, ported to Rust on [`plugin_core`]: each example is a plugin
//! binary and a host binary (`src/bin/`) that behave like go-plugin's Go originals and
//! interoperate with them both ways; `cargo xtask examples` proves it with every
//! host × plugin pairing and writes `docs/go-plugin-examples.md`.
//!
//! | go-plugin example | module | binaries |
//! | --- | --- | --- |
//! | `examples/grpc` | [`grpc`] + [`kv`] | `grpc-plugin`, `grpc-host` |
//! | `examples/streaming` | [`streaming`] | `streaming-plugin`, `streaming-host` |
//! | `examples/negotiated` (gRPC, version 3) | [`negotiated`] + [`kv`] | `negotiated-plugin`, `negotiated-host` |
//! | `examples/bidirectional` (GRPCBroker) | [`bidirectional`] | `bidirectional-plugin`, `bidirectional-host` |
//!
//! Design: an example module holds what the Go original's `shared` package does (the
//! handshake, the service, the host's calls); [`host`] holds what every host binary does
//! (the `--tls auto|off` and `--multiplex` flags, launching the plugin the way the Go host finds it, shutting
//! it down); protos live in `proto/<example>/` and are generated into [`proto`].
//!
//! ```
//! use go_plugin_examples::{grpc, kv::KvCommand};
//!
//! // The grpc example's host runs `sh -c "$KV_PLUGIN"` with BASIC_PLUGIN=hello, version 1.
//! let spec = grpc::plugin_spec();
//! assert_eq!(spec.cookie.key, "BASIC_PLUGIN");
//! assert_eq!(spec.versions, [1]);
//! let put = KvCommand::Put { key: "hello".into(), value: "world".into() };
//! assert_ne!(put, KvCommand::Get { key: "hello".into() });
//! ```
#![warn(missing_docs)]

pub mod bidirectional;
pub mod grpc;
pub mod host;
pub mod kv;
pub mod negotiated;
pub mod proto;
pub mod streaming;
