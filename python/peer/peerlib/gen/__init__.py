"""Code generated from proto/kv.proto by regen_proto.py (grpcio-tools' bundled protoc)."""
