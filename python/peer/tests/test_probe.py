"""The handshake probe: which values are enriched, and what the server reports."""
from __future__ import annotations

import json

import pytest
from certgen import make_cert, make_key, pem_cert

from peerlib import certs, probe

FACTS = ("auto", {"key_type": "ec-p256", "sha256": "0" * 64})


def _never() -> tuple[str, None]:
    raise AssertionError("facts must not be computed for an ordinary value")


@pytest.mark.parametrize("value", [b"", b"hello, soup", bytes(range(256)), b"[1,2]", b'"server_handshake"',
                                   b'{"other":1}', b"{not json", '{"ключ":"server_handshake"}'.encode()])
def test_ordinary_values_are_stored_verbatim(value: bytes) -> None:
    assert probe.enrich(value, _never) == value


def test_probe_is_replaced_and_other_keys_kept() -> None:
    value = b'{"client_language":"python","server_handshake":null,"n":12345678901234567890}'
    doc = json.loads(probe.enrich(value, lambda: FACTS))
    assert doc["client_language"] == "python"
    assert doc["n"] == 12345678901234567890
    assert doc["server_handshake"] == {"server_language": "python", "tls_mode": "auto",
                                       "peer_certificate": FACTS[1]}


def test_tls_facts_from_auth_context() -> None:
    cert = make_cert(make_key("ec-p384"), cn="host")
    ctx = {"transport_security_type": [b"ssl"], "x509_pem_cert": [pem_cert(cert)]}
    mode, peer = probe.tls_facts(ctx, "auto")
    assert mode == "auto"
    assert peer == certs.peer_seen(cert)
    assert probe.tls_facts({"transport_security_type": [b"ssl"]}, "manual") == ("manual", None)
    assert probe.tls_facts({"transport_security_type": [b"insecure"]}, "auto") == ("off", None)
    assert probe.tls_facts({}, "off") == ("off", None)
