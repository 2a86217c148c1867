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
in RPCPluginClient's documented `config={"env": {...}}` (CHILD_ENV; --versions replaces
PLUGIN_PROTOCOL_VERSIONS).

Observation hooks (ObservingClient) only record; they never change what pyvider does:
the raw handshake line (pyvider logs it but does not keep it), spawn/handshake times, the
Popen object (pyvider drops its reference in close()), and, when pyvider's channel fails,
the status grpc gives one RPC on that same channel (the real TLS/connect error, which
pyvider's "channel failed to become ready" message hides).

Two hooks do act, because pyvider 0.5.5 has no setting for what they do:
  versions  pyvider's client never compares the plugin's app protocol version (handshake
            field 2, kept as _protocol_version) with anything; with accepted_versions
            the handshake is refused after pyvider parsed it and before any channel is
            made, with go-plugin's message (stage "handshake").
  limits    pyvider's channel options are a fixed list (_get_channel_options: keepalive,
            ssl_target_name_override), grpc's defaults otherwise (receive 4 MiB); with
            max_message the hook appends grpc.max_send/receive_message_length to it.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
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
#: how long the host waits for GRPCController.Shutdown to answer before pyvider's close()
#: (SIGTERM, then SIGKILL after 5 s); pyvider's own call has no deadline. go-plugin's Kill()
#: also allows 2 s for a graceful exit.
SHUTDOWN_GRACE_S = 2.0
#: logged (stderr) when `hold` starts waiting for stdin's EOF
HOLD_MESSAGE = "hold: script done; keeping the plugin until stdin reaches EOF"
#: grpc's channel arguments are C ints
_GRPC_INT_MAX = 2**31 - 1


def child_environment(versions: list[int]) -> dict[str, str]:
    return {**CHILD_ENV, "PLUGIN_PROTOCOL_VERSIONS": ",".join(str(v) for v in versions)}


def message_limit(largest_value: int) -> int:
    """The host's send/receive limit for a value of this size: at least the value + 1 MiB (-1: none)."""
    n = largest_value + (1 << 20)
    return n if n <= _GRPC_INT_MAX else -1


class IncompatibleVersion(Exception):
    """The plugin answered an app protocol version the host did not offer."""


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
    shutdown_unanswered: bool = False
    holding: bool = False
    error: dict[str, Any] | None = None
    result: script.ScriptResult = field(default_factory=script.ScriptResult)


def _observing_client_class(obs: Observed, accepted_versions: list[int] | None = None,
                            max_message: int | None = None) -> type:
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

        async def _perform_handshake(self) -> None:
            await super()._perform_handshake()
            answered = self._protocol_version
            if accepted_versions is not None and answered not in accepted_versions:
                # go-plugin's client.go wording; pyvider itself accepts any version
                raise IncompatibleVersion(
                    f"Incompatible API version with plugin. Plugin version: {answered}, "
                    f"Client versions: [{' '.join(str(v) for v in accepted_versions)}] "
                    f"(pyvider-rpcplugin's client does not check the plugin's version; "
                    f"this peer refused it before connecting)")

        def _get_channel_options(self) -> list[tuple[str, Any]]:
            options: list[tuple[str, Any]] = list(super()._get_channel_options())
            if max_message is not None:
                options += [("grpc.max_send_message_length", max_message),
                            ("grpc.max_receive_message_length", max_message)]
            return options

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


async def _session(client: Any, obs: Observed, deadline: float, spec: script.Script = script.KV) -> None:
    try:
        await client.start()
    except Exception as e:  # noqa: BLE001 - every failure is a result
        obs.error = _classify_start_error(e, obs)
        return
    obs.connected = True
    obs.result = await script.run(client.grpc_channel, deadline, spec=spec)
    if obs.result.first_error and obs.error is None:
        obs.error = {"stage": "rpc", "message": obs.result.first_error}
    if spec.kind == "hold":
        obs.holding = True
        log.info(HOLD_MESSAGE)
        await script.wait_for_stdin_eof()
        obs.holding = False
    try:
        # GRPCController.Shutdown (no deadline in pyvider), then pyvider waits 50 ms
        await asyncio.wait_for(client.shutdown_plugin(), timeout=SHUTDOWN_GRACE_S)
    except TimeoutError:
        obs.shutdown_unanswered = True
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
    largest = args.script.largest_value
    cls = _observing_client_class(obs, accepted_versions=list(args.versions),
                                  max_message=message_limit(largest) if largest is not None else None)
    client = cls(command=args.command, config={"env": child_environment(args.versions)})
    deadline = t0 + args.timeout
    try:
        await asyncio.wait_for(_session(client, obs, deadline, args.script),
                               timeout=max(0.001, deadline - time.monotonic()))
    except TimeoutError:
        where = ("handshake" if obs.handshake_line is None else "connect" if not obs.connected
                 else "hold: stdin still open" if obs.holding else "rpc/shutdown")
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
    requested = {"tls": args.tls, "key": args.key, "transport": args.transport, "server_command": args.command,
                 "versions": list(args.versions), "script": args.script.name}
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
    try:
        # Imported after host_environment (pyvider reads it at import). On releases outside
        # pyvider's constraints (python/peer/versions/grpcio-1.56.txt) pyvider's own generated
        # code refuses to load: that is the result, a failure of this host (stage
        # "internal"), not a cell it cannot express ("unsupported" would make it n/a).
        import pyvider.rpcplugin  # noqa: F401
    except Exception as e:  # noqa: BLE001
        doc = report.build(requested=requested, observed=_empty_observed(), steps=[], exit_info=None,
                           timings={"spawn_to_handshake_ms": None, "handshake_to_first_rpc_ms": None,
                                    "total_ms": _ms(t0, time.monotonic())},
                           error={"stage": "internal",
                                  "message": f"pyvider-rpcplugin does not load: {type(e).__name__}: {e}"})
        return _emit(doc)
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
    if obs.error is None and obs.connected and exit_info is not None:
        killed = exit_info["how"] == "killed" and exit_info["signal"] == signal.SIGKILL
        if obs.shutdown_unanswered or killed:
            obs.error = {"stage": "shutdown", "message": (
                f"GRPCController.Shutdown got {'no answer within %g s' % SHUTDOWN_GRACE_S if obs.shutdown_unanswered else 'an answer'}; "
                f"the plugin {'was SIGKILLed after ignoring SIGTERM for 5 s' if killed else 'ended on SIGTERM'} "
                f"(plugin_exit {exit_info})")}
            tail = list(getattr(client, "_stderr_tail", []))
            tail.extend(_drain_stderr(obs.popen))
            obs.error["stderr_tail"] = tail[-STDERR_TAIL:]
    doc = report.build(
        requested=requested,
        observed=_observed(obs, client),
        timings={"spawn_to_handshake_ms": _ms(obs.spawn_at, obs.handshake_at),
                 "handshake_to_first_rpc_ms": _ms(obs.handshake_at, obs.result.first_rpc_at),
                 "total_ms": _ms(t0, time.monotonic())},
        steps=obs.result.steps,
        exit_info=exit_info,
        error=obs.error,
        allow_no_steps=obs.connected and not args.script.has_steps,
    )
    return _emit(doc)


def _empty_observed() -> dict[str, Any]:
    return {"handshake_line": None, "network": None, "tls": None, "server_certificate": None,
            "client_certificate": None, "server_saw": None}


def _emit(doc: dict[str, Any]) -> int:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0 if doc["ok"] else 1
