//! Generated gRPC code, one module per go-plugin example (each example's protobuf package
//! is `proto`, so they cannot share one module). The grpc and negotiated examples share
//! go-plugin's `examples/grpc/proto/kv.proto`, which the workspace already generates in
//! the `kv-proto` crate.

pub use kv_proto as kv;

/// `examples/streaming/proto/streamer.proto`: `proto.StreamerService`.
#[allow(missing_docs, clippy::all)]
pub mod streaming {
    include!(concat!(env!("OUT_DIR"), "/streaming/proto.rs"));
}

/// go-plugin's `examples/bidirectional` contract (`proto/bidirectional/counter.proto`):
/// `proto.Counter`, served by the plugin, and `proto.AddHelper`, served by the host
/// through the GRPCBroker.
#[allow(missing_docs, clippy::all)]
pub mod bidirectional {
    include!(concat!(env!("OUT_DIR"), "/bidirectional/proto.rs"));
}
