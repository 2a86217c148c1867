"""Type stubs for soup_rpc._native, the Rust extension behind soup_rpc."""

import os
import types
from typing import Any, Awaitable, List, Mapping, Optional, Sequence, Tuple, Type, Union, final

from soup_rpc._channel import Channel
from soup_rpc._aio_channel import Channel as AioChannel

_Path = Union[str, "os.PathLike[str]"]
# Metadata as grpcio gives it: str values for ASCII keys, bytes for "-bin" keys.
_Metadata = Tuple[Tuple[str, Union[str, bytes]], ...]
_RequestMetadata = Optional[Any]  # any iterable of (key, value) pairs

__version__: str
__all__ = [
    "__version__",
    "KvClient",
    "AsyncKvClient",
    "Handshake",
    "Certificate",
    "PluginExit",
    "RawChannel",
    "RawStream",
    "run_peer_client",
    "close_all",
]

@final
class Certificate:
    """A certificate that crossed the wire."""

    @property
    def key_type(self) -> str:
        """``ec-p256``, ``ec-p384``, ``ec-p521``, ``rsa-<bits>``, ``ed25519`` or ``unknown:<oid>``."""
    @property
    def signature_algorithm(self) -> str:
        """The signature algorithm, e.g. ``ecdsa-with-SHA512``."""
    @property
    def sha256(self) -> str:
        """Lowercase hex SHA-256 of the DER (the certificate's fingerprint)."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Handshake:
    """What the plugin's handshake line said and what the connection negotiated."""

    @property
    def core_version(self) -> int:
        """Field 1: go-plugin's core protocol version (always 1)."""
    @property
    def app_version(self) -> int:
        """Field 2: the application protocol version the plugin chose."""
    @property
    def network(self) -> str:
        """Field 3: ``tcp`` or ``unix``."""
    @property
    def address(self) -> str:
        """Field 4: ``127.0.0.1:PORT`` or a socket path."""
    @property
    def protocol(self) -> str:
        """Field 5: ``grpc``."""
    @property
    def multiplex(self) -> Optional[bool]:
        """Field 7: gRPC broker multiplexing support (None when absent)."""
    @property
    def line(self) -> str:
        """The whole handshake line as printed, without the newline."""
    @property
    def server_certificate(self) -> Optional[Certificate]:
        """The certificate the plugin presented in TLS (None for plaintext)."""
    @property
    def client_certificate(self) -> Optional[Certificate]:
        """The certificate this host presented (None for plaintext)."""
    @property
    def tls_version(self) -> Optional[str]:
        """The negotiated TLS version, e.g. ``TLSv1.3`` (None for plaintext)."""
    @property
    def cipher_suite(self) -> Optional[str]:
        """The negotiated cipher suite's IANA name (None for plaintext)."""
    @property
    def spawn_to_handshake(self) -> float:
        """Seconds from spawning the plugin to reading its handshake line."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class PluginExit:
    """How the plugin process ended."""

    @property
    def how(self) -> str:
        """``exited`` (by itself, e.g. after the Shutdown RPC), ``killed`` (by this host) or ``signaled``."""
    @property
    def exit_code(self) -> Optional[int]:
        """The exit code when it exited normally."""
    @property
    def signal(self) -> Optional[int]:
        """The signal number when a signal ended it."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class KvClient:
    """A go-plugin KV plugin hosted by the Rust host, with blocking calls.

    Every call releases the GIL while it waits; one client may be shared by many threads.
    Use it as a context manager or call ``close()``; a client garbage-collected unclosed
    kills and reaps its plugin.
    """

    @staticmethod
    def launch(
        cmd: Sequence[_Path],
        *,
        tls: str = "auto",
        key: str = "ec-p256",
        transport: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        cookie: Tuple[str, str] = ("BASIC_PLUGIN", "hello"),
        protocol_versions: Sequence[int] = [1],
        handshake_timeout: float = 10.0,
        call_timeout: Optional[float] = None,
        tls_cert: Optional[_Path] = None,
        tls_key: Optional[_Path] = None,
        tls_ca: Optional[_Path] = None,
        name: Optional[str] = None,
    ) -> "KvClient":
        """Launches ``cmd`` as a go-plugin plugin, reads its handshake, connects, checks health.

        Args:
            cmd: the program and its arguments.
            tls: ``"auto"`` (go-plugin AutoMTLS), ``"off"`` (plaintext, only when asked) or
                ``"manual"`` (``tls_cert``/``tls_key``/``tls_ca`` PEM files).
            key: key type of this host's AutoMTLS certificate: ``ec-p256`` (default),
                ``ec-p384``, ``ec-p521``, ``rsa-2048``, ``rsa-4096`` (aliases accepted).
            transport: ``"tcp"`` or ``"unix"`` to ask the plugin for (go-plugin plugins may
                choose their own; ``handshake.network`` says what was chosen), or None.
            env: extra environment for the plugin (inherited ``PLUGIN_*`` are scrubbed).
            cookie: the magic cookie ``(key, value)``.
            protocol_versions: app protocol versions this host speaks.
            handshake_timeout: seconds to wait for the handshake line.
            call_timeout: the deadline in seconds of every ``get``/``put`` made without
                its own ``timeout=`` (None, the default: no deadline, as grpcio).
            tls_cert: manual TLS: PEM certificate chain presented to the plugin.
            tls_key: manual TLS: PEM private key.
            tls_ca: manual TLS: PEM CA that signed the plugin's certificate.
            name: name of the plugin in logs (default: the program's file name).

        Raises:
            HandshakeError, PluginExited, CookieRejected, VersionMismatch, TlsError:
                see :mod:`soup_rpc._errors` for which failure raises which.
            ValueError: an argument is invalid.
        """
    def get(self, key: str, *, timeout: Optional[float] = None) -> bytes:
        """Reads ``key``; raises ``RpcError`` (code ``NOT_FOUND`` for a missing key).

        Args:
            timeout: the call's deadline in seconds, as grpcio's ``timeout=``; None uses
                the client's ``call_timeout``, ``math.inf`` means no deadline.

        Raises:
            DeadlineExceeded: no answer within the deadline (the message names it).
            RpcError: the plugin answered with a non-OK status.
            ClientClosed: the client was closed.
            ValueError: ``timeout`` is not a positive number.
        """
    def put(self, key: str, value: Union[bytes, bytearray], *, timeout: Optional[float] = None) -> None:
        """Stores ``value`` under ``key``; ``timeout`` and errors as for ``get``."""
    def close(self) -> PluginExit:
        """Shuts the plugin down (Shutdown RPC, grace period, then kill) and reaps it.

        Idempotent: later calls return the same ``PluginExit``.
        """
    @property
    def handshake(self) -> Handshake:
        """What the handshake negotiated."""
    @property
    def stderr_tail(self) -> List[str]:
        """The plugin's latest stderr lines (as of closing, once closed)."""
    @property
    def pid(self) -> Optional[int]:
        """The plugin's process id."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` has completed."""
    @property
    def exit(self) -> Optional[PluginExit]:
        """How the plugin ended (None until closed)."""
    @property
    def call_timeout(self) -> Optional[float]:
        """The deadline in seconds of calls made without ``timeout=`` (None: no deadline)."""
    @property
    def channel(self) -> Channel:
        """A ``grpc.Channel`` for grpcio-generated stubs, over this plugin's connection."""
    def __enter__(self) -> "KvClient": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[types.TracebackType],
    ) -> bool: ...

