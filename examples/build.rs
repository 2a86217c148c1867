//! Compiles each example's protos (`proto/<example>/*.proto`) with protox, so a fresh
//! machine needs no system `protoc`. go-plugin's examples all use protobuf package
//! `proto` with clashing message names (KV's `GetResponse` holds bytes, the bidirectional
//! counter's an int64), so every example gets its own output directory
//! (`$OUT_DIR/<example>/proto.rs`) and its own Rust module (`src/proto.rs`).
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto");
    let out_root = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed={}", proto_root.display());
    let mut examples: Vec<PathBuf> = std::fs::read_dir(&proto_root)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    examples.retain(|p| p.is_dir());
    examples.sort();
    for dir in examples {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        files.retain(|p| p.extension().is_some_and(|x| x == "proto"));
        files.sort();
        for f in &files {
            println!("cargo:rerun-if-changed={}", f.display());
        }
        let name = dir.file_name().expect("a directory has a name");
        let out = out_root.join(name);
        std::fs::create_dir_all(&out)?;
        let fds = protox::compile(&files, [&dir])?;
        tonic_prost_build::configure()
            .out_dir(&out)
            .compile_fds(fds)?;
    }
    Ok(())
}
