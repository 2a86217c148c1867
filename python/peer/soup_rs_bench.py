#!/usr/bin/env python3
"""`python-rs` bench host: the Rust host in-process through the `soup_rpc` binding, measured
the way `soup bench`, `soup-go bench` and `soup_peer.py bench` measure themselves, for
`cargo xtask bench`. Prints one JSON object of the same shape (host "python-rs").

    soup_rs_bench.py [--tls auto|off] [--key KEY] [--transport tcp|unix] [--launches N]
                     [--gets N] [--concurrency N] [--duration SECS] [--puts N] -- SERVER-COMMAND...

Cold start, 1-in-flight Gets, the 1 MiB Puts, the plugin's peak RSS and the CPU per 10,000
Gets use the blocking ``soup_rpc.KvClient`` (what a Python caller writes); the in-flight
figure runs --concurrency threads sharing that one client (every call releases the GIL).
Exit codes: 0 ok, 1 failure, 2 usage error, 3 soup_rpc is not importable ("not built").
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

NOT_BUILT = 3


def _args(argv: list[str]) -> argparse.Namespace:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print("soup_rs_bench.py: give the server command after --", file=sys.stderr)
        raise SystemExit(2)
    cut = argv.index("--")
    p = argparse.ArgumentParser(prog="soup_rs_bench.py")
    p.add_argument("--tls", choices=["auto", "off"], default="auto")
    p.add_argument("--key", default="ec-p256")
    p.add_argument("--transport", choices=["tcp", "unix"], default=None)
    p.add_argument("--launches", type=int, default=20)
    p.add_argument("--gets", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--puts", type=int, default=10)
    p.add_argument("--timeout", type=float, default=30.0)
    ns = p.parse_args(argv[:cut])
    ns.command = argv[cut + 1:]
    return ns


def main(argv: list[str]) -> int:
    ns = _args(argv)
    try:
        import soup_rpc
    except ImportError as e:
        print(f"not built: the soup_rpc binding is not importable from {sys.executable} ({e}); "
              "install it with `pip install ./python`", file=sys.stderr)
        return NOT_BUILT
    from peerlib.bench import cpu_ms, peak_rss_kib, per_10k, summary

    def launch() -> "soup_rpc.KvClient":
        return soup_rpc.KvClient.launch(ns.command, tls=ns.tls, key=ns.key, transport=ns.transport,
                                        handshake_timeout=ns.timeout)

    cold = []
    for _ in range(ns.launches):
        t = time.perf_counter()
        kv = launch()
        try:
            kv.get("missing-for-cold-start")
        except soup_rpc.RpcError:
            pass  # NOT_FOUND is the expected answer
        cold.append((time.perf_counter() - t) * 1e3)
        kv.close()

    kv = launch()
    try:
        value = b"\x07" * 16
        kv.put("bench", value)
        for i in range(200):
            if kv.get("bench") != value and i == 0:
                raise RuntimeError("warm-up Get did not return the 16 bytes put")
        pid = kv.pid
        host0, plugin0 = cpu_ms("self"), cpu_ms(pid) if pid else None
        lat = []
        for _ in range(ns.gets):
            t = time.perf_counter()
            kv.get("bench")
            lat.append((time.perf_counter() - t) * 1e6)
        host1, plugin1 = cpu_ms("self"), cpu_ms(pid) if pid else None

        counts = [0] * ns.concurrency
        errors: list[BaseException] = []
        started = time.perf_counter()
        deadline = started + ns.duration

        def worker(i: int) -> None:
            n = 0
            try:
                while time.perf_counter() < deadline:
                    kv.get("bench")
                    n += 1
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
            counts[i] = n

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(ns.concurrency)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        ops = sum(counts) / (time.perf_counter() - started)
        if errors and not sum(counts):
            raise errors[0]

        big = b"\x5a" * (1 << 20)
        kv.put("bench-1mib", big)
        t = time.perf_counter()
        for _ in range(ns.puts):
            kv.put("bench-1mib", big)
        put_mb_s = ns.puts * len(big) / (time.perf_counter() - t) / 1e6
        rss = peak_rss_kib(pid)
    finally:
        exit_ = kv.close()
    doc = {
        "host": "python-rs",
        "tls": ns.tls,
        "host_key": ns.key if ns.tls == "auto" else None,
        "transport": kv.handshake.network,
        "server_command": ns.command,
        "cold_start_ms": summary(cold),
        "get_latency_us": summary(lat),
        "ops_per_sec": ops,
        "concurrency": ns.concurrency,
        "put_1mib_mb_per_s": put_mb_s,
        "plugin_pid": pid,
        "plugin_peak_rss_kib": rss,
        "cpu_ms_per_10k_gets": {"host": per_10k(host0, host1, ns.gets), "plugin": per_10k(plugin0, plugin1, ns.gets)},
        "plugin_exit": {"how": exit_.how, "code": exit_.exit_code, "signal": exit_.signal},
    }
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception as e:  # noqa: BLE001 - one line for xtask, not a traceback
        print(f"soup_rs_bench.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