@final
class AsyncKvClient:
    """``soup_rpc.aio.KvClient``: the same client with awaitable calls."""

    @staticmethod
    def launch(
        cmd: Sequence[_Path],
        *,
        tls: str = "auto",
        key: str = "ec-p256",
        transport: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        cookie: Tuple[str, str] = ("BASIC_PLUGIN", "hello"),
        protocol_versions: Sequence[int] = [1],
        handshake_timeout: float = 10.0,
        call_timeout: Optional[float] = None,
        tls_cert: Optional[_Path] = None,
        tls_key: Optional[_Path] = None,
        tls_ca: Optional[_Path] = None,
        name: Optional[str] = None,
    ) -> Awaitable["AsyncKvClient"]:
        """Awaitable: launches ``cmd`` (arguments as ``soup_rpc.KvClient.launch``)."""
    def get(self, key: str, *, timeout: Optional[float] = None) -> Awaitable[bytes]:
        """Awaitable: reads ``key``; raises ``RpcError`` (code ``NOT_FOUND`` when missing),
        ``DeadlineExceeded`` after ``timeout`` seconds (as ``soup_rpc.KvClient.get``)."""
    def put(
        self, key: str, value: Union[bytes, bytearray], *, timeout: Optional[float] = None
    ) -> Awaitable[None]:
        """Awaitable: stores ``value`` under ``key``, within ``timeout`` (as ``get``)."""
    def close(self) -> Awaitable[PluginExit]:
        """Awaitable: shuts the plugin down and reaps it; resolves to its ``PluginExit``."""
    @property
    def handshake(self) -> Handshake:
        """What the handshake negotiated."""
    @property
    def stderr_tail(self) -> List[str]:
        """The plugin's latest stderr lines (as of closing, once closed)."""
    @property
    def pid(self) -> Optional[int]:
        """The plugin's process id."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` has completed."""
    @property
    def exit(self) -> Optional[PluginExit]:
        """How the plugin ended (None until closed)."""
    @property
    def call_timeout(self) -> Optional[float]:
        """The deadline in seconds of calls made without ``timeout=`` (None: no deadline)."""
    @property
    def channel(self) -> AioChannel:
        """A ``grpc.aio.Channel`` for grpcio-generated stubs, over this plugin's connection."""
    def __aenter__(self) -> Awaitable["AsyncKvClient"]: ...
    def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[types.TracebackType],
    ) -> Awaitable[bool]: ...

