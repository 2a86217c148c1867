//! `negotiated-plugin`: the gRPC part of go-plugin's `examples/negotiated/plugin-go` in
//! Rust. It offers protocol version 3 only (gRPC KV: Put writes `kv_<key>` with "Written
//! from plugin version 3", Get appends "Read by plugin version 3"); version 2 is
//! go-plugin's net/rpc protocol, which soup-rpc does not implement. The Go host runs it as
//! `./kv-plugin`.

use go_plugin_examples::{kv::FileKv, negotiated};

fn main() -> std::process::ExitCode {
    plugin_core::run_plugin("negotiated-plugin", negotiated::serve_config(), || {
        FileKv::new(negotiated::TEXTS).routes()
    })
}
