"""A ``grpc.Channel`` over a hosted plugin's connection, for grpcio-generated stubs.

``plugin.channel`` (``soup_rpc.launch(...)``, ``KvClient``) is one of these::

    from grpc_health.v1 import health_pb2, health_pb2_grpc
    with soup_rpc.launch(["soup-go", "server"]) as plugin:
        health = health_pb2_grpc.HealthStub(plugin.channel)
        health.Check(health_pb2.HealthCheckRequest(), timeout=2.0)

The bytes travel on the Rust host's own connection (AutoMTLS with any key type, P-521
included, which grpcio cannot verify); the stubs' serializers run here, in Python. It
implements what generated stubs call: ``unary_unary``, ``unary_stream``,
``stream_unary`` and ``stream_stream``, whose multicallables take grpcio's arguments
(``timeout``, ``metadata``; ``credentials``, ``wait_for_ready`` and ``compression`` are
accepted and ignored: the connection is the host's). Failures raise
:class:`soup_rpc.RpcError`, which is a ``grpc.RpcError`` and a ``grpc.Call``. A call
without ``timeout=`` gets the plugin's ``call_timeout`` (None: no deadline).

Not grpcio: the connection belongs to the plugin handle, so ``close()`` here does nothing
(close the handle), and ``subscribe`` reports READY at once (the host connected and
checked health before the handle existed). A streaming call's ``code()``, ``details()``
and ``trailing_metadata()`` are None until the call has ended (grpcio blocks for them).

grpcio is optional: only ``code()`` (a ``grpc.StatusCode``) needs it.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

from soup_rpc._errors import Metadata, RpcError
from soup_rpc._native import RawChannel, RawStream

try:  # pragma: no branch
    import grpc as _grpc
except ImportError:  # soup_rpc works without grpcio
    _grpc = None

__all__ = ["Channel"]

Serializer = Optional[Callable[[Any], bytes]]
Deserializer = Optional[Callable[[bytes], Any]]


def _status(code: str) -> Any:
    if _grpc is None:
        return code
    return _grpc.StatusCode[code]


class _Outcome:
    """How a finished call ended, for its ``Call`` methods."""

    __slots__ = ("error", "initial", "trailing")

    def __init__(self, error: Optional[RpcError], initial: Metadata, trailing: Metadata) -> None:
        self.error = error
        self.initial = initial
        self.trailing = trailing

    def code(self) -> Any:
        return _status(self.error.code if self.error is not None and self.error.code else "OK")

    def details(self) -> Optional[str]:
        return self.error.details() if self.error is not None else None


class _UnaryCall:
    """The ``grpc.Call`` that ``with_call`` returns next to the response."""

    __slots__ = ("_initial", "_trailing")

    def __init__(self, initial: Metadata, trailing: Metadata) -> None:
        self._initial = initial
        self._trailing = trailing

    def initial_metadata(self) -> Metadata:
        return self._initial

    def trailing_metadata(self) -> Metadata:
        return self._trailing

    def code(self) -> Any:
        return _status("OK")

    def details(self) -> Optional[str]:
        return None

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> Optional[float]:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False


class _FutureCall:
    """``UnaryUnaryMultiCallable.future()``: a ``grpc.Future`` and ``grpc.Call`` whose
    call runs on its own thread (the GIL is released while it waits)."""

    def __init__(self, run: Callable[[], Tuple[Any, _UnaryCall]]) -> None:
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: List[Callable[[Any], None]] = []
        self._result: Any = None
        self._call: Optional[_UnaryCall] = None
        self._error: Optional[BaseException] = None
        self._cancelled = False
        threading.Thread(target=self._run, args=(run,), daemon=True, name="soup-rpc-future").start()

    def _run(self, run: Callable[[], Tuple[Any, _UnaryCall]]) -> None:
        try:
            self._result, self._call = run()
        except BaseException as e:  # noqa: BLE001 - handed to result()
            self._error = e
        with self._lock:
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def result(self, timeout: Optional[float] = None) -> Any:
        self._wait(timeout)
        if self._error is not None:
            raise self._error
        return self._result

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        self._wait(timeout)
        return self._error

    def traceback(self, timeout: Optional[float] = None) -> Any:
        error = self.exception(timeout)
        return None if error is None else error.__traceback__

    def _wait(self, timeout: Optional[float]) -> None:
        if not self._done.wait(timeout):
            if _grpc is not None:
                raise _grpc.FutureTimeoutError()
            raise TimeoutError("the call has not finished")

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(fn)
                return
        fn(self)

    def cancel(self) -> bool:
        # The call runs to its end or deadline; grpcio may cancel, this host may not.
        return False

    def cancelled(self) -> bool:
        return False

    def running(self) -> bool:
        return not self._done.is_set()

    def done(self) -> bool:
        return self._done.is_set()

    def is_active(self) -> bool:
        return not self._done.is_set()

    def time_remaining(self) -> Optional[float]:
        return None

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False

    def _finished(self) -> Any:
        self._done.wait()
        if isinstance(self._error, RpcError) or self._call is None:
            return self._error
        return self._call

    def initial_metadata(self) -> Metadata:
        return self._finished().initial_metadata()

    def trailing_metadata(self) -> Metadata:
        return self._finished().trailing_metadata()

    def code(self) -> Any:
        return self._finished().code()

    def details(self) -> Optional[str]:
        return self._finished().details()


class _StreamingCall:
    """A call with a stream of responses: an iterator of them, and a ``grpc.Call``."""

    def __init__(self, stream: RawStream, deserializer: Deserializer, timeout: Optional[float]) -> None:
        self._stream = stream
        self._deserializer = deserializer
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._outcome: Optional[_Outcome] = None
        self._callbacks: List[Callable[[], None]] = []
        self._lock = threading.Lock()

    def __iter__(self) -> "_StreamingCall":
        return self

    def __next__(self) -> Any:
        if self._outcome is not None:
            if self._outcome.error is not None:
                raise self._outcome.error
            raise StopIteration
        try:
            message = self._stream.next()
        except RpcError as e:
            self._end(_Outcome(e, e.initial_metadata(), e.trailing_metadata()))
            raise
        if message is None:
            self._end(_Outcome(None, self._stream.initial_metadata(), self._stream.trailing_metadata() or ()))
            raise StopIteration
        return message if self._deserializer is None else self._deserializer(message)

    next = __next__

    def _end(self, outcome: _Outcome) -> None:
        with self._lock:
            self._outcome = outcome
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def initial_metadata(self) -> Metadata:
        if self._outcome is not None and self._outcome.error is not None:
            return self._outcome.initial
        return self._stream.initial_metadata()

    def trailing_metadata(self) -> Optional[Metadata]:
        return None if self._outcome is None else self._outcome.trailing

    def code(self) -> Any:
        return None if self._outcome is None else self._outcome.code()

    def details(self) -> Optional[str]:
        return None if self._outcome is None else self._outcome.details()

    def is_active(self) -> bool:
        return self._outcome is None

    def time_remaining(self) -> Optional[float]:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def cancel(self) -> bool:
        if self._outcome is not None:
            return False
        self._stream.cancel()
        return True

    def add_callback(self, callback: Callable[[], None]) -> bool:
        with self._lock:
            if self._outcome is None:
                self._callbacks.append(callback)
                return True
        return False


def _serialize(serializer: Serializer, request: Any) -> bytes:
    return request if serializer is None else serializer(request)


def _feed(stream: RawStream, serializer: Serializer, requests: Iterable[Any]) -> None:
    """Sends every request of `requests`, then half-closes; a failing iterator cancels."""
    try:
        for request in requests:
            if not stream.send(_serialize(serializer, request)):
                return  # the call ended; grpcio stops consuming too
    except BaseException:
        stream.cancel()
        raise
    finally:
        stream.done_sending()


def _single_response(stream: RawStream, deserializer: Deserializer) -> Tuple[Any, _UnaryCall]:
    message = stream.next()
    if message is None:
        raise RpcError(
            "the plugin ended the call OK without a response message",
            {"stage": "rpc", "code": "INTERNAL", "message": "no response message"},
        )
    while stream.next() is not None:
        pass  # a misbehaving plugin's extra responses: grpcio fails the call, we drop them
    call = _UnaryCall(stream.initial_metadata(), stream.trailing_metadata() or ())
    return (message if deserializer is None else deserializer(message)), call


class _MultiCallable:
    __slots__ = ("_raw", "_method", "_serializer", "_deserializer")

    def __init__(self, raw: RawChannel, method: str, serializer: Serializer, deserializer: Deserializer) -> None:
        self._raw = raw
        self._method = method
        self._serializer = serializer
        self._deserializer = deserializer


class UnaryUnaryMultiCallable(_MultiCallable):
    """``grpc.UnaryUnaryMultiCallable``: one request, one response."""

    __slots__ = ()

    def __call__(
        self,
        request: Any,
        timeout: Optional[float] = None,
        metadata: Optional[Sequence[Tuple[str, Any]]] = None,
        credentials: Any = None,
        wait_for_ready: Optional[bool] = None,
        compression: Any = None,
    ) -> Any:
        data = request if self._serializer is None else self._serializer(request)
        response = self._raw.unary(self._method, data, timeout, metadata)[0]
        return response if self._deserializer is None else self._deserializer(response)

    def with_call(
        self,
        request: Any,
        timeout: Optional[float] = None,
        metadata: Optional[Sequence[Tuple[str, Any]]] = None,
        credentials: Any = None,
        wait_for_ready: Optional[bool] = None,
        compression: Any = None,
    ) -> Tuple[Any, _UnaryCall]:
        data = request if self._serializer is None else self._serializer(request)
        response, initial, trailing = self._raw.unary(self._method, data, timeout, metadata)
        if self._deserializer is not None:
            response = self._deserializer(response)
        return response, _UnaryCall(initial, trailing)

    def future(
        self,
        request: Any,
        timeout: Optional[float] = None,
        metadata: Optional[Sequence[Tuple[str, Any]]] = None,
        credentials: Any = None,
        wait_for_ready: Optional[bool] = None,
        compression: Any = None,
    ) -> _FutureCall:
        return _FutureCall(lambda: self.with_call(request, timeout, metadata))


class UnaryStreamMultiCallable(_MultiCallable):
    """``grpc.UnaryStreamMultiCallable``: one request, an iterator of responses."""

    __slots__ = ()

    def __call__(
        self,
        request: Any,
        timeout: Optional[float] = None,
        metadata: Optional[Sequence[Tuple[str, Any]]] = None,
        credentials: Any = None,
        wait_for_ready: Optional[bool] = None,
        compression: Any = None,
    ) -> _StreamingCall:
        stream = self._raw.stream(self._method, timeout, metadata)
        stream.send(_serialize(self._serializer, request))
        stream.done_sending()
        return _StreamingCall(stream, self._deserializer, timeout)


class StreamUnaryMultiCallable(_MultiCallable):
    """``grpc.StreamUnaryMultiCallable``: an iterator of requests, one response."""

    __slots__ = ()

    def __call__(
        self,
        request_iterator: Iterator[Any],
        timeout: Optional[float] = None,
        metadata: Optional[Sequence[Tuple[str, Any]]] = None,
        credentials: Any = None,
        wait_for_ready: Optional[bool] = None,
        compression: Any = None,
    ) -> Any:
        return self.with_call(request_iterator, timeout, metadata)[0]

    def with_call(
        self,
        request_iterator: Iterator[Any],
        timeout: Optional[float] = None,
        metadata: Optional[Sequence[Tuple[str, Any]]] = None,
        credentials: Any = None,
        wait_for_ready: Optional[bool] = None,
        compression: Any = None,
    ) -> Tuple[Any, _UnaryCall]:
        stream = self._raw.stream(self._method, timeout, metadata)
        # The calling thread sends: nothing else is read until the response.
        _feed(stream, self._serializer, request_iterator)
        return _single_response(stream, self._deserializer)

    def future(
        self,
        request_iterator: Iterator[Any],
        timeout: Optional[float] = None,
        metadata: Optional[Sequence[Tuple[str, Any]]] = None,
        credentials: Any = None,
        wait_for_ready: Optional[bool] = None,
        compression: Any = None,
    ) -> _FutureCall:
        return _FutureCall(lambda: self.with_call(request_iterator, timeout, metadata))


class StreamStreamMultiCallable(_MultiCallable):
    """``grpc.StreamStreamMultiCallable``: requests sent from a thread while the
    responses are iterated."""

    __slots__ = ()

    def __call__(
        self,
        request_iterator: Iterator[Any],
        timeout: Optional[float] = None,
        metadata: Optional[Sequence[Tuple[str, Any]]] = None,
        credentials: Any = None,
        wait_for_ready: Optional[bool] = None,
        compression: Any = None,
    ) -> _StreamingCall:
        stream = self._raw.stream(self._method, timeout, metadata)
        threading.Thread(
            target=_feed, args=(stream, self._serializer, request_iterator), daemon=True, name="soup-rpc-requests"
        ).start()
        return _StreamingCall(stream, self._deserializer, timeout)


class Channel:
    """``grpc.Channel`` over a hosted plugin's connection (see the module documentation)."""

    __slots__ = ("_raw", "__weakref__")

    def __init__(self, raw: RawChannel) -> None:
        self._raw = raw

    def unary_unary(
        self,
        method: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: Optional[bool] = False,
    ) -> UnaryUnaryMultiCallable:
        return UnaryUnaryMultiCallable(self._raw, method, request_serializer, response_deserializer)

    def unary_stream(
        self,
        method: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: Optional[bool] = False,
    ) -> UnaryStreamMultiCallable:
        return UnaryStreamMultiCallable(self._raw, method, request_serializer, response_deserializer)

    def stream_unary(
        self,
        method: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: Optional[bool] = False,
    ) -> StreamUnaryMultiCallable:
        return StreamUnaryMultiCallable(self._raw, method, request_serializer, response_deserializer)

    def stream_stream(
        self,
        method: str,
        request_serializer: Serializer = None,
        response_deserializer: Deserializer = None,
        _registered_method: Optional[bool] = False,
    ) -> StreamStreamMultiCallable:
        return StreamStreamMultiCallable(self._raw, method, request_serializer, response_deserializer)

    def subscribe(self, callback: Callable[[Any], None], try_to_connect: bool = False) -> None:
        """Calls ``callback(grpc.ChannelConnectivity.READY)``: the host is connected."""
        if _grpc is not None:
            callback(_grpc.ChannelConnectivity.READY)

    def unsubscribe(self, callback: Callable[[Any], None]) -> None:
        """Does nothing (no connectivity changes are reported)."""

    def close(self) -> None:
        """Does nothing: the plugin handle owns the connection (close that)."""

    def __enter__(self) -> "Channel":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<soup_rpc.Channel {'closed' if self._raw.closed else 'open'}>"


if _grpc is not None:
    _grpc.Channel.register(Channel)
    _grpc.UnaryUnaryMultiCallable.register(UnaryUnaryMultiCallable)
    _grpc.UnaryStreamMultiCallable.register(UnaryStreamMultiCallable)
    _grpc.StreamUnaryMultiCallable.register(StreamUnaryMultiCallable)
    _grpc.StreamStreamMultiCallable.register(StreamStreamMultiCallable)
    _grpc.Call.register(_UnaryCall)
    _grpc.Call.register(_StreamingCall)
    _grpc.Call.register(_FutureCall)
    _grpc.Future.register(_FutureCall)
    from soup_rpc import _errors

    _errors._adopt_grpc()

for _cls in (Channel, UnaryUnaryMultiCallable, UnaryStreamMultiCallable, StreamUnaryMultiCallable, StreamStreamMultiCallable):
    _cls.__module__ = "soup_rpc"
del _cls
