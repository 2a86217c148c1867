"""`client --versions` and `client --script` (docs/peer-contract.md, "The other scripts").

Real plugins: the Python peer's own server (pyvider on both sides), the Rust `soup-server`
and the Go `soup-go` where built. Every report is checked against the schema.
"""
from __future__ import annotations

import hashlib
import json
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import GO_PEER, PEER, PYTHON, REPO, assert_valid, run_client, server_cmd

RUST_SERVER = REPO / "target" / "release" / "soup-server"
OFF = ["--tls", "off", "--key", "ec-p256", "--transport", "unix"]
MIB = 1 << 20


def _plugins() -> list:
    """(id, command maker): each makes a plaintext unix-socket KV plugin over a store dir."""
    out = [pytest.param(lambda d: server_cmd("--tls", "off", "--store", str(d)), id="python")]
    out.append(pytest.param(lambda d: [str(RUST_SERVER), "server", "--peer-contract", "--tls", "off", "--store", str(d)], id="rust",
                            marks=pytest.mark.skipif(not RUST_SERVER.exists(), reason=f"{RUST_SERVER} not built")))
    out.append(pytest.param(lambda d: [str(GO_PEER), "server", "--tls", "off", "--store", str(d)], id="go",
                            marks=pytest.mark.skipif(not GO_PEER.exists(), reason=f"{GO_PEER} not built")))
    return out


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _stream(i: int) -> bytes:
    return bytes((i + j) % 251 for j in range(1024))


def _large(n: int) -> bytes:
    return bytes(j % 251 for j in range(n))


def _run(validator, args: list[str], command: list[str], timeout: float = 90.0) -> tuple[int, dict]:
    code, report, err = run_client([*OFF, *args], command, timeout=timeout)
    assert report is not None, err[-3000:]
    assert_valid(validator, report)
    assert code == (0 if report["ok"] else 1)
    assert report["plugin_exit"] is not None, "the plugin must have been reaped"
    return code, report


# --- values and parsing (in-process) ---------------------------------------------------

def test_values_are_the_contracts() -> None:
    from peerlib import script

    assert script.stream_value(0) == _stream(0) and script.stream_value(300) == _stream(300)
    for n in (0, 1, 250, 251, 252, 5 * MIB):
        assert script.large_value(n) == _large(n)
    kv = script.steps_table()
    assert kv[6][3] == script.large_value(MIB)  # put-1mib is large(1048576)


@pytest.mark.parametrize(("text", "name"), [("kv", "kv"), ("get", "get"), ("hold", "hold"),
                                            ("put-stream:5", "put-stream:5"), ("get-stream:0", "get-stream:0"),
                                            ("put-large:007", "put-large:7")])
def test_script_names(text: str, name: str) -> None:
    from peerlib.script import parse_script, script_steps

    spec = parse_script(text)
    assert spec.name == name
    assert spec.has_steps == bool(script_steps(spec))


def test_message_limit() -> None:
    from peerlib.client import message_limit

    assert message_limit(5 * MIB) == 6 * MIB
    assert message_limit(2**31) == -1  # beyond grpc's int channel arguments: no limit


USAGE_ERRORS = [
    ["--versions", ""], ["--versions", "1,x"], ["--versions", "1,,2"], ["--versions", "-1"], ["--versions", "1.0"],
    ["--versions", ","], ["--script", "bogus"], ["--script", "put-stream:"], ["--script", "put-stream:x"],
    ["--script", "put-large:-1"], ["--script", "kv:3"], ["--script", ""], ["--script", "hold "],
]


