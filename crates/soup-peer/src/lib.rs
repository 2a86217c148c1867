//! soup-peer: the peer contract's client side in Rust (docs/peer-contract.md), shared by the
//! `soup client` subcommand and the Python wheel's `python-rs` peer.
//!
//! Test-harness code, kept out of the host library's public API: [`script`] holds the
//! contract's scripts (the KV script of the matrix, the fault matrix's others) and
//! [`report`] runs one through [`soup_client::KvClient`] and builds the JSON report the
//! matrix judges (`proto/peer-report.schema.json`).
#![warn(missing_docs)]

pub mod report;
pub mod script;
