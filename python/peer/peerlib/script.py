"""The contract's scripts (`--script`): fixed steps and data, run in order on one channel.

`kv` is the matrix's KV script; `get`, `put-stream:N`, `get-stream:N`, `put-large:BYTES` and
`hold` are the fault matrix's ("The other scripts" in docs/peer-contract.md).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import grpc

from .contract import kv_script, value_bytes
from .kvgen import kv_pb2, kv_pb2_grpc

#: statuses that mean the connection itself is gone: the rest of the script is not run
TRANSPORT_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}


def probe_value(client_language: str) -> bytes:
    """The value of the KV script's put-handshake-probe step."""
    (spec,) = [s["value"] for s in kv_script() if s["step"] == "put-handshake-probe"]
    return value_bytes(spec, client_language)


def stream_value(i: int) -> bytes:
    """`stream(i)`: 1024 bytes, byte j = (i + j) mod 251."""
    return bytes((i + j) % 251 for j in range(1024))


_CYCLE = bytes(range(251))


def large_value(n: int) -> bytes:
    """`large(n)`: n bytes, byte j = j mod 251."""
    return (_CYCLE * (n // 251 + 1))[:n]


#: the deadline of `get-deadline`
GET_DEADLINE_S = 2.0


@dataclass(frozen=True)
class Script:
    """A parsed `--script` value; `name` is its canonical spelling (echoed in `requested.script`)."""
    kind: str  # kv | get | put-stream | get-stream | put-large | hold
    n: int = 0

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.n}" if self.kind in _COUNTED else self.kind

    @property
    def has_steps(self) -> bool:
        """False for put-stream:0 / get-stream:0, the scripts with no step at all."""
        return not (self.kind in ("put-stream", "get-stream") and self.n == 0)

    @property
    def largest_value(self) -> int | None:
        """The largest message this script sends or expects, if over the KV script's 1 MiB."""
        return self.n if self.kind == "put-large" else None


_COUNTED = ("put-stream", "get-stream", "put-large")
_SCRIPT_RE = re.compile(r"(kv|get|hold)|(put-stream|get-stream|put-large):([0-9]+)")
KV = Script("kv")


def parse_script(value: str) -> Script:
    """The script named by `value`, or ValueError (a usage error)."""
    m = _SCRIPT_RE.fullmatch(value)
    if m is None:
        raise ValueError(f"unknown script {value!r}: expected kv, get, hold, put-stream:N, get-stream:N "
                         "or put-large:BYTES")
    if m.group(1):
        return Script(m.group(1))
    return Script(m.group(2), int(m.group(3)))


def steps_table(client_language: str = "python") -> list[tuple[str, str, str, bytes | None]]:
    """(step, op, key, value-to-put or expected-value) of the KV script in
    peer-contract/kv-script.json; get-missing / probe-get expect None."""
    out = []
    for s in kv_script():
        value = value_bytes(s.get("value"), client_language) if s["expect"] in ("ok", "bytes") else None
        out.append((s["step"], s["op"], s["key"], value))
    return out


def script_steps(spec: Script, client_language: str = "python") -> list[tuple[str, str, str, bytes | None]]:
    """The steps of `spec`, in the shape of steps_table; `get-deadline` expects None (any answer)."""
    if spec.kind == "kv":
        return steps_table(client_language)
    if spec.kind == "get":
        return [steps_table(client_language)[0], ("get-deadline", "get", "ascii", None)]
    if spec.kind == "put-stream":
        return [(f"put-stream-{i}", "put", f"stream-{i}", stream_value(i)) for i in range(spec.n)]
    if spec.kind == "get-stream":
        return [(f"get-stream-{i}", "get", f"stream-{i}", stream_value(i)) for i in range(spec.n)]
    if spec.kind == "put-large":
        v = large_value(spec.n)
        return [("put-large", "put", "large", v), ("get-large", "get", "large", v)]
    if spec.kind == "hold":
        return [steps_table(client_language)[0]]  # put-ascii
    raise AssertionError(spec)


#: what a host prints on stderr when the `get` script pauses (docs/peer-contract.md)
PAUSE_MARKER = "soup-peer: paused before get-deadline"


async def _wait_for_stdin(line: bool, name: str) -> None:
    """Return once stdin gave one line (`line`) or reached EOF, or failed to read.

    A daemon thread does blocking reads, so it works for pipes, ttys, files and /dev/null
    alike; the caller's run deadline bounds the wait.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def finish() -> None:
        if not done.done():
            done.set_result(None)

    def reader() -> None:
        try:
            while True:
                b = os.read(0, 1 if line else 65536)
                if not b or (line and b == b"\n"):
                    break
        except OSError:
            pass
        try:
            loop.call_soon_threadsafe(finish)
        except RuntimeError:  # the loop is gone: the run ended first
            pass

    threading.Thread(target=reader, name=name, daemon=True).start()
    await done


async def wait_for_stdin_line() -> None:
    """The `get` script's pause: print PAUSE_MARKER on stderr, then return once one line
    (or EOF) was read from stdin."""
    print(PAUSE_MARKER, file=sys.stderr, flush=True)
    await _wait_for_stdin(True, "get-stdin")


async def wait_for_stdin_eof() -> None:
    """Return once this process's stdin reaches EOF (or fails to read): `hold`'s wait."""
    await _wait_for_stdin(False, "hold-stdin")


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


async def run(channel: grpc.aio.Channel, deadline: float, client_language: str = "python",
              spec: Script = KV) -> ScriptResult:
    """Run `spec`'s steps. Only the KV script skips the steps after a transport failure (the
    other scripts: put-stream stops at its first failing step, every other step runs)."""
    stub = kv_pb2_grpc.KVStub(channel)
    res = ScriptResult()
    for name, op, key, data in script_steps(spec, client_language):
        row: dict[str, Any] = {"step": name, "op": op, "key": key, "ok": False, "status": "", "message": "",
                               "value_len": None, "value_sha256": None, "latency_us": 0}
        if res.transport_error is not None and spec.kind == "kv":
            row.update(status="UNAVAILABLE", message=res.transport_error)
            res.steps.append(row)
            continue
        if op == "put":
            row.update(value_len=len(data or b""), value_sha256=_sha(data or b""))
        if name == "get-deadline":
            await wait_for_stdin_line()
        start = time.monotonic()
        if res.first_rpc_at is None:
            res.first_rpc_at = start
        timeout = max(0.001, deadline - start)
        if name == "get-deadline":
            timeout = min(timeout, GET_DEADLINE_S)
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
            if name == "get-missing" or (name == "get-deadline" and e.code() == grpc.StatusCode.NOT_FOUND):
                row["ok"] = True
            else:
                res.first_error = res.first_error or f"{name}: {e.code().name}: {e.details()}"
                if e.code() in TRANSPORT_CODES:
                    res.transport_error = f"{e.code().name}: {e.details()}"
            res.steps.append(row)
            if not row["ok"] and spec.kind == "put-stream":
                break
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
            elif name == "get-deadline":
                row["ok"] = True
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
        if not row["ok"] and spec.kind == "put-stream":
            break
    return res
