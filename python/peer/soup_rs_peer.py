#!/usr/bin/env python3
"""soup-rpc `python-rs` peer (docs/peer-contract.md): the Rust host driven from Python
through the `soup_rpc` binding. Client side only (serving is the other peers' job).

    soup_rs_peer.py client [--tls auto|manual|off] [--key KEY] [--transport tcp|unix]
                           [--tls-cert F --tls-key F --tls-ca F] [--timeout SECS]
                           [--versions LIST] [--script SCRIPT] -- SERVER-COMMAND...
    soup_rs_peer.py capabilities

The client prints exactly one JSON report (proto/peer-report.schema.json), the same steps
and fields as `soup client`, with `peer.language = "python-rs"`.
Exit codes: 0 ok, 1 failure recorded in the report (or soup_rpc missing), 2 usage error.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

USAGE = "usage: soup_rs_peer.py {client|capabilities} ..."


class UsageError(Exception):
    """A command-line mistake (exit code 2, no report)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _client_args(argv: List[str]) -> argparse.Namespace:
    if "--" not in argv:
        raise UsageError("client needs the server command after `--`")
    split = argv.index("--")
    own, server_command = argv[:split], argv[split + 1 :]
    if not server_command:
        raise UsageError("the server command after `--` is empty")
    p = _Parser(prog="soup_rs_peer.py client", add_help=False)
    p.add_argument("--tls", choices=["auto", "manual", "off"], default="auto")
    p.add_argument("--key", default="ec-p256")
    p.add_argument("--transport", choices=["tcp", "unix"], default="unix")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--tls-ca")
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--versions", default="1")
    p.add_argument("--script", default="kv")
    ns = p.parse_args(own)
    try:
        ns.versions = [int(v) for v in ns.versions.split(",")]
    except ValueError:
        raise UsageError(f"--versions {ns.versions!r}: expected a comma list of integers") from None
    if any(v < 0 for v in ns.versions):
        raise UsageError(f"--versions {ns.versions!r}: versions are not negative")
    files = [ns.tls_cert, ns.tls_key, ns.tls_ca]
    if ns.tls == "manual" and not all(files):
        raise UsageError("--tls manual needs --tls-cert, --tls-key and --tls-ca")
    if any(files) and not all(files):
        raise UsageError("--tls-cert, --tls-key and --tls-ca go together")
    ns.server_command = server_command
    return ns


def _native():  # type: ignore[no-untyped-def]
    try:
        from soup_rpc import _native
    except ImportError as e:
        print(
            f"error: the soup_rpc binding is not installed in {sys.executable} ({e}); "
            "install it with `pip install ./python` from the soup-rpc repository",
            file=sys.stderr,
        )
        raise SystemExit(1) from e
    return _native


def client(argv: List[str]) -> int:
    """Runs the KV script against the server command and prints the report."""
    ns = _client_args(argv)
    native = _native()
    try:
        report = native.run_peer_client(
            ns.server_command,
            tls=ns.tls,
            key=ns.key,
            transport=ns.transport,
            tls_cert=ns.tls_cert,
            tls_key=ns.tls_key,
            tls_ca=ns.tls_ca,
            timeout=ns.timeout,
            versions=ns.versions,
            script=ns.script,
        )
    except ValueError as e:
        raise UsageError(str(e)) from e
    except Exception as e:  # a TLS file that cannot be read: like `soup client`, no report
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(report, flush=True)
    return 0 if json.loads(report).get("ok") else 1


def capabilities() -> int:
    """Prints what this peer cannot express."""
    try:
        from soup_rpc import __version__ as version
    except ImportError:
        version = "not installed"
    print(
        json.dumps(
            {
                "language": "python-rs",
                "implementation": f"soup-rpc {version} (tonic, rustls/aws-lc-rs) via soup_rpc (pyo3)",
                "client": {"unsupported": []},
                "server": {
                    "unsupported": [
                        {
                            "tls": "*",
                            "keys": ["*"],
                            "transports": ["*"],
                            "reason": "python-rs is the Rust host driven from Python: a client only",
                        }
                    ]
                },
            }
        )
    )
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Dispatches `client` and `capabilities`."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    cmd, rest = argv[0], argv[1:]
    try:
        if cmd == "client":
            return client(rest)
        if cmd == "capabilities":
            if rest:
                raise UsageError("capabilities takes no arguments")
            return capabilities()
        raise UsageError(f"unknown subcommand {cmd!r}; {USAGE}")
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
