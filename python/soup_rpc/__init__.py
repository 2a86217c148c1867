"""soup_rpc: host HashiCorp go-plugin gRPC plugins from Python through soup-rpc's Rust host.

The host runs in-process (a Rust extension): it launches the plugin with go-plugin's
environment contract, reads its handshake line, connects over AutoMTLS (any key type,
including the ECDSA P-521 certificates every stock Go plugin presents), checks health,
and gives typed ``get``/``put`` on go-plugin's KV service. Works with any go-plugin KV
plugin: Rust (soup-server), Go (hashicorp/go-plugin), Python (pyvider-rpcplugin).

>>> import soup_rpc
>>> with soup_rpc.KvClient.launch(["soup-server", "server"]) as kv:  # doctest: +SKIP
...     kv.put("greeting", b"hello")
...     kv.get("greeting")
b'hello'

Blocking calls release the GIL while they wait and one client may be shared by many
threads; :mod:`soup_rpc.aio` has the same client with awaitable calls. Failures raise
subclasses of :class:`SoupError` carrying the Rust host's own explanation.

Calls have no deadline unless given one, as with grpcio: ``kv.get(key, timeout=2.0)`` for
one call, ``KvClient.launch(cmd, call_timeout=2.0)`` for every call without its own
(``timeout=math.inf``: none for that call). A call that gets no answer in time (a frozen
or overloaded plugin) raises :class:`DeadlineExceeded` (an :class:`RpcError`, code
``DEADLINE_EXCEEDED``) naming the deadline.

Any other gRPC service of the plugin: ``soup_rpc.launch(cmd)`` gives a :class:`Plugin`
whose ``channel`` is a ``grpc.Channel`` for grpcio-generated stubs, its bytes on the Rust
host's connection (so a Go plugin's P-521 AutoMTLS works, which grpcio alone cannot do);
``KvClient`` and ``soup_rpc.aio.KvClient`` have one too (``grpc.aio`` for the latter).

>>> from grpc_health.v1 import health_pb2, health_pb2_grpc
>>> with soup_rpc.launch(["soup-go", "server"]) as plugin:  # doctest: +SKIP
...     health_pb2_grpc.HealthStub(plugin.channel).Check(health_pb2.HealthCheckRequest())
status: SERVING

Errors are grpcio's too: every :class:`RpcError` is a ``grpc.Call`` (``e.code()``,
``e.details()``, ``e.trailing_metadata()``) and, once grpcio is imported, a
``grpc.RpcError`` (see :mod:`soup_rpc._errors`).
"""

from __future__ import annotations

import atexit as _atexit

from soup_rpc._errors import (
    ClientClosed,
    CookieRejected,
    DeadlineExceeded,
    HandshakeError,
    PluginExited,
    RpcError,
    SoupError,
    TlsError,
    VersionMismatch,
)
from soup_rpc._native import (
    Certificate,
    Handshake,
    KvClient,
    PluginExit,
    __version__,
)
from soup_rpc._native import close_all as _close_all
from soup_rpc._plugin import Plugin, launch
from soup_rpc import aio

__all__ = [
    "launch",
    "Plugin",
    "KvClient",
    "Handshake",
    "Certificate",
    "PluginExit",
    "SoupError",
    "HandshakeError",
    "PluginExited",
    "CookieRejected",
    "VersionMismatch",
    "TlsError",
    "RpcError",
    "DeadlineExceeded",
    "ClientClosed",
    "aio",
    "__version__",
]

# Plugins of clients still open at interpreter exit get go-plugin's graceful shutdown
# (garbage collection during finalisation would only kill them).
_atexit.register(_close_all)
