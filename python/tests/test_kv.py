"""Get/Put through the Rust host against the Rust, Go and Python KV plugins."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List

import pytest

import soup_rpc
import soup_rpc.aio
from conftest import SERVER_KEY

SERVERS = ["rust", "go", "python"]

VALUES = {
    "ascii": b"hello, soup",
    "all-256-bytes": bytes(range(256)),
    "empty": b"",
    "1mib": bytes(i % 251 for i in range(1 << 20)),
}


@pytest.mark.parametrize("server", SERVERS)
def test_values_round_trip_byte_exactly(server: str, make_server: Callable[..., List[str]]) -> None:
    with soup_rpc.KvClient.launch(make_server(server)) as kv:
        for name, value in VALUES.items():
            kv.put(name, value)
        for name, value in VALUES.items():
            got = kv.get(name)
            assert type(got) is bytes
            assert got == value, name
        kv.put("overwrite", b"first")
        kv.put("overwrite", bytearray(b"second"))
        assert kv.get("overwrite") == b"second"
        kv.put("ключ-🔑-键", "unicode key".encode())
        assert kv.get("ключ-🔑-键") == b"unicode key"


@pytest.mark.parametrize("server", SERVERS)
def test_handshake_describes_the_negotiated_connection(server: str, make_server: Callable[..., List[str]]) -> None:
    with soup_rpc.KvClient.launch(make_server(server)) as kv:
        h = kv.handshake
        assert h is kv.handshake
        assert (h.core_version, h.app_version, h.protocol) == (1, 1, "grpc")
        assert h.network in ("unix", "tcp")
        assert h.line.startswith(f"1|1|{h.network}|{h.address}|grpc|")
        assert h.tls_version == "TLSv1.3"
        assert h.cipher_suite and h.cipher_suite.startswith("TLS_")
        server_cert = h.server_certificate
        assert server_cert is not None
        assert server_cert.key_type == SERVER_KEY[server]
        assert len(server_cert.sha256) == 64 and int(server_cert.sha256, 16) >= 0
        assert h.client_certificate is not None
        assert h.client_certificate.key_type == "ec-p256"
        assert h.client_certificate != server_cert
        assert h.spawn_to_handshake > 0
        assert "TLSv1.3" in repr(h)
        with pytest.raises(AttributeError):
            h.app_version = 2  # type: ignore[misc]


def test_go_plugin_p521_verified_with_any_host_key(make_server: Callable[..., List[str]]) -> None:
    for key in ("ec-p384", "ec-p521", "rsa-2048"):
        with soup_rpc.KvClient.launch(make_server("go"), key=key) as kv:
            assert kv.handshake.server_certificate is not None
            assert kv.handshake.server_certificate.key_type == "ec-p521"
            assert kv.handshake.client_certificate is not None
            assert kv.handshake.client_certificate.key_type == key
            kv.put("k", b"v")
            assert kv.get("k") == b"v"


def test_host_key_type_and_tcp_transport(rust_server: List[str]) -> None:
    with soup_rpc.KvClient.launch(rust_server, key="P-521", transport="tcp") as kv:
        h = kv.handshake
        assert h.network == "tcp"
        assert h.address.startswith("127.0.0.1:")
        assert h.server_certificate is not None and h.server_certificate.key_type == "ec-p521"
        kv.put("k", b"v")
        assert kv.get("k") == b"v"


def test_plaintext_when_asked(make_server: Callable[..., List[str]]) -> None:
    with soup_rpc.KvClient.launch(make_server("rust", "--tls", "off"), tls="off") as kv:
        h = kv.handshake
        assert (h.tls_version, h.cipher_suite, h.server_certificate, h.client_certificate) == (None, None, None, None)
        kv.put("k", b"plain")
        assert kv.get("k") == b"plain"


def test_manual_tls(make_server: Callable[..., List[str]], manual_tls: dict) -> None:
    m = manual_tls
    server = make_server(
        "rust", "--tls", "manual",
        "--tls-cert", str(m["server_cert"]), "--tls-key", str(m["server_key"]), "--tls-ca", str(m["ca"]),
    )
    with soup_rpc.KvClient.launch(
        server, tls="manual", tls_cert=m["client_cert"], tls_key=m["client_key"], tls_ca=m["ca"]
    ) as kv:
        h = kv.handshake
        assert h.tls_version == "TLSv1.3"
        assert h.server_certificate is not None and h.client_certificate is not None
        assert h.server_certificate.sha256 != h.client_certificate.sha256
        kv.put("k", b"manual")
        assert kv.get("k") == b"manual"


@pytest.mark.parametrize("server", ["rust", "go"])
def test_eight_threads_share_one_client(server: str, make_server: Callable[..., List[str]]) -> None:
    ops_per_thread = 1_000
    with soup_rpc.KvClient.launch(make_server(server)) as kv:
        start = threading.Barrier(8)

        def work(t: int) -> int:
            start.wait()
            done = 0
            for i in range(ops_per_thread // 2):
                value = f"{t}:{i}".encode()
                kv.put(f"thread-{t}", value)
                assert kv.get(f"thread-{t}") == value
                done += 2
            return done

        with ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(work, range(8))) == 8 * ops_per_thread
        for t in range(8):
            assert kv.get(f"thread-{t}") == f"{t}:{ops_per_thread // 2 - 1}".encode()


@pytest.mark.parametrize("server", SERVERS)
def test_asyncio_gather_of_100_gets(server: str, make_server: Callable[..., List[str]]) -> None:
    async def main() -> None:
        async with soup_rpc.aio.launch(make_server(server)) as kv:
            assert isinstance(kv, soup_rpc.aio.KvClient)
            await asyncio.gather(*(kv.put(f"k{i}", f"v{i}".encode()) for i in range(100)))
            got = await asyncio.gather(*(kv.get(f"k{i}") for i in range(100)))
            assert got == [f"v{i}".encode() for i in range(100)]
            assert kv.handshake.server_certificate is not None
            assert kv.handshake.server_certificate.key_type == SERVER_KEY[server]
            with pytest.raises(soup_rpc.RpcError) as e:
                await kv.get("missing")
            assert e.value.code == "NOT_FOUND"
        assert kv.closed and kv.exit is not None and kv.exit.how == "exited"

    asyncio.run(main())


def test_asyncio_await_launch_and_close(rust_server: List[str]) -> None:
    async def main() -> soup_rpc.PluginExit:
        kv = await soup_rpc.aio.KvClient.launch(rust_server)
        await kv.put("k", b"v")
        assert await kv.get("k") == b"v"
        first = await kv.close()
        assert await kv.close() == first
        with pytest.raises(soup_rpc.ClientClosed):
            await kv.get("k")
        return first

    exit = asyncio.run(main())
    assert (exit.how, exit.exit_code, exit.signal) == ("exited", 0, None)
