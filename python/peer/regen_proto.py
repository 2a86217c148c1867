#!/usr/bin/env python3
"""Regenerate peerlib/gen/kv_pb2*.py from crates/kv-proto/proto/kv.proto with grpcio-tools' bundled protoc.

Run from anywhere with the dev venv:
    target/peers/venv/bin/python python/peer/regen_proto.py
The proto is mapped to the virtual path peerlib/gen/kv.proto so the generated
kv_pb2_grpc.py imports `from peerlib.gen import kv_pb2`.
"""
import pathlib
import sys

from grpc_tools import protoc

HERE = pathlib.Path(__file__).resolve().parent
PROTO_DIR = HERE.parent.parent / "crates" / "kv-proto" / "proto"


def main() -> int:
    out = HERE
    args = [
        "protoc",
        f"-Ipeerlib/gen={PROTO_DIR}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        "peerlib/gen/kv.proto",
    ]
    rc = protoc.main(args)
    if rc != 0:
        print(f"protoc failed with {rc}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
