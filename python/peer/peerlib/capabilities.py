"""`capabilities`: what pyvider-rpcplugin / grpcio cannot express (docs/peer-contract.md).

Only real limits of the library go here. Settings pyvider has but ignores (e.g. the
client's PLUGIN_CA_CERT) are not listed: the matrix shows what is observed.
"""
from __future__ import annotations

import json
import sys
from typing import Any

CLIENT_RULES: list[dict[str, Any]] = [
    {"tls": "auto", "keys": ["rsa-2048", "rsa-4096"], "transports": ["*"],
     "reason": "pyvider-rpcplugin's RPCPluginClient makes its auto-mTLS client certificate with "
               "key_type='ecdsa' hard-coded (client/handshake.py _setup_client_certificates); only the "
               "curve is selectable (PYVIDER_CLIENT_CERT_CURVE)"},
]
# No server rules: pyvider's RPCPluginServer has no key setting for its auto-mTLS
# certificate (Certificate.create_self_signed_server_cert() is called without key
# arguments, so it is always provide-foundation's default, ECDSA P-384). The issue asks
# that a setting pyvider ignores or lacks be *observed*, not hidden as n/a: the peer
# serves, warns on stderr, and the matrix shows "asked X, server presented ec-p384".
SERVER_RULES: list[dict[str, Any]] = []


def _matches(rule: dict[str, Any], tls: str, key: str, transport: str) -> bool:
    return (rule["tls"] in ("*", tls) and any(k in ("*", key) for k in rule["keys"])
            and any(t in ("*", transport) for t in rule["transports"]))


def client_unsupported(tls: str, key: str, transport: str) -> str | None:
    for rule in CLIENT_RULES:
        if _matches(rule, tls, key, transport):
            return str(rule["reason"])
    return None


def document() -> dict[str, Any]:
    from .report import implementation

    return {"language": "python", "implementation": implementation(),
            "client": {"unsupported": CLIENT_RULES}, "server": {"unsupported": SERVER_RULES}}


def run() -> int:
    sys.stdout.write(json.dumps(document(), indent=2) + "\n")
    return 0
