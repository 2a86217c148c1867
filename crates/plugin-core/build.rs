//! Compiles go-plugin's internal protos (controller, stdio, broker) with protox, so a
//! fresh machine needs no system `protoc`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");
    let files: Vec<String> = [
        "grpc_controller.proto",
        "grpc_stdio.proto",
        "grpc_broker.proto",
    ]
    .iter()
    .map(|f| format!("{proto_dir}/{f}"))
    .collect();
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(&files, [proto_dir])?;
    // For gRPC server reflection (tonic-reflection), as go-plugin plugins serve it.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("plugin_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
