"""The contract's KV script: fixed steps and data, run in order on one channel."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import grpc

from .gen import kv_pb2, kv_pb2_grpc

#: statuses that mean the connection itself is gone: the rest of the script is not run
TRANSPORT_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}


def probe_value(client_language: str) -> bytes:
    return json.dumps({"client_language": client_language, "server_handshake": None}, separators=(",", ":")).encode()


def steps_table(client_language: str = "python") -> list[tuple[str, str, str, bytes | None]]:
    """(step, op, key, value-to-put or expected-value); get-missing / probe-get expect None."""
    binary = bytes(range(256))
    large = bytes(i % 251 for i in range(1 << 20))
    ukey = "ключ-🔑-键"
    return [
        ("put-ascii", "put", "ascii", b"hello, soup"),
        ("get-ascii", "get", "ascii", b"hello, soup"),
        ("put-binary", "put", "binary", binary),
        ("get-binary", "get", "binary", binary),
        ("put-empty", "put", "empty", b""),
        ("get-empty", "get", "empty", b""),
        ("put-1mib", "put", "large", large),
        ("get-1mib", "get", "large", large),
        ("put-unicode-key", "put", ukey, "unicode key".encode()),
        ("get-unicode-key", "get", ukey, "unicode key".encode()),
        ("put-overwrite-1", "put", "overwrite", b"first"),
        ("put-overwrite-2", "put", "overwrite", b"second"),
        ("get-overwrite", "get", "overwrite", b"second"),
        ("put-handshake-probe", "put", "handshake-probe", probe_value(client_language)),
        ("get-handshake-probe", "get", "handshake-probe", None),
        ("get-missing", "get", "missing-key", None),
    ]


def _sha(b: bytes | None) -> str | None:
    return hashlib.sha256(b).hexdigest() if b is not None else None


@dataclass
class ScriptResult:
    steps: list[dict[str, Any]] = field(default_factory=list)
    server_saw: dict[str, Any] | None = None
    first_error: str | None = None
    transport_error: str | None = None
    first_rpc_at: float | None = None


def _probe_object(value: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("server_handshake"), dict):
        return doc["server_handshake"]
    return None


def _mismatch(step: str, want: bytes, got: bytes) -> str:
    return (f"{step}: value mismatch: expected {len(want)} bytes sha256 {_sha(want)}, "
            f"got {len(got)} bytes sha256 {_sha(got)}")


async def run(channel: grpc.aio.Channel, deadline: float, client_language: str = "python") -> ScriptResult:
    stub = kv_pb2_grpc.KVStub(channel)
    res = ScriptResult()
    for name, op, key, data in steps_table(client_language):
        row: dict[str, Any] = {"step": name, "op": op, "key": key, "ok": False, "status": "", "message": "",
                               "value_len": None, "value_sha256": None, "latency_us": 0}
        if res.transport_error is not None:
            row.update(status="UNAVAILABLE", message=res.transport_error)
            res.steps.append(row)
            continue
        if op == "put":
            row.update(value_len=len(data or b""), value_sha256=_sha(data or b""))
        start = time.monotonic()
        if res.first_rpc_at is None:
            res.first_rpc_at = start
        timeout = max(0.001, deadline - start)
        try:
            if op == "put":
                await stub.Put(kv_pb2.PutRequest(key=key, value=data or b""), timeout=timeout)
                got = None
            else:
                got = (await stub.Get(kv_pb2.GetRequest(key=key), timeout=timeout)).value
            row["latency_us"] = round((time.monotonic() - start) * 1e6, 1)
            row["status"] = "OK"
        except grpc.aio.AioRpcError as e:
            row["latency_us"] = round((time.monotonic() - start) * 1e6, 1)
            row.update(status=e.code().name, message=e.details() or "")
            if name == "get-missing":
                row["ok"] = True
            else:
                res.first_error = res.first_error or f"{name}: {e.code().name}: {e.details()}"
                if e.code() in TRANSPORT_CODES:
                    res.transport_error = f"{e.code().name}: {e.details()}"
            res.steps.append(row)
            continue
        if op == "get":
            assert got is not None
            row.update(value_len=len(got), value_sha256=_sha(got))
            if name == "get-handshake-probe":
                res.server_saw = _probe_object(got)
                row["ok"] = res.server_saw is not None
                if not row["ok"]:
                    row["message"] = "value is not a JSON object whose server_handshake is an object"
            elif name == "get-missing":
                row["message"] = "expected an error status, got OK"
            else:
                assert data is not None
                row["ok"] = got == data
                if not row["ok"]:
                    row["message"] = _mismatch(name, data, got)
        else:
            row["ok"] = True
        if not row["ok"]:
            res.first_error = res.first_error or f"{name}: {row['message']}"
        res.steps.append(row)
    return res
