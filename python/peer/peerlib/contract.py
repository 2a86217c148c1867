"""The peer contract's shared data, read from ``peer-contract/`` at the repository root:
the KV script (``kv-script.json``) and the key-type names with their aliases
(``key-types.json``). The Rust peers and the Go peer read the same files, so no language
keeps a copy of its own (docs/peer-contract.md)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

#: python/peer/peerlib/contract.py -> the repository root's peer-contract/
DIR = Path(__file__).resolve().parents[3] / "peer-contract"


def _load(name: str) -> Any:
    path = DIR / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RuntimeError(f"the peer contract's data is missing: {path} ({e}); run the peer from a soup-rpc checkout") from e


_SCRIPT = _load("kv-script.json")
_KEY_TYPES = _load("key-types.json")


def value_bytes(spec: Optional[dict], client_language: str) -> Optional[bytes]:
    """The bytes of a script value: ``{"utf8": text}`` (``{client_language}`` replaced) or
    ``{"sequence": {"length": n, "modulus": m}}`` (byte j = j mod m); None for no value."""
    if spec is None:
        return None
    if "utf8" in spec:
        return spec["utf8"].replace("{client_language}", client_language).encode()
    seq = spec["sequence"]
    cycle = bytes(j % seq["modulus"] for j in range(seq["modulus"]))
    n = seq["length"]
    return (cycle * (n // len(cycle) + 1))[:n]


def kv_script() -> list[dict]:
    """The KV script's steps, in order: dicts with step, op, key, value (spec or absent), expect."""
    return [dict(s) for s in _SCRIPT["steps"]]


def key_types() -> list[dict]:
    """The key types in contract order: dicts with name, aliases and (curves) curve."""
    return [dict(k) for k in _KEY_TYPES["key_types"]]
