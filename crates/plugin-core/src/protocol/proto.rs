//! Generated code for go-plugin's internal protos (package `plugin`: GRPCController,
//! GRPCStdio, GRPCBroker), and their descriptors for gRPC reflection.
#![allow(missing_docs, clippy::all)]

tonic::include_proto!("plugin");

/// The encoded descriptors of go-plugin's internal services (package `plugin`).
pub const PLUGIN_FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/plugin_descriptor.bin"));
