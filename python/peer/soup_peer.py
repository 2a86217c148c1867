#!/usr/bin/env python3
"""soup-rpc Python peer (docs/peer-contract.md) on pyvider-rpcplugin + grpcio.

    soup_peer.py server [--tls auto|manual|off] [--key match|KEY] [--transport tcp|unix]
                        [--tls-cert F --tls-key F --tls-ca F] [--store DIR]
    soup_peer.py client --tls auto|manual|off --key KEY --transport tcp|unix
                        [--tls-cert F --tls-key F --tls-ca F] [--timeout SECS]
                        [--versions LIST] [--script kv|get|hold|put-stream:N|get-stream:N|put-large:BYTES]
                        -- SERVER-COMMAND...
    soup_peer.py bench [--tls auto|off] [--key KEY] [--transport tcp|unix] [--launches N] [--gets N]
                       [--concurrency N] [--duration SECS] [--puts N] [--timeout SECS] -- SERVER-COMMAND...
    soup_peer.py capabilities

Exit codes: 0 ok, 1 failure recorded in the report, 2 usage error (no report).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

USAGE = "usage: soup_peer.py {server|client|bench|capabilities} ..."


def main(argv: list[str]) -> int:
    from peerlib.cli import UsageError, parse_client, parse_server

    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    cmd, rest = argv[0], argv[1:]
    try:
        if cmd == "server":
            from peerlib import server

            return server.run(parse_server(rest))
        if cmd == "client":
            from peerlib import client

            code = client.run(parse_client(rest))
            # pyvider leaves executor threads blocked on the plugin's pipes; the plugin is
            # reaped by now, so end without waiting for them.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        if cmd == "bench":
            from peerlib import bench

            code = bench.run(bench.parse_bench(rest))
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)  # as for client: pyvider's pipe-reading threads never end by themselves
        if cmd == "capabilities":
            if rest:
                raise UsageError("capabilities takes no arguments")
            from peerlib import capabilities

            return capabilities.run()
        raise UsageError(f"unknown subcommand {cmd!r}; {USAGE}")
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
