"""python/soup_rpc/_native.pyi matches the built extension (mypy's stubtest)."""

from __future__ import annotations

import subprocess
import sys


def test_native_stubs_match_the_extension() -> None:
    # mypy is pinned in python/peer/requirements.txt: a venv without it is a setup bug.
    run = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--concise", "soup_rpc._native"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"stubtest found mismatches:\n{run.stdout}{run.stderr}"
