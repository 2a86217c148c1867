"""The plugin process is gone (killed and reaped) after close() and after garbage
collection, and the GIL is free while calls wait."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Callable, List

import pytest

import soup_rpc
import soup_rpc.aio
from conftest import child_pids, process_gone


@pytest.mark.parametrize("server", ["rust", "go", "python"])
def test_close_shuts_down_and_reaps(server: str, make_server: Callable[..., List[str]]) -> None:
    kv = soup_rpc.KvClient.launch(make_server(server))
    pid = kv.pid
    assert pid is not None and not process_gone(pid)
    assert not kv.closed and kv.exit is None
    exit = kv.close()
    assert process_gone(pid)
    assert exit.how == "exited" and exit.exit_code == 0
    assert kv.closed and kv.exit == exit
    assert kv.close() == exit
    assert isinstance(kv.stderr_tail, list)


def test_context_manager_closes_on_error(rust_server: List[str]) -> None:
    with pytest.raises(KeyError):
        with soup_rpc.KvClient.launch(rust_server) as kv:
            pid = kv.pid
            raise KeyError("boom")
    assert kv.closed
    assert pid is not None and process_gone(pid)


@pytest.mark.parametrize("server", ["rust", "go"])
def test_garbage_collected_client_kills_and_reaps_its_plugin(
    server: str, make_server: Callable[..., List[str]]
) -> None:
    kv = soup_rpc.KvClient.launch(make_server(server))
    kv.put("k", b"v")
    pid = kv.pid
    assert pid is not None and not process_gone(pid)
    del kv
    gc.collect()
    assert process_gone(pid)


def test_garbage_collected_async_client_kills_and_reaps_its_plugin(rust_server: List[str]) -> None:
    async def launch() -> int:
        kv = await soup_rpc.aio.KvClient.launch(rust_server)
        await kv.put("k", b"v")
        assert kv.pid is not None
        return kv.pid

    pid = asyncio.run(launch())
    gc.collect()
    assert process_gone(pid)


def test_reference_cycle_collected_by_gc(rust_server: List[str]) -> None:
    kv = soup_rpc.KvClient.launch(rust_server)
    pid = kv.pid
    assert pid is not None
    holder: dict = {"kv": kv}
    holder["self"] = holder
    del kv, holder
    assert not process_gone(pid)
    gc.collect()
    assert process_gone(pid)


def test_failed_launch_leaves_no_process(rust_server: List[str]) -> None:
    with pytest.raises(soup_rpc.VersionMismatch):
        soup_rpc.KvClient.launch(rust_server, protocol_versions=(7,))
    assert child_pids() == []


def test_gil_is_released_while_waiting() -> None:
    """A pure-Python thread keeps running while launch() waits 0.5 s for a handshake."""
    count = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal count
        while not stop.is_set():
            count += 1

    silent = [sys.executable, "-c", "import time; time.sleep(60)"]
    t = threading.Thread(target=spin)
    t.start()
    try:
        with pytest.raises(soup_rpc.HandshakeError):
            soup_rpc.KvClient.launch(silent, handshake_timeout=0.5)
    finally:
        stop.set()
        t.join()
    # Holding the GIL for 0.5 s would have let the spinner run only at switch intervals.
    assert count > 100_000


def test_interpreter_exit_shuts_open_clients_down(rust_server: List[str]) -> None:
    """An unclosed client at interpreter exit: atexit closes it, the plugin is gone."""
    script = textwrap.dedent(
        f"""
        import soup_rpc
        kv = soup_rpc.KvClient.launch({rust_server!r})
        kv.put("k", b"v")
        print(kv.pid, flush=True)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    pid = int(out.stdout.strip())
    # atexit closed it gracefully (a merely killed or orphaned plugin could linger).
    assert process_gone(pid)
