"""The server subcommand as a go-plugin plugin, driven directly (no pyvider host)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest
from certgen import make_cert, make_key, pem_cert
from grpc_health.v1 import health_pb2, health_pb2_grpc
from plugin_proc import host_env, plugin, read_line

from peerlib import certs
from peerlib.gen import kv_pb2, kv_pb2_grpc
from pyvider.rpcplugin.protocol.grpc_controller_pb2 import Empty as CEmpty
from pyvider.rpcplugin.protocol.grpc_controller_pb2_grpc import GRPCControllerStub

BIG = 16 * 1024 * 1024
OPTS = [("grpc.max_receive_message_length", BIG + 1024), ("grpc.max_send_message_length", BIG + 1024)]


def _target(fields: list[str]) -> str:
    return f"unix:{fields[3]}" if fields[2] == "unix" else fields[3]


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_plaintext_plugin_serves_kv_health_and_shuts_down(tmp_path: Path, transport: str) -> None:
    with plugin(["--tls", "off", "--transport", transport, "--store", str(tmp_path)], host_env()) as proc:
        fields = read_line(proc).split("|")
        assert fields[:3] == ["1", "1", transport] and fields[4] == "grpc" and fields[5] == ""
        with grpc.insecure_channel(_target(fields), options=OPTS) as ch:
            kv = kv_pb2_grpc.KVStub(ch)
            kv.Put(kv_pb2.PutRequest(key="big", value=bytes(BIG)), timeout=30)
            assert len(kv.Get(kv_pb2.GetRequest(key="big"), timeout=30).value) == BIG
            assert (tmp_path / ("k-" + b"big".hex())).stat().st_size == BIG
            with pytest.raises(grpc.RpcError) as err:
                kv.Get(kv_pb2.GetRequest(key="missing-key"), timeout=5)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND and "missing-key" in err.value.details()
            health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service="plugin"), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            GRPCControllerStub(ch).Shutdown(CEmpty(), timeout=5)
        assert proc.wait(10) == 0
        assert proc.stdout.read() == b""  # nothing after the handshake line


def test_missing_cookie_exits_1_without_handshake(tmp_path: Path) -> None:
    env = host_env()
    del env["BASIC_PLUGIN"]
    with plugin(["--tls", "off", "--store", str(tmp_path)], env) as proc:
        assert proc.wait(20) == 1
        assert proc.stdout.read() == b""


def test_usage_error_exits_2() -> None:
    from conftest import server_cmd

    proc = subprocess.run(server_cmd("--tls", "sometimes"), capture_output=True, timeout=30)
    assert proc.returncode == 2 and proc.stdout == b""


def _auto_server_cert(tmp_path: Path, key_flag: str) -> str:
    host_cert = make_cert(make_key("ec-p256"), cn="host")
    env = host_env(PLUGIN_CLIENT_CERT=pem_cert(host_cert).decode())
    with plugin(["--tls", "auto", "--key", key_flag, "--transport", "tcp", "--store", str(tmp_path)], env) as proc:
        fields = read_line(proc).split("|")
        assert len(fields) == 6 and fields[5] and "=" not in fields[5]  # unpadded, as go-plugin
        return certs.key_type_of(certs.from_handshake_field(fields[5]))


def test_auto_match_presents_pyvider_default_p384(tmp_path: Path) -> None:
    # `match` would mean the host's key type (ec-p256 here); pyvider has no such setting.
    assert _auto_server_cert(tmp_path, "match") == "ec-p384"


@pytest.mark.xfail(strict=True, reason="pyvider-rpcplugin 0.5.5 has no server key setting: its auto-mTLS "
                                       "certificate is always ECDSA P-384 whatever --key asks")
@pytest.mark.parametrize("key", ["ec-p256", "ec-p521", "rsa-2048"])
def test_auto_server_key_is_honoured(tmp_path: Path, key: str) -> None:
    assert _auto_server_cert(tmp_path, key) == key
