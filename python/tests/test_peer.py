"""python/peer/soup_rs_peer.py: the `python-rs` peer's report matches `soup client`'s."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Callable, Dict, List

import pytest

from conftest import RS_PEER, SCHEMA, SOUP_CLI, require_rust

jsonschema = pytest.importorskip("jsonschema", reason="pip install jsonschema (the test extra)")


def run_peer(argv: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def validate(report: Dict[str, Any]) -> None:
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))


def shape(report: Dict[str, Any]) -> List[tuple]:
    """What must be identical between two clients' reports: steps, values, outcome."""
    return [
        (s["step"], s["op"], s["key"], s["ok"], s["status"], s["value_len"], s["value_sha256"])
        for s in report["steps"]
        # The probe's value names the client language, so its bytes differ by design.
        if "probe" not in s["step"]
    ]


@pytest.mark.parametrize("server,tls,key", [("rust", "auto", "ec-p256"), ("rust", "off", "ec-p256"), ("go", "auto", "ec-p521")])
def test_client_report_matches_the_rust_cli(
    server: str, tls: str, key: str, make_server: Callable[..., List[str]]
) -> None:
    require_rust()
    extra = ["--tls", "off"] if tls == "off" else []
    args = ["client", "--tls", tls, "--key", key, "--transport", "unix", "--timeout", "30", "--"]
    ours = run_peer([sys.executable, str(RS_PEER), *args, *make_server(server, *extra)])
    assert ours.returncode == 0, ours.stderr
    theirs = run_peer([str(SOUP_CLI), *args, *make_server(server, *extra)])
    assert theirs.returncode == 0, theirs.stderr

    report = json.loads(ours.stdout)
    reference = json.loads(theirs.stdout)
    validate(report)
    validate(reference)
    assert report["peer"]["language"] == "python-rs"
    assert "soup_rpc" in report["peer"]["implementation"]
    assert report["ok"] is True and report["error"] is None
    assert shape(report) == shape(reference)
    assert report.keys() == reference.keys()
    assert [s.keys() for s in report["steps"]] == [s.keys() for s in reference["steps"]]
    assert report["requested"] == {**reference["requested"], "server_command": report["requested"]["server_command"]}
    assert report["observed"]["network"] == reference["observed"]["network"]
    assert report["plugin_exit"] == {"how": "exited", "code": 0, "signal": None}
    saw = report["observed"]["server_saw"]
    assert saw["tls_mode"] == tls
    if tls == "auto":
        assert report["observed"]["server_certificate"]["key_type"] == ("ec-p521" if server == "go" else key)
        assert report["observed"]["client_certificate"]["key_type"] == key


def test_client_report_records_a_failure(make_server: Callable[..., List[str]]) -> None:
    server = make_server("rust", "--tls", "off")
    out = run_peer([sys.executable, str(RS_PEER), "client", "--tls", "auto", "--key", "ec-p256", "--transport", "unix", "--", *server])
    assert out.returncode == 1
    report = json.loads(out.stdout)
    validate(report)
    assert report["ok"] is False
    assert report["error"]["stage"] == "tls"


def test_usage_errors_exit_2_without_report() -> None:
    for argv in (["client", "--tls", "auto"], ["client", "--tls", "sometimes", "--", "x"], ["serve"], []):
        out = run_peer([sys.executable, str(RS_PEER), *argv])
        assert out.returncode == 2, argv
        assert out.stdout == ""


def test_capabilities() -> None:
    out = run_peer([sys.executable, str(RS_PEER), "capabilities"])
    assert out.returncode == 0
    caps = json.loads(out.stdout)
    assert caps["language"] == "python-rs"
    assert caps["client"] == {"unsupported": []}
    assert caps["server"]["unsupported"][0]["tls"] == "*"
