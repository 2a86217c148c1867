"""``soup_rpc.launch``: a hosted plugin as a handle whose ``channel`` serves grpcio stubs."""

from __future__ import annotations

import os
import types
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Type, Union

from soup_rpc._native import Handshake, KvClient, PluginExit

__all__ = ["Plugin", "launch"]

_Path = Union[str, "os.PathLike[str]"]


class Plugin:
    """A go-plugin plugin hosted by the Rust host, for grpcio-generated stubs.

    ``channel`` is a ``grpc.Channel`` over the host's connection (see
    :mod:`soup_rpc._channel`). Use it as a context manager or call ``close()``; a handle
    garbage-collected unclosed kills and reaps its plugin. :class:`soup_rpc.KvClient` is
    the same with typed KV calls (and a ``channel`` too).
    """

    __slots__ = ("_client",)

    def __init__(self, client: KvClient) -> None:
        self._client = client

    @property
    def channel(self) -> Any:
        """A ``grpc.Channel`` (``soup_rpc.Channel``) for generated stubs."""
        return self._client.channel

    @property
    def handshake(self) -> Handshake:
        """What the handshake negotiated."""
        return self._client.handshake

    @property
    def pid(self) -> Optional[int]:
        """The plugin's process id."""
        return self._client.pid

    @property
    def stderr_tail(self) -> List[str]:
        """The plugin's latest stderr lines (as of closing, once closed)."""
        return self._client.stderr_tail

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has completed."""
        return self._client.closed

    @property
    def exit(self) -> Optional[PluginExit]:
        """How the plugin ended (None until closed)."""
        return self._client.exit

    @property
    def call_timeout(self) -> Optional[float]:
        """The deadline in seconds of channel calls made without ``timeout=``."""
        return self._client.call_timeout

    def close(self) -> PluginExit:
        """Shuts the plugin down (Shutdown RPC, grace period, then kill) and reaps it;
        idempotent."""
        return self._client.close()

    def __enter__(self) -> "Plugin":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[types.TracebackType],
    ) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        return repr(self._client).replace("soup_rpc.KvClient", "soup_rpc.Plugin", 1)


def launch(
    cmd: Sequence[_Path],
    *,
    tls: str = "auto",
    key: str = "ec-p256",
    transport: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    cookie: Tuple[str, str] = ("BASIC_PLUGIN", "hello"),
    versions: Sequence[int] = (1,),
    handshake_timeout: float = 10.0,
    call_timeout: Optional[float] = None,
    tls_cert: Optional[_Path] = None,
    tls_key: Optional[_Path] = None,
    tls_ca: Optional[_Path] = None,
    name: Optional[str] = None,
) -> Plugin:
    """Launches ``cmd`` as a go-plugin plugin (arguments as :meth:`KvClient.launch`;
    ``versions`` is its ``protocol_versions``) and
    returns its :class:`Plugin` handle; ``call_timeout`` is then the deadline of channel
    calls made without ``timeout=``."""
    return Plugin(
        KvClient.launch(
            cmd,
            tls=tls,
            key=key,
            transport=transport,
            env=env,
            cookie=cookie,
            protocol_versions=list(versions),
            handshake_timeout=handshake_timeout,
            call_timeout=call_timeout,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_ca=tls_ca,
            name=name,
        )
    )


Plugin.__module__ = "soup_rpc"
