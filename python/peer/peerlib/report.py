"""Assembling the one JSON report a client prints (proto/peer-report.schema.json)."""
from __future__ import annotations

from typing import Any

SCHEMA = "soup-rpc/peer-report/v1"


def implementation() -> str:
    from importlib.metadata import version

    from .kvgen import LEGACY

    stubs = ", KV stubs peerlib/gen_legacy" if LEGACY else ""
    return (f"pyvider-rpcplugin {version('pyvider-rpcplugin')}, grpcio {version('grpcio')}, "
            f"protobuf {version('protobuf')}{stubs}")


def plugin_exit(returncode: int | None, *, host_terminated: bool) -> dict[str, Any] | None:
    """How the plugin ended. host_terminated: it was still running when pyvider's close() signalled it."""
    if returncode is None:
        return None
    code = returncode if returncode >= 0 else None
    sig = -returncode if returncode < 0 else None
    if host_terminated:
        how = "killed"
    elif sig is not None:
        how = "signaled"
    else:
        how = "exited"
    return {"how": how, "code": code, "signal": sig}



def build(*, requested: dict[str, Any], observed: dict[str, Any], timings: dict[str, Any],
          steps: list[dict[str, Any]], exit_info: dict[str, Any] | None,
          error: dict[str, Any] | None, allow_no_steps: bool = False) -> dict[str, Any]:
    """allow_no_steps: the script had no steps (put-stream:0 ...), so none is still a success."""
    ok = error is None and (bool(steps) or allow_no_steps) and all(s["ok"] for s in steps)
    return {
        "schema": SCHEMA,
        "peer": {"language": "python", "implementation": implementation()},
        "requested": requested,
        "observed": observed,
        "timings": timings,
        "steps": steps,
        "plugin_exit": exit_info,
        "ok": ok,
        "error": error,
    }
