"""Describing X.509 certificates the way peer reports name them."""
from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

_CURVES = {"secp256r1": "ec-p256", "secp384r1": "ec-p384", "secp521r1": "ec-p521"}


def key_type_of(cert: x509.Certificate) -> str:
    """ec-p256 | ec-p384 | ec-p521 | rsa-<bits> | ed25519 | unknown:<oid>."""
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        name = _CURVES.get(key.curve.name)
        if name:
            return name
    elif isinstance(key, rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    return f"unknown:{cert.public_key_algorithm_oid.dotted_string}"


def signature_algorithm_of(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", None)
    return name if name and name != "Unknown OID" else oid.dotted_string


def der_of(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def describe(cert: x509.Certificate) -> dict[str, Any]:
    """The report's certificate object (schema $defs/certificateOrNull)."""
    return {
        "key_type": key_type_of(cert),
        "signature_algorithm": signature_algorithm_of(cert),
        "sha256": hashlib.sha256(der_of(cert)).hexdigest(),
    }


def peer_seen(cert: x509.Certificate) -> dict[str, str]:
    """The probe's peer_certificate object: key type and sha256 of the DER."""
    return {"key_type": key_type_of(cert), "sha256": hashlib.sha256(der_of(cert)).hexdigest()}


def load_pem(pem: str | bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


def from_handshake_field(field: str) -> x509.Certificate | None:
    """Field 6 of a go-plugin handshake line: base64 DER, padded or not; None when empty."""
    field = field.strip()
    if not field:
        return None
    padded = field + "=" * (-len(field) % 4)
    return x509.load_der_x509_certificate(base64.b64decode(padded, validate=True))
