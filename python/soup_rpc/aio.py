"""asyncio flavour of soup_rpc: :class:`KvClient` with awaitable calls.

>>> import asyncio, soup_rpc.aio
>>> async def main():
...     async with soup_rpc.aio.launch(["soup-server", "server"]) as kv:
...         await kv.put("k", b"v")
...         return await asyncio.gather(*(kv.get("k") for _ in range(100)))
>>> asyncio.run(main())  # doctest: +SKIP

``await KvClient.launch(...)`` gives the client itself; :func:`launch` takes the same
arguments and can be awaited or used directly in ``async with``. Calls run on soup_rpc's
own Rust runtime, never blocking the event loop, so any number may be in flight at once
(``asyncio.gather``). The handshake object, the exceptions and the deadlines
(``await kv.get(key, timeout=2.0)``, ``launch(cmd, call_timeout=2.0)``) are the same as for
:class:`soup_rpc.KvClient`; an expired deadline raises :class:`soup_rpc.DeadlineExceeded`
(no need for ``asyncio.wait_for``, which would only cancel the awaiting).
"""

from __future__ import annotations

import os
from typing import Any, Generator, Mapping, Optional, Sequence, Tuple, Union

from soup_rpc._native import AsyncKvClient as KvClient

__all__ = ["KvClient", "launch"]


class _Launching:
    """What :func:`launch` returns: awaitable, and an async context manager that closes."""

    __slots__ = ("_args", "_kwargs", "_client")

    def __init__(self, args: Tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        self._args = args
        self._kwargs = kwargs
        self._client: Optional[KvClient] = None

    def __await__(self) -> Generator[Any, None, KvClient]:
        return KvClient.launch(*self._args, **self._kwargs).__await__()

    async def __aenter__(self) -> KvClient:
        self._client = await KvClient.launch(*self._args, **self._kwargs)
        return self._client

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.close()


def launch(
    cmd: Sequence[Union[str, "os.PathLike[str]"]],
    *,
    tls: str = "auto",
    key: str = "ec-p256",
    transport: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    cookie: Tuple[str, str] = ("BASIC_PLUGIN", "hello"),
    protocol_versions: Sequence[int] = (1,),
    handshake_timeout: float = 10.0,
    call_timeout: Optional[float] = None,
    tls_cert: Optional[Union[str, "os.PathLike[str]"]] = None,
    tls_key: Optional[Union[str, "os.PathLike[str]"]] = None,
    tls_ca: Optional[Union[str, "os.PathLike[str]"]] = None,
    name: Optional[str] = None,
) -> _Launching:
    """Launches a plugin like :meth:`KvClient.launch`; ``await`` it or ``async with`` it.

    ``async with launch(cmd) as kv:`` closes the client (go-plugin's graceful shutdown)
    when the block ends.
    """
    return _Launching(
        (cmd,),
        dict(
            tls=tls,
            key=key,
            transport=transport,
            env=env,
            cookie=cookie,
            protocol_versions=list(protocol_versions),
            handshake_timeout=handshake_timeout,
            call_timeout=call_timeout,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_ca=tls_ca,
            name=name,
        ),
    )
