"""`bench`: pyvider-rpcplugin's host (RPCPluginClient on grpcio) measured the way the Rust
host's `soup bench` and go-plugin's `soup-go bench` measure themselves, for `cargo xtask
bench`. Prints one JSON object of the same shape:

- cold start: spawn -> handshake -> TLS -> first Get returns, a fresh plugin per launch;
- Get of a 16-byte value at 1 in flight (latency percentiles, microseconds);
- Gets per second with --concurrency Gets in flight on one channel for --duration seconds;
- Put of a 1 MiB value in MB/s (10^6 bytes);
- the plugin's peak RSS (VmHWM of /proc/<pid>/status just before shutdown);
- CPU time (utime+stime of /proc/<pid>/stat) of this process and of the plugin per 10,000
  sequential Gets.

With `--tls auto` and no `--key`, pyvider chooses its own client certificate (its default
curve, secp384r1): the bench measures pyvider's default, as the other hosts measure theirs.
The host settings go through the environment exactly as for `client` (client.host_environment).
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from .cli import ClientArgs, TlsFiles, UsageError
from .names import canonical_key

#: pyvider's client curve when PYVIDER_CLIENT_CERT_CURVE is unset (client/handshake.py)
PYVIDER_DEFAULT_KEY = "ec-p384"
USER_HZ = 100.0  # unit of /proc/<pid>/stat times (Linux's USER_HZ)
BENCH_KEY = "bench"
BENCH_VALUE = b"\x07" * 16
WARMUP_GETS = 200


@dataclass
class BenchArgs:
    tls: str = "auto"
    key: str | None = None
    transport: str = "unix"
    launches: int = 20
    gets: int = 5000
    concurrency: int = 64
    duration: float = 3.0
    puts: int = 10
    timeout: float = 30.0
    command: list[str] | None = None


def parse_bench(argv: list[str]) -> BenchArgs:
    import argparse

    if "--" not in argv:
        raise UsageError("bench: missing `-- SERVER-COMMAND...`")
    cut = argv.index("--")
    own, command = argv[:cut], argv[cut + 1:]
    if not command:
        raise UsageError("bench: empty SERVER-COMMAND after --")

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str):  # type: ignore[override]
            raise UsageError(f"{self.prog}: {message}")

    p = _Parser(prog="soup_peer.py bench")
    p.add_argument("--tls", choices=["auto", "off"], default="auto")
    p.add_argument("--key", default=None, help="client certificate curve (default: pyvider's own)")
    p.add_argument("--transport", choices=["tcp", "unix"], default="unix")
    p.add_argument("--launches", type=int, default=20)
    p.add_argument("--gets", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--puts", type=int, default=10)
    p.add_argument("--timeout", type=float, default=30.0)
    ns = p.parse_args(own)
    key = None
    if ns.key is not None:
        try:
            key = canonical_key(ns.key, allow_match=False)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if not key.startswith("ec-"):
            raise UsageError(f"--key {key}: pyvider's client makes only ECDSA certificates")
    for name in ("launches", "gets", "concurrency", "puts"):
        if getattr(ns, name) < 1:
            raise UsageError(f"--{name} must be at least 1")
    for name in ("duration", "timeout"):
        v = getattr(ns, name)
        if not (v > 0) or math.isinf(v):
            raise UsageError(f"--{name} must be positive")
    return BenchArgs(ns.tls, key, ns.transport, ns.launches, ns.gets, ns.concurrency, ns.duration, ns.puts,
                     ns.timeout, command)


def cpu_ms(pid: str | int) -> float | None:
    """utime+stime of a process in ms ("self" for this one), or None when unreadable."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return (int(fields[11]) + int(fields[12])) * 1e3 / USER_HZ
    except (IndexError, ValueError):
        return None


def peak_rss_kib(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def one_line(e: BaseException) -> str:
    """An error on one line: grpc's `CODE: details` for an RPC error (its str() spans lines)."""
    code, details = getattr(e, "code", None), getattr(e, "details", None)
    if callable(code) and callable(details):
        try:
            return f"{code().name}: {details()}"
        except Exception:  # noqa: BLE001 - fall back to the plain text
            pass
    return f"{type(e).__name__}: " + " ".join(str(e).split())


def summary(v: list[float]) -> dict[str, Any]:
    """Percentiles at index round((n-1)*p) of the sorted values, as the Rust and Go hosts do."""
    s = sorted(v)

    def at(p: float) -> float:
        return s[int(round((len(s) - 1) * p))]

    return {"n": len(s), "min": at(0), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1)}


def per_10k(a: float | None, b: float | None, n: int) -> float | None:
    return None if a is None or b is None else (b - a) * 10_000 / n


