"""grpc.aio stubs over ``soup_rpc.aio.launch(...).channel``."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import AsyncIterator, Callable, List

import pytest

grpc = pytest.importorskip("grpc")
import grpc.aio  # noqa: E402

health_pb2 = pytest.importorskip("grpc_health.v1.health_pb2")
health_pb2_grpc = pytest.importorskip("grpc_health.v1.health_pb2_grpc")

import soup_rpc  # noqa: E402
import soup_rpc.aio  # noqa: E402
from conftest import SERVER_KEY, process_gone, stop  # noqa: E402
from peerlib.gen import kv_pb2, kv_pb2_grpc  # noqa: E402

SERVERS = ["rust", "go"]
DEADLINE = 0.3
HUNG = 30.0
SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("server", SERVERS)
def test_aio_stubs_unary_streaming_and_errors(server: str, make_server: Callable[..., List[str]]) -> None:
    async def main() -> None:
        async with soup_rpc.aio.launch(make_server(server)) as plugin:
            pid = plugin.pid
            assert plugin.handshake.server_certificate is not None
            assert plugin.handshake.server_certificate.key_type == SERVER_KEY[server]
            assert isinstance(plugin.channel, grpc.aio.Channel)
            health = health_pb2_grpc.HealthStub(plugin.channel)
            assert (await health.Check(health_pb2.HealthCheckRequest(), timeout=HUNG)).status == SERVING

            kv = kv_pb2_grpc.KVStub(plugin.channel)
            await asyncio.gather(*(kv.Put(kv_pb2.PutRequest(key=f"k{i}", value=b"%d" % i)) for i in range(50)))
            got = await asyncio.gather(*(kv.Get(kv_pb2.GetRequest(key=f"k{i}")) for i in range(50)))
            assert [g.value for g in got] == [b"%d" % i for i in range(50)]

            call = kv.Get(kv_pb2.GetRequest(key="k1"), metadata=(("x-soup", "1"),), timeout=HUNG)
            assert isinstance(call, grpc.aio.UnaryUnaryCall)
            assert (await call).value == b"1"
            assert await call.code() is grpc.StatusCode.OK
            assert isinstance(await call.initial_metadata(), grpc.aio.Metadata)
            assert isinstance(await call.trailing_metadata(), grpc.aio.Metadata)

            with pytest.raises(grpc.RpcError) as e:
                await kv.Get(kv_pb2.GetRequest(key="missing"))
            assert e.value.code() is grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.RpcError) as e:
                await plugin.channel.unary_unary("/no.such.Service/Method")(b"")
            assert e.value.code() is grpc.StatusCode.UNIMPLEMENTED

            watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=HUNG)
            assert (await watch.read()).status == SERVING
            assert watch.cancel()
            async for answer in health.Watch(health_pb2.HealthCheckRequest()):
                assert answer.status == SERVING
                break

            ser, de = kv_pb2.GetRequest.SerializeToString, kv_pb2.GetResponse.FromString

            async def one() -> AsyncIterator[kv_pb2.GetRequest]:
                yield kv_pb2.GetRequest(key="k2")

            assert (await plugin.channel.stream_unary("/proto.KV/Get", ser, de)(one())).value == b"2"
            bidi = plugin.channel.stream_stream("/proto.KV/Get", ser, de)([kv_pb2.GetRequest(key="k3")])
            assert [r.value async for r in bidi] == [b"3"]
            assert await bidi.code() is grpc.StatusCode.OK
        assert pid is not None and process_gone(pid)
        assert plugin.exit is not None and plugin.exit.how == "exited"

    asyncio.run(main())


@pytest.mark.parametrize("server", SERVERS)
def test_aio_deadline_on_a_frozen_plugin(server: str, make_server: Callable[..., List[str]]) -> None:
    async def main() -> None:
        async with soup_rpc.aio.launch(make_server(server)) as plugin:
            kv = kv_pb2_grpc.KVStub(plugin.channel)
            await kv.Put(kv_pb2.PutRequest(key="k", value=b"v"))
            pid = plugin.pid
            assert pid is not None
            stop(pid)
            try:
                got = await asyncio.wait_for(
                    asyncio.gather(
                        kv.Get(kv_pb2.GetRequest(key="k"), timeout=DEADLINE),
                        health_pb2_grpc.HealthStub(plugin.channel)
                        .Watch(health_pb2.HealthCheckRequest(), timeout=DEADLINE)
                        .read(),
                        return_exceptions=True,
                    ),
                    HUNG,
                )
            finally:
                os.kill(pid, signal.SIGCONT)
            for err in got:
                assert isinstance(err, grpc.RpcError), got
                assert err.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            assert (await kv.Get(kv_pb2.GetRequest(key="k"), timeout=HUNG)).value == b"v"
        assert process_gone(pid)

    asyncio.run(main())
