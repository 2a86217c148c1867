#!/usr/bin/env python3
"""`python-rs` channel bench: one Get, 1 in flight, three ways against the same plugin, for
`cargo xtask bench`. Prints one JSON object.

    soup_rs_channel_bench.py [--tls auto|off] [--transport tcp|unix] [--gets N] -- SERVER-COMMAND...

- ``kv_get``: ``soup_rpc.KvClient.get`` (the binding's typed fast path);
- ``channel_get``: grpcio's generated ``KVStub.Get`` over ``plugin.channel`` (stub
  serializers in Python, bytes through the Rust host);
- ``grpcio_get``: the same stub over grpcio's own ``grpc.insecure_channel`` to the plugin's
  address: only with ``--tls off`` (the server must be started plaintext too, e.g.
  ``soup-server server --tls off``), since grpcio cannot do go-plugin's AutoMTLS.

Ratios are p50 over p50: ``channel_over_kv`` and ``channel_over_grpcio`` (None without
grpcio's figure). Exit codes: 0 ok, 1 failure, 2 usage error, 3 soup_rpc is not importable.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

NOT_BUILT = 3


def _args(argv: List[str]) -> argparse.Namespace:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("soup_rs_channel_bench.py: give the server command after --", file=sys.stderr)
        raise SystemExit(2)
    cut = argv.index("--")
    p = argparse.ArgumentParser(prog="soup_rs_channel_bench.py")
    p.add_argument("--tls", choices=["auto", "off"], default="off")
    p.add_argument("--transport", choices=["tcp", "unix"], default=None)
    p.add_argument("--gets", type=int, default=5000)
    p.add_argument("--timeout", type=float, default=30.0)
    ns = p.parse_args(argv[:cut])
    ns.command = argv[cut + 1:]
    return ns


def _latencies(call: Callable[[], object], n: int) -> List[float]:
    for _ in range(200):
        call()  # warm-up
    out = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append((time.perf_counter() - t) * 1e6)
    return out


def main(argv: List[str]) -> int:
    ns = _args(argv)
    try:
        import soup_rpc
    except ImportError as e:
        print(f"not built: the soup_rpc binding is not importable from {sys.executable} ({e}); "
              "install it with `pip install ./python`", file=sys.stderr)
        return NOT_BUILT
    import grpc
    from peerlib.bench import summary
    from peerlib.gen import kv_pb2, kv_pb2_grpc

    kv = soup_rpc.KvClient.launch(ns.command, tls=ns.tls, transport=ns.transport, handshake_timeout=ns.timeout)
    grpcio_channel = None
    try:
        value = b"\x07" * 16
        kv.put("bench", value)
        request = kv_pb2.GetRequest(key="bench")
        stub = kv_pb2_grpc.KVStub(kv.channel)
        if stub.Get(request).value != value:
            raise RuntimeError("the channel's Get did not return the 16 bytes put")
        figures = {
            "kv_get": summary(_latencies(lambda: kv.get("bench"), ns.gets)),
            "channel_get": summary(_latencies(lambda: stub.Get(request), ns.gets)),
            "grpcio_get": None,
        }
        h = kv.handshake
        if ns.tls == "off":
            target = h.address if h.network == "tcp" else f"unix:{h.address}"
            grpcio_channel = grpc.insecure_channel(target)
            grpcio_stub = kv_pb2_grpc.KVStub(grpcio_channel)
            if grpcio_stub.Get(request, timeout=ns.timeout).value != value:
                raise RuntimeError("grpcio's Get did not return the 16 bytes put")
            figures["grpcio_get"] = summary(_latencies(lambda: grpcio_stub.Get(request), ns.gets))
    finally:
        if grpcio_channel is not None:
            grpcio_channel.close()
        exit_ = kv.close()

    def ratio(a: str, b: str) -> object:
        if figures[a] is None or figures[b] is None:
            return None
        return figures[a]["p50"] / figures[b]["p50"]

    doc = {
        "host": "python-rs",
        "bench": "channel",
        "tls": ns.tls,
        "transport": h.network,
        "server_command": ns.command,
        "gets": ns.gets,
        "get_latency_us": figures,
        "p50_ratios": {
            "channel_over_kv": ratio("channel_get", "kv_get"),
            "channel_over_grpcio": ratio("channel_get", "grpcio_get"),
            "kv_over_grpcio": ratio("kv_get", "grpcio_get"),
        },
        "plugin_exit": {"how": exit_.how, "code": exit_.exit_code, "signal": exit_.signal},
    }
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception as e:  # noqa: BLE001 - one line for xtask, not a traceback
        print(f"soup_rs_channel_bench.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
