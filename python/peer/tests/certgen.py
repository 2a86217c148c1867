"""Test certificates made with cryptography: self-signed leaves and a CA with leaves
(SAN DNS:localhost + IP:127.0.0.1, serverAuth + clientAuth, as xtask makes them)."""
from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def make_key(kind: str):
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ec-p521":
        return ec.generate_private_key(ec.SECP521R1())
    if kind.startswith("rsa-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[4:]))
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "ec-secp256k1":
        return ec.generate_private_key(ec.SECP256K1())
    raise ValueError(kind)


def _hash_for(key):
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def make_cert(key, *, cn: str, issuer_key=None, issuer_name: x509.Name | None = None, ca: bool = False):
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    signer = issuer_key or key
    return builder.sign(signer, _hash_for(signer))


def pem_cert(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_manual_set(directory: Path, kind: str = "ec-p256") -> dict[str, Path]:
    """ca.pem, server.pem/server.key, client.pem/client.key under directory."""
    ca_key = make_key(kind)
    ca = make_cert(ca_key, cn="soup test CA", ca=True)
    out = {"ca": directory / "ca.pem"}
    out["ca"].write_bytes(pem_cert(ca))
    for who in ("server", "client"):
        key = make_key(kind)
        cert = make_cert(key, cn=f"soup test {who}", issuer_key=ca_key, issuer_name=ca.subject)
        out[f"{who}_cert"] = directory / f"{who}.pem"
        out[f"{who}_key"] = directory / f"{who}.key"
        out[f"{who}_cert"].write_bytes(pem_cert(cert))
        out[f"{who}_key"].write_bytes(pem_key(key))
    return out
