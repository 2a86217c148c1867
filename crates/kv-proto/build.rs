//! Compiles `proto/kv.proto` (this crate's copy of go-plugin's examples/grpc/proto/kv.proto) with protox (a protobuf compiler in Rust), so a fresh
//! machine needs no system `protoc`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");
    let file = format!("{proto_dir}/kv.proto");
    println!("cargo:rerun-if-changed={file}");
    let fds = protox::compile([&file], [proto_dir])?;
    // For gRPC server reflection (tonic-reflection), as go-plugin plugins serve it.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("kv_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
