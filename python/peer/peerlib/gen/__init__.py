"""Code generated from crates/kv-proto/proto/kv.proto by regen_proto.py (grpcio-tools' bundled protoc)."""
