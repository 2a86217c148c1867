"""Key-type and signature naming on real certificates made here, and handshake field 6 decoding."""
from __future__ import annotations

import base64
import hashlib

import pytest
from certgen import make_cert, make_key
from cryptography.hazmat.primitives import serialization

from conftest import VECTORS
from peerlib import certs
from peerlib.names import canonical_key


@pytest.mark.parametrize(
    ("kind", "name", "sig"),
    [
        ("ec-p256", "ec-p256", "ecdsa-with-SHA256"),
        ("ec-p384", "ec-p384", "ecdsa-with-SHA256"),
        ("ec-p521", "ec-p521", "ecdsa-with-SHA256"),
        ("rsa-2048", "rsa-2048", "sha256WithRSAEncryption"),
        ("ed25519", "ed25519", "ed25519"),
        ("ec-secp256k1", "unknown:1.2.840.10045.2.1", "ecdsa-with-SHA256"),
    ],
)
def test_key_type_and_signature_names(kind: str, name: str, sig: str) -> None:
    cert = make_cert(make_key(kind), cn="t")
    described = certs.describe(cert)
    assert described["key_type"] == name
    assert described["signature_algorithm"] == sig
    assert described["sha256"] == hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert certs.peer_seen(cert) == {"key_type": name, "sha256": described["sha256"]}


def test_pem_round_trip() -> None:
    cert = make_cert(make_key("ec-p256"), cn="t")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    assert certs.describe(certs.load_pem(pem)) == certs.describe(cert)
    assert certs.describe(certs.load_pem(pem.decode())) == certs.describe(cert)


@pytest.mark.parametrize("padded", [True, False])
def test_handshake_field_padded_and_unpadded(padded: bool) -> None:
    cert = make_cert(make_key("ec-p384"), cn="t")
    b64 = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    field = b64 if padded else b64.rstrip("=")
    assert certs.describe(certs.from_handshake_field(field)) == certs.describe(cert)
    assert certs.from_handshake_field("") is None


@pytest.mark.parametrize(("vector", "key_type"), [("pyvider-server-automtls.line", "ec-p384"),
                                                   ("go-plugin-automtls.line", "ec-p521")])
def test_shared_vectors(vector: str, key_type: str) -> None:
    path = VECTORS / vector
    fields = path.read_text().strip().split("|")
    assert len(fields) == 6
    assert certs.key_type_of(certs.from_handshake_field(fields[5])) == key_type


@pytest.mark.parametrize(
    ("given", "want"),
    [("ec-p256", "ec-p256"), ("P-256", "ec-p256"), ("prime256v1", "ec-p256"), ("secp384r1", "ec-p384"),
     ("P-521", "ec-p521"), ("rsa2048", "rsa-2048"), ("RSA-4096", "rsa-4096"), ("match", "match")],
)
def test_key_aliases(given: str, want: str) -> None:
    assert canonical_key(given, allow_match=True) == want


def test_match_only_for_servers() -> None:
    with pytest.raises(ValueError):
        canonical_key("match", allow_match=False)
    with pytest.raises(ValueError):
        canonical_key("ec-p999", allow_match=True)
