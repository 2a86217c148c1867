"""peerlib.kvgen: the newest libraries load peerlib/gen; the legacy stubs are the same service."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PEER = Path(__file__).resolve().parents[1]


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], cwd=PEER, check=True,
                         capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


def test_the_pinned_venv_uses_the_current_stubs():
    from peerlib import kvgen

    assert kvgen.LEGACY is False
    grpc_v, pb_v = kvgen.generated_for()
    assert grpc_v.count(".") == 2 and pb_v.count("."), (grpc_v, pb_v)
    assert kvgen.kv_pb2.__name__ == "peerlib.gen.kv_pb2"


def test_legacy_stubs_describe_the_same_kv_service():
    # Each set in its own process: both register proto.* in protobuf's default pool.
    code = """
import json, importlib, sys
m = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "{mod}")
s = m.DESCRIPTOR.services_by_name["KV"]
print(json.dumps({{
    "package": m.DESCRIPTOR.package,
    "methods": {{x.name: [x.input_type.full_name, x.output_type.full_name] for x in s.methods}},
}}))
"""
    current = _run(code.format(mod="peerlib.gen.kv_pb2"))
    legacy = _run(code.format(mod="peerlib.gen_legacy.kv_pb2"))
    assert legacy == current
    assert set(current["methods"]) == {"Get", "Put"}
