//! Compiles go-plugin's examples/bidirectional wire contract from the examples crate's own
//! `counter.proto` (one copy in the tree) with protox, so no system `protoc` is needed.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/proto/bidirectional");
    let file = dir.join("counter.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let fds = protox::compile([&file], [&dir])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
