"""`soup_peer.py bench`: flags, the /proc readers, and one short run against the Python plugin."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import PEER, PYTHON, server_cmd
from peerlib import bench
from peerlib.cli import UsageError

FIELDS = {"host", "tls", "host_key", "transport", "server_command", "cold_start_ms", "get_latency_us", "ops_per_sec",
          "concurrency", "put_1mib_mb_per_s", "plugin_pid", "plugin_peak_rss_kib", "cpu_ms_per_10k_gets",
          "plugin_exit"}


def test_parse_defaults_and_errors() -> None:
    a = bench.parse_bench(["--", "srv", "x"])
    assert (a.tls, a.key, a.transport, a.launches, a.gets, a.concurrency, a.puts) == \
        ("auto", None, "unix", 20, 5000, 64, 10)
    assert a.command == ["srv", "x"]
    assert bench.parse_bench(["--key", "p-521", "--", "s"]).key == "ec-p521"
    for bad in ([], ["--"], ["--gets", "0", "--", "s"], ["--duration", "-1", "--", "s"], ["--key", "rsa-2048", "--", "s"],
                ["--tls", "manual", "--", "s"]):
        with pytest.raises(UsageError):
            bench.parse_bench(bad)


def test_summary_and_proc_readers() -> None:
    s = bench.summary([5.0, 1.0, 3.0, 2.0, 4.0])
    assert s == {"n": 5, "min": 1.0, "p50": 3.0, "p90": 5.0, "p99": 5.0, "max": 5.0}
    assert bench.cpu_ms("self") is not None and bench.cpu_ms("self") >= 0
    assert bench.peak_rss_kib(os.getpid()) > 0
    assert bench.peak_rss_kib(None) is None
    assert bench.per_10k(1.0, 3.0, 5000) == 4.0 and bench.per_10k(None, 3.0, 1) is None


def test_one_line() -> None:
    assert bench.one_line(ValueError("a\n  b")) == "ValueError: a b"


@pytest.mark.parametrize("tls", ["off", "auto"])
def test_short_run_against_python_plugin(tmp_path: Path, tls: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGIN_", "PYVIDER_"))}
    proc = subprocess.run(
        [PYTHON, str(PEER), "bench", "--tls", tls, "--launches", "2", "--gets", "50", "--duration", "0.2",
         "--puts", "1", "--concurrency", "8", "--", *server_cmd("--tls", tls, "--store", str(tmp_path))],
        capture_output=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    doc = json.loads(proc.stdout)
    assert set(doc) == FIELDS
    assert doc["host"] == "python" and doc["tls"] == tls
    assert doc["host_key"] == ("ec-p384" if tls == "auto" else None)
    assert doc["cold_start_ms"]["n"] == 2 and doc["get_latency_us"]["n"] == 50
    assert doc["put_1mib_mb_per_s"] > 0 and doc["plugin_peak_rss_kib"] > 0
    assert isinstance(doc["plugin_pid"], int)
    assert doc["plugin_exit"] is not None
