"""Every soup_rpc exception, provoked for real."""

from __future__ import annotations

import pickle
import sys
import time
from pathlib import Path
from typing import Callable, List

import pytest

import soup_rpc

SLOW = 30.0  # generous bounds: a failure must come from the cause, not a timeout


def test_wrong_cookie_raises_cookie_rejected_with_plugin_stderr(rust_server: List[str]) -> None:
    with pytest.raises(soup_rpc.CookieRejected) as e:
        soup_rpc.KvClient.launch(rust_server, cookie=("BASIC_PLUGIN", "wrong"), handshake_timeout=SLOW)
    err = e.value
    assert isinstance(err, soup_rpc.PluginExited)
    assert isinstance(err, soup_rpc.HandshakeError)
    assert isinstance(err, soup_rpc.SoupError)
    assert err.exit_code == 1
    assert err.stage == "handshake"
    assert any("magic cookie" in line for line in err.stderr_tail)
    assert "rejected the magic cookie" in str(err)
    assert str(err) == err.detail


def test_wrong_cookie_against_go_plugin(make_server: Callable[..., List[str]]) -> None:
    with pytest.raises(soup_rpc.CookieRejected) as e:
        soup_rpc.KvClient.launch(make_server("go"), cookie=("BASIC_PLUGIN", "wrong"), handshake_timeout=SLOW)
    assert e.value.exit_code == 1
    assert e.value.stderr_tail


def test_unknown_protocol_version_raises_version_mismatch(rust_server: List[str]) -> None:
    with pytest.raises(soup_rpc.VersionMismatch) as e:
        soup_rpc.KvClient.launch(rust_server, protocol_versions=(7,), handshake_timeout=SLOW)
    assert e.value.ours == [7]
    assert e.value.theirs == 1
    assert "incompatible API version" in str(e.value)


def test_plugin_exiting_with_code_3_raises_plugin_exited() -> None:
    cmd = [sys.executable, "-c", "import sys; print('dying on purpose', file=sys.stderr); sys.exit(3)"]
    with pytest.raises(soup_rpc.PluginExited) as e:
        soup_rpc.KvClient.launch(cmd, handshake_timeout=SLOW)
    err = e.value
    assert type(err) is soup_rpc.PluginExited
    assert (err.exit_code, err.signal) == (3, None)
    assert err.stderr_tail == ["dying on purpose"]
    assert "exit code 3" in str(err)


def test_plaintext_plugin_with_tls_auto_is_refused_as_tls_error(make_server: Callable[..., List[str]]) -> None:
    with pytest.raises(soup_rpc.TlsError) as e:
        soup_rpc.KvClient.launch(make_server("rust", "--tls", "off"), tls="auto", handshake_timeout=SLOW)
    err = e.value
    assert err.stage == "tls"
    assert "refusing to downgrade" in str(err)
    assert err.handshake_line is not None and err.handshake_line.endswith("|grpc|")


def test_tls_plugin_with_tls_off_is_a_tls_error() -> None:
    cmd = [sys.executable, "-c", _fake_tls_plugin()]
    with pytest.raises(soup_rpc.TlsError) as e:
        soup_rpc.KvClient.launch(cmd, tls="off", handshake_timeout=SLOW)
    assert e.value.stage == "tls"
    assert "offered TLS" in str(e.value)


def _fake_tls_plugin() -> str:
    """A program printing a handshake line that carries a certificate field, then waiting."""
    return (
        "import sys, time\n"
        "print('1|1|tcp|127.0.0.1:1|grpc|MIIBfake', flush=True)\n"
        "time.sleep(60)\n"
    )


def test_missing_key_raises_rpc_error_not_found(rust_server: List[str]) -> None:
    with soup_rpc.KvClient.launch(rust_server) as kv:
        with pytest.raises(soup_rpc.RpcError) as e:
            kv.get("no-such-key")
    err = e.value
    assert err.code == "NOT_FOUND"
    assert "no-such-key" in err.message
    assert (err.op, err.key, err.stage) == ("get", "no-such-key", "rpc")
    assert "NotFound" in str(err)


def test_silent_plugin_raises_handshake_error_after_the_timeout() -> None:
    cmd = [sys.executable, "-c", "import sys, time; print('thinking', file=sys.stderr, flush=True); time.sleep(60)"]
    started = time.monotonic()
    with pytest.raises(soup_rpc.HandshakeError) as e:
        soup_rpc.KvClient.launch(cmd, handshake_timeout=0.5)
    elapsed = time.monotonic() - started
    err = e.value
    assert type(err) is soup_rpc.HandshakeError
    assert err.stage == "handshake"
    assert "timeout while waiting for plugin to start" in str(err)
    assert err.stderr_tail == ["thinking"]
    assert 0.5 <= elapsed < 10


def test_missing_program_raises_handshake_error_at_spawn(tmp_path: Path) -> None:
    with pytest.raises(soup_rpc.HandshakeError) as e:
        soup_rpc.KvClient.launch([str(tmp_path / "no-such-plugin")])
    assert e.value.stage == "spawn"
    assert "cannot start plugin" in str(e.value)


def test_unreadable_manual_tls_files_raise_tls_error(rust_server: List[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(soup_rpc.TlsError) as e:
        soup_rpc.KvClient.launch(rust_server, tls="manual", tls_cert=missing, tls_key=missing, tls_ca=missing)
    assert "missing.pem" in str(e.value)


def test_calls_after_close_raise_client_closed(rust_server: List[str]) -> None:
    kv = soup_rpc.KvClient.launch(rust_server)
    kv.close()
    with pytest.raises(soup_rpc.ClientClosed):
        kv.get("k")
    with pytest.raises(soup_rpc.ClientClosed):
        kv.put("k", b"v")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tls": "sometimes"},
        {"key": "ec-p999"},
        {"transport": "carrier-pigeon"},
        {"protocol_versions": ()},
        {"handshake_timeout": 0},
        {"handshake_timeout": float("nan")},
        {"tls": "manual"},
        {"tls_ca": "ca.pem"},
    ],
)
def test_invalid_arguments_raise_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        soup_rpc.KvClient.launch(["never-run"], **kwargs)


def test_invalid_argument_types_raise_type_error(rust_server: List[str]) -> None:
    with pytest.raises(TypeError):
        soup_rpc.KvClient.launch("soup-server server")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        soup_rpc.KvClient.launch(rust_server, env=["A=1"])  # type: ignore[arg-type]
    with soup_rpc.KvClient.launch(rust_server) as kv:
        with pytest.raises(TypeError):
            kv.put("k", "not bytes")  # type: ignore[arg-type]


def test_exceptions_pickle_with_their_fields(rust_server: List[str]) -> None:
    with pytest.raises(soup_rpc.CookieRejected) as e:
        soup_rpc.KvClient.launch(rust_server, cookie=("BASIC_PLUGIN", "wrong"), handshake_timeout=SLOW)
    again = pickle.loads(pickle.dumps(e.value))
    assert type(again) is soup_rpc.CookieRejected
    assert (str(again), again.exit_code, again.stderr_tail) == (str(e.value), 1, e.value.stderr_tail)


def test_plugin_env_is_passed(rust_server: List[str], tmp_path: Path) -> None:
    marker = tmp_path / "env-seen"
    cmd = [sys.executable, "-c", f"import os, sys; open({str(marker)!r}, 'w').write(os.environ['SOUP_TEST']); sys.exit(3)"]
    with pytest.raises(soup_rpc.PluginExited):
        soup_rpc.KvClient.launch(cmd, env={"SOUP_TEST": "passed"}, handshake_timeout=SLOW)
    assert marker.read_text() == "passed"
