"""A ``grpc.aio.Channel`` over a hosted plugin's connection, for grpcio-generated stubs.

``soup_rpc.aio.KvClient.channel`` is one of these::

    async with soup_rpc.aio.launch(["soup-go", "server"]) as plugin:
        health = health_pb2_grpc.HealthStub(plugin.channel)
        await health.Check(health_pb2.HealthCheckRequest(), timeout=2.0)
        async for answer in health.Watch(health_pb2.HealthCheckRequest()):
            ...

As :mod:`soup_rpc._channel`, with grpc.aio's call objects: a unary call is awaitable; a
call with streamed responses is async-iterable and has ``read()`` (``grpc.aio.EOF`` at
the end); calls with streamed requests take an iterator or an async iterator of them
(or, given none, ``write()``/``done_writing()``). ``initial_metadata()``,
``trailing_metadata()``, ``code()`` and ``details()`` are coroutines that wait for what
they report (a streaming call's trailing ones: until its responses have been read).
Failures raise :class:`soup_rpc.RpcError` (a ``grpc.RpcError``, not grpc's own
``grpc.aio.AioRpcError`` class: catch ``grpc.RpcError``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Callable, Generator, Optional, Sequence, Tuple

import grpc
import grpc.aio

from soup_rpc._errors import Metadata, RpcError, _adopt_grpc
from soup_rpc._native import RawChannel, RawStream

__all__ = ["Channel"]

_adopt_grpc()

Serializer = Optional[Callable[[Any], bytes]]
Deserializer = Optional[Callable[[bytes], Any]]


def _md(pairs: Optional[Metadata]) -> Optional[grpc.aio.Metadata]:
    return None if pairs is None else grpc.aio.Metadata(*pairs)


class _Call:
    """What every grpc.aio call object has: metadata, status, cancellation, callbacks."""

    def __init__(self, timeout: Optional[float]) -> None:
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._ended = asyncio.get_running_loop().create_future()
        self._error: Optional[RpcError] = None
        self._initial: Metadata = ()
        self._trailing: Metadata = ()
        self._cancelled = False
        self._callbacks: list = []

    def _end(self, error: Optional[RpcError], initial: Metadata, trailing: Metadata) -> None:
        if self._ended.done():
            return
        self._error, self._initial, self._trailing = error, initial, trailing
        self._ended.set_result(None)
        for callback in self._callbacks:
            callback(self)

    async def initial_metadata(self) -> grpc.aio.Metadata:
        await asyncio.shield(self._ended)
        return grpc.aio.Metadata(*self._initial)

    async def trailing_metadata(self) -> grpc.aio.Metadata:
        await asyncio.shield(self._ended)
        return grpc.aio.Metadata(*self._trailing)

    async def code(self) -> grpc.StatusCode:
        await asyncio.shield(self._ended)
        if self._error is None:
            return grpc.StatusCode.OK
        return self._error.code()  # type: ignore[misc]

    async def details(self) -> str:
        await asyncio.shield(self._ended)
        return "" if self._error is None else self._error.details()

    async def wait_for_connection(self) -> None:
        """Connected already: the host connected before the handle existed."""

    def done(self) -> bool:
        return self._ended.done()

    def cancelled(self) -> bool:
        return self._cancelled

    def time_remaining(self) -> Optional[float]:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        if self._ended.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    def _cancel_error(self) -> RpcError:
        return RpcError(
            "the call was cancelled by the application",
            {"stage": "rpc", "code": "CANCELLED", "message": "Locally cancelled by application!"},
        )


class _UnaryResponseCall(_Call):
    """``grpc.aio.UnaryUnaryCall`` / ``StreamUnaryCall``: awaitable for the response."""

    def __init__(self, timeout: Optional[float], deserializer: Deserializer) -> None:
        super().__init__(timeout)
        self._deserializer = deserializer
        self._task: Optional[asyncio.Future] = None

    def _start(self, answer: Any) -> None:
        self._task = asyncio.ensure_future(self._finish(answer))

    async def _finish(self, answer: Any) -> Any:
        try:
            response, initial, trailing = await answer
        except RpcError as e:
            self._end(e, e.initial_metadata(), e.trailing_metadata())
            raise
        except asyncio.CancelledError:
            self._end(self._cancel_error(), (), ())
            raise
        self._end(None, initial, trailing)
        return response if self._deserializer is None else self._deserializer(response)

    def __await__(self) -> Generator[Any, None, Any]:
        assert self._task is not None
        try:
            return (yield from self._task.__await__())
        except asyncio.CancelledError:
            if self._cancelled:
                raise self._cancel_error() from None
            raise

    def cancel(self) -> bool:
        if self._ended.done() or self._task is None:
            return False
        self._cancelled = True
        return self._task.cancel()


class _StreamResponseCall(_Call):
    """``grpc.aio.UnaryStreamCall`` / ``StreamStreamCall``: async-iterable, ``read()``."""

    def __init__(self, stream: RawStream, timeout: Optional[float], deserializer: Deserializer) -> None:
        super().__init__(timeout)
        self._stream = stream
        self._deserializer = deserializer
        self._feeder: Optional[asyncio.Future] = None

    async def read(self) -> Any:
        if self._ended.done():
            if self._error is not None:
                raise self._error
            return grpc.aio.EOF
        try:
            message = await self._stream.next_async()
        except RpcError as e:
            if self._cancelled:
                e = self._cancel_error()
            self._end(e, e.initial_metadata(), e.trailing_metadata())
            raise e from None
        if message is None:
            initial = await self._stream.initial_metadata_async()
            self._end(None, initial, self._stream.trailing_metadata() or ())
            return grpc.aio.EOF
        return message if self._deserializer is None else self._deserializer(message)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._responses()

    async def _responses(self) -> AsyncIterator[Any]:
        while True:
            message = await self.read()
            if message is grpc.aio.EOF:
                return
            yield message

    async def initial_metadata(self) -> grpc.aio.Metadata:
        if self._ended.done() and self._error is not None:
            return grpc.aio.Metadata(*self._initial)
        return grpc.aio.Metadata(*await self._stream.initial_metadata_async())

    def cancel(self) -> bool:
        if self._ended.done():
            return False
        self._cancelled = True
        self._stream.cancel()
        if self._feeder is not None:
            self._feeder.cancel()
        return True

    async def write(self, request: Any) -> None:
        raise NotImplementedError  # replaced per call shape below

    async def done_writing(self) -> None:
        self._stream.done_sending()


class _Writer:
    """``write()``/``done_writing()`` and the request iterator's feeding, for the calls
    that stream requests."""

    @staticmethod
    async def feed(stream: RawStream, serializer: Serializer, requests: Any) -> None:
        try:
            if hasattr(requests, "__aiter__"):
                async for request in requests:
                    if not await stream.send_async(_serialize(serializer, request)):
                        return
            else:
                for request in requests:
                    if not await stream.send_async(_serialize(serializer, request)):
                        return
        except asyncio.CancelledError:
            raise
        except BaseException:
            stream.cancel()
            raise
        finally:
            stream.done_sending()


def _serialize(serializer: Serializer, request: Any) -> bytes:
    return request if serializer is None else serializer(request)


class _StreamUnaryCall(_UnaryResponseCall):
    """``grpc.aio.StreamUnaryCall``."""

    def __init__(self, stream: RawStream, timeout: Optional[float], serializer: Serializer, deserializer: Deserializer) -> None:
        super().__init__(timeout, deserializer)
        self._stream = stream
        self._serializer = serializer
        self._feeder: Optional[asyncio.Future] = None

    async def _answer(self) -> Tuple[bytes, Metadata, Metadata]:
        stream = self._stream
        message = await stream.next_async()
        if message is None:
            raise RpcError(
                "the plugin ended the call OK without a response message",
                {"stage": "rpc", "code": "INTERNAL", "message": "no response message"},
            )
        while await stream.next_async() is not None:
            pass
        initial = await stream.initial_metadata_async()
        return message, initial, stream.trailing_metadata() or ()

    async def write(self, request: Any) -> None:
        if not await self._stream.send_async(_serialize(self._serializer, request)):
            raise asyncio.InvalidStateError("the call has ended")

    async def done_writing(self) -> None:
        self._stream.done_sending()

    def cancel(self) -> bool:
        self._stream.cancel()
        if self._feeder is not None:
            self._feeder.cancel()
        return super().cancel()


class _StreamStreamCall(_StreamResponseCall):
    """``grpc.aio.StreamStreamCall``."""

    def __init__(self, stream: RawStream, timeout: Optional[float], serializer: Serializer, deserializer: Deserializer) -> None:
        super().__init__(stream, timeout, deserializer)
        self._serializer = serializer

    async def write(self, request: Any) -> None:
        if not await self._stream.send_async(_serialize(self._serializer, request)):
            raise asyncio.InvalidStateError("the call has ended")


class _MultiCallable:
    __slots__ = ("_raw", "_method", "_serializer", "_deserializer")

    def __init__(self, raw: RawChannel, method: str, serializer: Serializer, deserializer: Deserializer) -> None:
        self._raw = raw
        self._method = method
        self._serializer = serializer
        self._deserializer = deserializer


class UnaryUnaryMultiCallable(_MultiCallable):
    """``grpc.aio.UnaryUnaryMultiCallable``."""

    __slots__ = ()

    def __call__(
        self,
        request: Any,
        *,
        timeout: Optional[float] = None,
        metadata: Optional[Sequence[Tuple[str, Any]]] = None,
        credentials: Any = None,
        wait_for_ready: Optional[bool] = None,
        compression: Any = None,
    ) -> _UnaryResponseCall:
        call = _UnaryResponseCall(timeout, self._deserializer)
        data = _serialize(self._serializer, request)
        call._start(self._raw.unary_async(self._method, data, timeout, metadata))
        return call


class UnaryStreamMultiCallable(_MultiCallable):
    """``grpc.aio.UnaryStreamMultiCallable``."""

    __slots__ = ()

    def __call__(
        self,
        request: Any,
        *,
        timeout: Optional[float] = None,
        metadata: Optional[Sequence[Tuple[str, Any]]] = None,
        credentials: Any = None,
        wait_for_ready: Optional[bool] = None,
        compression: Any = None,
    ) -> _StreamResponseCall:
        stream = self._raw.stream(self._method, timeout, metadata)
        call = _StreamResponseCall(stream, timeout, self._deserializer)
        call._feeder = asyncio.ensure_future(_Writer.feed(stream, self._serializer, (request,)))
        return call


class StreamUnaryMultiCallable(_MultiCallable):
    """``grpc.aio.StreamUnaryMultiCallable``."""

    __slots__ = ()

    def __call__(
        self,
        request_iterator: Any = None,
        timeout: Optional[float] = None,
        metadata: Optional[Sequence[Tuple[str, Any]]] = None,
        credentials: Any = None,
        wait_for_ready: Optional[bool] = None,
        compression: Any = None,
    ) -> _StreamUnaryCall:
        stream = self._raw.stream(self._method, timeout, metadata)
        call = _StreamUnaryCall(stream, timeout, self._serializer, self._deserializer)
        if request_iterator is not None:
            call._feeder = asyncio.ensure_future(_Writer.feed(stream, self._serializer, request_iterator))
        call._start(call._answer())
        return call


class StreamStreamMultiCallable(_MultiCallable):
    """``grpc.aio.StreamStreamMultiCallable``."""

    __slots__ = ()

    def __call__(
        self,
        request_iterator: Any = None,
        timeout: Optional[float] = None,
        metadata: Optional[Sequence[Tuple[str, Any]]] = None,
        credentials: Any = None,
        wait_for_ready: Optional[bool] = None,
        compression: Any = None,
    ) -> _StreamStreamCall:
        stream = self._raw.stream(self._method, timeout, metadata)
        call = _StreamStreamCall(stream, timeout, self._serializer, self._deserializer)
        if request_iterator is not None:
            call._feeder = asyncio.ensure_future(_Writer.feed(stream, self._serializer, request_iterator))
        return call


class Channel:
    """``grpc.aio.Channel`` over a hosted plugin's connection (see the module doc)."""

    __slots__ = ("_raw", "__weakref__")

    def __init__(self, raw: RawChannel) -> None:
        self._raw = raw

    def unary_unary(
        self, method: str, request_serializer: Serializer = None, response_deserializer: Deserializer = None,
        _registered_method: Optional[bool] = False,
    ) -> UnaryUnaryMultiCallable:
        return UnaryUnaryMultiCallable(self._raw, method, request_serializer, response_deserializer)

    def unary_stream(
        self, method: str, request_serializer: Serializer = None, response_deserializer: Deserializer = None,
        _registered_method: Optional[bool] = False,
    ) -> UnaryStreamMultiCallable:
        return UnaryStreamMultiCallable(self._raw, method, request_serializer, response_deserializer)

    def stream_unary(
        self, method: str, request_serializer: Serializer = None, response_deserializer: Deserializer = None,
        _registered_method: Optional[bool] = False,
    ) -> StreamUnaryMultiCallable:
        return StreamUnaryMultiCallable(self._raw, method, request_serializer, response_deserializer)

    def stream_stream(
        self, method: str, request_serializer: Serializer = None, response_deserializer: Deserializer = None,
        _registered_method: Optional[bool] = False,
    ) -> StreamStreamMultiCallable:
        return StreamStreamMultiCallable(self._raw, method, request_serializer, response_deserializer)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        """READY while the plugin is open (the host connected before the handle existed)."""
        return grpc.ChannelConnectivity.SHUTDOWN if self._raw.closed else grpc.ChannelConnectivity.READY

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        """Never returns while the state stays what it is (no changes are reported)."""
        await asyncio.get_running_loop().create_future()

    async def channel_ready(self) -> None:
        """Ready already."""

    async def close(self, grace: Optional[float] = None) -> None:
        """Does nothing: the plugin handle owns the connection (close that)."""

    async def __aenter__(self) -> "Channel":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<soup_rpc.aio.Channel {'closed' if self._raw.closed else 'open'}>"


grpc.aio.Channel.register(Channel)
grpc.aio.UnaryUnaryMultiCallable.register(UnaryUnaryMultiCallable)
grpc.aio.UnaryStreamMultiCallable.register(UnaryStreamMultiCallable)
grpc.aio.StreamUnaryMultiCallable.register(StreamUnaryMultiCallable)
grpc.aio.StreamStreamMultiCallable.register(StreamStreamMultiCallable)
grpc.aio.UnaryUnaryCall.register(_UnaryResponseCall)
grpc.aio.UnaryStreamCall.register(_StreamResponseCall)
grpc.aio.StreamUnaryCall.register(_StreamUnaryCall)
grpc.aio.StreamStreamCall.register(_StreamStreamCall)
for _cls in (Channel, UnaryUnaryMultiCallable, UnaryStreamMultiCallable, StreamUnaryMultiCallable, StreamStreamMultiCallable):
    _cls.__module__ = "soup_rpc.aio"
del _cls
