"""Shared fixtures: paths, the report schema validator, and running the peer as a process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

HERE = Path(__file__).resolve().parent
PEER_DIR = HERE.parent
REPO = PEER_DIR.parent.parent
PEER = PEER_DIR / "soup_peer.py"
PYTHON = sys.executable
SCHEMA = REPO / "proto" / "peer-report.schema.json"
# Captured from real go-plugin and pyvider peers; committed beside the Rust tests.
VECTORS = REPO / "crates" / "plugin-core" / "tests" / "vectors"
GO_PEER = REPO / "target" / "peers" / "bin" / "soup-go"

sys.path.insert(0, str(PEER_DIR))
sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def server_cmd(*args: str) -> list[str]:
    return [PYTHON, str(PEER), "server", *args]


def run_client(client_args: list[str], command: list[str], timeout: float = 60.0) -> tuple[int, dict | None, str]:
    """Run the peer client to completion; returns (exit code, parsed report or None, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGIN_", "PYVIDER_"))}
    proc = subprocess.run(
        [PYTHON, str(PEER), "client", *client_args, "--", *command],
        capture_output=True, timeout=timeout, env=env, check=False, stdin=subprocess.DEVNULL,
    )
    out = proc.stdout.decode()
    report = json.loads(out) if out.strip() else None
    if report is not None:
        assert out.count("\n") == 1, f"stdout must hold exactly one JSON line, got: {out[:500]!r}"
    return proc.returncode, report, proc.stderr.decode(errors="replace")


def assert_valid(validator: Draft202012Validator, report: dict) -> None:
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