@pytest.mark.parametrize("extra", USAGE_ERRORS, ids=lambda a: " ".join(a) or "empty")
def test_usage_errors_exit_2(extra: list[str]) -> None:
    # the command would run if parsing let it through: /bin/false would then give a report
    proc = subprocess.run([PYTHON, str(PEER), "client", *OFF, *extra, "--", "/bin/false"],
                          capture_output=True, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == b""
    assert proc.stderr.startswith(b"error: ")


# --- --versions ------------------------------------------------------------------------

@pytest.mark.parametrize("make", _plugins())
def test_version_outside_the_list_is_refused_at_handshake(validator, tmp_path: Path, make) -> None:
    _, report = _run(validator, ["--versions", "2"], make(tmp_path))
    assert report["ok"] is False and report["steps"] == []
    assert report["requested"]["versions"] == [2]
    assert report["observed"]["handshake_line"].split("|")[1] == "1"  # the plugin answered 1 anyway
    err = report["error"]
    assert err["stage"] == "handshake"
    # go-plugin's wording: both sides' versions named
    assert "Plugin version: 1" in err["message"] and "Client versions: [2]" in err["message"]
    assert report["timings"]["handshake_to_first_rpc_ms"] is None  # refused before any connection


def test_versions_list_containing_the_answer(validator, tmp_path: Path) -> None:
    _, report = _run(validator, ["--versions", "3, 2,1"], server_cmd("--tls", "off", "--store", str(tmp_path)))
    assert report["ok"] is True, report["error"]
    assert report["requested"]["versions"] == [3, 2, 1]
    assert report["observed"]["handshake_line"].split("|")[1] == "1"


# --- the scripts ---------------------------------------------------------------------

@pytest.mark.parametrize("make", _plugins())
def test_put_stream_then_get_stream_on_one_store(validator, tmp_path: Path, make) -> None:
    _, put = _run(validator, ["--script", "put-stream:5"], make(tmp_path))
    _, get = _run(validator, ["--script", "get-stream:5"], make(tmp_path))
    for report, prefix, op in ((put, "put-stream", "put"), (get, "get-stream", "get")):
        assert report["ok"] is True and report["error"] is None, report["error"]
        assert report["requested"]["script"] == f"{prefix}:5"
        assert [s["step"] for s in report["steps"]] == [f"{prefix}-{i}" for i in range(5)]
        for i, s in enumerate(report["steps"]):
            assert (s["op"], s["key"], s["ok"], s["status"]) == (op, f"stream-{i}", True, "OK")
            assert (s["value_len"], s["value_sha256"]) == (1024, _sha(_stream(i)))


def test_get_stream_runs_every_step(validator, tmp_path: Path) -> None:
    _, report = _run(validator, ["--script", "get-stream:3"], [str(RUST_SERVER), "server", "--store", str(tmp_path)]) \
        if RUST_SERVER.exists() else _run(validator, ["--script", "get-stream:3"], server_cmd("--store", str(tmp_path)))
    assert [(s["step"], s["ok"], s["status"]) for s in report["steps"]] == \
        [(f"get-stream-{i}", False, "NOT_FOUND") for i in range(3)]
    assert report["error"]["stage"] == "rpc" and report["error"]["message"].startswith("get-stream-0: NOT_FOUND")


def _with_failing_kv(tmp_path: Path, spec_text: str, fail: dict[str, object]) -> list[dict]:
    """Run a script (in-process) against a grpc.aio KV server whose calls on the keys in
    `fail` abort with that status code; every other Put/Get succeeds (Get: stream(i))."""
    import asyncio

    import grpc

    from peerlib import script
    from peerlib.gen import kv_pb2, kv_pb2_grpc

    class KV(kv_pb2_grpc.KVServicer):
        async def Put(self, request, context):  # noqa: N802
            if request.key in fail:
                await context.abort(fail[request.key], f"refused {request.key}")
            return kv_pb2.Empty()

        async def Get(self, request, context):  # noqa: N802
            if request.key in fail:
                await context.abort(fail[request.key], f"refused {request.key}")
            return kv_pb2.GetResponse(value=_stream(int(request.key.split("-")[1])))

    async def go() -> list[dict]:
        server = grpc.aio.server()
        kv_pb2_grpc.add_KVServicer_to_server(KV(), server)
        sock = f"unix:{tmp_path / 'kv.sock'}"
        server.add_insecure_port(sock)
        await server.start()
        try:
            async with grpc.aio.insecure_channel(sock) as channel:
                res = await script.run(channel, time.monotonic() + 30, spec=script.parse_script(spec_text))
                return res.steps
        finally:
            await server.stop(None)

    return asyncio.run(go())


def test_put_stream_stops_at_the_first_failure(tmp_path: Path) -> None:
    import grpc

    steps = _with_failing_kv(tmp_path, "put-stream:5", {"stream-2": grpc.StatusCode.INTERNAL})
    assert [(s["step"], s["ok"], s["status"]) for s in steps] == \
        [("put-stream-0", True, "OK"), ("put-stream-1", True, "OK"), ("put-stream-2", False, "INTERNAL")]


def test_get_stream_runs_every_step_even_after_a_transport_status(tmp_path: Path) -> None:
    import grpc

    steps = _with_failing_kv(tmp_path, "get-stream:4", {"stream-1": grpc.StatusCode.UNAVAILABLE})
    assert [(s["step"], s["ok"], s["status"]) for s in steps] == \
        [("get-stream-0", True, "OK"), ("get-stream-1", False, "UNAVAILABLE"),
         ("get-stream-2", True, "OK"), ("get-stream-3", True, "OK")]
    assert steps[3]["value_sha256"] == _sha(_stream(3))


@pytest.mark.parametrize("make", _plugins())
def test_put_large_5_mib(validator, tmp_path: Path, make) -> None:
    n = 5 * MIB  # over grpc's 4 MiB default receive limit: the host must have raised its own
    _, report = _run(validator, ["--script", f"put-large:{n}"], make(tmp_path))
    assert report["ok"] is True, report["error"]
    assert report["requested"]["script"] == f"put-large:{n}"
    want = _sha(_large(n))
    assert [(s["step"], s["op"], s["key"], s["ok"], s["value_len"], s["value_sha256"]) for s in report["steps"]] == \
        [("put-large", "put", "large", True, n, want), ("get-large", "get", "large", True, n, want)]


def test_get_deadline(validator, tmp_path: Path) -> None:
    # stdin is /dev/null: the pause after put-ascii ends at once, on EOF.
    code, report, err = run_client([*OFF, "--script", "get"], server_cmd("--tls", "off", "--store", str(tmp_path)))
    assert report is not None, err[-3000:]
    assert_valid(validator, report)
    assert report["ok"] is True, report["error"]
    put, get = report["steps"]
    assert put["step"] == "put-ascii" and put["ok"] is True
    assert (get["step"], get["op"], get["key"], get["ok"], get["status"]) == \
        ("get-deadline", "get", "ascii", True, "OK")
    assert get["latency_us"] < 2_000_000
    assert "soup-peer: paused before get-deadline" in err


def test_put_stream_0_has_no_steps_and_is_ok(validator, tmp_path: Path) -> None:
    _, report = _run(validator, ["--script", "put-stream:0"], server_cmd("--tls", "off", "--store", str(tmp_path)))
    assert report["ok"] is True and report["steps"] == [] and report["error"] is None


def _read_stderr_until(proc: subprocess.Popen[bytes], needle: bytes, timeout: float) -> bytes:
    """Client stderr up to the line holding `needle` (bounded by `timeout`), draining as it goes."""
    assert proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while needle not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise TimeoutError(f"{needle!r} not on stderr within {timeout}s; tail: {buf[-2000:]!r}")
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"client stderr ended before {needle!r}; tail: {buf[-2000:]!r}")
            buf += chunk
    finally:
        sel.close()
    return buf


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("make", _plugins()[:2])
def test_hold_returns_after_stdin_is_closed(validator, tmp_path: Path, make) -> None:
    from peerlib.client import HOLD_MESSAGE

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGIN_", "PYVIDER_"))}
    proc = subprocess.Popen([PYTHON, str(PEER), "client", *OFF, "--script", "hold", "--timeout", "60", "--",
                             *make(tmp_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)  # its own process group: the plugin is in it too
    try:
        _read_stderr_until(proc, HOLD_MESSAGE.encode(), timeout=45)
        assert proc.poll() is None, "the host must keep running while its stdin is open"
        out, _ = proc.communicate(timeout=30)  # closes the host's stdin first (no input): EOF
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # host and plugin alike, then reap the host
            proc.communicate()
        leftovers = _group_alive(proc.pid)
        if leftovers:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not leftovers, "the host must have reaped its plugin before exiting"
    report = json.loads(out)
    assert_valid(validator, report)
    assert proc.returncode == 0 and report["ok"] is True, report["error"]
    assert report["requested"]["script"] == "hold"
    (step,) = report["steps"]
    assert (step["step"], step["key"], step["ok"], step["value_sha256"]) == \
        ("put-ascii", "ascii", True, _sha(b"hello, soup"))
    # shut down as usual: Shutdown answered, the plugin ended (by itself or on pyvider's SIGTERM)
    assert report["plugin_exit"]["how"] in ("exited", "killed") and report["plugin_exit"]["signal"] in (None, 15)
