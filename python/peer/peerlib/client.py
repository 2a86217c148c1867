"""`client`: the go-plugin host, on pyvider-rpcplugin's RPCPluginClient.

pyvider's client reads its configuration from the *host's own* environment, once, when
pyvider is imported; so the settings are put in os.environ first (host_environment):
  cookie       -> PLUGIN_MAGIC_COOKIE_KEY=BASIC_PLUGIN, PLUGIN_MAGIC_COOKIE_VALUE=hello
  --tls off    -> PLUGIN_AUTO_MTLS=false
  --tls auto   -> PLUGIN_AUTO_MTLS=true, PYVIDER_CLIENT_CERT_CURVE=<curve of --key> (read by
                  client/handshake.py; the key type itself is hard-coded "ecdsa")
  --tls manual -> PLUGIN_CLIENT_CERT / PLUGIN_CLIENT_KEY (PEM text); the CA goes in
                  PLUGIN_CA_CERT and PLUGIN_SERVER_ROOT_CERTS, which pyvider's client never
                  reads (it trusts only the handshake's field 6)
  --timeout    -> PLUGIN_HANDSHAKE_TIMEOUT, PLUGIN_CHANNEL_READY_TIMEOUT, and
                  PLUGIN_CLIENT_RETRY_ENABLED=false so the first error is the one reported
pyvider sets neither PLUGIN_PROTOCOL_VERSIONS nor the port range on the child, so they go
in RPCPluginClient's documented `config={"env": {...}}` (CHILD_ENV).

Observation hooks (ObservingClient) only record; they never change what pyvider does:
the raw handshake line (pyvider logs it but does not keep it), spawn/handshake times, the
Popen object (pyvider drops its reference in close()), and, when pyvider's channel fails,
the status grpc gives one RPC on that same channel (the real TLS/connect error, which
pyvider's "channel failed to become ready" message hides).
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

from . import capabilities, certs, report, script
from .cli import ClientArgs
from .logs import setup
from .names import PYVIDER_CURVE

log = setup("soup_peer.client")

CHILD_ENV = {"PLUGIN_PROTOCOL_VERSIONS": "1", "PLUGIN_MIN_PORT": "10000", "PLUGIN_MAX_PORT": "25000"}
#: host settings this peer owns: cleared first so an inherited value cannot change a run
OWNED = ("PLUGIN_MAGIC_COOKIE_KEY", "PLUGIN_MAGIC_COOKIE_VALUE", "PLUGIN_AUTO_MTLS", "PYVIDER_CLIENT_CERT_CURVE",
         "PLUGIN_CLIENT_CERT", "PLUGIN_CLIENT_KEY", "PLUGIN_CA_CERT", "PLUGIN_SERVER_ROOT_CERTS",
         "PLUGIN_CLIENT_RETRY_ENABLED", "PLUGIN_HANDSHAKE_TIMEOUT", "PLUGIN_CHANNEL_READY_TIMEOUT")
STDERR_TAIL = 20


def host_environment(args: ClientArgs) -> dict[str, str]:
    env = {
        "PLUGIN_MAGIC_COOKIE_KEY": "BASIC_PLUGIN",
        "PLUGIN_MAGIC_COOKIE_VALUE": "hello",
        "PLUGIN_CLIENT_RETRY_ENABLED": "false",
        # A pyvider server takes seconds to import under load (the matrix runs 4 cells on 2
        # cores): most of the run may go to its start; the cell limit still bounds it.
        "PLUGIN_HANDSHAKE_TIMEOUT": f"{max(1.0, 0.6 * args.timeout):.3f}",
        "PLUGIN_CHANNEL_READY_TIMEOUT": f"{max(0.5, args.timeout / 8):.3f}",
    }
    if args.tls == "off":
        env["PLUGIN_AUTO_MTLS"] = "false"
    elif args.tls == "auto":
        env["PLUGIN_AUTO_MTLS"] = "true"
        env["PYVIDER_CLIENT_CERT_CURVE"] = PYVIDER_CURVE[args.key]
    else:
        assert args.files.cert and args.files.key and args.files.ca
        env["PLUGIN_AUTO_MTLS"] = "false"
        env["PLUGIN_CLIENT_CERT"] = Path(args.files.cert).read_text()
        env["PLUGIN_CLIENT_KEY"] = Path(args.files.key).read_text()
        ca = "file://" + str(Path(args.files.ca).resolve())
        env["PLUGIN_CA_CERT"] = ca
        env["PLUGIN_SERVER_ROOT_CERTS"] = ca
    return env


@dataclass
class Observed:
    spawn_at: float | None = None
    handshake_at: float | None = None
    handshake_line: str | None = None
    popen: Popen[bytes] | None = None
    channel_attempted: bool = False
    channel_diag: str | None = None
    connected: bool = False
    host_terminated: bool = False
    error: dict[str, Any] | None = None
    result: script.ScriptResult = field(default_factory=script.ScriptResult)


def _observing_client_class(obs: Observed) -> type:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from pyvider.rpcplugin import RPCPluginClient

    class ObservingClient(RPCPluginClient):  # type: ignore[misc]
        async def _launch_process(self) -> None:
            obs.spawn_at = time.monotonic()
            try:
                await super()._launch_process()
            finally:
                managed = self._process
                if managed is not None and managed.process is not None:
                    obs.popen = managed.process
                    _watch_termination(managed, obs)

        async def _read_raw_handshake_line_from_stdout(self) -> str:
            line: str = await super()._read_raw_handshake_line_from_stdout()
            obs.handshake_at = time.monotonic()
            obs.handshake_line = line
            return line

        async def _create_grpc_channel_impl(self) -> None:
            obs.channel_attempted = True
            await super()._create_grpc_channel_impl()

        async def _cleanup_failed_channel(self) -> None:
            if self.grpc_channel is not None and obs.channel_diag is None:
                try:
                    stub = health_pb2_grpc.HealthStub(self.grpc_channel)
                    await stub.Check(health_pb2.HealthCheckRequest(service="plugin"), timeout=2.0,
                                     wait_for_ready=False)
                    obs.channel_diag = "OK"
                except grpc.aio.AioRpcError as e:
                    obs.channel_diag = f"{e.code().name}: {e.details()}"
                except Exception as e:  # noqa: BLE001 - diagnostics only
                    obs.channel_diag = f"{type(e).__name__}: {e}"
            await super()._cleanup_failed_channel()

    return ObservingClient


def _watch_termination(managed: Any, obs: Observed) -> None:
    """Note whether the plugin was still running when pyvider terminated it (SIGTERM, then SIGKILL).

    pyvider calls ManagedProcess.terminate_gracefully from close() and from its handshake
    failure path; the wrapper only records, then calls pyvider's own method.
    """
    original = managed.terminate_gracefully

    def terminate_gracefully(*a: Any, **kw: Any) -> bool:
        if managed.is_running():
            obs.host_terminated = True
        return bool(original(*a, **kw))

    managed.terminate_gracefully = terminate_gracefully


def _handshake_fields(line: str | None) -> list[str]:
    return line.split("|") if line else []


def _classify_start_error(e: BaseException, obs: Observed) -> dict[str, Any]:
    message = str(e) or type(e).__name__
    if obs.popen is None:
        stage = "spawn"
    elif obs.handshake_line is None or not obs.channel_attempted:
        stage = "handshake"
    else:
        fields = _handshake_fields(obs.handshake_line)
        cert_sent = len(fields) >= 6 and bool(fields[5].strip())
        diag = (obs.channel_diag or "").lower()
        refused = any(s in diag for s in ("connection refused", "no such file", "connect failed"))
        stage = "tls" if cert_sent and not refused else "connect"
        if obs.channel_diag:
            message += f" | grpc status of one RPC on pyvider's channel: {obs.channel_diag}"
    return {"stage": stage, "message": message}


async def _session(client: Any, obs: Observed, deadline: float) -> None:
    try:
        await client.start()
    except Exception as e:  # noqa: BLE001 - every failure is a result
        obs.error = _classify_start_error(e, obs)
        return
    obs.connected = True
    obs.result = await script.run(client.grpc_channel, deadline)
    if obs.result.first_error and obs.error is None:
        obs.error = {"stage": "rpc", "message": obs.result.first_error}
    await client.shutdown_plugin()  # GRPCController.Shutdown, then pyvider waits 50 ms
    await client.close()  # SIGTERM if still running, SIGKILL after 5 s


def _drain_stderr(popen: Popen[bytes] | None) -> list[str]:
    """What is left on the plugin's stderr once it has exited (pyvider's relay stops early)."""
    if popen is None or popen.stderr is None or popen.poll() is None:
        return []
    out: list[bytes] = []

    def read() -> None:
        try:
            out.append(popen.stderr.read())  # type: ignore[union-attr]
        except (OSError, ValueError):
            pass

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(1.0)
    return b"".join(out).decode("utf-8", "replace").splitlines() if out else []


async def _host(args: ClientArgs, t0: float) -> tuple[Observed, Any]:
    obs = Observed()
    client = _observing_client_class(obs)(command=args.command, config={"env": dict(CHILD_ENV)})
    deadline = t0 + args.timeout
    try:
        await asyncio.wait_for(_session(client, obs, deadline), timeout=max(0.001, deadline - time.monotonic()))
    except TimeoutError:
        where = "handshake" if obs.handshake_line is None else ("connect" if not obs.connected else "rpc/shutdown")
        obs.error = obs.error or {"stage": "timeout", "message": f"no result within {args.timeout:g} s (during {where})"}
    finally:
        if obs.popen is not None and obs.popen.poll() is None:
            obs.host_terminated = True
            try:
                await asyncio.wait_for(client.close(), timeout=8.0)
            except Exception as e:  # noqa: BLE001
                log.warning(f"pyvider close() failed: {e!r}")
        if obs.popen is not None and obs.popen.poll() is None:
            obs.host_terminated = True
            obs.popen.kill()
        if obs.popen is not None:
            await asyncio.get_running_loop().run_in_executor(None, obs.popen.wait)
    return obs, client


def _observed(obs: Observed, client: Any) -> dict[str, Any]:
    fields = _handshake_fields(obs.handshake_line)
    server_cert = None
    if len(fields) >= 6 and fields[5].strip():
        try:
            server_cert = certs.describe(certs.from_handshake_field(fields[5]))  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001
            log.warning(f"handshake field 6 is not a base64 DER certificate: {e}")
    tls_channel = bool(obs.connected and getattr(client, "_server_cert", None))
    client_cert = None
    if obs.channel_attempted and getattr(client, "_server_cert", None) and client.client_cert and client.client_key_pem:
        client_cert = certs.describe(certs.load_pem(client.client_cert))
    return {
        "handshake_line": obs.handshake_line,
        "network": fields[2] if len(fields) >= 3 else None,
        "tls": {"version": None, "cipher_suite": None} if tls_channel else None,
        "server_certificate": server_cert,
        "client_certificate": client_cert,
        "server_saw": obs.result.server_saw,
    }


def _ms(a: float | None, b: float | None) -> float | None:
    return round((b - a) * 1000, 3) if a is not None and b is not None else None


def run(args: ClientArgs) -> int:
    t0 = time.monotonic()
    requested = {"tls": args.tls, "key": args.key, "transport": args.transport, "server_command": args.command}
    reason = capabilities.client_unsupported(args.tls, args.key, args.transport)
    if reason is not None:
        doc = report.build(requested=requested, observed=_empty_observed(), steps=[], exit_info=None,
                           timings={"spawn_to_handshake_ms": None, "handshake_to_first_rpc_ms": None,
                                    "total_ms": _ms(t0, time.monotonic())},
                           error={"stage": "unsupported", "message": reason})
        return _emit(doc)

    for name in OWNED:
        os.environ.pop(name, None)
    os.environ.update(host_environment(args))
    # Not asyncio.run(): its executor shutdown would join pyvider's threads still blocked
    # reading pipes that a plugin's own children may hold open. The caller exits the
    # process right after the report (soup_peer.py uses os._exit).
    loop = asyncio.new_event_loop()
    try:
        obs, client = loop.run_until_complete(_host(args, t0))
    finally:
        loop.close()

    if obs.error is not None and obs.popen is not None:
        tail = list(getattr(client, "_stderr_tail", []))
        tail.extend(_drain_stderr(obs.popen))
        obs.error["stderr_tail"] = tail[-STDERR_TAIL:]
    exit_info = report.plugin_exit(obs.popen.returncode, host_terminated=obs.host_terminated) if obs.popen else None
    doc = report.build(
        requested=requested,
        observed=_observed(obs, client),
        timings={"spawn_to_handshake_ms": _ms(obs.spawn_at, obs.handshake_at),
                 "handshake_to_first_rpc_ms": _ms(obs.handshake_at, obs.result.first_rpc_at),
                 "total_ms": _ms(t0, time.monotonic())},
        steps=obs.result.steps,
        exit_info=exit_info,
        error=obs.error,
    )
    return _emit(doc)


def _empty_observed() -> dict[str, Any]:
    return {"handshake_line": None, "network": None, "tls": None, "server_certificate": None,
            "client_certificate": None, "server_saw": None}


def _emit(doc: dict[str, Any]) -> int:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0 if doc["ok"] else 1
