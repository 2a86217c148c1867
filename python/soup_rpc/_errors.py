"""The exceptions of soup_rpc, all rooted at :class:`SoupError`.

Every exception's message (``str(e)`` and ``e.detail``) is the Rust host's own text for
the failure, and every one carries ``stage`` (``"spawn"``, ``"handshake"``, ``"tls"``,
``"connect"``, ``"rpc"``, ``"internal"`` or None), ``stderr_tail`` (the plugin's last
stderr lines when they explain the failure, else ``[]``) and ``handshake_line`` (when the
plugin had printed one).

How the Rust host's ``HostError`` variants map (stage in brackets):

- ``CookieRejected`` (the plugin exited saying the cookie is wrong) -> :class:`CookieRejected`
  [handshake]
- ``Exited`` (the plugin exited before its handshake line) -> :class:`PluginExited` [handshake]
- ``NoCommonVersion`` (the plugin chose a version we did not offer) -> :class:`VersionMismatch`
  [handshake]
- ``Spawn`` (program missing or not executable) -> :class:`HandshakeError` [spawn]
- ``HandshakeTimeout``, ``Malformed`` (bad line, core version, protocol) ->
  :class:`HandshakeError` [handshake]
- ``Connect``, ``Health`` (address unreachable, health not SERVING) -> :class:`HandshakeError`
  [connect]
- ``Tls`` (the TLS handshake failed), ``PlaintextWhenTlsRequired`` (``tls="auto"`` but the
  plugin offered plaintext: refused, never downgraded), ``UnexpectedCertificate``
  (``tls="off"`` but the plugin offered TLS), ``TlsConfig``/``Certificate`` (our TLS material
  is unusable) -> :class:`TlsError` [tls]
- a variant added later -> :class:`TlsError` if its stage is ``tls``, else
  :class:`HandshakeError`

A Get or Put, or a call through a plugin's ``channel``, that returns a non-OK gRPC status
raises :class:`RpcError`; one that gets no
answer within its deadline (``timeout=``, or the client's ``call_timeout``) raises
:class:`DeadlineExceeded`, an :class:`RpcError` with code ``DEADLINE_EXCEEDED`` (Rust:
``KvError::DeadlineExceeded``); a call on a closed client raises :class:`ClientClosed`. A bug inside the extension (a Rust panic) is
caught and raised as a plain :class:`SoupError` with stage ``"internal"``. Invalid
arguments raise the usual ``ValueError``/``TypeError``.

grpcio compatibility: every :class:`RpcError` is also a ``grpc.Call`` as grpcio's own
errors are (``e.code()`` gives a ``grpc.StatusCode``, ``e.details()``,
``e.initial_metadata()``, ``e.trailing_metadata()``), and a ``grpc.RpcError`` whenever
grpcio has been imported in the process by the time it is raised: soup_rpc does not import
grpcio itself (it costs ~80 ms and soup_rpc works without it), so :class:`RpcError` adds
``grpc.RpcError`` to its bases the first time one is made after ``import grpc``; code that
writes ``except grpc.RpcError`` has imported grpc, so it always catches them. ``e.code``
stays the code's name (``e.code == "NOT_FOUND"``) and is also callable (``e.code()``).
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar, List, Mapping, Optional, Tuple, Union

__all__ = [
    "SoupError",
    "HandshakeError",
    "PluginExited",
    "CookieRejected",
    "VersionMismatch",
    "TlsError",
    "RpcError",
    "DeadlineExceeded",
    "ClientClosed",
    "StatusCodeName",
]


class SoupError(Exception):
    """Base class of every soup_rpc error.

    Attributes:
        detail: the Rust host's description of the failure (also ``str(e)``).
        stage: which phase failed: ``spawn``, ``handshake``, ``tls``, ``connect``,
            ``rpc`` or ``internal`` (None when not applicable).
        stderr_tail: the plugin's last stderr lines, when they explain the failure.
        handshake_line: the handshake line the plugin printed, when it printed one.
    """

    _fields: ClassVar[Tuple[str, ...]] = ()

    detail: str
    stage: Optional[str]
    stderr_tail: List[str]
    handshake_line: Optional[str]

    def __init__(self, detail: str, fields: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(detail)
        given = dict(fields or {})
        self.detail = detail
        self.stage = given.get("stage")
        self.stderr_tail = list(given.get("stderr_tail") or ())
        self.handshake_line = given.get("handshake_line")
        for name in self._fields:
            setattr(self, name, given.get(name))

    def __reduce__(self) -> Any:
        return (type(self), (self.detail,), self.__dict__)


class HandshakeError(SoupError):
    """The plugin could not be started or did not complete go-plugin's handshake.

    Raised when the program cannot be spawned (stage ``spawn``), prints no handshake line
    within ``handshake_timeout`` or a malformed one (stage ``handshake``), or cannot be
    reached or is not healthy at the address it announced (stage ``connect``).
    """


class PluginExited(HandshakeError):
    """The plugin process exited before printing its handshake line.

    Attributes:
        exit_code: its exit code (None when a signal ended it).
        signal: the signal that ended it (None when it exited normally).
    """

    _fields = ("exit_code", "signal")

    exit_code: Optional[int]
    signal: Optional[int]


class CookieRejected(PluginExited):
    """The plugin refused the magic cookie and exited.

    Host and plugin disagree on the cookie key or value (``cookie=`` in ``launch``), or the
    program is not a plugin built for this host. ``stderr_tail`` holds the plugin's words.
    """


class VersionMismatch(HandshakeError):
    """The plugin answered with an app protocol version this host does not speak.

    Attributes:
        ours: the versions offered (``protocol_versions``).
        theirs: the version the plugin chose.
    """

    _fields = ("ours", "theirs")

    ours: List[int]
    theirs: Optional[int]


class TlsError(SoupError):
    """Securing the connection failed, or would have needed a downgrade.

    Includes a plugin that answers plaintext although TLS was asked for (soup_rpc never
    silently downgrades), a plugin offering TLS when ``tls="off"``, a failed TLS handshake,
    and unusable manual TLS files.

    Attributes:
        peer_key_type: the key type of the plugin's certificate, when known.
    """

    _fields = ("peer_key_type",)

    peer_key_type: Optional[str]


class StatusCodeName(str):
    """A gRPC status code's name (``"NOT_FOUND"``), callable as grpcio's ``Call.code()``.

    ``e.code == "NOT_FOUND"`` and ``e.code() is grpc.StatusCode.NOT_FOUND`` both hold
    (calling it imports grpcio).
    """

    __slots__ = ()

    def __call__(self) -> Any:
        import grpc

        return grpc.StatusCode[self]


Metadata = Tuple[Tuple[str, Union[str, bytes]], ...]


class RpcError(SoupError):
    """A Get, a Put or a channel call returned a non-OK gRPC status.

    Also a ``grpc.Call`` and (once grpcio is imported) a ``grpc.RpcError``: see the
    module documentation.

    Attributes:
        code: the gRPC status code name, e.g. ``"NOT_FOUND"``, ``"UNAVAILABLE"``; calling
            it (``e.code()``) gives the ``grpc.StatusCode``.
        message: the status message the plugin sent.
        op: ``"get"`` or ``"put"`` (None for a channel call).
        key: the key of the call (None for a channel call).
        method: the channel call's method, ``/package.Service/Method`` (None for Get/Put).
    """

    _fields: ClassVar[Tuple[str, ...]] = ("code", "message", "op", "key", "method")

    code: Optional[StatusCodeName]
    message: Optional[str]
    op: Optional[str]
    key: Optional[str]
    method: Optional[str]

    def __init__(self, detail: str, fields: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(detail, fields)
        given = fields or {}
        if self.code is not None:
            self.code = StatusCodeName(self.code)
        self._initial_metadata: Metadata = tuple(given.get("initial_metadata") or ())
        self._trailing_metadata: Metadata = tuple(given.get("trailing_metadata") or ())
        if not _adopted and "grpc" in sys.modules:
            _adopt_grpc()

    def details(self) -> str:
        """grpcio's ``Call.details()``: the status message."""
        if self.message is not None:
            return self.message
        return "Deadline Exceeded" if self.code == "DEADLINE_EXCEEDED" else ""

    def initial_metadata(self) -> Metadata:
        """grpcio's ``Call.initial_metadata()``: the response headers' metadata."""
        return self._initial_metadata

    def trailing_metadata(self) -> Metadata:
        """grpcio's ``Call.trailing_metadata()``: the trailers' metadata."""
        return self._trailing_metadata

    def debug_error_string(self) -> str:
        """grpcio's ``debug_error_string()``: the Rust host's description."""
        return self.detail

    def is_active(self) -> bool:
        """grpcio's ``RpcContext.is_active()``: a failed call is over."""
        return False

    def time_remaining(self) -> Optional[float]:
        """grpcio's ``RpcContext.time_remaining()``: None, the call is over."""
        return None

    def cancel(self) -> bool:
        """grpcio's ``RpcContext.cancel()``: False, the call is over."""
        return False

    def add_callback(self, callback: Any) -> bool:
        """grpcio's ``RpcContext.add_callback()``: False, the call is over."""
        return False


