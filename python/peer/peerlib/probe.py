"""The handshake probe (docs/peer-contract.md): opt-in enrichment of a Put value."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import certs

PROBE_KEY = "server_handshake"


def tls_facts(auth_context: dict[str, list[bytes]], configured_tls: str) -> tuple[str, dict[str, str] | None]:
    """(tls_mode, peer_certificate) from a grpc auth_context().

    tls_mode is the configured mode when the connection really is TLS, otherwise "off".
    peer_certificate is the client certificate grpc saw (x509_pem_cert), or None.
    """
    security = [v.decode(errors="replace") for v in auth_context.get("transport_security_type", [])]
    is_tls = "ssl" in security
    pems = auth_context.get("x509_pem_cert") or []
    peer = certs.peer_seen(certs.load_pem(pems[0])) if pems else None
    return (configured_tls if is_tls else "off"), peer


def enrich(value: bytes, facts: Callable[[], tuple[str, dict[str, str] | None]]) -> bytes:
    """The value to store: enriched if it is a UTF-8 JSON object with the probe key, else verbatim.

    facts() returns (tls_mode, peer_certificate); it is called only for a probe.
    """
    try:
        doc: Any = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return value
    if not isinstance(doc, dict) or PROBE_KEY not in doc:
        return value
    tls_mode, peer_certificate = facts()
    doc[PROBE_KEY] = {
        "server_language": "python",
        "tls_mode": tls_mode,
        "peer_certificate": peer_certificate,
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
