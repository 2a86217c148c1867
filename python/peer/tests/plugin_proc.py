"""Start the peer's server as a go-plugin host would, without pyvider: env, handshake, reap."""
from __future__ import annotations

import os
import selectors
import subprocess
import time
from contextlib import contextmanager
from collections.abc import Iterator

from conftest import server_cmd


def host_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGIN_", "PYVIDER_", "BASIC_PLUGIN"))}
    env.update({"BASIC_PLUGIN": "hello", "PLUGIN_PROTOCOL_VERSIONS": "1",
                "PLUGIN_MIN_PORT": "10000", "PLUGIN_MAX_PORT": "25000"})
    env.update(extra)
    return env


def read_line(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> str:
    """One stdout line, or '' at EOF; raises TimeoutError."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise TimeoutError(f"no handshake line within {timeout}s; got {buf!r}")
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                break
            buf += chunk
    finally:
        sel.close()
    return buf.decode().rstrip("\n")


@contextmanager
def plugin(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(server_cmd(*args), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.communicate()
