//! `grpc-plugin`: go-plugin's `examples/grpc/plugin-go-grpc` in Rust. Put writes file
//! `kv_<key>` in the working directory (the value, then "Written from plugin-rust-grpc"),
//! Get reads it. Started by a go-plugin host (`BASIC_PLUGIN=hello`, version 1), never by
//! hand: run directly it says so and exits 1.

use go_plugin_examples::{grpc, kv::FileKv};

fn main() -> std::process::ExitCode {
    plugin_core::run_plugin("grpc-plugin", grpc::serve_config(), || {
        FileKv::new(grpc::TEXTS).routes()
    })
}
