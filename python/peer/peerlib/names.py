"""The contract's common values: key-type names and their aliases."""
from __future__ import annotations

KEYS = ("ec-p256", "ec-p384", "ec-p521", "rsa-2048", "rsa-4096")
_ALIASES = {
    "secp256r1": "ec-p256", "p-256": "ec-p256", "prime256v1": "ec-p256",
    "secp384r1": "ec-p384", "p-384": "ec-p384",
    "secp521r1": "ec-p521", "p-521": "ec-p521",
    "rsa2048": "rsa-2048", "rsa4096": "rsa-4096",
}
#: the curve names pyvider's client understands for PYVIDER_CLIENT_CERT_CURVE
PYVIDER_CURVE = {"ec-p256": "secp256r1", "ec-p384": "secp384r1", "ec-p521": "secp521r1"}


def canonical_key(value: str, *, allow_match: bool) -> str:
    """Canonical key name, or ValueError for a usage error."""
    low = value.strip().lower()
    if low in KEYS:
        return low
    if low in _ALIASES:
        return _ALIASES[low]
    if allow_match and low == "match":
        return "match"
    choices = ", ".join(KEYS + (("match",) if allow_match else ()))
    raise ValueError(f"unknown key type {value!r} (expected one of {choices} or an alias)")