class Hosted:
    """One plugin launched by pyvider's RPCPluginClient, with the Popen pyvider hides."""

    def __init__(self, args: BenchArgs) -> None:
        from .client import CHILD_ENV, Observed, _observing_client_class

        self.obs = Observed()
        self.client = _observing_client_class(self.obs)(command=args.command, config={"env": dict(CHILD_ENV)})
        self.stub: Any = None

    async def start(self) -> None:
        from .kvgen import kv_pb2_grpc

        await self.client.start()
        self.stub = kv_pb2_grpc.KVStub(self.client.grpc_channel)

    @property
    def pid(self) -> int | None:
        return self.obs.popen.pid if self.obs.popen is not None else None

    async def close(self) -> dict[str, Any] | None:
        from . import report

        try:
            if self.client.grpc_channel is not None:
                await asyncio.wait_for(self.client.shutdown_plugin(), timeout=5.0)
        except Exception:  # noqa: BLE001 - close() below still ends the plugin
            pass
        try:
            await asyncio.wait_for(self.client.close(), timeout=8.0)
        except Exception:  # noqa: BLE001
            pass
        popen = self.obs.popen
        if popen is None:
            return None
        if popen.poll() is None:
            self.obs.host_terminated = True
            popen.kill()
        await asyncio.get_running_loop().run_in_executor(None, popen.wait)
        return report.plugin_exit(popen.returncode, host_terminated=self.obs.host_terminated)


async def _bench(args: BenchArgs) -> dict[str, Any]:
    from .kvgen import kv_pb2

    async def launch() -> Hosted:
        h = Hosted(args)
        try:
            await asyncio.wait_for(h.start(), timeout=args.timeout)
        except BaseException:
            await h.close()
            raise
        return h

    cold: list[float] = []
    for i in range(args.launches):
        t = time.perf_counter()
        h = await launch()
        try:
            await h.stub.Get(kv_pb2.GetRequest(key="missing-for-cold-start"), timeout=args.timeout)
        except Exception as e:  # noqa: BLE001 - NOT_FOUND is the expected answer
            import grpc

            if not isinstance(e, grpc.aio.AioRpcError) or e.code() != grpc.StatusCode.NOT_FOUND:
                await h.close()
                raise RuntimeError(f"cold-start launch {i + 1}: first Get: {one_line(e)}") from e
        cold.append((time.perf_counter() - t) * 1e3)
        await h.close()

    h = await launch()
    try:
        stub, t_out = h.stub, args.timeout
        await stub.Put(kv_pb2.PutRequest(key=BENCH_KEY, value=BENCH_VALUE), timeout=t_out)
        req = kv_pb2.GetRequest(key=BENCH_KEY)
        for i in range(WARMUP_GETS):
            got = (await stub.Get(req, timeout=t_out)).value
            if i == 0 and got != BENCH_VALUE:
                raise RuntimeError(f"warm-up Get returned {len(got)} bytes, not the 16 bytes put")
        host0, plugin0 = cpu_ms("self"), cpu_ms(h.pid) if h.pid else None
        lat: list[float] = []
        for _ in range(args.gets):
            t = time.perf_counter()
            await stub.Get(req, timeout=t_out)
            lat.append((time.perf_counter() - t) * 1e6)
        host1, plugin1 = cpu_ms("self"), cpu_ms(h.pid) if h.pid else None

        started = time.perf_counter()
        deadline = started + args.duration

        async def worker() -> int:
            n = 0
            while time.perf_counter() < deadline:
                await stub.Get(req, timeout=t_out)
                n += 1
            return n

        total = sum(await asyncio.gather(*(worker() for _ in range(args.concurrency))))
        ops = total / (time.perf_counter() - started)

        big = bytes([0x5A]) * (1 << 20)
        big_req = kv_pb2.PutRequest(key="bench-1mib", value=big)
        await stub.Put(big_req, timeout=t_out)
        t = time.perf_counter()
        for _ in range(args.puts):
            await stub.Put(big_req, timeout=t_out)
        put_mb_s = args.puts * len(big) / (time.perf_counter() - t) / 1e6
        pid = h.pid
        rss = peak_rss_kib(pid)
    finally:
        exit_info = await h.close()
    return {
        "host": "python",
        "tls": args.tls,
        "host_key": (args.key or PYVIDER_DEFAULT_KEY) if args.tls == "auto" else None,
        "transport": args.transport,
        "server_command": args.command,
        "cold_start_ms": summary(cold),
        "get_latency_us": summary(lat),
        "ops_per_sec": ops,
        "concurrency": args.concurrency,
        "put_1mib_mb_per_s": put_mb_s,
        "plugin_pid": pid,
        "plugin_peak_rss_kib": rss,
        "cpu_ms_per_10k_gets": {"host": per_10k(host0, host1, args.gets),
                                "plugin": per_10k(plugin0, plugin1, args.gets)},
        "plugin_exit": exit_info,
    }


def run(args: BenchArgs) -> int:
    """Runs the bench and prints its JSON object; 1 (and a message on stderr) on failure."""
    from .client import OWNED, host_environment

    for name in OWNED:
        os.environ.pop(name, None)
    env = host_environment(ClientArgs(args.tls, args.key or PYVIDER_DEFAULT_KEY, args.transport, TlsFiles(),
                                      args.timeout, list(args.command or [])))
    if args.key is None:
        env.pop("PYVIDER_CLIENT_CERT_CURVE", None)  # pyvider's own default
    os.environ.update(env)
    # Not asyncio.run(): see client.run (pyvider's executor threads block on pipes).
    loop = asyncio.new_event_loop()
    try:
        doc = loop.run_until_complete(_bench(args))
    except Exception as e:  # noqa: BLE001
        print(f"soup_peer.py bench: {one_line(e)}", file=sys.stderr)
        return 1
    finally:
        loop.close()
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()
    return 0
