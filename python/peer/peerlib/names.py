"""The contract's common values: key-type names and their aliases (peer-contract/key-types.json)."""
from __future__ import annotations

from .contract import key_types

KEYS = tuple(k["name"] for k in key_types())
_ALIASES = {alias: k["name"] for k in key_types() for alias in k["aliases"]}
#: the curve names pyvider's client understands for PYVIDER_CLIENT_CERT_CURVE
PYVIDER_CURVE = {k["name"]: k["curve"] for k in key_types() if k.get("curve")}


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