_adopted = False


def _adopt_grpc() -> None:
    """Makes :class:`RpcError` a ``grpc.RpcError`` and a registered ``grpc.Call``."""
    global _adopted
    import grpc

    _adopted = True
    if not issubclass(RpcError, grpc.RpcError):
        RpcError.__bases__ = (SoupError, grpc.RpcError)
    grpc.Call.register(RpcError)


class DeadlineExceeded(RpcError):
    """A Get or Put got no answer within its deadline; ``code`` is ``"DEADLINE_EXCEEDED"``.

    The deadline is the call's ``timeout=`` (seconds) or else the client's
    ``call_timeout``; it is sent to the plugin (gRPC's ``grpc-timeout``) and enforced by
    the host itself, so a plugin that never answers (stopped, deadlocked, overloaded)
    still ends the call then. The call is abandoned, the client stays usable. The message
    names the deadline, e.g. ``get "k": no answer within 300ms (deadline exceeded); ...``.

    Also raised when the plugin itself answers ``DEADLINE_EXCEEDED``.

    Attributes:
        deadline: the call's deadline in seconds (None when the plugin answered
            ``DEADLINE_EXCEEDED`` to a call without one).
        message: the plugin's status message when the plugin gave up, None when this
            host did.
    """

    _fields = RpcError._fields + ("deadline",)

    deadline: Optional[float]


class ClientClosed(SoupError):
    """The client was used after ``close()``: its plugin has been shut down."""


for _cls in (
    SoupError,
    HandshakeError,
    PluginExited,
    CookieRejected,
    VersionMismatch,
    TlsError,
    RpcError,
    DeadlineExceeded,
    ClientClosed,
):
    _cls.__module__ = "soup_rpc"
del _cls
