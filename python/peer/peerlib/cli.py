"""Command-line parsing for `soup_peer.py {server|client|capabilities}` (exit 2 on usage errors)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from .names import canonical_key
from .script import KV, Script, parse_script


class UsageError(Exception):
    pass


@dataclass
class TlsFiles:
    cert: str | None = None
    key: str | None = None
    ca: str | None = None


@dataclass
class ServerArgs:
    tls: str = "auto"
    key: str = "match"
    transport: str = "unix"
    files: TlsFiles = field(default_factory=TlsFiles)
    store: str | None = None


@dataclass
class ClientArgs:
    tls: str
    key: str
    transport: str
    files: TlsFiles
    timeout: float
    command: list[str]
    #: --versions: app protocol versions offered in PLUGIN_PROTOCOL_VERSIONS and accepted back
    versions: list[int] = field(default_factory=lambda: [1])
    #: --script
    script: Script = KV


def _common(p: argparse.ArgumentParser, *, host: bool) -> None:
    p.add_argument("--tls", choices=["auto", "manual", "off"], required=host, default=None if host else "auto")
    p.add_argument("--key", default="ec-p256" if host else "match")
    p.add_argument("--transport", choices=["tcp", "unix"], required=host, default=None if host else "unix")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--tls-ca")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _files(ns: argparse.Namespace, tls: str) -> TlsFiles:
    files = TlsFiles(ns.tls_cert, ns.tls_key, ns.tls_ca)
    if tls == "manual" and not (files.cert and files.key and files.ca):
        raise UsageError("--tls manual needs --tls-cert, --tls-key and --tls-ca")
    return files


def parse_server(argv: list[str]) -> ServerArgs:
    p = _Parser(prog="soup_peer.py server")
    _common(p, host=False)
    p.add_argument("--store")
    ns = p.parse_args(argv)
    try:
        key = canonical_key(ns.key, allow_match=True)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return ServerArgs(ns.tls, key, ns.transport, _files(ns, ns.tls), ns.store)


def parse_versions(value: str) -> list[int]:
    """`--versions`: a comma list of non-negative decimal integers, e.g. `1` or `5,6`."""
    parts = [p.strip() for p in value.split(",")]
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise UsageError(f"--versions {value!r}: expected a comma list of non-negative integers, e.g. 1 or 5,6")
    return [int(p) for p in parts]


def parse_client(argv: list[str]) -> ClientArgs:
    if "--" not in argv:
        raise UsageError("client: missing `-- SERVER-COMMAND...`")
    cut = argv.index("--")
    own, command = argv[:cut], argv[cut + 1 :]
    if not command:
        raise UsageError("client: empty SERVER-COMMAND after --")
    p = _Parser(prog="soup_peer.py client")
    _common(p, host=True)
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--versions", default="1")
    p.add_argument("--script", default="kv")
    ns = p.parse_args(own)
    try:
        key = canonical_key(ns.key, allow_match=False)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if ns.timeout <= 0:
        raise UsageError("--timeout must be positive")
    versions = parse_versions(ns.versions)
    try:
        spec = parse_script(ns.script)
    except ValueError as e:
        raise UsageError(f"--script: {e}") from None
    return ClientArgs(ns.tls, key, ns.transport, _files(ns, ns.tls), ns.timeout, command, versions, spec)
