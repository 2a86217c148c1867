"""grpcio-generated stubs over ``plugin.channel``: the bytes go through the Rust host's
connection, so a Go plugin's P-521 AutoMTLS works (grpcio alone cannot verify it)."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable, Iterator, List

import pytest

grpc = pytest.importorskip("grpc")
health_pb2 = pytest.importorskip("grpc_health.v1.health_pb2")
health_pb2_grpc = pytest.importorskip("grpc_health.v1.health_pb2_grpc")

import soup_rpc  # noqa: E402
from conftest import SERVER_KEY, process_gone, stop  # noqa: E402
from peerlib.gen import kv_pb2, kv_pb2_grpc  # noqa: E402

SERVERS = ["rust", "go"]
DEADLINE = 0.3
HUNG = 30.0


def launched(make_server: Callable[..., List[str]], server: str, **kwargs: Any) -> soup_rpc.Plugin:
    return soup_rpc.launch(make_server(server), **kwargs)


def closed_and_reaped(plugin: soup_rpc.Plugin, pid: int) -> None:
    assert plugin.exit is not None and (plugin.exit.how, plugin.exit.exit_code) == ("exited", 0), plugin.exit
    assert process_gone(pid)


@pytest.mark.parametrize("server", SERVERS)
def test_health_and_kv_stubs_over_the_channel(server: str, make_server: Callable[..., List[str]]) -> None:
    with launched(make_server, server) as plugin:
        pid = plugin.pid
        assert pid is not None
        assert plugin.handshake.server_certificate is not None
        assert plugin.handshake.server_certificate.key_type == SERVER_KEY[server]
        assert isinstance(plugin.channel, grpc.Channel)
        assert plugin.channel is plugin.channel

        health = health_pb2_grpc.HealthStub(plugin.channel)
        answer = health.Check(health_pb2.HealthCheckRequest(), timeout=HUNG)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING

        kv = kv_pb2_grpc.KVStub(plugin.channel)
        kv.Put(kv_pb2.PutRequest(key="k", value=bytes(range(256))))
        assert kv.Get(kv_pb2.GetRequest(key="k")).value == bytes(range(256))
        big = bytes(i % 251 for i in range(1 << 20))
        kv.Put(kv_pb2.PutRequest(key="big", value=big), timeout=HUNG)
        assert kv.Get(kv_pb2.GetRequest(key="big"), timeout=HUNG).value == big

        future = kv.Get.future(kv_pb2.GetRequest(key="k"))
        assert future.result(HUNG).value == bytes(range(256))
        assert future.code() == grpc.StatusCode.OK
    closed_and_reaped(plugin, pid)


@pytest.mark.parametrize("server", SERVERS)
def test_missing_key_raises_a_grpc_rpc_error(server: str, make_server: Callable[..., List[str]]) -> None:
    with launched(make_server, server) as plugin:
        kv = kv_pb2_grpc.KVStub(plugin.channel)
        with pytest.raises(grpc.RpcError) as e:
            kv.Get(kv_pb2.GetRequest(key="missing"))
        err = e.value
        assert isinstance(err, grpc.Call)
        assert isinstance(err, soup_rpc.RpcError)
        assert err.code() is grpc.StatusCode.NOT_FOUND
        assert err.code == "NOT_FOUND"
        assert "missing" in err.details()
        assert err.method == "/proto.KV/Get"
        assert isinstance(err.initial_metadata(), tuple)
        assert isinstance(err.trailing_metadata(), tuple)
        # The typed client's errors are grpcio's too.
        with soup_rpc.KvClient.launch(make_server(server)) as typed:
            with pytest.raises(grpc.RpcError) as typed_err:
                typed.get("missing")
            assert typed_err.value.code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("server", SERVERS)
def test_unimplemented_method_raises_unimplemented(server: str, make_server: Callable[..., List[str]]) -> None:
    with launched(make_server, server) as plugin:
        call = plugin.channel.unary_unary("/no.such.Service/Method", _registered_method=True)
        with pytest.raises(grpc.RpcError) as e:
            call(b"")
        assert e.value.code() is grpc.StatusCode.UNIMPLEMENTED
        stream = plugin.channel.unary_stream("/no.such.Service/Stream")(b"")
        with pytest.raises(grpc.RpcError) as e:
            next(stream)
        assert e.value.code() is grpc.StatusCode.UNIMPLEMENTED
        assert stream.code() is grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("server", SERVERS)
def test_health_watch_streams_and_cancels(server: str, make_server: Callable[..., List[str]]) -> None:
    with launched(make_server, server) as plugin:
        pid = plugin.pid
        assert pid is not None
        health = health_pb2_grpc.HealthStub(plugin.channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=HUNG)
        assert isinstance(watch, grpc.Call)
        first = next(watch)
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        assert watch.is_active()
        assert isinstance(watch.initial_metadata(), tuple)
        assert watch.cancel()
        with pytest.raises(grpc.RpcError) as e:
            next(watch)
        assert e.value.code() is grpc.StatusCode.CANCELLED
        assert not watch.is_active()
        # The connection is still good after the reset stream.
        assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
        # An unending stream does not hold up close(): the plugin still exits cleanly.
        open_watch = health.Watch(health_pb2.HealthCheckRequest())
        assert next(open_watch).status == health_pb2.HealthCheckResponse.SERVING
    closed_and_reaped(plugin, pid)


@pytest.mark.parametrize("server", SERVERS)
def test_deadline_on_a_frozen_plugin_is_deadline_exceeded(server: str, make_server: Callable[..., List[str]]) -> None:
    with launched(make_server, server) as plugin:
        kv = kv_pb2_grpc.KVStub(plugin.channel)
        kv.Put(kv_pb2.PutRequest(key="k", value=b"v"))
        pid = plugin.pid
        assert pid is not None
        out: dict = {}

        def call() -> None:
            try:
                kv.Get(kv_pb2.GetRequest(key="k"), timeout=DEADLINE)
            except BaseException as e:  # noqa: BLE001 - handed to the test
                out["error"] = e

        stop(pid)
        try:
            t = threading.Thread(target=call, daemon=True)
            t.start()
            t.join(HUNG)
            assert not t.is_alive(), f"the call had not returned after {HUNG} s"
            watch = health_pb2_grpc.HealthStub(plugin.channel).Watch(health_pb2.HealthCheckRequest(), timeout=DEADLINE)
            with pytest.raises(grpc.RpcError) as watch_err:
                next(watch)
        finally:
            os.kill(pid, signal.SIGCONT)
        err = out.get("error")
        assert isinstance(err, grpc.RpcError), out
        assert isinstance(err, soup_rpc.DeadlineExceeded)
        assert err.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert err.deadline == DEADLINE
        assert "/proto.KV/Get: no answer within 300ms (deadline exceeded)" in str(err)
        assert watch_err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        # Thawed: the same channel answers.
        assert kv.Get(kv_pb2.GetRequest(key="k"), timeout=HUNG).value == b"v"
    closed_and_reaped(plugin, pid)


def test_metadata_round_trip_and_with_call(make_server: Callable[..., List[str]]) -> None:
    with launched(make_server, "rust") as plugin:
        kv = kv_pb2_grpc.KVStub(plugin.channel)
        kv.Put(kv_pb2.PutRequest(key="k", value=b"v"))
        response, call = kv.Get.with_call(
            kv_pb2.GetRequest(key="k"),
            metadata=(("x-soup-text", "hello"), ("x-soup-bin", b"\x00\xff")),
            timeout=HUNG,
        )
        assert response.value == b"v"
        assert isinstance(call, grpc.Call)
        assert call.code() is grpc.StatusCode.OK
        initial = dict(call.initial_metadata())
        # soup-server's HTTP/2 layer (hyper) sends a date header; gRPC's own headers
        # (content-type, grpc-status) are not metadata.
        assert "date" in initial and "content-type" not in initial
        assert all(not k.startswith("grpc-") for k, _ in call.trailing_metadata())
        with pytest.raises(ValueError):
            kv.Get(kv_pb2.GetRequest(key="k"), metadata=(("bad key", "v"),))
        with pytest.raises(TypeError):
            kv.Get(kv_pb2.GetRequest(key="k"), metadata=(("x-bin", "not bytes"),))


def test_client_streaming_and_bidi_shapes(make_server: Callable[..., List[str]]) -> None:
    """A stream of one request to a unary method is the same bytes on the wire, so the
    stream_unary and stream_stream shapes can be driven against KV's Get."""
    with launched(make_server, "go") as plugin:
        kv = kv_pb2_grpc.KVStub(plugin.channel)
        kv.Put(kv_pb2.PutRequest(key="k", value=b"v"))
        ser, de = kv_pb2.GetRequest.SerializeToString, kv_pb2.GetResponse.FromString

        def one() -> Iterator[kv_pb2.GetRequest]:
            yield kv_pb2.GetRequest(key="k")

        stream_unary = plugin.channel.stream_unary("/proto.KV/Get", ser, de)
        assert stream_unary(one(), timeout=HUNG).value == b"v"
        response, call = stream_unary.with_call(one())
        assert response.value == b"v" and call.code() is grpc.StatusCode.OK
        bidi = plugin.channel.stream_stream("/proto.KV/Get", ser, de)
        assert [r.value for r in bidi(one(), timeout=HUNG)] == [b"v"]
        # Raw bytes when no serializers are given.
        raw = plugin.channel.unary_unary("/proto.KV/Get")
        assert kv_pb2.GetResponse.FromString(raw(ser(kv_pb2.GetRequest(key="k")))).value == b"v"


def test_channel_surface_and_closed_plugin(make_server: Callable[..., List[str]]) -> None:
    plugin = launched(make_server, "rust")
    channel = plugin.channel
    states: List[Any] = []
    channel.subscribe(states.append, try_to_connect=True)
    assert states == [grpc.ChannelConnectivity.READY]
    channel.unsubscribe(states.append)
    with channel as same:
        assert same is channel
    assert grpc.channel_ready_future(channel).result(timeout=HUNG) is None
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    pid = plugin.pid
    assert pid is not None
    plugin.close()
    closed_and_reaped(plugin, pid)
    with pytest.raises(soup_rpc.ClientClosed):
        health.Check(health_pb2.HealthCheckRequest())