@final
class RawChannel:
    """Raw gRPC calls (serialized messages) on one plugin's connection; the engine of
    ``soup_rpc.Channel`` and ``soup_rpc.aio.Channel``.

    ``timeout``: seconds (None: the plugin's ``call_timeout``; ``math.inf``: none; zero or
    less: already expired). ``metadata``: (key, value) pairs, ``bytes`` for ``-bin`` keys.
    Failures raise ``RpcError`` (``DeadlineExceeded`` for an expired deadline).
    """

    def unary(
        self,
        method: str,
        request: Union[bytes, bytearray],
        timeout: Optional[float] = None,
        metadata: _RequestMetadata = None,
    ) -> Tuple[bytes, _Metadata, _Metadata]:
        """A unary call: ``(response, initial_metadata, trailing_metadata)``."""
    def unary_async(
        self,
        method: str,
        request: Union[bytes, bytearray],
        timeout: Optional[float] = None,
        metadata: _RequestMetadata = None,
    ) -> Awaitable[Tuple[bytes, _Metadata, _Metadata]]:
        """Awaitable: ``unary`` for asyncio."""
    def stream(
        self, method: str, timeout: Optional[float] = None, metadata: _RequestMetadata = None
    ) -> "RawStream":
        """Starts a streaming call; send its requests with ``send``, then ``done_sending``."""
    @property
    def closed(self) -> bool:
        """Whether the plugin has been closed."""

@final
class RawStream:
    """One streaming call in flight (any of the three streaming shapes)."""

    def send(self, request: Union[bytes, bytearray]) -> bool:
        """Queues a request (waiting while the buffer is full); False once the call ended."""
    def send_async(self, request: Union[bytes, bytearray]) -> Awaitable[bool]:
        """Awaitable: ``send`` for asyncio."""
    def done_sending(self) -> None:
        """Ends the request stream (half-close)."""
    def cancel(self) -> None:
        """Cancels the call; readers then get CANCELLED."""
    def next(self) -> Optional[bytes]:
        """The next response message, None once the call ended OK; raises ``RpcError``."""
    def next_async(self) -> Awaitable[Optional[bytes]]:
        """Awaitable: ``next`` for asyncio."""
    def initial_metadata(self) -> _Metadata:
        """The response headers' metadata, waiting for them (empty if the call failed first)."""
    def initial_metadata_async(self) -> Awaitable[_Metadata]:
        """Awaitable: ``initial_metadata`` for asyncio."""
    def trailing_metadata(self) -> Optional[_Metadata]:
        """The trailing metadata once the call ended OK (None before)."""

def run_peer_client(
    server_command: Sequence[str],
    *,
    tls: str,
    key: str,
    transport: str,
    tls_cert: Optional[_Path] = None,
    tls_key: Optional[_Path] = None,
    tls_ca: Optional[_Path] = None,
    timeout: float = 20.0,
    versions: Sequence[int] = ...,
    script: str = "kv",
) -> str:
    """The peer contract's client run (docs/peer-contract.md) as the ``python-rs`` peer.

    Launches ``server_command`` offering app protocol ``versions``, runs ``script`` (``kv``,
    ``get``, ``hold``, ``put-stream:N``, ``get-stream:N``, ``put-large:BYTES``), shuts the plugin down and returns the
    JSON report (``proto/peer-report.schema.json``). Used by ``python/peer/soup_rs_peer.py``.
    """

def close_all() -> None:
    """Closes every client still open (registered with ``atexit`` by ``soup_rpc``)."""

