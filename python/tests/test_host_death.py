"""A plugin hosted by `soup_rpc` exits when its Python host is killed, although the host
read (and so piped) its stderr: the plugin must not depend on anyone reading it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import server_command

HOST = """
import sys, soup_rpc
kv = soup_rpc.KvClient.launch(sys.argv[1:])
kv.put("k", b"v")
print(kv.pid, flush=True)
sys.stdin.read()   # hold the plugin until killed
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.mark.parametrize("plugin", ["rust", "go"])
def test_plugin_exits_when_its_python_host_is_killed(plugin: str, tmp_path: Path) -> None:
    cmd = server_command(plugin, tmp_path / "store")
    host = subprocess.Popen(
        [sys.executable, "-c", HOST, *cmd],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    pid = 0
    try:
        assert host.stdout is not None
        line = host.stdout.readline()
        pid = int(line)
        assert _alive(pid)
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=10)
        killed = time.monotonic()
        while _alive(pid) and time.monotonic() - killed < 10:
            time.sleep(0.02)
        orphaned = _alive(pid)
        if plugin == "go" and orphaned:
            # go-plugin plugins do not watch their host (go-plugin#210): a recorded peer
            # behaviour, not ours. Reap it and say so.
            pytest.xfail("go-plugin's plugin outlives its killed host (go-plugin#210)")
        assert not orphaned, f"plugin {pid} still running 10 s after its host was killed"
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        if pid and _alive(pid):
            os.kill(pid, signal.SIGKILL)
