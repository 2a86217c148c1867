"""Deadlines: a call to a frozen plugin (SIGSTOP) raises DeadlineExceeded when its deadline
passes instead of blocking forever, from every thread and from asyncio; the client stays
usable and the plugin is still shut down and reaped.

What is asserted is that the calls return at all (each is bounded by HUNG, far above its
deadline) and how, never how fast.
"""

from __future__ import annotations

import asyncio
import math
import os
import pickle
import signal
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List

import pytest

import soup_rpc
import soup_rpc.aio
from conftest import process_gone, stop

DEADLINE = 0.3
HUNG = 30.0  # a call with a 0.3 s deadline that has not returned by then never will


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """The plugin stopped (SIGSTOP) for the block, resumed (SIGCONT) whatever happens."""
    stop(pid)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def in_thread(call: Callable[[], Any]) -> Dict[str, Any]:
    """Runs `call` on another thread; fails if it has not returned within HUNG."""
    out: Dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        try:
            out["value"] = call()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e
        out["elapsed"] = time.monotonic() - started

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(HUNG)
    assert not t.is_alive(), f"the call had not returned after {HUNG} s"
    return out


def check_deadline(out: Dict[str, Any], op: str, deadline: float = DEADLINE) -> soup_rpc.DeadlineExceeded:
    err = out.get("error")
    assert isinstance(err, soup_rpc.DeadlineExceeded), out
    assert isinstance(err, soup_rpc.RpcError)
    assert err.code == "DEADLINE_EXCEEDED"
    assert err.stage == "rpc"
    assert (err.op, err.key, err.deadline) == (op, "k", deadline)
    assert err.message is None  # this host gave up; the frozen plugin said nothing
    assert f'{op} "k": no answer within {int(deadline * 1000)}ms (deadline exceeded)' in str(err)
    assert "the plugin may be frozen" in str(err)
    assert str(err) == err.detail
    if "elapsed" in out:
        assert out["elapsed"] >= deadline, "returned before its deadline"
    return err


def assert_closed_and_reaped(kv: Any, pid: int) -> None:
    assert kv.exit is not None and (kv.exit.how, kv.exit.exit_code) == ("exited", 0), kv.exit
    assert process_gone(pid)


def test_per_call_timeout_on_a_frozen_plugin(rust_server: List[str]) -> None:
    with soup_rpc.KvClient.launch(rust_server) as kv:
        assert kv.call_timeout is None
        kv.put("k", b"v")
        pid = kv.pid
        assert pid is not None
        with frozen(pid):
            check_deadline(in_thread(lambda: kv.get("k", timeout=DEADLINE)), "get")
            check_deadline(in_thread(lambda: kv.put("k", b"w", timeout=DEADLINE)), "put")
        # Thawed: the same client answers (the abandoned Put may or may not have landed).
        assert in_thread(lambda: kv.get("k", timeout=HUNG))["value"] in (b"v", b"w")
        assert kv.get("k", timeout=math.inf) in (b"v", b"w")
    assert_closed_and_reaped(kv, pid)


def test_client_wide_call_timeout_and_its_override(rust_server: List[str]) -> None:
    with soup_rpc.KvClient.launch(rust_server, call_timeout=DEADLINE) as kv:
        assert kv.call_timeout == DEADLINE
        kv.put("k", b"v")
        pid = kv.pid
        assert pid is not None
        with frozen(pid):
            check_deadline(in_thread(lambda: kv.get("k")), "get")
            check_deadline(in_thread(lambda: kv.put("k", b"w")), "put")
            # A call's own timeout wins over the client's.
            check_deadline(in_thread(lambda: kv.get("k", timeout=0.5)), "get", deadline=0.5)
        assert kv.get("k") in (b"v", b"w")
    assert_closed_and_reaped(kv, pid)


def test_main_thread_call_with_signal_checks_still_ends_at_its_deadline(rust_server: List[str]) -> None:
    """On the main thread a blocked call wakes every 100 ms for Python's signal handlers;
    the deadline still holds across those wake-ups. SIGALRM bounds the test."""

    def hung(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the call had not returned after {HUNG} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(int(HUNG))
    try:
        with soup_rpc.KvClient.launch(rust_server) as kv:
            kv.put("k", b"v")
            pid = kv.pid
            assert pid is not None
            with frozen(pid):
                started = time.monotonic()
                with pytest.raises(soup_rpc.DeadlineExceeded) as e:
                    kv.get("k", timeout=DEADLINE)
                assert time.monotonic() - started >= DEADLINE
            check_deadline({"error": e.value}, "get")
        assert_closed_and_reaped(kv, pid)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_many_threads_calling_a_frozen_plugin_all_get_their_deadline(rust_server: List[str]) -> None:
    """Concurrent calls are queued for the thread that drives the runtime: each still ends."""
    with soup_rpc.KvClient.launch(rust_server) as kv:
        kv.put("k", b"v")
        pid = kv.pid
        assert pid is not None
        results: List[Dict[str, Any]] = []
        with frozen(pid):
            start = threading.Barrier(8)

            def one() -> None:
                start.wait()
                results.append(in_thread(lambda: kv.get("k", timeout=DEADLINE)))

            threads = [threading.Thread(target=one) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(2 * HUNG)
            assert not any(t.is_alive() for t in threads)
        assert len(results) == 8
        for out in results:
            check_deadline(out, "get")
        assert kv.get("k") == b"v"
    assert_closed_and_reaped(kv, pid)


def test_asyncio_timeouts_on_a_frozen_plugin(rust_server: List[str]) -> None:
    async def main() -> None:
        async with soup_rpc.aio.launch(rust_server, call_timeout=DEADLINE) as kv:
            assert kv.call_timeout == DEADLINE
            await kv.put("k", b"v")
            pid = kv.pid
            assert pid is not None
            with frozen(pid):
                started = time.monotonic()
                calls = [
                    kv.get("k", timeout=DEADLINE),
                    kv.put("k", b"w", timeout=DEADLINE),
                    kv.get("k"),  # the client's call_timeout
                ]
                got = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), HUNG)
                elapsed = time.monotonic() - started
            assert elapsed >= DEADLINE
            for result, op in zip(got, ["get", "put", "get"]):
                check_deadline({"error": result}, op)
            assert await asyncio.wait_for(kv.get("k", timeout=math.inf), HUNG) in (b"v", b"w")
        assert_closed_and_reaped(kv, pid)

    asyncio.run(main())


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, "1"])
def test_invalid_timeouts_are_refused(rust_server: List[str], bad: Any) -> None:
    error = TypeError if isinstance(bad, str) else ValueError
    with pytest.raises(error):
        soup_rpc.KvClient.launch(rust_server, call_timeout=bad)
    with soup_rpc.KvClient.launch(rust_server) as kv:
        with pytest.raises(error):
            kv.get("k", timeout=bad)
        with pytest.raises(error):
            kv.put("k", b"v", timeout=bad)


def test_deadline_exceeded_pickles_with_its_fields() -> None:
    err = soup_rpc.DeadlineExceeded(
        'get "k": no answer within 300ms (deadline exceeded)',
        {"stage": "rpc", "code": "DEADLINE_EXCEEDED", "op": "get", "key": "k", "deadline": 0.3},
    )
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is soup_rpc.DeadlineExceeded
    assert (back.code, back.op, back.key, back.deadline, back.message) == ("DEADLINE_EXCEEDED", "get", "k", 0.3, None)
    assert str(back) == str(err)
