"""The KV servicer on a real grpc.aio server: NOT_FOUND, byte-exact values, and the probe
seeing the client certificate of the TLS connection that carried the Put."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
from certgen import write_manual_set

from peerlib import certs
from peerlib.gen import kv_pb2, kv_pb2_grpc
from peerlib.kv_service import KVServicer
from peerlib.script import probe_value
from peerlib.store import FileStore

BIG = 16 * 1024 * 1024
OPTS = [("grpc.max_receive_message_length", BIG + 1024), ("grpc.max_send_message_length", BIG + 1024)]


async def _with_server(store: Path, tls: str, creds, channel_factory, body) -> None:
    server = grpc.aio.server(options=OPTS)
    kv_pb2_grpc.add_KVServicer_to_server(KVServicer(FileStore(store), configured_tls=tls), server)
    port = server.add_secure_port("127.0.0.1:0", creds) if creds else server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with channel_factory(f"127.0.0.1:{port}") as channel:
            await body(kv_pb2_grpc.KVStub(channel))
    finally:
        await server.stop(None)


def test_plaintext_round_trips_not_found_and_probe(tmp_path: Path) -> None:
    async def body(stub: kv_pb2_grpc.KVStub) -> None:
        for key, value in [("binary", bytes(range(256))), ("empty", b""), ("big", bytes(BIG)), ("ключ-🔑-键", b"u")]:
            await stub.Put(kv_pb2.PutRequest(key=key, value=value))
            assert (await stub.Get(kv_pb2.GetRequest(key=key))).value == value
        try:
            await stub.Get(kv_pb2.GetRequest(key="missing-key"))
            raise AssertionError("expected NOT_FOUND")
        except grpc.aio.AioRpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND
            assert "missing-key" in e.details()
        await stub.Put(kv_pb2.PutRequest(key="probe", value=probe_value("python")))
        doc = json.loads((await stub.Get(kv_pb2.GetRequest(key="probe"))).value)
        assert doc == {"client_language": "python",
                       "server_handshake": {"server_language": "python", "tls_mode": "off", "peer_certificate": None}}

    asyncio.run(_with_server(tmp_path, "off", None, lambda t: grpc.aio.insecure_channel(t, options=OPTS), body))


def test_probe_reports_the_client_certificate_seen(tmp_path: Path) -> None:
    files = write_manual_set(tmp_path, "ec-p256")
    creds = grpc.ssl_server_credentials(
        [(files["server_key"].read_bytes(), files["server_cert"].read_bytes())],
        root_certificates=files["ca"].read_bytes(), require_client_auth=True)
    chan_creds = grpc.ssl_channel_credentials(files["ca"].read_bytes(), files["client_key"].read_bytes(),
                                              files["client_cert"].read_bytes())
    want = certs.peer_seen(certs.load_pem(files["client_cert"].read_bytes()))

    async def body(stub: kv_pb2_grpc.KVStub) -> None:
        await stub.Put(kv_pb2.PutRequest(key="probe", value=probe_value("python")))
        doc = json.loads((await stub.Get(kv_pb2.GetRequest(key="probe"))).value)
        assert doc["server_handshake"] == {"server_language": "python", "tls_mode": "manual", "peer_certificate": want}

    asyncio.run(_with_server(tmp_path / "kv", "manual", creds,
                             lambda t: grpc.aio.secure_channel(t, chan_creds, options=OPTS), body))
