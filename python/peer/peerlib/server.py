"""`server`: a go-plugin plugin serving proto.KV through pyvider-rpcplugin's RPCPluginServer.

Every flag maps to one of pyvider's own settings, passed as RPCPluginServer's documented
instance config (`config={...}`, which outranks the environment):
  cookie                -> PLUGIN_MAGIC_COOKIE_KEY=BASIC_PLUGIN, PLUGIN_MAGIC_COOKIE_VALUE=hello
  --transport T         -> PLUGIN_SERVER_TRANSPORTS=[T]
  --tls off             -> PLUGIN_AUTO_MTLS=False
  --tls auto            -> PLUGIN_AUTO_MTLS=True (TLS only when the host sent PLUGIN_CLIENT_CERT)
  --tls manual          -> PLUGIN_SERVER_CERT / PLUGIN_SERVER_KEY (PEM text) and
                           PLUGIN_CLIENT_ROOT_CERTS=file://<ca>
  --key                 -> nothing: pyvider 0.5.5 has no server key-type/curve setting; its
                           auto-mTLS certificate is whatever provide-foundation generates
                           by default. The peer says so on stderr and serves anyway, so the
                           client observes what pyvider really presents.
"""
from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .cli import ServerArgs
from .logs import setup

log = setup("soup_peer.server")

COOKIE_KEY = "BASIC_PLUGIN"
COOKIE_VALUE = "hello"
#: what provide-foundation's Certificate.create_self_signed_server_cert makes when given no key arguments
PYVIDER_AUTO_SERVER_KEY = "ec-p384"


def pyvider_config(args: ServerArgs) -> dict[str, Any]:
    config: dict[str, Any] = {
        "PLUGIN_MAGIC_COOKIE_KEY": COOKIE_KEY,
        "PLUGIN_MAGIC_COOKIE_VALUE": COOKIE_VALUE,
        "PLUGIN_SERVER_TRANSPORTS": [args.transport],
    }
    if args.tls == "off":
        config["PLUGIN_AUTO_MTLS"] = False
    elif args.tls == "auto":
        config["PLUGIN_AUTO_MTLS"] = True
    else:
        assert args.files.cert and args.files.key and args.files.ca
        config["PLUGIN_SERVER_CERT"] = Path(args.files.cert).read_text()
        config["PLUGIN_SERVER_KEY"] = Path(args.files.key).read_text()
        config["PLUGIN_CLIENT_ROOT_CERTS"] = "file://" + str(Path(args.files.ca).resolve())
    return config


def _store_dir(args: ServerArgs) -> str:
    if args.store:
        return args.store
    tmp = tempfile.mkdtemp(prefix="soup-py-kv-")
    atexit.register(shutil.rmtree, tmp, True)
    return tmp


def _say_about_key(args: ServerArgs) -> None:
    if args.tls != "auto":
        return
    if args.key in ("match", PYVIDER_AUTO_SERVER_KEY):
        log.info(f"--key {args.key}: pyvider-rpcplugin has no server key setting; serving its default")
        return
    log.warning(
        f"--key {args.key} cannot be expressed: pyvider-rpcplugin 0.5.5 has no setting for the key "
        "of its auto-mTLS server certificate (RPCPluginConfig has no key-type or curve field; "
        "Certificate.create_self_signed_server_cert is called with no key arguments). "
        "Serving pyvider's default certificate; the host will see what it really is."
    )


def run(args: ServerArgs) -> int:
    config = pyvider_config(args)
    store_dir = _store_dir(args)
    _say_about_key(args)
    shown = {k: ("<pem>" if k in ("PLUGIN_SERVER_CERT", "PLUGIN_SERVER_KEY") else v) for k, v in config.items()}
    log.info("starting pyvider RPCPluginServer", extra={"fields": {"config": shown, "store": store_dir}})

    # Imported only now: pyvider reads its global configuration at import time.
    from pyvider.rpcplugin import RPCPluginServer

    from .kv_service import KVServicer
    from .protocol import KVProtocol
    from .store import FileStore

    async def serve() -> None:
        handler = KVServicer(FileStore(store_dir), configured_tls=args.tls)
        server = RPCPluginServer(protocol=KVProtocol(), handler=handler, config=config)
        await server.serve()

    asyncio.run(serve())  # pyvider's serve() ends the process itself (sys.exit)
    return 0


__all__ = ["run", "pyvider_config", "COOKIE_KEY", "COOKIE_VALUE"]
